from django import template

from ..readiness_acks import last_run
from ..readiness_views import can_view_readiness

register = template.Library()


@register.simple_tag(takes_context=True)
def readiness_banner(context):
    """What the start page shows of the pre-launch checklist: nothing once the last run passed (or every failing
    check was acknowledged); otherwise the checks still open, or that the checklist was never run."""
    request = context.get("request")
    if request is None or not can_view_readiness(request.user):
        return None
    run = last_run()
    if run is None:
        return {"never": True, "open": []}
    open_checks = [row for row in run.results if not row.get("settled")]
    if not open_checks:
        return None
    return {"never": False, "open": open_checks, "run": run}
