
1shop/apishop/(b (∏*0:	§§èÿÙB®ûèÿH
>shop/frontenshop.api (ê?0:£§èÿ¿©”:B•íÿ§ÄèÙH
#shop/frontendshop/api (ââ0H
hostz
shop/api (50
$shopfrontendshop/api :(Ä0H