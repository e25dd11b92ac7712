"""gunicorn settings read from the working directory (`gunicorn config.wsgi` in the project root; deploy/ runs
exactly that). Command-line options override these.

gunicorn itself would mark a request as HTTPS when a client on 127.0.0.1 sends `X-Forwarded-Proto: https`;
that decision is Django's alone here (SECURE_PROXY_SSL_HEADER, off unless the operator names the header)."""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))  # PDF rendering and the widget's fast ERP path fit
graceful_timeout = 30
max_requests = 2000  # a worker is recycled now and then (memory), with jitter so they do not all restart at once
max_requests_jitter = 200
preload_app = False  # each worker imports the app itself (prometheus multiprocess mode, DB connections)
secure_scheme_headers: dict[str, str] = {}
logger_class = "integration.access_log.MaskingLogger"  # the webhook secret in the URL path never reaches the access log


def child_exit(server, worker):
    """A worker is gone: its live gauges leave /metrics (its counters stay summed in, as Prometheus expects)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
