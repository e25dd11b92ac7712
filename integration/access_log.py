"""gunicorn's access log with webhook secrets masked: `gunicorn --logger-class integration.access_log.MaskingLogger`.

A webhook URL carries its secret in the path (/hooks/<source>/<secret>/); the request line, the path, the query
and the request headers are masked before the line is formatted.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

from integration.secrets import mask_paths


class MaskingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: mask_paths(value) if isinstance(value, str) else value for key, value in atoms.items()}
