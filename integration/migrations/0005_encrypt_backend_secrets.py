"""Backend credentials encrypted at rest; the webhook secret moves from the settings into them.

Forward: every row's credentials are encrypted with the first key of AMOERP_ENCRYPTION_KEYS, and
settings.webhook_secret joins them (history rows lose it: the settings are what auditors read); the amoCRM
webhook destinations remembered in the settings (URLs with the secret in the path) are kept masked.
Backward: decrypted back into a JSON column, the webhook secret back into the settings (history stays clean).
"""

from django.db import migrations, models

import integration.crypto
from integration.secrets import mask_url


def scrubbed(settings: dict) -> dict:
    settings = {k: v for k, v in (settings or {}).items() if k != "webhook_secret"}
    if isinstance(settings.get("webhooks"), list):
        settings["webhooks"] = [
            {**hook, "destination": mask_url(str(hook.get("destination", "")))} if isinstance(hook, dict) else hook
            for hook in settings["webhooks"]
        ]
    return settings


def seal(apps, schema_editor):
    Backend = apps.get_model("integration", "Backend")
    for backend in Backend.objects.all():
        credentials = dict(backend.credentials or {})
        settings = dict(backend.settings or {})
        if "webhook_secret" in settings:
            credentials["webhook_secret"] = settings["webhook_secret"]
        backend.sealed = credentials
        backend.settings = scrubbed(settings)
        backend.save(update_fields=["sealed", "settings"])
    History = apps.get_model("integration", "HistoricalBackend")
    leaky = models.Q(settings__has_key="webhook_secret") | models.Q(settings__has_key="webhooks")
    for row in History.objects.filter(leaky):
        row.settings = scrubbed(row.settings)
        row.save(update_fields=["settings"])


def unseal(apps, schema_editor):
    Backend = apps.get_model("integration", "Backend")
    for backend in Backend.objects.all():
        credentials = dict(backend.sealed or {})
        settings = dict(backend.settings or {})
        if "webhook_secret" in credentials:
            settings["webhook_secret"] = credentials.pop("webhook_secret")
        backend.credentials = credentials
        backend.settings = settings
        backend.save(update_fields=["credentials", "settings"])


class Migration(migrations.Migration):
    dependencies = [
        ("integration", "0004_inbox_attempt_limit"),
    ]

    operations = [
        migrations.AddField(
            model_name="backend",
            name="sealed",
            field=integration.crypto.EncryptedJSONField(blank=True, default=dict, verbose_name="credentials"),
        ),
        migrations.RunPython(seal, unseal),
        migrations.RemoveField(model_name="backend", name="credentials"),
        migrations.RenameField(model_name="backend", old_name="sealed", new_name="credentials"),
    ]
