from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from integration import connectors
from integration.health import health
from integration.metrics import metrics
from integration.widget.guide import manager_guide

urlpatterns = [
    path("admin/", include("integration.staff.urls")),  # staff pages: runbook, kill switch, dry run
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("counterparties.urls")),
    path("api/v1/", include("documents.urls")),
    path("api/widget/v1/", include("integration.widget.urls")),
    *connectors.webhook_urlpatterns(),  # hooks/<kind>/ of every registered connector
    path("", include("integration.erp.commerceml.urls")),  # exchange/1c/<secret>/: 1C's «Обмен с сайтом»
    path("widget-demo/", include("integration.widget.demo_urls")),  # DEBUG or AMOERP_WIDGET["DEMO_PAGE"] only
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularRedocView.as_view(url_name="schema"), name="api-docs"),
    path("guide/managers/", manager_guide, name="manager-guide"),  # public: managers have no admin login
    path("health/", health, name="health"),
    path("metrics", metrics, name="metrics"),
]

handler500 = "integration.unavailable.server_error"
