"""gunicorn settings read from the working directory (`gunicorn config.wsgi` in the project root).

gunicorn itself would mark a request as HTTPS when a client on 127.0.0.1 sends `X-Forwarded-Proto: https`;
that decision is Django's alone here (SECURE_PROXY_SSL_HEADER, off unless the operator names the header)."""

secure_scheme_headers: dict[str, str] = {}
logger_class = "integration.access_log.MaskingLogger"  # the webhook secret in the URL path never reaches the access log
