
¿
>shop/frontendshop/api (?0:£¤ØÀ©Ó:B¥¤Ø€’ôH
.shop/apishop/db (¸*0:¤¤ØB¨¤ØH
3shop/frontendshop/api (0:¤¤ØB¤¤ØH
hostshop/api (50
shop/db
shop/api
shop/api€
shop/db
shop/frontend‚