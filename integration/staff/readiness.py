"""The pre-launch checklist («Готовность к запуску»): the brief's six checks of the mirrored ERP/CRM data and
the platform's own (readiness_platform), each with a mark, a count, the offending records and how to fix them.

Run by the admin page and `manage.py readiness`; every run is stored (`ReadinessRun`) so that the admin index
can show the last result cheaply, and a failing check may be acknowledged by staff (who and when are kept).
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import cache

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from catalog.models import Barcode, Pack, PriceList, Product, Segment, Unit, VatRate
from catalog.models import Price as ProductPrice
from counterparties.errors import InvalidValue
from counterparties.models import Counterparty, Email, Phone
from counterparties.validators import normalize_email, normalize_phone, validate_requisites

from .links import change_url
from .mirrored import erp_master

PASS, WARN, FAIL = "pass", "warn", "fail"
_RANK = {PASS: 0, WARN: 1, FAIL: 2}
MAX_OFFENDERS = 1000  # listed per check; `count` keeps the true number
OKEI_RE = re.compile(r"^\d{3,4}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
# Domains people mistype most; a domain close to one of these (and not one of them) gets a suggestion.
COMMON_DOMAINS = (
    "mail.ru", "yandex.ru", "ya.ru", "gmail.com", "bk.ru", "list.ru", "inbox.ru", "rambler.ru", "icloud.com",
    "outlook.com", "hotmail.com", "yahoo.com", "internet.ru", "yandex.com",
)


@dataclass(frozen=True)
class Offender:
    """One record that fails a check: what it is, what is wrong, where to fix it."""

    label: str
    problem: str
    url: str = ""
    suggestion: str = ""
    severity: str = FAIL


@dataclass
class CheckResult:
    code: str
    title: str
    fix: str
    checked: int = 0
    count: int = 0
    status: str = PASS
    offenders: list[Offender] = field(default_factory=list)
    acknowledged_by: str = ""
    acknowledged_at: str = ""

    def add(self, offender: Offender) -> None:
        self.count += 1
        if _RANK[offender.severity] > _RANK[self.status]:
            self.status = offender.severity
        if len(self.offenders) < MAX_OFFENDERS:
            self.offenders.append(offender)

    @property
    def passed(self) -> bool:
        return self.status == PASS

    @property
    def settled(self) -> bool:
        """Passed, or failing but acknowledged by staff."""
        return self.passed or bool(self.acknowledged_at)

    def as_dict(self) -> dict:
        return {**asdict(self), "settled": self.settled}


@dataclass(frozen=True)
class CheckSpec:
    code: str
    title: str
    fix: str
    run: Callable[[CheckResult], None]


@cache
def _change_url_pattern(model) -> str:
    """The admin change URL of `model` with "{pk}" for the id ("" when not in the admin): one reverse() per
    model, not per offender (a large catalog has tens of thousands)."""
    sample = change_url(model(pk=0))
    return sample.replace("/0/", "/{pk}/", 1) if sample else ""


def admin_url(obj) -> str:
    pattern = _change_url_pattern(type(obj)) if obj is not None and obj.pk is not None else ""
    return pattern.format(pk=obj.pk) if pattern else ""


def _label(obj) -> str:
    return str(obj)[:200]


def _invalid_reason(exc: ValidationError) -> str:
    return "; ".join(exc.messages)


def _valid(normalize, value: str) -> bool:
    try:
        normalize(value)
    except InvalidValue:
        return False
    return True


def _verified_contacts() -> set[int]:
    """Individuals with at least one phone or e-mail that passes its check (a typo is no way to reach them)."""
    individuals = Counterparty.objects.filter(kind=Counterparty.Kind.INDIVIDUAL, merged_into__isnull=True)
    ok: set[int] = set()
    for owner, number in Phone.objects.filter(counterparty__in=individuals).values_list("counterparty_id", "number"):
        if owner not in ok and _valid(normalize_phone, number):
            ok.add(owner)
    for owner, address in Email.objects.filter(counterparty__in=individuals).values_list("counterparty_id",
                                                                                         "address"):
        if owner not in ok and _valid(normalize_email, address):
            ok.add(owner)
    return ok


# 1. Counterparties: ИНН/КПП valid by the legal form, one format; individuals with a verified phone or e-mail.
def check_counterparties(result: CheckResult) -> None:
    reachable = _verified_contacts()
    rows = Counterparty.objects.filter(merged_into__isnull=True).order_by("pk")
    for row in rows.iterator(2000):
        result.checked += 1
        url = admin_url(row)
        try:
            clean = validate_requisites(row.kind, inn=row.inn, kpp=row.kpp, ogrn=row.ogrn,
                                        has_contact=row.pk in reachable if row.kind == row.Kind.INDIVIDUAL else None)
        except ValidationError as exc:
            result.add(Offender(_label(row), _invalid_reason(exc), url))
            continue
        differs = {name: value for name, value in clean.items() if value != getattr(row, name)}
        if differs:
            result.add(Offender(
                _label(row), _("Stored in another format than the normalised one."), url,
                ", ".join(f"{name}: {value}" for name, value in sorted(differs.items())), WARN))


def suggest_domain(domain: str) -> str:
    """The common mail domain this one is most likely a typo of, or ""."""
    if domain in COMMON_DOMAINS:
        return ""
    close = difflib.get_close_matches(domain, COMMON_DOMAINS, n=1, cutoff=0.8)
    return close[0] if close else ""


# 2. Contact data: phones in E.164, e-mails trimmed, valid, without common domain typos.
def check_contacts(result: CheckResult) -> None:
    for phone in Phone.objects.select_related("counterparty").order_by("pk").iterator(2000):
        result.checked += 1
        url = admin_url(phone.counterparty)
        label = f"{_label(phone.counterparty)}: {phone.number}"
        try:
            normal = normalize_phone(phone.number)
        except InvalidValue as exc:
            result.add(Offender(label, _invalid_reason(exc), url))
            continue
        if normal != phone.number:
            result.add(Offender(label, _("The phone is not in E.164."), url, normal))
    for email in Email.objects.select_related("counterparty").order_by("pk").iterator(2000):
        result.checked += 1
        url = admin_url(email.counterparty)
        label = f"{_label(email.counterparty)}: {email.address}"
        try:
            normal = normalize_email(email.address)
        except InvalidValue as exc:
            result.add(Offender(label, _invalid_reason(exc), url))
            continue
        local, _at, domain = normal.rpartition("@")
        typo = suggest_domain(domain)
        if typo:
            result.add(Offender(label, _("The domain looks like a typo."), url, f"{local}@{typo}", WARN))
        elif normal != email.address:
            result.add(Offender(label, _("The e-mail has spaces or capitals in its domain."), url, normal))


def article_masks() -> dict[str, re.Pattern]:
    """Article masks the company set on its ERP backend: settings["article_masks"] = {category name or "*":
    regex}; invalid patterns are reported by the check, not raised."""
    master = erp_master()
    raw = (master.settings.get("article_masks") if master is not None else None) or {}
    return {str(group): str(pattern) for group, pattern in raw.items()} if isinstance(raw, dict) else {}


# 3. Articles: present, unique (ignoring case and spaces), bound to the ERP, matching the group's mask.
def check_articles(result: CheckResult) -> None:
    masks: dict[str, re.Pattern] = {}
    for group, pattern in article_masks().items():
        try:
            masks[group] = re.compile(pattern)
        except re.error as exc:
            result.add(Offender(_("article mask of “%(group)s”") % {"group": group},
                                _("The mask is not a valid regular expression: %(error)s") % {"error": exc}))
    bound = erp_master() is not None
    seen: dict[str, list[Product]] = defaultdict(list)
    for product in Product.objects.filter(active=True).select_related("category").order_by("pk").iterator(2000):
        result.checked += 1
        url = admin_url(product)
        article = product.article.strip()
        if not article:
            result.add(Offender(_label(product), _("The product has no article."), url))
            continue
        seen[re.sub(r"\s+", "", article).casefold()].append(product)
        if bound and not product.erp_id:
            result.add(Offender(_label(product), _("The product is not bound to an ERP record (no ERP id)."), url))
        mask = masks.get(product.category.name if product.category else "") or masks.get("*")
        if mask is not None and not mask.fullmatch(article):
            result.add(Offender(_label(product), _("The article does not match the mask %(mask)s.")
                                % {"mask": mask.pattern}, url))
    for products in seen.values():
        if len(products) > 1:
            for product in products:
                result.add(Offender(_label(product), _("The article repeats another product's: %(others)s.") % {
                    "others": ", ".join(p.article for p in products if p.pk != product.pk)}, admin_url(product)))


# 4. Units and packs: ОКЕИ codes, pack factors > 0, unique barcodes, packs consistent with the base unit.
def check_units_and_packs(result: CheckResult) -> None:
    for unit in Unit.objects.order_by("pk"):
        result.checked += 1
        if not OKEI_RE.match(unit.okei_code or ""):
            result.add(Offender(_label(unit), _("The unit has no valid OKEI code (3 digits)."), admin_url(unit)))
    bad_unit_products = Product.objects.filter(active=True).exclude(unit__okei_code__regex=OKEI_RE.pattern)
    for product in bad_unit_products.order_by("pk")[:MAX_OFFENDERS]:
        result.add(Offender(_label(product), _("The base unit has no OKEI code."), admin_url(product)))
    owners: dict[str, set[str]] = defaultdict(set)
    for value, article in Barcode.objects.filter(active=True).values_list("value", "product__article"):
        owners[value].add(article)
    packs = Pack.objects.filter(active=True, product__active=True).select_related("product", "unit").order_by("pk")
    for pack in packs.iterator(2000):
        result.checked += 1
        url = admin_url(pack.product)
        label = f"{_label(pack.product)}: {pack}"
        if pack.factor is None or pack.factor <= 0:
            result.add(Offender(label, _("The pack's factor must be greater than zero."), url))
        if pack.unit_id == pack.product.unit_id and pack.factor != 1:
            result.add(Offender(label, _("The pack is in the base unit but holds %(factor)s of it.")
                                % {"factor": pack.factor.normalize()}, url))
        if pack.barcode:
            owners[pack.barcode].add(f"{pack.product.article} ({pack.unit.short_name})")
    for value, holders in sorted(owners.items()):
        if len(holders) > 1:
            result.add(Offender(_("barcode %(value)s") % {"value": value},
                                _("One barcode on several products or packs: %(holders)s.")
                                % {"holders": ", ".join(sorted(holders))}))


def allowed_vat_rates() -> set[str]:
    """VAT rates the company sells at (ERP backend settings["allowed_vat_rates"]); every known rate by default."""
    master = erp_master()
    allowed = (master.settings.get("allowed_vat_rates") if master is not None else None) or VatRate.values
    return {str(rate) for rate in allowed}


# 5. VAT and currency.
def check_vat_and_currency(result: CheckResult) -> None:
    allowed = allowed_vat_rates()
    products = Product.objects.filter(active=True).exclude(vat_rate__in=allowed).order_by("pk")
    result.checked += Product.objects.filter(active=True).count()
    for product in products.iterator(2000):
        result.add(Offender(_label(product), _("VAT rate “%(rate)s” is not among the allowed (%(allowed)s).") % {
            "rate": product.vat_rate, "allowed": ", ".join(sorted(allowed))}, admin_url(product)))
    for price_list in PriceList.objects.order_by("pk"):
        result.checked += 1
        if not CURRENCY_RE.match(price_list.currency or ""):
            prices = ProductPrice.objects.filter(price_list=price_list, active=True).count()
            result.add(Offender(_label(price_list), _("The currency “%(currency)s” is not an ISO 4217 code; "
                                                      "%(prices)s price(s) have no currency.")
                                % {"currency": price_list.currency, "prices": prices}, admin_url(price_list)))


# 6. Price lists and segments.
def check_price_lists_and_segments(result: CheckResult) -> None:
    default = PriceList.objects.filter(is_default=True).first()
    used = set(Segment.objects.values_list("price_list_id", flat=True))
    lists_with_prices = PriceList.objects.filter(Exists(ProductPrice.objects.filter(price_list=OuterRef("pk"),
                                                                                    active=True)))
    for price_list in lists_with_prices.order_by("pk"):
        result.checked += 1
        if price_list.pk not in used and price_list != default:
            result.add(Offender(_label(price_list), _("The price list is tied to no client segment."),
                                admin_url(price_list), severity=WARN))
    no_segment = Counterparty.objects.filter(merged_into__isnull=True, segment__isnull=True).order_by("pk")
    result.checked += Counterparty.objects.filter(merged_into__isnull=True).count()
    problem = (_("No segment: buys at the default price list “%(name)s”.") % {"name": default.name} if default
               else _("No segment, and no price list is marked as the default."))
    for row in no_segment.iterator(2000):
        result.add(Offender(_label(row), problem, admin_url(row), severity=WARN if default else FAIL))
    for segment in Segment.objects.select_related("price_list").order_by("pk"):
        priced = ProductPrice.objects.filter(price_list=segment.price_list, active=True).values("product_id")
        missing = Product.objects.filter(active=True).exclude(pk__in=priced).order_by("pk")  # a hashed NOT IN
        for product in missing.iterator(2000):
            result.add(Offender(_label(product), _("No price in the list “%(list)s” of the segment “%(segment)s”.")
                                % {"list": segment.price_list.name, "segment": segment.name}, admin_url(product)))


DATA_CHECKS = (
    CheckSpec("counterparties", gettext_lazy("Counterparties: INN and KPP"),
              gettext_lazy("Correct the INN/KPP in the ERP (they come from there) or on the counterparty's page; "
                           "a legal entity needs a 10-digit INN and a KPP, an entrepreneur a 12-digit INN and no "
                           "KPP; give an individual a phone or an e-mail."), check_counterparties),
    CheckSpec("contacts", gettext_lazy("Contact data: phones and e-mails"),
              gettext_lazy("Write phones as +7XXXXXXXXXX and fix the e-mails as suggested, on the counterparty's "
                           "page or in the CRM contact."), check_contacts),
    CheckSpec("articles", gettext_lazy("Articles"),
              gettext_lazy("Give every product a unique article in the ERP, matching the group's mask, and run "
                           "the catalog sync so that each product is bound to its ERP record."), check_articles),
    CheckSpec("units", gettext_lazy("Units and packs"),
              gettext_lazy("Set the OKEI code of each unit in the ERP (796 — pieces, 166 — kg, 006 — metres …), "
                           "give packs a factor above zero and a barcode of their own."), check_units_and_packs),
    CheckSpec("vat", gettext_lazy("VAT and currency"),
              gettext_lazy("Set an allowed VAT rate on the product card in the ERP, and an ISO currency "
                           "(RUB, USD …) on the price type."), check_vat_and_currency),
    CheckSpec("segments", gettext_lazy("Price lists and client segments"),
              gettext_lazy("Tie each price list to a client segment (Catalog → Client segments), give every "
                           "counterparty a segment or mark a default price list, and fill in the missing "
                           "prices in the ERP."), check_price_lists_and_segments),
)


def run_checks(specs: Iterable[CheckSpec]) -> list[CheckResult]:
    results = []
    for spec in specs:
        result = CheckResult(spec.code, str(spec.title), str(spec.fix))
        spec.run(result)
        results.append(result)
    return results


def all_specs() -> tuple[CheckSpec, ...]:
    from .readiness_platform import PLATFORM_CHECKS

    return (*DATA_CHECKS, *PLATFORM_CHECKS)


def spec_codes() -> list[str]:
    return [spec.code for spec in all_specs()]


def run_readiness(*, codes: Iterable[str] | None = None, user=None, store: bool = True) -> list[CheckResult]:
    """Run the checks (all, or those named), apply the acknowledgements, store the run."""
    from .readiness_acks import apply_acknowledgements, store_run
    from .readiness_platform import clear_probes

    clear_probes()
    wanted = set(codes) if codes else None
    results = run_checks(spec for spec in all_specs() if wanted is None or spec.code in wanted)
    apply_acknowledgements(results)
    if store and wanted is None:
        store_run(results, user=user)
    return results


def overall(results: Iterable[CheckResult]) -> str:
    marks = [r.status for r in results if not r.settled]
    return max(marks, key=_RANK.__getitem__) if marks else PASS

