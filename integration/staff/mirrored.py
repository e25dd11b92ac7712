"""Mirrored ERP data in the admin: read-only while an ERP backend is its master, changed through overrides.

The rule, per model admin: `synced_fields` are written by the ERP syncs. While an active ERP backend exists, a
row the ERP owns (`erp_bound`, by default: it has an ERP id) shows them read-only, cannot be deleted, and new
rows of `master_blocks_add` models come only from the ERP. A synced value is changed in the ERP, or pinned by an
override (audited; the syncs keep it and record a conflict) through the "pin a value" links on the page.
Fields not listed stay editable: they are local and no sync writes them.
"""

from __future__ import annotations

import json
import threading
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.utils import display_for_field
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from integration import connectors
from integration.models import Backend
from integration.overrides import active_overrides, to_json

_page = threading.local()  # the request whose change page is being built (readonly callables get only obj)


def erp_master() -> Backend | None:
    """The active ERP backend that masters products, prices, stock, warehouses and bound counterparties."""
    return connectors.active_erp()


def _master(request) -> Backend | None:
    if not hasattr(request, "_amoerp_erp_master"):
        request._amoerp_erp_master = erp_master()
    return request._amoerp_erp_master


def pin_url(obj, field: str, return_to: str = "") -> str:
    """The override form, filled in for obj.field with its current value."""
    content_type = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    attname = obj._meta.get_field(field).attname
    query = {"content_type": content_type.pk, "object_id": obj.pk, "field": field,
             "value": json.dumps(to_json(getattr(obj, attname)), cls=DjangoJSONEncoder, ensure_ascii=False)}
    if return_to:
        query["return_to"] = return_to
    return f"{reverse('admin:integration_override_add')}?{urlencode(query)}"


class MirroredAdminMixin:
    """ModelAdmin mixin implementing the rule of this module (put it before ModelAdmin in the bases)."""

    synced_fields: tuple[str, ...] = ()
    pinnable_fields: tuple[str, ...] = ()  # synced fields an override may pin (identity keys are left out)
    master_blocks_add = True
    local_fields_note = _("Nothing here is local: every field comes from the ERP.")

    def erp_bound(self, obj) -> bool:
        return bool(getattr(obj, "erp_id", None))

    def is_mirrored(self, request, obj) -> bool:
        return obj is not None and obj.pk is not None and _master(request) is not None and self.erp_bound(obj)

    def _fully_synced(self) -> bool:
        editable = {f.name for f in self.model._meta.concrete_fields if f.editable and not f.primary_key}
        return editable <= set(self.synced_fields)

    def has_add_permission(self, request):
        if self.master_blocks_add and _master(request) is not None:
            return False
        return super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        if self.is_mirrored(request, obj) and self._fully_synced():
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # Without an object: the change list's bulk delete, which would reach mirrored rows too.
        if _master(request) is not None and (obj is None or self.is_mirrored(request, obj)):
            return False
        return super().has_delete_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        fields = (*super().get_readonly_fields(request, obj), "mirror_notice")
        if self.is_mirrored(request, obj):
            fields = (*fields, *(name for name in self.synced_fields if name not in fields))
        return fields

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not self.is_mirrored(request, obj):
            return [(title, {**opts, "fields": [f for f in opts["fields"] if f != "mirror_notice"]})
                    for title, opts in fieldsets]
        return [(_("Source: the ERP"), {"fields": ["mirror_notice"]}),
                *[(title, {**opts, "fields": [f for f in opts["fields"] if f != "mirror_notice"]})
                  for title, opts in fieldsets]]

    @admin.display(description=_("mirrored data"))
    def mirror_notice(self, obj) -> str:
        request = getattr(_page, "request", None)
        master = _master(request) if request is not None else erp_master()
        if obj is None or obj.pk is None or master is None or not self.erp_bound(obj):
            return "—"
        pins = active_overrides(obj)
        may_pin = request is not None and request.user.has_perm("integration.add_override")
        here = request.get_full_path() if request is not None else ""
        rows = []
        for name in self.pinnable_fields:
            field = obj._meta.get_field(name)
            pinned = pins.get(name)
            if pinned is not None:
                url = reverse("admin:integration_override_change", args=[pinned.pk])
                state = format_html(
                    '<a href="{}" class="pinned-value">{}</a>', url,
                    _("pinned by %(author)s: %(reason)s%(until)s") % {
                        "author": pinned.author or "—", "reason": pinned.reason,
                        "until": (" " + str(_("until %(when)s") % {"when": timezone.localtime(pinned.expires_at)
                                                                      .strftime("%d.%m.%Y %H:%M")})
                                  if pinned.expires_at else ""),
                    })
            else:
                state = "—"
            link = (format_html('<a href="{}" class="pin-link" data-field="{}">{}</a>',
                                pin_url(obj, name, here), name, _("Pin a value"))
                    if may_pin else "")
            value = display_for_field(getattr(obj, name), field, "—")
            rows.append((capfirst(field.verbose_name), value, state, link))
        table = format_html(
            '<table class="mirror-fields"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th></th></tr></thead>'
            "<tbody>{}</tbody></table>", _("field"), _("current value"), _("override"),
            format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td></tr>", rows)) if rows else ""
        return format_html(
            '<p class="mirror-rule">{}</p><p class="help">{}</p>{}',
            _("Mirrored from the ERP backend “%(backend)s”: the synced fields are read-only here and cannot be "
              "deleted, because the next sync would overwrite or contradict a change. Change them in the ERP, "
              "or pin a value: an override, kept by every sync, visible and audited.") % {"backend": master.name},
            self.local_fields_note, table,
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        _page.request = request  # the notice's links depend on the user's rights and this page
        return super().get_form(request, obj, change=change, **kwargs)


class MirroredInlineMixin:
    """InlineModelAdmin mixin: the children of a mirrored parent (packs, prices, contacts) are read-only too."""

    def parent_bound(self, obj) -> bool:
        return bool(getattr(obj, "erp_id", None))

    def _locked(self, request, obj) -> bool:
        return obj is not None and obj.pk is not None and _master(request) is not None and self.parent_bound(obj)

    def has_add_permission(self, request, obj=None):
        return not self._locked(request, obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not self._locked(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._locked(request, obj) and super().has_delete_permission(request, obj)
