"""JSON bodies with numbers read as Decimal: a quantity sent as a number keeps every digit it was sent with, so
it meets the same validation as the same quantity sent as a string (never rounded through a float).

Hostile bodies are refused here, at the boundary, with a 400 problem: not in the declared charset, not JSON,
NaN/Infinity, nested too deep. (A body over DATA_UPLOAD_MAX_MEMORY_SIZE never gets here: see BodyTooLarge.)"""

import json
from decimal import Decimal

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant


class BodyTooLarge(APIException):
    """Django refuses to read a body over DATA_UPLOAD_MAX_MEMORY_SIZE (RequestDataTooBig); the API says 413."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "body_too_large"


class DecimalJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(_("The body is not valid %(encoding)s text.") % {"encoding": encoding}) from exc
        try:
            return json.loads(text, parse_float=Decimal, parse_constant=strict_constant if self.strict else None)
        except RecursionError:
            raise ParseError(_("JSON parse error - nested too deep.")) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
