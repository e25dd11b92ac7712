"""Admin URLs of rows and filtered change lists; empty when the model is not registered in the admin."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.db import models
from django.urls import reverse


def changelist_url(model: type[models.Model], **filters) -> str:
    if not admin.site.is_registered(model):
        return ""
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def change_url(obj: models.Model) -> str:
    if obj is None or obj.pk is None or not admin.site.is_registered(type(obj)):
        return ""
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
