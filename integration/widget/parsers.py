"""JSON bodies with numbers read as Decimal: a quantity sent as a number keeps every digit it was sent with, so
it meets the same validation as the same quantity sent as a string (never rounded through a float).

Hostile bodies are refused here, at the boundary, as 4xx problems: larger than DATA_UPLOAD_MAX_MEMORY_SIZE
(413, read no further), not in the declared charset, not JSON, NaN/Infinity, nested too deep (400)."""

import json
from decimal import Decimal

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "body_too_large"


def read_limited(stream) -> bytes:
    """The whole body, or BodyTooLarge once it passes DATA_UPLOAD_MAX_MEMORY_SIZE (the rest is never read)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    data = stream.read(limit + 1) if limit is not None else stream.read()
    if limit is not None and len(data) > limit:
        raise BodyTooLarge(_("The request body is larger than %(limit)s bytes.") % {"limit": limit})
    return data


class DecimalJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        raw = read_limited(stream)
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(_("The body is not valid %(encoding)s text.") % {"encoding": encoding}) from exc
        try:
            return json.loads(text, parse_float=Decimal,
                              parse_constant=strict_constant if self.strict else None)
        except RecursionError:
            raise ParseError(_("JSON parse error - nested too deep.")) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
