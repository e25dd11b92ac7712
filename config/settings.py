"""One settings module, read from the environment. See the README's settings table."""

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from integration.crypto import check_keys, development_key

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_SECRET_KEY = "insecure-dev-key-change-me"


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEFAULT_SECRET_KEY and not env_bool("AMOERP_ALLOW_DEFAULT_SECRET", False):
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (production mode).")

# Backend secrets are encrypted at rest (integration.crypto) with these Fernet keys: the first encrypts, all decrypt.
AMOERP_ENCRYPTION_KEYS = env_list("AMOERP_ENCRYPTION_KEYS", "")
AMOERP_DEVELOPMENT_ENCRYPTION_KEY = not AMOERP_ENCRYPTION_KEYS
if AMOERP_DEVELOPMENT_ENCRYPTION_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "AMOERP_ENCRYPTION_KEYS must be set when DEBUG is off (production mode): backend secrets are encrypted "
            "with it. Generate a key with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        )
    # DEBUG only: a key derived from SECRET_KEY; the system check amoerp.W001 says so on every start.
    AMOERP_ENCRYPTION_KEYS = [development_key(SECRET_KEY)]
check_keys(AMOERP_ENCRYPTION_KEYS)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "django_q",
    "simple_history",
    "catalog",
    "counterparties",
    "orders",
    "documents",
    "integration",
    "integration.widget.apps.WidgetConfig",
    "integration.amocrm.apps.AmocrmConfig",
    "integration.staff.apps.StaffConfig",
    "integration.erp.moysklad.apps.MoySkladConfig",
    "integration.erp.onec.apps.OneCConfig",
    "integration.erp.commerceml.apps.CommerceMLConfig",
    "integration.alerts.apps.AlertsConfig",
]
if DEBUG:  # development tools (sandboxes, demo, pilot): never in production, not in the installed package
    INSTALLED_APPS.append("integration.sandbox.apps.SandboxConfig")

MIDDLEWARE = [
    "integration.log_context.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # the admin's static files from STATIC_ROOT behind gunicorn
    "integration.unavailable.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'amoerp.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,  # a kept connection the database dropped (a restart) is replaced, not used
    )
}
AMOERP_SQLITE_OPTIONS = {
    "timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo runs web + workers on one SQLite file: a write transaction takes the lock when it begins
    # (IMMEDIATE) and waits for it up to the timeout, instead of failing "database is locked" when a reader
    # upgrades to a writer; WAL lets readers go on meanwhile.
    DATABASES["default"].setdefault("OPTIONS", {}).update(AMOERP_SQLITE_OPTIONS)
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "ru")
LANGUAGES = [("ru", _("Russian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Moscow")
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "static"))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))

LOGIN_URL = "admin:login"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "amoerp API",
    "DESCRIPTION": "Widget and staff API of the amoCRM ↔ ERP bridge.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "REDOC_DIST": "SIDECAR",
}

CORS_ALLOWED_ORIGIN_REGEXES: list[str] = []  # filled per amoCRM backend at runtime (integration.cors)
CORS_ALLOW_HEADERS = ("accept", "authorization", "content-type", "user-agent", "x-csrftoken", "x-requested-with", "x-auth-token")  # defaults + the widget token

# django-q2: timeout < retry, no catch-up for frequent schedules, failures are not acked.
Q_CLUSTER = {
    "name": "amoerp",
    "workers": int(os.environ.get("Q_WORKERS", "2")),
    "timeout": int(os.environ.get("Q_TIMEOUT", "240")),
    "retry": int(os.environ.get("Q_RETRY", "300")),
    "max_attempts": 3,
    "ack_failures": False,
    "catch_up": False,
    "save_limit": 1000,
    "label": "Django Q2",
    "orm": "default",
}
# The broker stays the ORM (PostgreSQL) even with Redis: an enqueue is atomic with the business write and a task
# survives a crash (docs/deploy.md, "Why the ORM broker"). REDIS_URL moves the cache there — and with it django-q2's
# cluster stats (qmonitor, /health/), which need a cache every process shares — and the rate limiters.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": "amoerp"}}

