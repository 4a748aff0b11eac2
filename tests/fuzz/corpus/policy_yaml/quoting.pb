
	shop/a: b- shop/x (0
!'quoted'/"x"
#comment/y „(
	null/trueyes/~ (