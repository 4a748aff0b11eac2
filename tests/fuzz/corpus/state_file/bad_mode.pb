
shop/db