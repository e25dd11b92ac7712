"""Test overrides: DATABASE_URL comes from `make test` (a throwaway PostgreSQL cluster)."""

import os

os.environ.setdefault("DEBUG", "1")
# One explicit key shared by the test process and every child it starts (servers, workers, gunicorn with DEBUG=0).
os.environ.setdefault("AMOERP_ENCRYPTION_KEYS", "dGVzdC1vbmx5LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGU=")
os.environ.setdefault("AMOERP_PUBLIC_URL", "http://127.0.0.1:8000")  # children started with DEBUG=0 need one

from config.settings import *  # noqa: E402,F403
from config.settings import AMOERP, AMOERP_THROTTLE, BASE_DIR, Q_CLUSTER  # noqa: E402

SECRET_KEY = "test-secret-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = BASE_DIR / "var" / "test-media"
LANGUAGE_CODE = "en"
Q_CLUSTER = {**Q_CLUSTER, "workers": 2, "timeout": 20, "retry": 30, "sync": False}
AMOERP = {**AMOERP, "HTTP_TIMEOUT": 5.0, "LOOPBACK_WEBHOOKS": True}  # the sandboxes listen on 127.0.0.1
SECURE_SSL_REDIRECT = False
# Rate limits off: suites that send thousands of requests from 127.0.0.1 are not throttled; the throttling tests
# set their own limits (tests/widget/test_throttling.py).
AMOERP_THROTTLE = {**AMOERP_THROTTLE, "WIDGET_ACCOUNT": "", "WIDGET_IP": "", "WEBHOOK_ACCOUNT": "", "WEBHOOK_IP": ""}
