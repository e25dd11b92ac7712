"""Staff pages under /admin/ (included before the admin site's own URLs; admin login and staff checks apply)."""

from django.contrib import admin
from django.urls import path

from . import views

app_name = "staff"

urlpatterns = [
    path("runbook/", admin.site.admin_view(views.runbook_view), name="runbook"),
    path("staff/backends/<int:pk>/pause/", admin.site.admin_view(views.pause_view), name="backend-pause"),
    path("staff/backends/<int:pk>/resume/", admin.site.admin_view(views.resume_view), name="backend-resume"),
    path("staff/reconciliation/", admin.site.admin_view(views.reconciliation_view), name="reconcile"),
    path("staff/backends/<int:pk>/dry-run/", admin.site.admin_view(views.dry_run_view), name="backend-dry-run"),
]

from . import progress_views  # noqa: E402 - appended: live progress of long work

urlpatterns += [
    path("staff/progress/", admin.site.admin_view(progress_views.progress_list_view), name="progress-list"),
    path("staff/progress/<int:pk>/", admin.site.admin_view(progress_views.progress_view), name="progress"),
    path("staff/progress/<int:pk>.json", admin.site.admin_view(progress_views.progress_json_view), name="progress-json"),
]

from . import trends_views  # noqa: E402 - appended: charts over time

urlpatterns += [
    path("staff/backends/<int:pk>/charts/", admin.site.admin_view(trends_views.backend_charts_view),
         name="backend-charts"),
]

from . import readiness_views  # noqa: E402 - the pre-launch checklist («Готовность к запуску»)

urlpatterns += [
    path("staff/readiness/", admin.site.admin_view(readiness_views.readiness_view), name="readiness"),
    path("staff/readiness/export.<str:fmt>", admin.site.admin_view(readiness_views.readiness_export_view),
         name="readiness-export"),
    path("staff/readiness/<str:code>/acknowledge/",
         admin.site.admin_view(readiness_views.readiness_acknowledge_view), name="readiness-acknowledge"),
]

from . import sync_diff_views  # noqa: E402 - the dry run with a per-record diff

urlpatterns += [
    path("staff/backends/<int:pk>/sync-diff/", admin.site.admin_view(sync_diff_views.sync_diff_view),
         name="backend-sync-diff"),
]
