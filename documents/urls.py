from django.urls import path

from .api import KpiView

urlpatterns = [path("kpis", KpiView.as_view(), name="kpis")]
