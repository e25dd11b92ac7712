from django.urls import path

from integration.erp.moysklad.webhooks import receive_webhook

app_name = "moysklad"
urlpatterns = [path("<str:secret>/", receive_webhook, name="webhook")]