# Where amoCRM and the ERP reach us (webhooks): required in production; a loopback address is refused when
# webhooks are registered (integration.public_url).
AMOERP_PUBLIC_URL = os.environ.get("AMOERP_PUBLIC_URL", "http://127.0.0.1:8000" if DEBUG else "")
if not DEBUG:
    if not AMOERP_PUBLIC_URL:
        raise ImproperlyConfigured(
            "AMOERP_PUBLIC_URL must be set when DEBUG is off (production mode): the https address amoCRM and the ERP "
            "send webhooks to, e.g. https://amoerp.example.com"
        )
    _public = urlsplit(AMOERP_PUBLIC_URL)
    if _public.scheme not in {"http", "https"} or not _public.hostname:
        raise ImproperlyConfigured(f"AMOERP_PUBLIC_URL: {AMOERP_PUBLIC_URL!r} is not an absolute http(s) URL, "
                                   "e.g. https://amoerp.example.com")

# Integration settings.
AMOERP = {
    "HTTP_TIMEOUT": float(os.environ.get("AMOERP_HTTP_TIMEOUT", "10")),
    "JOURNAL_RETENTION_DAYS": int(os.environ.get("AMOERP_JOURNAL_RETENTION_DAYS", "30")),
    # Retention of the rest (integration.retention, the nightly purge): days unless named otherwise.
    "OUTBOX_RETENTION_DAYS": int(os.environ.get("AMOERP_OUTBOX_RETENTION_DAYS", "30")),
    "INBOX_BODY_RETENTION_DAYS": int(os.environ.get("AMOERP_INBOX_BODY_RETENTION_DAYS", "7")),
    "INBOX_RETENTION_DAYS": int(os.environ.get("AMOERP_INBOX_RETENTION_DAYS", "30")),
    "WEBHOOK_DEDUP_HOURS": int(os.environ.get("AMOERP_WEBHOOK_DEDUP_HOURS", "72")),
    "SYNCRUN_RETENTION_DAYS": int(os.environ.get("AMOERP_SYNCRUN_RETENTION_DAYS", "90")),
    "HISTORY_RETENTION_DAYS": int(os.environ.get("AMOERP_HISTORY_RETENTION_DAYS", "365")),
    "PURGE_BATCH": int(os.environ.get("AMOERP_PURGE_BATCH", "2000")),
    "JOURNAL_BODY_LIMIT": int(os.environ.get("AMOERP_JOURNAL_BODY_LIMIT", "8192")),
    # A handler running longer than this stops renewing its lease, so a stuck one is taken over (integration.leases).
    "HANDLER_MAX_SECONDS": int(os.environ.get("AMOERP_HANDLER_MAX_SECONDS", "900")),
    "STOCK_MAX_AGE_SECONDS": int(os.environ.get("AMOERP_STOCK_MAX_AGE_SECONDS", "60")),
    "PUBLIC_URL": AMOERP_PUBLIC_URL,
    "LOOPBACK_WEBHOOKS": DEBUG,  # webhooks may be registered to 127.0.0.1 (the sandboxes) only in DEBUG
    "REDIS_URL": REDIS_URL,
}

# Webhook URLs carry their secret in the path: every handler masks it (runserver's request line, django.request's
# "Not Found: /hooks/…"). gunicorn's access log: run it with --logger-class integration.access_log.MaskingLogger.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain")  # "json": one JSON object per line with the context ids
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT: {LOG_FORMAT!r} is not 'plain' or 'json'")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "mask_secrets": {"()": "integration.secrets.MaskSecretsFilter"},
        "context": {"()": "integration.log_context.ContextFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "integration.log_context.JsonFormatter"},
        "django.server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}", "style": "{"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT,
                    "filters": ["mask_secrets", "context"]},
        "django.server": {"class": "logging.StreamHandler",
                          "formatter": "json" if LOG_FORMAT == "json" else "django.server",
                          "filters": ["mask_secrets", "context"]},
        "mail_admins": {"level": "ERROR", "filters": ["require_debug_false", "mask_secrets"],
                        "class": "django.utils.log.AdminEmailHandler"},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's defaults re-declared with the masking handlers (a logger configured here loses its old ones).
        "django": {"handlers": ["console", "mail_admins"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        "weasyprint.progress": {"level": "WARNING"},  # one line per laid-out page otherwise
    },
}


