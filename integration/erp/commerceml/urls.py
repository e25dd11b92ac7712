from django.urls import path

from integration.erp.commerceml.views import exchange

app_name = "commerceml"

urlpatterns = [
    path("exchange/1c/<str:secret>/", exchange, name="exchange"),
]
