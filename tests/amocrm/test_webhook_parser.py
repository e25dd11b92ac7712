import pytest

from integration.amocrm.webhooks import WebhookParseError, dedup_key, parse_bracket_body, webhook_events

# The real status-change body quoted in the reference (§4.3), URL-encoded as amoCRM sends it.
REAL = (
    "leads%5Bstatus%5D%5B0%5D%5Bid%5D=10701093&leads%5Bstatus%5D%5B0%5D%5Bname%5D=%D0%A1%D0%B4%D0%B5%D0%BB%D0%BA%D0%B0"
    "&leads%5Bstatus%5D%5B0%5D%5Bstatus_id%5D=142&leads%5Bstatus%5D%5B0%5D%5Bold_status_id%5D=20067736"
    "&leads%5Bstatus%5D%5B0%5D%5Bprice%5D=22500&leads%5Bstatus%5D%5B0%5D%5Bresponsible_user_id%5D=2079676"
    "&leads%5Bstatus%5D%5B0%5D%5Blast_modified%5D=1539782664&leads%5Bstatus%5D%5B0%5D%5Bpipeline_id%5D=9217056"
    "&leads%5Bstatus%5D%5B0%5D%5Btags%5D%5B0%5D%5Bid%5D=80147&leads%5Bstatus%5D%5B0%5D%5Btags%5D%5B0%5D%5Bname%5D=vip"
    "&leads%5Bstatus%5D%5B0%5D%5Baccount_id%5D=17769199"
    "&leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bid%5D=66339"
    "&leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bname%5D=%D0%98%D1%81%D1%82%D0%BE%D1%87%D0%BD%D0%B8%D0%BA"
    "&leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bvalues%5D%5B0%5D%5Bvalue%5D=%D0%A1%D0%B0%D0%B9%D1%82"
    "&leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bvalues%5D%5B0%5D%5Benum%5D=139517"
    "&leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B2%5D%5Bvalues%5D%5B0%5D=1542067200"
    "&account%5Bsubdomain%5D=apfitness"
)


def test_real_status_body_parses_into_nested_lists_and_dicts():
    parsed = parse_bracket_body(REAL.encode())
    lead = parsed["leads"]["status"][0]
    assert lead["id"] == "10701093" and lead["name"] == "Сделка" and lead["status_id"] == "142"
    assert lead["old_status_id"] == "20067736" and lead["last_modified"] == "1539782664"
    assert lead["tags"] == [{"id": "80147", "name": "vip"}]
    assert lead["custom_fields"]["0"] == {"id": "66339", "name": "Источник",
                                         "values": [{"value": "Сайт", "enum": "139517"}]}
    assert lead["custom_fields"]["2"] == {"values": ["1542067200"]}  # a sparse PHP array stays keyed; date: no `value`
    assert parsed["account"] == {"subdomain": "apfitness"}


def test_events_and_dedup_key():
    events = webhook_events(parse_bracket_body(REAL))
    assert [(e.entity, e.action, e.id, e.modified) for e in events] == [("leads", "status", 10701093, "1539782664")]
    key = dedup_key(events, REAL.encode())
    assert key.startswith("leads:status:10701093:1539782664#")
    assert dedup_key(events, REAL.encode()) == key  # a retry
    assert dedup_key(events, REAL.encode() + b"&x=1") != key  # another change in the same second


def test_companies_arrive_under_contacts_with_a_type_and_several_actions_share_a_body():
    body = ("contacts[add][0][id]=5&contacts[add][0][type]=company&contacts[add][0][last_modified]=7"
            "&contacts[update][0][id]=6&contacts[update][0][type]=contact&contacts[update][0][updated_at]=8"
            "&leads[note][0][note][element_id]=9&leads[note][0][note][note_type]=4&account[id]=1")
    events = webhook_events(parse_bracket_body(body))
    assert {(e.entity, e.action, e.id, e.modified) for e in events} == {
        ("companies", "add", 5, "7"), ("contacts", "update", 6, "8"), ("leads", "note", 9, "")}


def test_appending_brackets_and_bad_bodies():
    assert parse_bracket_body("a[]=1&a[]=2&b[x][]=3") == {"a": ["1", "2"], "b": {"x": ["3"]}}
    with pytest.raises(WebhookParseError):
        parse_bracket_body("a=1&a[b]=2")
    with pytest.raises(WebhookParseError):
        parse_bracket_body("%%%")


def test_emulator_bodies_round_trip():
    from integration.sandbox.amocrm.forms import encode_brackets

    data = {"leads": {"update": [{"id": 1, "custom_fields": [{"id": 2, "values": [{"value": "x", "enum": 3}]}]}]},
            "account": {"id": 4, "_links": {"self": "https://x"}}}
    assert parse_bracket_body(encode_brackets(data)) == {
        "leads": {"update": [{"id": "1", "custom_fields": [{"id": "2", "values": [{"value": "x", "enum": "3"}]}]}]},
        "account": {"id": "4", "_links": {"self": "https://x"}}}
