"""Re-encrypt every stored secret with the first key of AMOERP_ENCRYPTION_KEYS.

Rotation: AMOERP_ENCRYPTION_KEYS=<new>,<old> on every process → `manage.py rotate_keys` → drop <old>.
"""

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from integration.crypto import reencrypt
from integration.models import Backend


class Command(BaseCommand):
    help = "Re-encrypt every backend secret with the first key of AMOERP_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        table = Backend._meta.db_table
        column = Backend._meta.get_field("credentials").column
        quote = connection.ops.quote_name
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""  # SQLite: the file lock
        with transaction.atomic():
            # Raw tokens, row-locked: nothing is decrypted into Python objects, and a concurrent token refresh
            # waits for the new key instead of being overwritten.
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT id, {quote(column)} FROM {quote(table)} ORDER BY id{lock}")
                rows = cursor.fetchall()
                for pk, token in rows:
                    cursor.execute(f"UPDATE {quote(table)} SET {quote(column)} = %s WHERE id = %s",
                                   [reencrypt(token), pk])
        self.stdout.write(f"Re-encrypted the secrets of {len(rows)} backend(s) with the first key.")