def proxy_ssl_header(value: str) -> tuple[str, str] | None:
    """`X-Forwarded-Proto` or `X-Forwarded-Proto: https` (the header a trusted proxy sets) → Django's form."""
    name, _sep, expected = value.partition(":")
    if not name.strip():
        return None
    return "HTTP_" + name.strip().upper().replace("-", "_"), expected.strip() or "https"


# Security. A proxy's header saying "this came over HTTPS" is trusted only when the operator names it (a client
# could send it too); HSTS preload is a commitment that is hard to undo, so it is opt-in.
SECURE_PROXY_SSL_HEADER = proxy_ssl_header(os.environ.get("SECURE_PROXY_SSL_HEADER", ""))
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = ["security.W021"]  # "preload not set": off on purpose unless the operator opts in
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True

# --- The widget API's tokens, rate limits of the public endpoints, the admin login lockout -------------------
AMOERP_WIDGET = {
    # amoCRM does not document whether a widget token (X-Auth-Token) is sent once: accept each jti once by default.
    "TOKEN_SINGLE_USE": env_bool("AMOERP_WIDGET_TOKEN_SINGLE_USE", True),
}
# "N/s|min|hour|day" per caller; "" turns a limit off (integration.throttling). Over it: 429 + Retry-After.
AMOERP_THROTTLE = {
    "WIDGET_ACCOUNT": os.environ.get("AMOERP_THROTTLE_WIDGET_ACCOUNT", "1200/min"),
    "WIDGET_IP": os.environ.get("AMOERP_THROTTLE_WIDGET_IP", "600/min"),
    "WEBHOOK_ACCOUNT": os.environ.get("AMOERP_THROTTLE_WEBHOOK_ACCOUNT", "3000/min"),
    "WEBHOOK_IP": os.environ.get("AMOERP_THROTTLE_WEBHOOK_IP", "3000/min"),
    # How many reverse proxies in front of us append to X-Forwarded-For (0: the header is not trusted).
    "TRUSTED_PROXIES": int(os.environ.get("AMOERP_TRUSTED_PROXIES", "0")),
}
# Admin login: AXES_FAILURE_LIMIT failed attempts of one user from one address lock them out for the cool-off.
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]  # last, as django-axes requires
AUTHENTICATION_BACKENDS = ["integration.throttling.LoginLockoutBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = int(os.environ.get("AMOERP_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = int(os.environ.get("AMOERP_LOGIN_LOCKOUT_MINUTES", "15")) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "integration.throttling.client_ip"

# --- Health and metrics (integration.health, integration.metrics) ---------------------------------------------
AMOERP_HEALTH = {
    # /health/ fails when the oldest due outbox event or webhook, or a schedule, waits longer than this.
    "QUEUE_MAX_AGE_SECONDS": int(os.environ.get("AMOERP_HEALTH_QUEUE_MAX_AGE", "300")),
    # … or when a backend's last successful sync of a kind is older than this (the nightly ones: 26 h).
    "SYNC_MAX_AGE_SECONDS": int(os.environ.get("AMOERP_HEALTH_SYNC_MAX_AGE", "93600")),
}
AMOERP_METRICS = {
    "TOKEN": os.environ.get("AMOERP_METRICS_TOKEN", ""),  # Prometheus sends `Authorization: Bearer <token>`
    # … or scrapes from these networks. Not loopback by default in production: behind a proxy on the same host
    # every visitor would come from 127.0.0.1.
    "ALLOW": env_list("AMOERP_METRICS_ALLOW", "127.0.0.1/32,::1/128" if DEBUG else ""),
}
# Monitoring talks to the app directly, over plain HTTP: these two are not redirected to HTTPS.
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^metrics$"]
# django-prometheus: HTTP metrics around every middleware (the "after" one before axes, which must stay last),
# database metrics through its wrapping engine. Multiprocess mode: PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py).
INSTALLED_APPS += ["django_prometheus"]
MIDDLEWARE = ["django_prometheus.middleware.PrometheusBeforeMiddleware", *MIDDLEWARE[:-1],
              "django_prometheus.middleware.PrometheusAfterMiddleware", MIDDLEWARE[-1]]
_engine = DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
if _engine in {"postgresql", "sqlite3"}:
    DATABASES["default"]["ENGINE"] = f"django_prometheus.db.backends.{_engine}"
