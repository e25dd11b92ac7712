"""The three staff groups: created by migrate, refreshed idempotently, with the rights the brief gives them."""

import io

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from integration.staff.groups import (
    ADMIN_GROUP,
    AUDITOR_GROUP,
    GROUP_NAMES,
    OPERATOR_GROUP,
    platform_app_labels,
    setup_groups,
)

pytestmark = pytest.mark.django_db


def codenames(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def platform_models():
    for label in platform_app_labels():
        yield from apps.get_app_config(label).get_models()


def test_migrate_creates_the_three_groups_with_rights():
    assert set(Group.objects.filter(name__in=GROUP_NAMES).values_list("name", flat=True)) == set(GROUP_NAMES)
    for model in platform_models():
        opts = model._meta
        if "view" not in opts.default_permissions:
            continue
        view = f"{opts.app_label}.view_{opts.model_name}"
        assert view in codenames(AUDITOR_GROUP), view
        assert view in codenames(OPERATOR_GROUP), view
        assert view in codenames(ADMIN_GROUP), view


def test_admin_has_every_platform_permission_including_credentials():
    labels = platform_app_labels()
    everything = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.filter(content_type__app_label__in=labels).select_related("content_type")
    }
    assert everything <= codenames(ADMIN_GROUP)
    assert "staff.view_credentials" in codenames(ADMIN_GROUP)
    assert "integration.change_backend" in codenames(ADMIN_GROUP)


def test_operator_acts_but_never_touches_credentials_or_master_data():
    rights = codenames(OPERATOR_GROUP)
    assert {"staff.pause_backend", "staff.run_dry_run", "orders.approve_shortage"} <= rights
    assert "staff.view_credentials" not in rights
    forbidden = {"integration.change_backend", "integration.add_backend", "integration.delete_backend",
                 "catalog.change_product", "counterparties.delete_counterparty", "orders.change_order"}
    assert not rights & forbidden


def test_auditor_can_only_view():
    rights = codenames(AUDITOR_GROUP)
    assert rights
    assert all(ref.split(".", 1)[1].startswith("view_") for ref in rights), sorted(rights)


def test_setup_groups_is_idempotent_and_repairs_drift():
    before = {name: codenames(name) for name in GROUP_NAMES}
    operator = Group.objects.get(name=OPERATOR_GROUP)
    operator.permissions.add(Permission.objects.get(codename="view_credentials"))
    Group.objects.get(name=AUDITOR_GROUP).permissions.clear()

    setup_groups()
    setup_groups()

    assert {name: codenames(name) for name in GROUP_NAMES} == before
    assert Group.objects.filter(name__in=GROUP_NAMES).count() == 3


def test_setup_groups_command_reports_each_group():
    Group.objects.filter(name=AUDITOR_GROUP).delete()
    out = io.StringIO()
    call_command("setup_groups", stdout=out)
    text = out.getvalue()
    for name in GROUP_NAMES:
        assert name in text
    assert Group.objects.filter(name=AUDITOR_GROUP).exists()


def test_post_migrate_handler_creates_permissions_of_apps_migrated_later():
    """Apps after the staff app in INSTALLED_APPS have no permissions yet when its post_migrate runs."""
    from integration.staff.groups import refresh_groups_after_migrate

    Permission.objects.filter(content_type__app_label="orders").delete()
    assert "orders.approve_shortage" not in codenames(OPERATOR_GROUP)
    refresh_groups_after_migrate(sender=apps.get_app_config("counterparties"), using="default")
    assert "orders.approve_shortage" in codenames(OPERATOR_GROUP)
    assert "orders.view_order" in codenames(AUDITOR_GROUP)
