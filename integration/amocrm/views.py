"""Incoming amoCRM traffic: webhooks (/hooks/amocrm/<secret>/) and the OAuth redirect (/hooks/amocrm/oauth/)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core import signing
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from integration import inbox, throttling
from integration.amocrm.errors import OAuthRejected
from integration.amocrm.handlers import SOURCE
from integration.amocrm.tokens import exchange_code
from integration.amocrm.webhooks import WebhookParseError, dedup_key, parse_bracket_body, webhook_events
from integration.backends import backend_for_webhook_secret
from integration.journal import journal_incoming
from integration.models import Backend, InboxMessage

STATE_SALT = "amoerp.amocrm.oauth-state"
STATE_MAX_AGE = 20 * 60  # an authorization code lives 20 minutes


@csrf_exempt
@require_POST
def receive_webhook(request: HttpRequest, secret: str) -> HttpResponse:
    """Store and answer at once (amoCRM waits 2 s); the inbox worker re-reads and applies.

    A body amoCRM would not send is refused with 400 and the reason, never a 5xx (amoCRM disables a hook that
    keeps failing); nothing is stored for it, the journal keeps the request.
    """
    request._journal_started = timezone.now()
    if limited := throttling.webhook_ip_limit(request, "amocrm"):
        return limited
    backend = backend_for_webhook_secret(Backend.Kind.AMOCRM, secret)
    if backend is None:
        return HttpResponse(status=404)
    if limited := throttling.webhook_backend_limit("amocrm", backend.pk):
        return limited
    try:
        body = inbox.webhook_body(request)
        events = webhook_events(parse_bracket_body(body))
    except WebhookParseError as exc:
        return inbox.refuse_webhook(request, inbox.BadWebhook("body", str(exc)), backend)
    except inbox.BadWebhook as exc:
        return inbox.refuse_webhook(request, exc, backend)
    message, created = inbox.store_webhook(source=SOURCE, backend=backend, message_id=dedup_key(events, body),
                                           body=body, content_type=request.content_type or "",
                                           headers=dict(request.headers))
    if not created and message.status == InboxMessage.Status.PROCESSED:
        # amoCRM timestamps are whole seconds: a second change within the same second (e.g. products relinked)
        # produces an identical body. Processing re-reads the lead and skips what is already applied, so
        # running it once more is harmless — and it catches that change.
        inbox.replay([message])
    response = HttpResponse(status=200)
    journal_incoming(request, response, backend)
    return response


def oauth_state(backend: Backend) -> str:
    return signing.dumps({"backend": backend.pk}, salt=STATE_SALT)


@require_GET
@staff_member_required
def oauth_callback(request: HttpRequest) -> HttpResponse:
    """amoCRM's redirect after an admin pressed "Allow": `code`, `state` (ours, signed), `referer`."""
    if request.GET.get("error"):
        messages.error(request, _("amoCRM did not grant access: %(error)s") % {"error": request.GET["error"]})
        return redirect("admin:amocrm_alert_connect")
    try:
        state = signing.loads(request.GET.get("state", ""), salt=STATE_SALT, max_age=STATE_MAX_AGE)
    except signing.BadSignature:
        return HttpResponseBadRequest(_("The state parameter is missing, expired or forged; start again."))
    backend = Backend.objects.filter(pk=state.get("backend"), kind=Backend.Kind.AMOCRM).first()
    code = request.GET.get("code", "")
    if backend is None or not code:
        return HttpResponseBadRequest(_("Unknown backend or no authorization code."))
    try:
        exchange_code(backend, code)
    except OAuthRejected as exc:
        messages.error(request, _("amoCRM refused the code: %(hint)s") % {"hint": exc.hint})
    else:
        messages.success(request, _("The amoCRM account is connected to %(name)s.") % {"name": backend.name})
    return redirect("admin:amocrm_alert_connect")
