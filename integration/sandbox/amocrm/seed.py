"""The demo account: companies and contacts matching some of the demo company's counterparties, and a few leads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from integration.sandbox.demo_company import demo_company

if TYPE_CHECKING:
    from integration.sandbox.amocrm.emulator import AmoCrmEmulator

NEW_REQUEST, APPROVAL = 3177729, 3177730


def _values(code_to_id: dict[str, int], **values: Any) -> list[dict[str, Any]]:
    out = []
    for code, value in values.items():
        if value in (None, "", ()):
            continue
        if code in {"PHONE", "EMAIL"}:
            out.append({"field_id": code_to_id[code], "values": [{"value": v, "enum_code": "WORK"} for v in value]})
        else:
            out.append({"field_id": code_to_id[code], "values": [{"value": value}]})
    return out


def _create(emulator: AmoCrmEmulator, entity: str, changes: dict[str, Any]) -> dict[str, Any]:
    row = emulator._new_row(entity)
    emulator.entities[entity][row["id"]] = row
    values = changes.pop("custom_fields_values", None)
    if values:
        from integration.sandbox.amocrm import fields as cf

        parsed, errors = cf.validate_values(emulator.fields[entity], values)
        assert not errors, errors
        changes["cf"] = parsed
    emulator._apply(entity, row, changes, created=True)
    return row


def seed_demo(emulator: AmoCrmEmulator) -> None:
    company = demo_company()
    legal = [c for c in company.counterparties if c.kind == "legal"]
    people = [c for c in company.counterparties if c.kind != "legal"]
    codes = {d.code: d.id for d in emulator.fields["companies"].values() if d.code}
    for code, name in (("INN", "ИНН"), ("KPP", "КПП")):
        if code not in codes:
            codes[code] = emulator._add_field("companies", name, "text", code=code).id
    contact_codes = {d.code: d.id for d in emulator.fields["contacts"].values() if d.code}

    companies = []
    for party in legal[:5]:
        companies.append(_create(emulator, "companies", {
            "name": party.name, "responsible_user_id": 1001,
            "custom_fields_values": _values(codes, INN=party.inn, KPP=party.kpp, PHONE=party.phones[:1],
                                            EMAIL=party.emails[:1], ADDRESS=party.actual_address)}))
    # A company whose requisites a manager mistyped (bad ИНН checksum): the platform must say so in the deal.
    bad_inn = legal[5].inn[:-1] + str((int(legal[5].inn[-1]) + 1) % 10)
    companies.append(_create(emulator, "companies", {
        "name": legal[5].name, "responsible_user_id": 1001,
        "custom_fields_values": _values(codes, INN=bad_inn, KPP=legal[5].kpp)}))
    # A client the ERP does not know yet.
    companies.append(_create(emulator, "companies", {
        "name": "ООО «Новый Клиент»", "responsible_user_id": 1001,
        "custom_fields_values": _values(codes, INN="7707083893", KPP="773601001", PHONE=("+7 495 500-55-50",))}))

    contacts = []
    for party in people[:3]:
        first, _, last = party.name.partition(" ")
        contacts.append(_create(emulator, "contacts", {
            "name": party.name, "first_name": first, "last_name": last, "responsible_user_id": 1001,
            "custom_fields_values": _values(contact_codes, PHONE=party.phones[:1], EMAIL=party.emails[:1])}))
    buyer = _create(emulator, "contacts", {
        "name": "Сергей Волков", "first_name": "Сергей", "last_name": "Волков", "responsible_user_id": 1001,
        "custom_fields_values": _values(contact_codes, PHONE=("8 (916) 123-45-67",), EMAIL=("volkov@example.ru",),
                                        POSITION="Снабженец")})
    emulator._link("contacts", buyer["id"], "companies", companies[0]["id"], {})

    leads = [
        ("Кабель для объекта на Профсоюзной", NEW_REQUEST, companies[0], buyer),
        ("Щитовое оборудование, 2-й этап", APPROVAL, companies[1], None),
        ("Освещение склада", NEW_REQUEST, companies[5], None),
        ("Розница: светильники", NEW_REQUEST, None, contacts[0] if contacts else None),
    ]
    for name, status_id, firm, person in leads:
        lead = _create(emulator, "leads", {"name": name, "status_id": status_id, "pipeline_id": 3177727,
                                           "responsible_user_id": 1001})
        if firm is not None:
            emulator._link("leads", lead["id"], "companies", firm["id"], {})
        if person is not None:
            emulator._link("leads", lead["id"], "contacts", person["id"], {"main_contact": True})
