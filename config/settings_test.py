"""Test overrides: DATABASE_URL comes from `make test` (a throwaway PostgreSQL cluster)."""

import os

os.environ.setdefault("DEBUG", "1")

from config.settings import *  # noqa: E402,F403
from config.settings import AMOERP, BASE_DIR, Q_CLUSTER  # noqa: E402

SECRET_KEY = "test-secret-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = BASE_DIR / "var" / "test-media"
LANGUAGE_CODE = "en"
Q_CLUSTER = {**Q_CLUSTER, "workers": 2, "timeout": 20, "retry": 30, "sync": False}
AMOERP = {**AMOERP, "HTTP_TIMEOUT": 5.0}
SECURE_SSL_REDIRECT = False
