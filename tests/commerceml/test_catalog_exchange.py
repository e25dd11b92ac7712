"""1C's catalog exchange over real HTTP: the simulator (as 1C) against our exchange URL on the live server."""

import socket
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import requests

from catalog.models import Category, Price, Product, StockLevel, Warehouse
from integration.erp.commerceml import imports
from integration.erp.commerceml.config import exchange_config
from integration.erp.commerceml.sessions import Session
from integration.models import Binding, JournalEntry, SyncRun
from integration.sandbox.commerceml import files
from integration.sandbox.commerceml.client import ExchangeFailed
from tests.commerceml.conftest import PASSWORD, demo_files

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
CABLE, SOCKET, SERVICE = files.DEMO[0], files.DEMO[2], files.DEMO[4]
MAIN, PODOLSK = (w for w, _name in files.WAREHOUSES)


def stock_of(item: files.Item) -> dict[str, Decimal]:
    return {erp_id: on_hand for erp_id, on_hand in StockLevel.objects.filter(product__erp_id=item.erp_id)
            .values_list("warehouse__erp_id", "on_hand")}


def assert_demo_applied() -> None:
    assert Product.objects.filter(erp_id__in=[i.erp_id for i in files.DEMO], active=True).count() == 5
    cable = Product.objects.get(erp_id=CABLE.erp_id)
    assert (cable.article, cable.name, cable.vat_rate, cable.kind) == ("ВВГ-3х2.5", "Кабель ВВГнг-LS 3х2,5", "22", "goods")
    assert cable.unit.okei_code == "006"  # 1C's Код="006 " without its trailing space
    assert cable.category.name == "Кабель и провод"
    assert list(cable.barcodes.values_list("value", flat=True)) == ["4600000000011"]
    assert Product.objects.get(erp_id=SERVICE.erp_id).kind == "service"
    assert Product.objects.get(erp_id=SERVICE.erp_id).vat_rate == "none"
    assert Product.objects.get(erp_id=files.DEMO[3].erp_id).vat_rate == "10"
    prices = dict(Price.objects.filter(product=cable).values_list("price_list__name", "amount"))
    assert prices == {"Розничная": Decimal("98.50"), "Оптовая": Decimal("88.65")}
    assert stock_of(CABLE) == {MAIN: 1200, PODOLSK: 300}
    assert stock_of(files.DEMO[3]) == {MAIN: 0, PODOLSK: 75}  # a warehouse the offer does not name has none
    assert set(Warehouse.objects.filter(erp_id__in=[MAIN, PODOLSK]).values_list("name", flat=True)) == {
        "Основной склад", "Склад Подольск"}
    assert Category.objects.filter(erp_id=files.GROUPS[1][0]).exists()


