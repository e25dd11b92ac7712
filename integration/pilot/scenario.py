"""A simulated day: its plan drawn from the seed, then played by the managers and the ERP desk in parallel.

Realistic mixes: deals with and without products, for known, new, mistyped and duplicated companies; carts of
pieces, packs, kits and batch-tracked goods over several warehouses; shortages sent for approval (granted or
refused); edits and cancellations; invoices and УПД. The ERP side receives supplies, moves stock, changes
prices, adds, renames and archives products and counterparties, edits orders, ships and takes payments in
parts, and takes goods back.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.error import HTTPError

from integration.pilot.actors import ErpDesk, GaveUp, Manager
from integration.pilot.clock import WORKDAY_MINUTES, SimClock
from integration.pilot.ledger import Deal, Ledger
from integration.sandbox.demo_company import inn10

APPROVER = 1002  # the sales head: may approve a sale "в минус"
MANAGER_BASE = 1001
COMPANY_MIX = (("known", 45), ("new", 25), ("wrong_inn", 8), ("duplicate", 10), ("contact", 7), ("none", 5))
PARALLEL_PEOPLE = 6  # people acting at the same moment (the machine has few cores)


@dataclass
class Catalog:
    """What people know before the day: search words, companies in amoCRM, clients' requisites, stores."""

    terms: list[str]
    companies: list[int]
    requisites: list[tuple[str, str, str]]  # (name, ИНН, КПП) of existing clients
    stores: list[str]
    articles: list[str]


@dataclass
class Day:
    number: int
    clock: SimClock
    deals: list[tuple[float, int]] = field(default_factory=list)  # (minute, manager user id)
    desk: list[tuple[float, str]] = field(default_factory=list)  # (minute, action)

    @property
    def size(self) -> int:
        return len(self.deals) + len(self.desk)


def weighted(rng: random.Random, mix) -> str:
    names, weights = zip(*mix, strict=True)
    return rng.choices(names, weights)[0]


def plan_day(number: int, rng: random.Random, clock: SimClock, managers: int, deals_per_day: int) -> Day:
    day = Day(number, clock)
    for _ in range(deals_per_day):
        day.deals.append((rng.uniform(0, WORKDAY_MINUTES * 0.8), MANAGER_BASE + rng.randrange(managers)))
    desk = (["supply"] * 5 + ["move"] * 3 + ["price"] * 5 + ["add_product", "rename_product", "archive_product",
            "add_counterparty", "rename_counterparty"] + ["edit_order"] * 2 + ["ship"] * 8 + ["pay"] * 8
            + ["return"] * 2)
    for action in desk:
        # ERP work on orders happens in the afternoon, when the morning's orders exist
        start = WORKDAY_MINUTES * (0.35 if action in ("edit_order", "ship", "pay", "return") else 0)
        day.desk.append((rng.uniform(start, WORKDAY_MINUTES * 0.95), action))
    day.deals.sort()
    day.desk.sort()
    return day


