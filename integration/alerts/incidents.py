"""Evaluate the rules: open an incident (and send one message) for a new finding, remind while it lasts,
resolve it (and say so) when the rule no longer finds it. Run by a django-q2 schedule every minute."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .channels import deliver
from .models import AlertSettings, Incident, Notification, Rule
from .rules import BY_KEY, Finding, create_default_rules

logger = logging.getLogger(__name__)
PREFIX = "[amoerp]"


@dataclass
class Evaluation:
    opened: list[Incident] = field(default_factory=list)
    reminded: list[Incident] = field(default_factory=list)
    resolved: list[Incident] = field(default_factory=list)
    failed_rules: list[str] = field(default_factory=list)


def evaluate(now: datetime | None = None) -> Evaluation:
    now = now or timezone.now()
    create_default_rules()
    config = AlertSettings.load()
    result = Evaluation()
    for rule in Rule.objects.all():
        spec = BY_KEY.get(rule.key)
        if spec is None:
            continue
        if not rule.enabled:
            findings: list[Finding] = []
        else:
            try:
                findings = spec.check(rule.threshold, now)
            except Exception:  # noqa: BLE001 - one broken check must not silence the others
                logger.exception("alert rule %s failed", rule.key)
                result.failed_rules.append(rule.key)
                continue
        _apply(rule, findings, now, config, result)
    return result


def _apply(rule: Rule, findings: list[Finding], now: datetime, config: AlertSettings, result: Evaluation) -> None:
    open_incidents = {i.subject: i for i in Incident.objects.filter(rule=rule.key, status=Incident.Status.OPEN)}
    found = {f.subject[:200]: f for f in findings}
    for subject, finding in found.items():
        incident = open_incidents.get(subject)
        if incident is None:
            try:
                with transaction.atomic():
                    incident = Incident.objects.create(rule=rule.key, subject=subject, level=finding.level,
                                                       message=finding.message, opened_at=now, last_seen_at=now)
            except IntegrityError:  # another evaluation opened it a moment ago
                continue
            _notify(incident, Notification.Kind.OPENED, now, config)
            result.opened.append(incident)
            continue
        incident.message, incident.last_seen_at = finding.message, now
        due = rule.remind_minutes and incident.last_notified_at is not None and \
            now - incident.last_notified_at >= timedelta(minutes=rule.remind_minutes)
        if due:
            incident.reminders += 1
            _notify(incident, Notification.Kind.REMINDER, now, config)
            result.reminded.append(incident)
        incident.save(update_fields=["message", "last_seen_at", "reminders", "last_notified_at"])
    for subject, incident in open_incidents.items():
        if subject not in found:
            incident.status, incident.resolved_at = Incident.Status.RESOLVED, now
            _notify(incident, Notification.Kind.RESOLVED, now, config)
            incident.save(update_fields=["status", "resolved_at", "last_notified_at"])
            result.resolved.append(incident)


def compose(incident: Incident, kind: str) -> tuple[str, str]:
    """(subject, text) of a message; built from the incident's own words, which carry no secret."""
    title = {
        Notification.Kind.OPENED: _("ALERT"),
        Notification.Kind.REMINDER: _("STILL ON"),
        Notification.Kind.RESOLVED: _("RESOLVED"),
    }[kind]
    spec = BY_KEY.get(incident.rule)
    rule_title = str(spec.title) if spec else incident.rule
    subject = f"{PREFIX} {title}: {rule_title}" + (f" — {incident.subject}" if incident.subject else "")
    lines = [incident.message, "", _("Since: %(at)s") % {"at": timezone.localtime(incident.opened_at).strftime("%d.%m.%Y %H:%M")}]
    if kind == Notification.Kind.RESOLVED:
        lines.append(_("Resolved: %(at)s") % {"at": timezone.localtime(incident.resolved_at).strftime("%d.%m.%Y %H:%M")})
    return subject, "\n".join(lines)


def _notify(incident: Incident, kind: str, now: datetime, config: AlertSettings) -> None:
    subject, text = compose(incident, kind)
    for delivery in deliver(subject, text, config):
        Notification.objects.create(incident=incident, kind=kind, channel=delivery.channel, text=f"{subject}\n{text}",
                                    sent_at=now, ok=delivery.ok, error=delivery.error)
    incident.last_notified_at = now
    if kind == Notification.Kind.OPENED:
        incident.save(update_fields=["last_notified_at"])


def send_test(config: AlertSettings | None = None) -> list:
    """A test message on every configured channel; returns the deliveries (channel, ok, error)."""
    config = config or AlertSettings.load()
    subject = f"{PREFIX} " + _("Test alert")
    text = _("This is a test message from amoerp: alerts reach this channel.")
    deliveries = deliver(subject, text, config)
    for delivery in deliveries:
        Notification.objects.create(kind=Notification.Kind.TEST, channel=delivery.channel, text=f"{subject}\n{text}",
                                    ok=delivery.ok, error=delivery.error)
    return deliveries
