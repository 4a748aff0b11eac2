
¿
>shop/frontendshop/api Øo?0:£¤ØPÀ©Ó:B¥¤Ø€’ôH
.@hop/apishop/db (¸*0:¤¤ØB¨¤ØH
3shop/frontendshop/api 00:¤¤ØB¤¤ØH
hostshop/api 850
shd/opb
shop/api
shop/api€
shop/db.
shop/frontend‚