
1shop/apishop/db (∏*0:	§§èÿÙB®§èÿH
>shop/frontendshop/api (ê?0:£§èÿ¿©”:B•§èÿÄíÙH
#shop/frontendshop/api (0H
hostshop/api (50
$shop/frontendshop/api :(Ä0H