"""Documents (счёт, УПД, ТОРГ-12, returns) with their PDFs, and incoming payments."""

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

from catalog.models import MONEY


class Document(models.Model):
    class Kind(models.TextChoices):
        INVOICE = "invoice", _("invoice")
        UPD = "upd", _("UPD")
        TORG12 = "torg12", _("TORG-12")
        RETURN = "return", _("return")
        QUOTE = "quote", _("quote (commercial offer)")

    class Status(models.TextChoices):
        REQUESTED = "requested", _("requested")
        ISSUED = "issued", _("issued")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")

    class Source(models.TextChoices):
        ERP = "erp", _("ERP")
        RENDERED = "rendered", _("rendered here")

    order = models.ForeignKey(
        "orders.Order", verbose_name=_("order"), on_delete=models.PROTECT, related_name="documents"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.REQUESTED)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.ERP)
    upd_status = models.PositiveSmallIntegerField(_("UPD status"), null=True, blank=True)
    erp_id = models.CharField(_("ERP id"), max_length=64, unique=True, null=True, blank=True)
    number = models.CharField(_("number"), max_length=64, blank=True)
    issued_on = models.DateField(_("date"), null=True, blank=True)
    total = models.DecimalField(_("total"), default=Decimal("0"), **MONEY)
    vat_total = models.DecimalField(_("VAT total"), default=Decimal("0"), **MONEY)
    erp_total = models.DecimalField(_("ERP total"), null=True, blank=True, **MONEY)
    erp_vat_total = models.DecimalField(_("ERP VAT total"), null=True, blank=True, **MONEY)
    totals_mismatch = models.BooleanField(_("totals mismatch"), default=False)
    pdf = models.FileField(_("PDF"), upload_to="documents/%Y/%m/", blank=True)
    crm_file_uuid = models.CharField(_("amoCRM file uuid"), max_length=64, blank=True)
    error = models.TextField(_("error"), blank=True)
    shipment = models.ForeignKey(
        "orders.Shipment", verbose_name=_("movement"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="documents",
        help_text=_("A УПД or ТОРГ-12 of one shipment, or a return document: the goods that left or came back."),
    )
    valid_until = models.DateField(
        _("valid until"), null=True, blank=True, help_text=_("A quote: the offer and its prices hold until then.")
    )
    requested_by = models.CharField(_("requested by"), max_length=255, blank=True)
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        ordering = ["-requested_at"]
        constraints = [
            # One open request per order and kind: a second click waits for the first answer.
            models.UniqueConstraint(
                fields=["order", "kind"], condition=models.Q(status="requested"), name="document_one_open_request"
            ),
        ]
        permissions = [("render_document", _("Can re-render document PDFs"))]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.number}".strip()

    @property
    def has_error(self) -> bool:
        return self.totals_mismatch or self.status == self.Status.FAILED


class Payment(models.Model):
    order = models.ForeignKey(
        "orders.Order", verbose_name=_("order"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="payments",
    )
    invoice = models.ForeignKey(
        Document, verbose_name=_("invoice"), null=True, blank=True, on_delete=models.SET_NULL, related_name="payments"
    )
    erp_id = models.CharField(_("ERP id"), max_length=64, unique=True, null=True, blank=True)
    number = models.CharField(_("number"), max_length=64, blank=True)
    paid_at = models.DateTimeField(_("paid at"))
    amount = models.DecimalField(_("amount"), **MONEY)
    purpose = models.CharField(_("purpose"), max_length=1000, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-paid_at"]

    def __str__(self) -> str:
        return f"{self.number or self.pk}: {self.amount}"


class OurOrganization(models.Model):
    """Our own legal entity — the seller on every document rendered here.

    Either fetched from the ERP (the organization the ERP orders are made for, with its bank account;
    one row per ERP backend, kept up to date by the backend's `organization` sync), or entered by staff
    in the admin (one row). Documents rendered here use the active ERP backend's row, else the staff
    row; without either nothing is rendered (`documents.requisites.MissingRequisites`).
    """

    class Source(models.TextChoices):
        ERP = "erp", _("ERP")
        STAFF = "staff", _("entered by staff")

    class Kind(models.TextChoices):
        LEGAL = "legal", _("legal entity")
        ENTREPRENEUR = "entrepreneur", _("individual entrepreneur")

    source = models.CharField(_("source"), max_length=8, choices=Source.choices, default=Source.STAFF)
    backend = models.OneToOneField(
        "integration.Backend", verbose_name=_("ERP backend"), null=True, blank=True, on_delete=models.CASCADE,
        related_name="+",
    )
    erp_id = models.CharField(_("ERP id"), max_length=64, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.LEGAL)
    name = models.CharField(_("name"), max_length=255, help_text=_("As printed on documents."))
    inn = models.CharField(_("INN"), max_length=12)
    kpp = models.CharField(_("KPP"), max_length=9, blank=True)
    ogrn = models.CharField(_("OGRN / OGRNIP"), max_length=15, blank=True)
    address = models.CharField(_("address"), max_length=500, blank=True)
    phone = models.CharField(_("phone"), max_length=64, blank=True)
    bank_name = models.CharField(_("bank"), max_length=255, blank=True)
    bik = models.CharField(_("BIK"), max_length=9, blank=True)
    correspondent_account = models.CharField(_("correspondent account"), max_length=20, blank=True)
    account = models.CharField(_("settlement account"), max_length=20, blank=True)
    director = models.CharField(_("director"), max_length=255, blank=True)
    accountant = models.CharField(_("chief accountant"), max_length=255, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("our organization")
        verbose_name_plural = _("our organization")
        constraints = [
            models.UniqueConstraint(
                fields=["source"], condition=models.Q(source="staff"), name="ourorganization_one_staff_row"
            ),
            models.CheckConstraint(
                condition=models.Q(source="staff", backend__isnull=True)
                | models.Q(source="erp", backend__isnull=False),
                name="ourorganization_erp_rows_have_backend",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_source_display()})"

    def clean(self) -> None:
        from .requisites import validate_organization

        validate_organization(self)
