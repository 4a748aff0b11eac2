

shop/a
bshop/db (ð¢