"""``POST /orders/?item=book`` creates an order and enqueues its confirmation."""

from django.urls import path
from orders.views import create_order

urlpatterns = [path("orders/", create_order)]
