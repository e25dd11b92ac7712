from django.urls import path

from integration.amocrm import views

app_name = "amocrm"
urlpatterns = [
    path("oauth/", views.oauth_callback, name="oauth-callback"),
    path("<str:secret>/", views.receive_webhook, name="webhook"),
]
