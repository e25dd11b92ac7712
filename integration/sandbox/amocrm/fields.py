"""Custom field definitions of the emulated account and validation of `custom_fields_values`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

FIELD_TYPES = frozenset({
    "text", "numeric", "checkbox", "select", "multiselect", "date", "url", "textarea", "radiobutton",
    "streetaddress", "smart_address", "birthday", "legal_entity", "date_time", "price", "category", "items",
    "tracking_data", "linked_entity", "chained_list", "monetary", "file", "payer", "supplier", "multitext",
})
CATALOG_ONLY = frozenset({"price", "category", "items", "linked_entity"})
ENUM_TYPES = frozenset({"select", "multiselect", "radiobutton", "category", "multitext"})
NUMERIC_TYPES = frozenset({"numeric", "price", "monetary"})
DATE_TYPES = frozenset({"date", "date_time", "birthday"})
PHONE_ENUMS = ["WORK", "WORKDD", "MOB", "FAX", "HOME", "OTHER"]
EMAIL_ENUMS = ["WORK", "PRIV", "OTHER"]


@dataclass
class FieldError:
    code: str
    path: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "path": self.path, "detail": self.detail}


@dataclass
class FieldDef:
    id: int
    name: str
    type: str
    entity_type: str
    code: str | None = None
    sort: int = 500
    is_predefined: bool = False
    is_deletable: bool = True
    is_api_only: bool = False
    catalog_id: int | None = None
    enums: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self, base_url: str) -> dict[str, Any]:
        path = (f"/api/v4/catalogs/{self.catalog_id}/custom_fields/{self.id}" if self.catalog_id
                else f"/api/v4/{self.entity_type}/custom_fields/{self.id}")
        return {
            "id": self.id, "name": self.name, "type": self.type, "account_id": None, "code": self.code,
            "sort": self.sort, "is_api_only": self.is_api_only, "enums": self.enums or None, "group_id": None,
            "required_statuses": [], "is_deletable": self.is_deletable, "is_predefined": self.is_predefined,
            "entity_type": self.entity_type, "catalog_id": self.catalog_id, "remind": None, "settings": None,
            "_links": {"self": {"href": base_url + path}},
        }


def _number(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite():
        return None
    text = format(number.normalize(), "f")
    return text


def _timestamp(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.isdigit():
            return int(value)
        try:
            return int(datetime.fromisoformat(value).timestamp())
        except ValueError:
            return None
    return None


def validate_values(defs: dict[int, FieldDef], values: Any, path: str = "custom_fields_values"
                    ) -> tuple[dict[int, list[dict[str, Any]] | None], list[FieldError]]:
    """Check `custom_fields_values` against the definitions; returns {field_id: stored values or None} and errors."""
    errors: list[FieldError] = []
    result: dict[int, list[dict[str, Any]] | None] = {}
    if values is None:
        return result, errors
    if not isinstance(values, list):
        return result, [FieldError("InvalidType", path, "This value should be of type array.")]
    by_code = {d.code: d for d in defs.values() if d.code}
    for index, item in enumerate(values):
        item_path = f"{path}.{index}"
        if not isinstance(item, dict):
            errors.append(FieldError("InvalidType", item_path, "This value should be of type object."))
            continue
        definition = None
        if item.get("field_id") is not None:
            try:
                definition = defs.get(int(item["field_id"]))
            except (TypeError, ValueError):
                definition = None
            if definition is None:
                errors.append(FieldError("NotSupportedChoice", f"{item_path}.field_id",
                                         "The value you selected is not a valid choice."))
                continue
        elif item.get("field_code"):
            definition = by_code.get(str(item["field_code"]).upper()) or by_code.get(str(item["field_code"]))
            if definition is None:
                errors.append(FieldError("NotSupportedChoice", f"{item_path}.field_code",
                                         "The value you selected is not a valid choice."))
                continue
        else:
            errors.append(FieldError("NotBlank", f"{item_path}.field_id", "This value should not be blank."))
            continue
        raw_values = item.get("values")
        if raw_values is None or raw_values == []:
            result[definition.id] = None  # clears the field
            continue
        if not isinstance(raw_values, list):
            errors.append(FieldError("InvalidType", f"{item_path}.values", "This value should be of type array."))
            continue
        stored, value_errors = _validate_field_values(definition, raw_values, f"{item_path}.values")
        errors.extend(value_errors)
        if not value_errors:
            result[definition.id] = stored
    return result, errors


def _validate_field_values(definition: FieldDef, raw_values: list, path: str
                           ) -> tuple[list[dict[str, Any]], list[FieldError]]:
    errors: list[FieldError] = []
    stored: list[dict[str, Any]] = []
    if definition.type not in {"multiselect", "multitext"} and len(raw_values) > 1 and definition.type != "items":
        errors.append(FieldError("InvalidCount", path, "This field takes a single value."))
        return stored, errors
    for j, raw in enumerate(raw_values):
        value_path = f"{path}.{j}"
        if not isinstance(raw, dict):
            errors.append(FieldError("InvalidType", value_path, "This value should be of type object."))
            continue
        value = raw.get("value")
        if definition.type in ENUM_TYPES:
            enum = _find_enum(definition, raw)
            if definition.type == "multitext":
                if not isinstance(value, str) or not value.strip():
                    errors.append(FieldError("NotBlank", f"{value_path}.value", "This value should not be blank."))
                    continue
                if enum is None:
                    if raw.get("enum_id") is not None or raw.get("enum_code"):
                        errors.append(FieldError("NotSupportedChoice", f"{value_path}.enum_code",
                                                 "The value you selected is not a valid choice."))
                        continue
                    enum = definition.enums[0]
                stored.append({"value": value.strip(), "enum_id": enum["id"], "enum_code": enum.get("code")})
                continue
            if enum is None:
                errors.append(FieldError("NotSupportedChoice", f"{value_path}.enum_id",
                                         "The value you selected is not a valid choice."))
                continue
            stored.append({"value": enum["value"], "enum_id": enum["id"], "enum_code": enum.get("code")})
        elif definition.type in NUMERIC_TYPES:
            number = _number(value)
            if number is None:
                errors.append(FieldError("InvalidType", f"{value_path}.value", "This value should be a number."))
                continue
            stored.append({"value": number})
        elif definition.type in DATE_TYPES:
            ts = _timestamp(value)
            if ts is None:
                errors.append(FieldError("InvalidType", f"{value_path}.value", "This value should be a timestamp."))
                continue
            stored.append({"value": ts})
        elif definition.type == "checkbox":
            if not isinstance(value, bool):
                errors.append(FieldError("InvalidType", f"{value_path}.value", "This value should be of type bool."))
                continue
            stored.append({"value": value})
        elif definition.type in {"legal_entity", "file", "items", "payer", "supplier", "smart_address"}:
            if not isinstance(value, dict):
                errors.append(FieldError("InvalidType", f"{value_path}.value", "This value should be of type object."))
                continue
            stored.append({"value": value})
        else:
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                errors.append(FieldError("InvalidType", f"{value_path}.value", "This value should be of type string."))
                continue
            stored.append({"value": str(value)})
    return stored, errors


def _find_enum(definition: FieldDef, raw: dict[str, Any]) -> dict[str, Any] | None:
    if raw.get("enum_id") is not None:
        return next((e for e in definition.enums if str(e["id"]) == str(raw["enum_id"])), None)
    if raw.get("enum_code"):
        return next((e for e in definition.enums if e.get("code") == raw["enum_code"]), None)
    if definition.type != "multitext" and raw.get("value") is not None:
        return next((e for e in definition.enums if e["value"] == raw["value"]), None)
    return None


def read_values(defs: dict[int, FieldDef], stored: dict[int, list[dict[str, Any]]]) -> list[dict[str, Any]] | None:
    """The read shape: [{field_id, field_name, field_code, field_type, values}] or None when empty."""
    out = []
    for field_id, values in stored.items():
        definition = defs.get(field_id)
        if definition is None or not values:
            continue
        out.append({"field_id": field_id, "field_name": definition.name, "field_code": definition.code,
                    "field_type": definition.type, "values": [dict(v) for v in values]})
    return out or None