class Player:
    """Plays days: the deals on a pool of manager threads, the ERP desk on its own thread."""

    def __init__(self, world, ledger: Ledger, catalog: Catalog, seed: int, clock: SimClock, managers: int):
        self.world, self.ledger, self.catalog, self.clock = world, ledger, catalog, clock
        self.seed = seed
        pause = max(clock.real(2), 0.2)
        self.managers = {MANAGER_BASE + i: Manager(MANAGER_BASE + i, world.amo, world.platform.base, pause)
                         for i in range(managers)}
        self.approver = Manager(APPROVER, world.amo, world.platform.base, pause)
        self.desk = ErpDesk(world.ms, pause)
        self.inn_serial = 0
        self.lock = threading.Lock()

    # ------------------------------------------------------------------------------------------ the day
    def play(self, day: Day, tick: Callable[[], None]) -> None:
        """Play the day; the clock must have been started for it (clock.start_day)."""
        rng = random.Random(f"{self.seed}-{day.number}")
        deal_seeds = [rng.random() for _ in day.deals]
        desk_seed = rng.random()
        with ThreadPoolExecutor(PARALLEL_PEOPLE, thread_name_prefix="manager") as pool:
            desk = threading.Thread(target=self._desk_day, args=(day, random.Random(desk_seed), tick),
                                    name="erp-desk")
            desk.start()
            futures = [pool.submit(self._deal, minute, user, random.Random(s), tick)
                       for (minute, user), s in zip(day.deals, deal_seeds, strict=True)]
            for future in futures:
                future.result()
            desk.join()

    def _deal(self, minute: float, user: int, rng: random.Random, tick) -> None:
        self.clock.sleep_until(minute)
        try:
            self.play_deal(self.managers[user], rng)
        except GaveUp as exc:
            self.ledger.note("gave_up", f"manager {user}: {exc}")
        finally:
            tick()

    def _desk_day(self, day: Day, rng: random.Random, tick) -> None:
        for minute, action in day.desk:
            self.clock.sleep_until(minute)
            try:
                getattr(self, f"desk_{action}")(rng)
                self.ledger.count(f"erp_{action}")
            except GaveUp as exc:
                self.ledger.note("gave_up", f"ERP desk {action}: {exc}")
            except HTTPError as exc:  # the ERP refused the action (e.g. a position it cannot take): noted
                self.ledger.note("gave_up", f"ERP desk {action}: {exc.code} {exc.read()[:300]!r}")
            finally:
                tick()

    # ------------------------------------------------------------------------------------------ a deal
    def play_deal(self, manager: Manager, rng: random.Random) -> None:
        kind = weighted(rng, COMPANY_MIX)
        lead_id = self.create_lead(manager, kind, rng)
        deal = self.ledger.add_deal(Deal(lead_id=lead_id, manager=manager.user_id, company=kind))
        if kind == "none" or rng.random() < 0.12:  # a deal without products yet (a first call, an inquiry)
            return
        lines = self.choose_lines(manager, lead_id, rng)
        if not lines:
            return
        self.set_cart(manager, deal, lines, rng)
        if not deal.cart:
            return
        if kind == "wrong_inn":  # the widget said the ИНН is wrong: the manager corrects it and saves the cart again
            self.correct_inn(manager, lead_id)
            self.set_cart(manager, deal, lines, rng, allow_shortage=False)
            if not deal.cart:
                return
        if rng.random() < 0.3:  # the client changes their mind about quantities
            self.pause(rng, 5, 40)
            edited = [{**line, "quantity": str(max(1, int(Decimal(line["quantity"])) + rng.choice((-1, 1, 2))))}
                      for line in lines]
            deal.edits += 1
            self.set_cart(manager, deal, edited, rng, allow_shortage=False)
            if not deal.cart:
                return
        if rng.random() < 0.07:
            self.pause(rng, 5, 60)
            answer = manager.widget("POST", f"/leads/{lead_id}/order/cancel", accept=frozenset({409}))
            if answer.status == 200:
                deal.cancelled = True
                self.ledger.count("cancelled")
            return
        if rng.random() < 0.75:
            self.pause(rng, 1, 10)
            answer = manager.widget("POST", f"/leads/{lead_id}/documents", json={"kind": "invoice"})
            if answer.status == 202:
                deal.documents.append("invoice")
                self.ledger.count("invoices_requested")

    def pause(self, rng: random.Random, low: float, high: float) -> None:
        import time

        time.sleep(self.clock.real(rng.uniform(low, high)))

    def create_lead(self, manager: Manager, kind: str, rng: random.Random) -> int:
        item: dict = {"name": f"Сделка {rng.randrange(10**6)}", "price": 0}
        if kind == "known":
            item["_embedded"] = {"companies": [{"id": rng.choice(self.catalog.companies)}]}
        elif kind in ("new", "wrong_inn", "duplicate"):
            item["_embedded"] = {"companies": [{"id": self.create_company(manager, kind, rng)}]}
        elif kind == "contact":
            phone = f"+7916{rng.randrange(10**7):07d}"
            answer = manager.crm("POST", "/api/v4/contacts", [{"name": f"Покупатель {phone[-4:]}",
                                 "custom_fields_values": [{"field_code": "PHONE",
                                                           "values": [{"value": phone, "enum_code": "WORK"}]}]}])
            contact = answer.body["_embedded"]["contacts"][0]["id"]
            item["_embedded"] = {"contacts": [{"id": contact, "is_main": True}]}
        answer = manager.crm("POST", "/api/v4/leads", [item])
        if answer.status >= 300:
            raise GaveUp(f"amoCRM refused a lead: {answer.status} {answer.body}")
        return answer.body["_embedded"]["leads"][0]["id"]

    def create_company(self, manager: Manager, kind: str, rng: random.Random) -> int:
        if kind == "duplicate":  # a company already a client, typed in again by another manager
            name, inn, kpp = rng.choice(self.catalog.requisites)
            name = name.upper() if rng.random() < 0.5 else name
        else:
            with self.lock:
                self.inn_serial += 1
                serial = self.inn_serial
            inn = inn10(f"77{self.seed % 1000:03d}{serial:04d}")
            kpp = "770101001"
            name = f'ООО "Пилот {self.seed}-{serial}"'
            if kind == "wrong_inn":
                inn = inn[:-1] + str((int(inn[-1]) + 1) % 10)
        values = [{"field_code": "INN", "values": [{"value": inn}]}]
        if kpp:
            values.append({"field_code": "KPP", "values": [{"value": kpp}]})
        answer = manager.crm("POST", "/api/v4/companies", [{"name": name, "custom_fields_values": values}])
        if answer.status >= 300:
            raise GaveUp(f"amoCRM refused a company: {answer.status} {answer.body}")
        return answer.body["_embedded"]["companies"][0]["id"]

    def correct_inn(self, manager: Manager, lead_id: int) -> None:
        lead = manager.crm("GET", f"/api/v4/leads/{lead_id}?with=companies").body
        company_id = lead["_embedded"]["companies"][0]["id"]
        with self.lock:
            self.inn_serial += 1
            serial = self.inn_serial
        inn = inn10(f"77{self.seed % 1000:03d}{serial:04d}")
        answer = manager.crm("PATCH", f"/api/v4/companies/{company_id}", {
            "custom_fields_values": [{"field_code": "INN", "values": [{"value": inn}]}]})
        if answer.status >= 300:
            raise GaveUp(f"amoCRM refused the corrected ИНН: {answer.status} {answer.body}")

    def choose_lines(self, manager: Manager, lead_id: int, rng: random.Random) -> list[dict]:
        found: list[dict] = []
        for _ in range(rng.randint(1, 3)):
            answer = manager.widget("GET", "/products", params={"q": rng.choice(self.catalog.terms),
                                                                 "lead_id": lead_id, "page_size": 10})
            if answer.status == 200:
                found += [p for p in answer.body["results"] if p.get("price") is not None]
        if not found:
            return []
        lines, seen, store = [], set(), None  # MoySklad ships an order from one store: the manager keeps to one
        for product in rng.sample(found, min(len(found), rng.randint(1, 4))):
            if product["id"] in seen:
                continue
            seen.add(product["id"])
            line = {"product": product["id"], "quantity": str(rng.randint(1, 6))}
            if product["packs"] and rng.random() < 0.5:
                line["pack"] = rng.choice(product["packs"])["id"]
                line["quantity"] = str(rng.randint(1, 2))
            stores = [w["warehouse_id"] for w in product["stock"]["warehouses"] if Decimal(str(w["available"])) > 0]
            if store is None and stores and rng.random() < 0.6:
                store = rng.choice(stores)
            if store in stores:
                line["warehouse"] = store
            if rng.random() < 0.1:  # more than there is: a shortage
                total = Decimal(str(product["stock"]["total"]["available"]))
                line.pop("pack", None)
                line["quantity"] = str(int(max(total, 0)) + rng.randint(5, 50))
            if rng.random() < 0.15:
                line["discount_percent"] = str(rng.choice((3, 5, 10)))
            lines.append(line)
        return lines

    def set_cart(self, manager: Manager, deal: Deal, lines: list[dict], rng: random.Random,
                 allow_shortage: bool = True) -> None:
        lead_id = deal.lead_id
        answer = manager.widget("PUT", f"/leads/{lead_id}/order", json={"lines": lines}, accept=frozenset({409}))
        self.ledger.count("carts")
        if answer.status == 200:
            deal.cart = True
            return
        if answer.status != 409 or not isinstance(answer.body, dict) or "shortages" not in answer.body:
            self.ledger.note("gave_up", f"lead {lead_id}: cart answered {answer.status} {str(answer.body)[:300]}")
            deal.cart = False
            return
        self.ledger.count("shortages")
        if allow_shortage and rng.random() < 0.5:  # the sales head approves the sale "в минус"
            approved = self.approver.widget("POST", f"/leads/{lead_id}/order/approve",
                                            json={"reason": "Клиент ждёт поставку, согласовано"},
                                            accept=frozenset({409}))
            if approved.status == 200:
                deal.cart = deal.approved = True
                self.ledger.count("approvals_granted")
                return
        deal.refused = True
        self.ledger.count("approvals_refused")
        shorts = {s["index"]: Decimal(str(s["available"])) for s in answer.body["shortages"]}
        reduced = []
        for index, line in enumerate(lines):
            if index in shorts:
                available = int(shorts[index])
                if available < 1:
                    continue
                line = {**{k: v for k, v in line.items() if k != "pack"}, "quantity": str(available)}
            reduced.append(line)
        if not reduced or rng.random() < 0.3:
            answer = manager.widget("POST", f"/leads/{lead_id}/order/cancel", accept=frozenset({409}))
            deal.cancelled = answer.status == 200
            deal.cart = False
            return
        answer = manager.widget("PUT", f"/leads/{lead_id}/order", json={"lines": reduced}, accept=frozenset({409}))
        deal.cart = answer.status == 200
        if answer.status == 409:  # stock moved meanwhile: the manager gives up the deal for today
            answer = manager.widget("POST", f"/leads/{lead_id}/order/cancel", accept=frozenset({409}))
            deal.cancelled = answer.status == 200

    # ------------------------------------------------------------------------------------------ the ERP desk
    def _open_erp_orders(self) -> list[dict]:
        from django.db import Error, connection

        from orders.models import Order

        for attempt in range(20):  # PostgreSQL may be restarting (a fault): the desk looks again a moment later
            try:
                closed = {str(u) for u in Order.objects.filter(status=Order.Status.CANCELLED)
                          .values_list("uuid", flat=True)}
                break
            except Error:
                connection.close()
                if attempt == 19:
                    raise
                time.sleep(0.5)
        return [o for o in self.desk.entities("customerorder")
                if o.get("externalCode") and o["externalCode"] not in closed and o.get("positions", {}).get("rows")]

    def desk_supply(self, rng: random.Random) -> None:
        changes = [{"article": a, "store": rng.choice(self.catalog.stores), "delta": rng.randint(20, 200)}
                   for a in rng.sample(self.catalog.articles, 5)]
        self.desk.control("stock", {"changes": changes})
        self.desk.control("webhooks/stock", {})

    def desk_move(self, rng: random.Random) -> None:
        article = rng.choice(self.catalog.articles)
        source, target = rng.sample(self.catalog.stores, 2)
        quantity = rng.randint(1, 10)
        self.desk.control("stock", {"changes": [{"article": article, "store": source, "delta": -quantity},
                                                {"article": article, "store": target, "delta": quantity}]})
        self.desk.control("webhooks/stock", {})

    def desk_price(self, rng: random.Random) -> None:
        article = rng.choice(self.catalog.articles)
        product = self.desk.control("product", {"article": article})
        current = [p for p in self.desk.entities("product", f"id={product['id']}")][0]["salePrices"]
        prices = {p["priceType"]["name"]: round(p["value"] / 100 * rng.uniform(0.95, 1.1), 2)
                  for p in current if p.get("value")}
        self.desk.control("product", {"article": article, "prices": prices})

    def desk_add_product(self, rng: random.Random) -> None:
        serial = rng.randrange(10**6)
        row = self.desk.control("product/new", {"name": f"Новинка пилота {serial}",
                                                  "article": f"PILOT-{self.seed}-{serial}",
                                                  "like": rng.choice(self.catalog.articles)})
        self.ledger.note("products_added", row["id"])

    def desk_rename_product(self, rng: random.Random) -> None:
        article = rng.choice(self.catalog.articles)
        product = self.desk.control("product", {"article": article})
        name = self.desk.entities("product", f"id={product['id']}")[0]["name"]
        new = name.removesuffix(" (нов.)") if name.endswith(" (нов.)") else f"{name} (нов.)"
        self.desk.control("product", {"article": article, "name": new})
        with self.ledger.lock:
            self.ledger.products_renamed[product["id"]] = new

    def desk_archive_product(self, rng: random.Random) -> None:
        added = [p for p in self.ledger.products_added if p not in self.ledger.products_archived]
        if not added:
            return
        product = rng.choice(added)
        self.desk.control("product", {"id": product, "archived": True})
        self.ledger.note("products_archived", product)

    def desk_add_counterparty(self, rng: random.Random) -> None:
        serial = rng.randrange(10**6)
        row = self.desk.api("POST", "entity/counterparty", {
            "name": f'ООО "Клиент из МойСклад {serial}"', "companyType": "legal",
            "inn": inn10(f"78{serial:06d}1"), "kpp": "780101001"})
        self.ledger.note("counterparties_added", row["id"])

    def desk_rename_counterparty(self, rng: random.Random) -> None:
        if not self.ledger.counterparties_added:
            return
        erp_id = rng.choice(self.ledger.counterparties_added)
        self.desk.api("PUT", f"entity/counterparty/{erp_id}", {"name": f'ООО "Переименован {rng.randrange(10**6)}"'})

    def desk_edit_order(self, rng: random.Random) -> None:
        shipped = {order for order, _ in self.ledger.demands}
        orders = [o for o in self._open_erp_orders() if o["id"] not in shipped]
        if not orders:
            return
        order = rng.choice(orders)
        rows = order["positions"]["rows"]
        positions = []
        for row in rows:
            href = row["assortment"]["meta"]["href"]
            kind = row["assortment"]["meta"]["type"]
            # a person changing a quantity in MoySklad keeps the rest of the row as it was (its VAT too)
            item = {"quantity": row["quantity"], "price": row["price"], "discount": row.get("discount", 0),
                    "reserve": row.get("reserve", row["quantity"]), "vat": row.get("vat", 0),
                    "vatEnabled": row.get("vatEnabled", bool(row.get("vat")))}
            item["bundle" if kind == "bundle" else "product"] = href.rsplit("/", 1)[-1]
            positions.append(item)
        positions[0]["quantity"] = positions[0]["quantity"] + 1
        positions[0]["reserve"] = positions[0]["reserve"] + 1
        self.desk.control(f"order/{order['id']}/positions", {"positions": positions})
        self.ledger.note("order_edits", order["id"])

    def desk_ship(self, rng: random.Random) -> None:
        shipped = {order for order, _ in self.ledger.demands}
        orders = [o for o in self._open_erp_orders() if o["id"] not in shipped]
        if not orders:
            return
        order = rng.choice(orders)
        quantities = [max(1, int(r["quantity"] * rng.choice((0.5, 1)))) for r in order["positions"]["rows"]]
        demand = self.desk.control("demand", {"order": order["id"], "positions": quantities})
        self.ledger.note("demands", (order["id"], demand["id"]))

    def desk_pay(self, rng: random.Random) -> None:
        orders = self._open_erp_orders()
        if not orders:
            return
        order = rng.choice(orders)
        paid = sum(s for o, _, s in self.ledger.payments if o == order["id"])
        left = order["sum"] - paid
        if left <= 100:
            return
        amount = float(round(left * rng.choice((0.3, 0.5, 1.0))))
        payment = self.desk.control("payment", {"order": order["id"], "sum": amount})
        self.ledger.note("payments", (order["id"], payment["id"], amount))

    def desk_return(self, rng: random.Random) -> None:
        returned = {demand for demand, _ in self.ledger.returns}
        demands = [d for _, d in self.ledger.demands if d not in returned]
        if not demands:
            return
        demand = rng.choice(demands)
        row = self.desk.control("salesreturn", {"demand": demand})
        self.ledger.note("returns", (demand, row["id"]))

    def close(self) -> None:
        for manager in (*self.managers.values(), self.approver):
            manager.close()
        self.desk.close()
