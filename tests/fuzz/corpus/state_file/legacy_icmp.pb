
#
!shop/frontendshop/api 0H