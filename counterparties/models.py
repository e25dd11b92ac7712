"""Counterparties (clients) keyed by ИНН+КПП, ИНН of an ИП, or an individual's phone / e-mail."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from .errors import InvalidValue
from .validators import normalize_email, normalize_phone, validate_requisites


class Counterparty(models.Model):
    class Kind(models.TextChoices):
        LEGAL = "legal", _("legal entity")
        ENTREPRENEUR = "entrepreneur", _("individual entrepreneur")
        INDIVIDUAL = "individual", _("individual")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.LEGAL)
    name = models.CharField(pgettext_lazy("title", "name"), max_length=500, db_index=True)
    full_name = models.CharField(_("full legal name"), max_length=1000, blank=True)
    inn = models.CharField(_("INN"), max_length=12, blank=True, db_index=True)
    kpp = models.CharField(_("KPP"), max_length=9, blank=True)
    ogrn = models.CharField(_("OGRN / OGRNIP"), max_length=15, blank=True)
    segment = models.ForeignKey(
        "catalog.Segment",
        verbose_name=_("client segment"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="counterparties",
    )
    warehouse = models.ForeignKey(
        "catalog.Warehouse",
        verbose_name=_("warehouse"),
        help_text=_("New order lines of this client ship from here unless the order says otherwise."),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    legal_address = models.CharField(_("legal address"), max_length=1000, blank=True)
    actual_address = models.CharField(_("actual address"), max_length=1000, blank=True)
    erp_id = models.CharField(_("ERP id"), max_length=64, unique=True, null=True, blank=True)
    crm_id = models.CharField(_("CRM id"), max_length=64, unique=True, null=True, blank=True)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_from",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("counterparty")
        verbose_name_plural = _("counterparties")
        ordering = ["name"]
        permissions = [("merge_counterparty", _("Can merge duplicate counterparties"))]
        constraints = [
            models.UniqueConstraint(
                fields=["inn", "kpp"],
                condition=Q(kind="legal", merged_into__isnull=True),
                name="counterparty_unique_legal_inn_kpp",
            ),
            models.UniqueConstraint(
                fields=["inn"],
                condition=Q(kind="entrepreneur", merged_into__isnull=True),
                name="counterparty_unique_entrepreneur_inn",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Normalise and check ИНН/КПП/ОГРН for the kind (contacts are checked by forms and the API)."""
        for field, value in validate_requisites(self.kind, inn=self.inn, kpp=self.kpp, ogrn=self.ogrn).items():
            setattr(self, field, value)

    @property
    def survivor(self) -> "Counterparty":
        """The row this one was merged into, following chains; itself when not merged."""
        row = self
        while row.merged_into_id is not None:
            row = row.merged_into
        return row


class Phone(models.Model):
    counterparty = models.ForeignKey(
        Counterparty, verbose_name=_("counterparty"), on_delete=models.CASCADE, related_name="phones"
    )
    number = models.CharField(_("phone (E.164)"), max_length=20, db_index=True)
    raw = models.CharField(_("as entered"), max_length=64, blank=True)
    is_primary = models.BooleanField(_("primary"), default=False)

    class Meta:
        verbose_name = _("phone")
        verbose_name_plural = _("phones")
        constraints = [models.UniqueConstraint(fields=["counterparty", "number"], name="phone_unique_per_counterparty")]

    def __str__(self) -> str:
        return self.number

    def clean(self) -> None:
        entered = self.number
        try:
            self.number = normalize_phone(entered, field="number")
        except InvalidValue as exc:
            raise exc.as_field_error() from None
        self.raw = self.raw or entered


class Email(models.Model):
    counterparty = models.ForeignKey(
        Counterparty, verbose_name=_("counterparty"), on_delete=models.CASCADE, related_name="emails"
    )
    address = models.EmailField(_("e-mail"), db_index=True)
    is_primary = models.BooleanField(_("primary"), default=False)

    class Meta:
        verbose_name = _("e-mail")
        verbose_name_plural = _("e-mails")
        constraints = [models.UniqueConstraint(fields=["counterparty", "address"], name="email_unique_per_counterparty")]

    def __str__(self) -> str:
        return self.address

    def clean(self) -> None:
        try:
            self.address = normalize_email(self.address, field="address")
        except InvalidValue as exc:
            raise exc.as_field_error() from None
