"""The platform's own pre-launch checks: both backends connected (a live request each), tokens valid, webhooks
registered, schedules present, the stage mapping complete, our organization's requisites present."""

from __future__ import annotations

from functools import cache

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from documents.errors import MissingRequisites
from documents.supplier import get_supplier
from integration import connectors
from integration.errors import IntegrationError
from integration.models import Backend

from .dashboard import token_deadlines
from .links import change_url
from .readiness import WARN, CheckResult, CheckSpec, Offender


def _crm() -> Backend | None:
    return connectors.active_crm()


def _erp() -> Backend | None:
    return connectors.active_erp()


@cache
def _probe(backend_id: int, updated_at) -> str:
    """"" when the backend answers an authenticated request, else the error (cached per backend version for one
    readiness run: `clear_probes` is called at its start)."""
    backend = Backend.objects.get(pk=backend_id)
    try:
        if backend.kind == Backend.Kind.AMOCRM:
            from integration.amocrm.client import AmoCrmClient

            AmoCrmClient(backend).account()
        elif backend.kind == Backend.Kind.MOYSKLAD:
            from integration.erp.moysklad.adapter import MoySkladAdapter

            MoySkladAdapter(backend).states()
        else:
            return _("no live check for this kind of backend yet")
    except IntegrationError as exc:
        return str(exc)[:300] or exc.__class__.__name__
    return ""


def clear_probes() -> None:
    _probe.cache_clear()


def probe(backend: Backend) -> str:
    return _probe(backend.pk, backend.updated_at)


def check_backends(result: CheckResult) -> None:
    for label, backend in ((_("amoCRM backend"), _crm()), (_("ERP backend"), _erp())):
        result.checked += 1
        if backend is None:
            result.add(Offender(label, _("No active backend of this kind is configured.")))
            continue
        if backend.paused:
            result.add(Offender(str(backend), _("The backend is paused: %(reason)s") % {
                "reason": backend.paused_reason or "—"}, change_url(backend)))
        error = probe(backend)
        if error:
            result.add(Offender(str(backend), _("The backend does not answer: %(error)s") % {"error": error},
                                change_url(backend)))


def _auth_error(error: str) -> bool:
    return any(mark in error for mark in ("401", "403", "nauthori", "orbidden", "token"))


def check_tokens(result: CheckResult) -> None:
    now = timezone.now()
    for backend in (_crm(), _erp()):
        if backend is None:
            continue
        result.checked += 1
        if not backend.credentials:
            result.add(Offender(str(backend), _("The backend has no credentials."), change_url(backend)))
            continue
        _expires, reauthorize_by = token_deadlines(backend)
        if reauthorize_by is not None and reauthorize_by <= now:
            result.add(Offender(str(backend), _("The authorization expired on %(when)s: authorize the integration "
                                                "again.") % {"when": f"{timezone.localtime(reauthorize_by):%d.%m.%Y}"},
                                change_url(backend)))
            continue
        error = probe(backend)
        if error and _auth_error(error):
            result.add(Offender(str(backend), _("The token is refused: %(error)s") % {"error": error},
                                change_url(backend)))
        elif reauthorize_by is not None and (reauthorize_by - now).days < 7:
            result.add(Offender(str(backend), _("The authorization runs out on %(when)s.") % {
                "when": f"{timezone.localtime(reauthorize_by):%d.%m.%Y}"}, change_url(backend), severity=WARN))


def _crm_webhooks(backend: Backend) -> list[tuple[str, bool]]:
    from integration.amocrm.client import AmoCrmClient

    secret = backend.webhook_secret
    hooks = AmoCrmClient(backend).webhooks()
    return [(str(h.get("destination", "")), bool(h.get("disabled"))) for h in hooks
            if secret and secret in str(h.get("destination", ""))]


def _erp_webhooks(backend: Backend) -> list[tuple[str, bool]]:
    """Ours are the subscriptions whose URL carries this backend's webhook secret (whatever our public URL)."""
    from integration.erp.moysklad.adapter import MoySkladAdapter
    from integration.erp.moysklad.setup import list_webhooks

    secret = backend.webhook_secret
    adapter = MoySkladAdapter(backend)
    return [(f"{kind} {row.get('entityType') or row.get('reportType')}", not row.get("enabled", True))
            for kind in ("webhook", "webhookstock") for row in list_webhooks(adapter, kind)
            if secret and secret in str(row.get("url") or "")]


