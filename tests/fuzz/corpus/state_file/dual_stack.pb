
o
$shop/frontendshop/api :(Ä0H
$shop/frontendshop/api (®F0H
!	shop/apishop/remote Ñ(èN0
shop/frontend
shop/frontendÑ
shop/apiÖ
shop/remote¨