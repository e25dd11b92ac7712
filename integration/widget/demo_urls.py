from django.urls import path

from integration.widget import demo_card

app_name = "widget-demo"

urlpatterns = [
    path("", demo_card.card, name="card"),
    path("token", demo_card.token, name="token"),
    path("bundle/<path:path>", demo_card.bundle_file, name="bundle"),
    path("assets/<path:path>", demo_card.asset, name="asset"),
]