def check_webhooks(result: CheckResult) -> None:
    for backend, listing, how in (
        (_crm(), _crm_webhooks, _("run “Prepare the account” on the amoCRM backend")),
        (_erp(), _erp_webhooks, _("run manage.py moysklad_setup <backend>")),
    ):
        if backend is None or probe(backend):
            continue  # reported by the connection check
        if backend.kind not in (Backend.Kind.AMOCRM, Backend.Kind.MOYSKLAD):
            continue
        result.checked += 1
        try:
            hooks = listing(backend)
        except IntegrationError as exc:
            result.add(Offender(str(backend), str(exc)[:300], change_url(backend)))
            continue
        if not hooks:
            result.add(Offender(str(backend), _("None of our webhooks is registered: %(how)s.") % {"how": how},
                                change_url(backend)))
        for name, disabled in hooks:
            if disabled:
                result.add(Offender(str(backend), _("The webhook %(name)s is disabled: %(how)s.") % {
                    "name": name.split("?")[0][-60:], "how": how}, change_url(backend)))


def check_schedules(result: CheckResult) -> None:
    from django_q.models import Schedule

    from integration.schedules import specs

    present = set(Schedule.objects.values_list("name", flat=True))
    for spec in specs():
        result.checked += 1
        if spec.name not in present:
            result.add(Offender(spec.name, _("The schedule is missing: run manage.py setup_schedules.")))


def check_stage_mapping(result: CheckResult) -> None:
    from integration.amocrm.client import AmoCrmClient
    from integration.amocrm.deals import DEFAULT_STAGES

    backend = _crm()
    if backend is None or probe(backend):
        return
    mapping = {**DEFAULT_STAGES, **(backend.settings.get("stage_mapping") or {})}
    try:
        pipelines = AmoCrmClient(backend).pipelines()
    except IntegrationError as exc:
        result.add(Offender(str(backend), str(exc)[:300], change_url(backend)))
        return
    known = {str(s["name"]) for p in pipelines for s in p.get("_embedded", {}).get("statuses", [])}
    known |= {str(s["id"]) for p in pipelines for s in p.get("_embedded", {}).get("statuses", [])}
    for key in DEFAULT_STAGES:
        result.checked += 1
        wanted = str(mapping.get(key) or "")
        if not wanted:
            result.add(Offender(key, _("No amoCRM stage is mapped."), change_url(backend)))
        elif wanted not in known:
            result.add(Offender(key, _("The stage “%(stage)s” is in no amoCRM pipeline.") % {"stage": wanted},
                                change_url(backend)))


def check_our_organization(result: CheckResult) -> None:
    from documents.models import OurOrganization

    result.checked += 1
    try:
        get_supplier(needs_bank=True)
    except MissingRequisites as exc:
        org = OurOrganization.objects.first()
        result.add(Offender(str(org) if org else _("our organization"), str(exc), change_url(org) if org else ""))


PLATFORM_CHECKS = (
    CheckSpec("backends", gettext_lazy("Both backends connected"),
              gettext_lazy("Add the amoCRM and the ERP backends (Integration → Backends), resume a paused one, "
                           "check the base URL and the network."), check_backends),
    CheckSpec("tokens", gettext_lazy("Tokens valid"),
              gettext_lazy("Authorize the amoCRM integration again, or enter a fresh ERP token on the backend."),
              check_tokens),
    CheckSpec("webhooks", gettext_lazy("Webhooks registered"),
              gettext_lazy("Run the account preparation of each backend; a webhook amoCRM disabled is enabled "
                           "again by the same step."), check_webhooks),
    CheckSpec("schedules", gettext_lazy("Schedules present"),
              gettext_lazy("Run manage.py setup_schedules once after every deployment."), check_schedules),
    CheckSpec("stages", gettext_lazy("Stage mapping complete"),
              gettext_lazy("Map each order state to a stage of the amoCRM pipeline in the amoCRM backend's "
                           "settings (stage_mapping)."), check_stage_mapping),
    CheckSpec("organization", gettext_lazy("Our organization's requisites"),
              gettext_lazy("Run the ERP's “organization” sync or enter the requisites with a bank account "
                           "(Documents → Our organization): no invoice can be made without them."),
              check_our_organization),
)
