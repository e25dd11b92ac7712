"""The three staff groups and their rights, (re)built idempotently after every migrate.

Integration admin: every permission of the platform's apps. Integration operator: view everything plus
the operational actions (resolve conflicts, replay/discard, merge duplicates, approve shortages, pause and
resume, dry runs), never the credentials. Auditor: view only. `manage.py setup_groups` runs the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.management import create_contenttypes
from django.db import transaction
from django.db.models import Q

ADMIN_GROUP = "Integration admin"
OPERATOR_GROUP = "Integration operator"
AUDITOR_GROUP = "Auditor (read-only)"
GROUP_NAMES = (ADMIN_GROUP, OPERATOR_GROUP, AUDITOR_GROUP)

# Django apps whose module lives under one of these packages are "the platform's apps".
PLATFORM_PACKAGES = ("catalog", "counterparties", "orders", "documents", "integration")
# The integration admin also manages the job queue's schedules and tasks, and unlocks locked-out logins (axes).
ADMIN_EXTRA_APPS = ("django_q", "axes")

# Operational rights of an operator, as "app_label.codename"; those not defined (yet) are reported.
OPERATOR_ACTIONS = (
    "integration.replay_outboxevent",
    "integration.discard_outboxevent",
    "integration.replay_inboxmessage",
    "integration.resolve_conflict",
    "integration.add_override",
    "integration.change_override",
    "integration.delete_override",
    "counterparties.merge_counterparty",
    "catalog.merge_product",
    "orders.approve_shortage",
    "staff.pause_backend",
    "staff.run_dry_run",
    "amocrm.change_alert",  # mark alerts resolved (their fields are read-only in the admin)
)


@dataclass
class GroupReport:
    name: str
    permissions: int
    missing: list[str] = field(default_factory=list)


def platform_app_labels() -> list[str]:
    return [
        config.label
        for config in global_apps.get_app_configs()
        if config.name.split(".")[0] in PLATFORM_PACKAGES
    ]


def view_permissions(labels: list[str]) -> list[str]:
    return [
        f"{model._meta.app_label}.view_{model._meta.model_name}"
        for label in labels
        for model in global_apps.get_app_config(label).get_models()
        if "view" in model._meta.default_permissions
    ]


def _by_app(labels: list[str]) -> Q:
    return Q(content_type__app_label__in=labels)


def _codename_q(refs: tuple[str, ...] | list[str]) -> Q:
    q = Q(pk__in=[])
    for ref in refs:
        app_label, codename = ref.split(".", 1)
        q |= Q(content_type__app_label=app_label, codename=codename)
    return q


def setup_groups(using: str = "default") -> list[GroupReport]:
    """Create the three groups if needed and set their permissions exactly; returns what each got."""
    labels = platform_app_labels()
    perms = Permission.objects.using(using).select_related("content_type")
    # The models' own view permissions only: a custom right such as staff.view_credentials is not "view".
    views = perms.filter(_codename_q(view_permissions(labels)))
    found_actions = set(
        perms.filter(_codename_q(OPERATOR_ACTIONS)).values_list("content_type__app_label", "codename")
    )
    missing = [ref for ref in OPERATOR_ACTIONS if tuple(ref.split(".", 1)) not in found_actions]
    wanted = {
        ADMIN_GROUP: perms.filter(_by_app([*labels, *ADMIN_EXTRA_APPS])),
        OPERATOR_GROUP: perms.filter(_codename_q([*view_permissions(labels), *OPERATOR_ACTIONS])),
        AUDITOR_GROUP: views,
    }
    reports = []
    with transaction.atomic(using=using):
        for name in GROUP_NAMES:
            group, _created = Group.objects.using(using).get_or_create(name=name)
            chosen = list(wanted[name])
            group.permissions.set(chosen)
            reports.append(GroupReport(name, len(chosen), missing if name == OPERATOR_GROUP else []))
    return reports


def refresh_groups_after_migrate(sender, using="default", verbosity=1, **kwargs) -> None:
    """post_migrate of the staff app: make sure every app's permissions exist, then refresh the groups.

    post_migrate is sent app by app, in INSTALLED_APPS order: apps listed after this one don't have their
    permissions yet, so they are created here first (Django's own handlers skip what exists).
    """
    configs = list(global_apps.get_app_configs())
    for config in configs[configs.index(sender) + 1 :]:
        if config.models_module is None:
            continue
        create_contenttypes(config, verbosity=0, using=using)
        create_permissions(config, verbosity=0, using=using)
    setup_groups(using=using)