def test_demo_exchange_in_parts_applies_catalog_prices_and_stock(exchange):
    simulator = exchange(zip_files=False)
    transcript = simulator.exchange_catalog(demo_files())
    assert simulator.file_limit == 4096
    parts = [-(-len(content) // 4096) for content in demo_files().values()]
    assert min(parts) > 1 and len(transcript.modes("file")) == sum(parts)  # each file appended in several parts
    assert transcript.modes("import")[-1] == "success"
    assert_demo_applied()
    runs = SyncRun.objects.filter(backend=exchange.backend).order_by("pk")
    assert [(r.kind, r.status, r.full, r.trigger) for r in runs] == [("catalog", "succeeded", True, "webhook"),
                                                                      ("stock", "succeeded", True, "webhook")]
    assert Binding.objects.filter(backend=exchange.backend, external_id=CABLE.erp_id).exists()
    assert not list((Session.find(exchange.backend, simulator.session_id).files).rglob("*.xml"))


def test_zipped_exchange_in_windows_1251_gives_the_same_catalog(exchange):
    simulator = exchange(zip_files=True)
    simulator.exchange_catalog(demo_files("windows-1251"))
    assert simulator.zip and simulator.transcript.modes("file")  # one archive, in parts
    assert_demo_applied()


def test_an_unchanged_reimport_writes_nothing(exchange):
    exchange().exchange_catalog(demo_files())
    exchange().exchange_catalog(demo_files("windows-1251"))  # the same content in the other encoding
    catalog, stock = list(SyncRun.objects.filter(backend=exchange.backend).order_by("pk"))[-2:]
    assert (catalog.kind, catalog.created, catalog.updated, catalog.unchanged) == ("catalog", 0, 0, 5)
    assert catalog.details["rows_written"] == 0 and catalog.details["archived_missing"] == 0
    assert (stock.kind, stock.created, stock.updated, stock.details["rows_written"]) == ("stock", 0, 0, 0)


def test_import_answers_progress_until_done(exchange):
    exchange.backend.settings["exchange_budget_seconds"] = 0
    exchange.backend.save()
    simulator = exchange(zip_files=False)
    simulator.exchange_catalog(demo_files())
    answers = simulator.transcript.modes("import")
    assert answers[0] == "progress" and answers[-1] == "success" and answers.count("success") == 2
    assert_demo_applied()


def test_a_failure_mid_import_applies_nothing_and_the_next_exchange_succeeds(exchange, monkeypatch):
    monkeypatch.setattr(imports, "PAGE", 2)  # pages are written before the broken product is read
    broken = [*files.DEMO[:4], files.Item("ffffffff-0000-4000-8000-000000000001", "BAD", "Сломанный", Decimal(1),
                                          vat="13")]
    with pytest.raises(ExchangeFailed, match="СтавкаНалога '13'"):
        exchange(zip_files=False).exchange_catalog({"import.xml": files.to_bytes(files.write_import, broken)})
    assert not Product.objects.exists() and not Binding.objects.exists()
    run = SyncRun.objects.get(backend=exchange.backend)
    assert run.status == "failed" and "СтавкаНалога" in run.error
    exchange(zip_files=False).exchange_catalog(demo_files())
    assert_demo_applied()


def test_a_changes_only_catalog_leaves_absent_products_and_a_full_one_archives_them(exchange):
    exchange().exchange_catalog(demo_files())
    renamed = files.Item(**{**vars(SOCKET), "name": "Розетка двойная белая"})
    exchange().exchange_catalog({"import.xml": files.to_bytes(files.write_import, [renamed], only_changes=True)})
    assert Product.objects.get(erp_id=SOCKET.erp_id).name == "Розетка двойная белая"
    assert Product.objects.filter(erp_id__in=[i.erp_id for i in files.DEMO], active=True).count() == 5
    exchange().exchange_catalog({"import.xml": files.to_bytes(files.write_import, files.DEMO[:4])})
    assert not Product.objects.get(erp_id=SERVICE.erp_id).active
    assert Product.objects.filter(active=True, erp_id__in=[i.erp_id for i in files.DEMO[:4]]).count() == 4


def test_a_full_offers_package_zeroes_the_stock_of_products_it_no_longer_lists(exchange):
    """1C leaves sold-out goods out of offers.xml (its "unload only goods in stock" option): a full package is the
    whole stock, so a product it omits has none left — not the stock of the last package it was in. A changes-only
    package, or one without stock at all (prices only), leaves the others alone."""
    exchange().exchange_catalog(demo_files())
    assert stock_of(CABLE) == {MAIN: 1200, PODOLSK: 300}
    rest = [item for item in files.DEMO if item is not CABLE]

    exchange().exchange_catalog({"offers.xml": files.to_bytes(files.write_offers, rest[:1], only_changes=True)})
    assert stock_of(CABLE) == {MAIN: 1200, PODOLSK: 300}
    exchange().exchange_catalog({"offers.xml": files.to_bytes(files.write_offers, rest, with_stock=False)})
    assert stock_of(CABLE) == {MAIN: 1200, PODOLSK: 300}  # prices only: the package says nothing of stock

    run_before = SyncRun.objects.filter(kind="stock").count()
    exchange().exchange_catalog({"offers.xml": files.to_bytes(files.write_offers, rest)})
    assert stock_of(CABLE) == {MAIN: 0, PODOLSK: 0}
    assert stock_of(files.DEMO[3]) == {MAIN: 0, PODOLSK: 75}
    run = SyncRun.objects.filter(kind="stock").order_by("pk")[run_before]
    assert run.full and run.details["zeroed_unlisted"] == 2


def test_a_wrong_password_is_refused(exchange):
    simulator = exchange(password="wrong")
    with pytest.raises(ExchangeFailed, match="wrong login or password"):
        simulator.checkauth()
    anonymous = requests.get(exchange.url, params={"type": "catalog", "mode": "init"}, timeout=10)
    assert anonymous.text.startswith("failure\n")
    unknown = requests.get(exchange.url.replace("/1c/", "/1c/x"), params={"type": "catalog", "mode": "checkauth"},
                           timeout=10)
    assert unknown.status_code == 404 and unknown.text.startswith("failure")


def test_file_names_are_sanitised_and_traversal_refused(exchange):
    simulator = exchange()
    simulator.checkauth()
    simulator.init()
    for bad in ("../../etc/passwd", "/etc/passwd", "import_files/../../x.xml", "C:\\Windows\\x.xml", ".htaccess",
                "shell.php"):
        response = simulator.call("catalog", "file", data=b"x", filename=bad)
        assert response.text.startswith("failure\n"), bad
    assert simulator.call("catalog", "file", data=b"jpg", filename="/tmp/import_files/ab/1.jpg").text == "success\n"
    session = Session.find(exchange.backend, simulator.session_id)
    assert (session.files / "import_files" / "ab" / "1.jpg").read_bytes() == b"jpg"
    assert sorted(p.name for p in session.dir.parent.parent.rglob("passwd")) == []


def test_answers_in_windows_1251_when_the_backend_asks(exchange):
    exchange.backend.settings["exchange_encoding"] = "windows-1251"
    exchange.backend.save()
    simulator = exchange(password="неверный")
    response = simulator.call("catalog", "checkauth", auth=simulator.auth)
    assert response.headers["Content-Type"] == "text/plain; charset=windows-1251"
    assert response.content.decode("cp1251").startswith("failure\n")


def test_a_part_shorter_than_its_length_is_refused_and_not_kept(exchange):
    simulator = exchange()
    simulator.checkauth()
    simulator.init()
    assert simulator.call("catalog", "file", data=b"<first part>", filename="import.xml").text == "success\n"
    url = urlsplit(exchange.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as conn:
        conn.sendall((f"POST {url.path}?type=catalog&mode=file&filename=import.xml HTTP/1.1\r\n"
                      f"Host: {url.netloc}\r\nCookie: amoerp_cml={simulator.session_id}\r\nContent-Length: 100\r\n"
                      "Connection: close\r\n\r\n").encode() + b"only 17 bytes...!")
        conn.shutdown(socket.SHUT_WR)  # the connection breaks before the part's 100 bytes arrived
        reply = b"".join(iter(lambda: conn.recv(4096), b""))
    assert b"\r\n\r\nfailure\n" in reply and b"received 17 bytes of 100" in reply
    session = Session.find(exchange.backend, simulator.session_id)
    assert (session.files / "import.xml").read_bytes() == b"<first part>"  # the broken part is cut off again


def test_every_call_is_journaled_with_the_secrets_masked(exchange):
    simulator = exchange(zip_files=False)
    simulator.exchange_catalog(demo_files())
    entries = list(JournalEntry.objects.filter(backend=exchange.backend).order_by("pk"))
    assert len(entries) == len(simulator.transcript.calls)
    assert {e.direction for e in entries} == {"in"} and "mode=checkauth" in entries[0].url
    secret = exchange_config(exchange.backend).secret
    stored = " ".join(f"{e.url} {e.request_headers} {e.response_body} {e.response_headers}" for e in entries)
    assert secret not in stored and simulator.session_id not in stored and PASSWORD not in stored


def test_an_import_asked_again_after_its_success_is_not_run_twice(exchange):
    simulator = exchange(zip_files=False)
    simulator.exchange_catalog(demo_files())
    runs = SyncRun.objects.filter(backend=exchange.backend).count()
    again = simulator.import_file("import0_1.xml")  # 1C lost our `success` and asks once more
    assert again[0] == "success" and SyncRun.objects.filter(backend=exchange.backend).count() == runs


def test_repeated_wrong_passwords_lock_the_caller_out(exchange):
    for _attempt in range(10):
        with pytest.raises(ExchangeFailed, match="wrong login or password"):
            exchange(password="guess").checkauth()
    with pytest.raises(ExchangeFailed, match="too many failed logins"):
        exchange().checkauth()  # even the right password, until the window ends
