
shop/api
shop/db¬
shop/web¬