"""The file importers on their own (no HTTP): what 1C's characteristics and partial packages become."""

from decimal import Decimal

import pytest

from catalog.models import Price, StockLevel
from integration.erp.commerceml import imports
from integration.sandbox.commerceml import files
from tests.commerceml.conftest import FIXTURES, make_backend

pytestmark = pytest.mark.django_db
MAIN, PODOLSK = (w for w, _name in files.WAREHOUSES)
SOCKET = files.DEMO[2]


def offers(tmp_path, body: str):
    path = tmp_path / "offers.xml"
    path.write_text(f'<?xml version="1.0" encoding="utf-8"?><КоммерческаяИнформация ВерсияСхемы="2.08">'
                    f'<ПакетПредложений СодержитТолькоИзменения="true"><ТипыЦен><ТипЦены><Ид>{files.RETAIL}</Ид>'
                    f"<Наименование>Розничная</Наименование></ТипЦены></ТипыЦен><Склады><Склад><Ид>{MAIN}</Ид>"
                    f"<Наименование>Основной склад</Наименование></Склад><Склад><Ид>{PODOLSK}</Ид><Наименование>"
                    f"Склад Подольск</Наименование></Склад></Склады><Предложения>{body}</Предложения>"
                    f"</ПакетПредложений></КоммерческаяИнформация>", encoding="utf-8")
    return path


def offer(erp_id: str, price: str, **stock) -> str:
    stores = "".join(f'<Склад ИдСклада="{w}" КоличествоНаСкладе="{q}"/>' for w, q in stock.items())
    return (f"<Предложение><Ид>{erp_id}</Ид><Цены><Цена><ИдТипаЦены>{files.RETAIL}</ИдТипаЦены>"
            f"<ЦенаЗаЕдиницу>{price}</ЦенаЗаЕдиницу></Цена></Цены>{stores}</Предложение>")


def test_characteristics_fold_into_their_product_even_across_pages(tmp_path, monkeypatch):
    backend, _secret = make_backend()
    imports.import_catalog(backend, FIXTURES / "import0_1.xml")
    monkeypatch.setattr(imports, "PAGE", 1)
    body = (offer(files.DEMO[0].erp_id, "99.00", **{MAIN: 5})
            + offer(f"{SOCKET.erp_id}#white", "250.00", **{MAIN: 3, PODOLSK: 1})
            + offer(f"{SOCKET.erp_id}#black", "260.00", **{MAIN: 2}))
    run = imports.import_offers(backend, offers(tmp_path, body))
    assert run.status == "succeeded" and not run.full
    levels = dict(StockLevel.objects.filter(product__erp_id=SOCKET.erp_id).values_list("warehouse__erp_id", "on_hand"))
    assert levels == {MAIN: 5, PODOLSK: 1}  # the characteristics' stock summed per warehouse
    assert Price.objects.get(product__erp_id=SOCKET.erp_id).amount == Decimal("250.00")  # the first one's price
    assert Price.objects.get(product__erp_id=files.DEMO[0].erp_id).amount == Decimal("99.00")
