from django import forms
from django.db import models
from django.utils.translation import gettext_lazy as _

from integration.models import Backend


class ConnectAccountForm(forms.Form):
    backend = forms.ModelChoiceField(label=_("amoCRM backend"),
                                     queryset=Backend.objects.filter(kind=Backend.Kind.AMOCRM).order_by("name"))
    code = forms.CharField(label=_("Authorization code"), required=False, strip=True,
                           widget=forms.Textarea(attrs={"rows": 3}),
                           help_text=_("The `code` amoCRM passed to the redirect URI (valid for 20 minutes)."))
    long_lived_token = forms.CharField(label=_("Long-lived token"), required=False, strip=True,
                                       widget=forms.Textarea(attrs={"rows": 3}),
                                       help_text=_("For a private integration: the token from its “Keys” tab."))

    def clean(self):
        data = super().clean()
        if bool(data.get("code")) == bool(data.get("long_lived_token")):
            raise forms.ValidationError(_("Give either an authorization code or a long-lived token."))
        return data


# --- the amoCRM settings page: stage mapping and catalog scope ------------------------------------------------

# The keys `deals.stage_key` gives an order, in the order an order passes them.
STAGE_EVENTS = [
    ("reserve_pending", _("Reserve requested in the ERP")),
    ("reserved", _("Reserved")),
    ("awaiting_approval", _("A shortage awaits approval")),
    ("invoiced", _("Invoice issued")),
    ("paid", _("Paid")),
    ("partially_shipped", _("Partially shipped")),
    ("shipped", _("Shipped (or closed)")),
    ("cancelled", _("Cancelled")),
]
BY_DEFAULT, DO_NOT_MOVE = "", "-"
WON, LOST = 142, 143  # amoCRM's closing stages, the same ids in every pipeline
MANAGED_SETTINGS = ("stage_mapping", "pipeline_id", "catalog_scope", "catalog_groups", "catalog_products")


def stage_choices(pipelines: list[dict]) -> list:
    """Optgroups: one per pipeline with its stages (not "unsorted"), then the closing stages of every pipeline."""
    groups, closing = [], {}
    for pipeline in sorted(pipelines, key=lambda p: (p.get("sort", 0), p["id"])):
        stages = sorted(pipeline.get("_embedded", {}).get("statuses", []), key=lambda s: (s.get("sort", 0), s["id"]))
        own = []
        for stage in stages:
            if int(stage["id"]) in (WON, LOST):
                closing.setdefault(int(stage["id"]), stage["name"])
            elif stage.get("type", 0) != 1:
                own.append((str(stage["id"]), stage["name"]))
        groups.append((pipeline["name"], own))
    if closing:
        groups.append((_("Every pipeline"), [(str(sid), closing[sid]) for sid in sorted(closing)]))
    return groups


def _known(choices: list) -> dict[str, str]:
    return {value: label for _group, items in choices for value, label in items}


class StageMappingForm(forms.Form):
    """Which ERP event moves the deal to which stage: select boxes filled from amoCRM's pipelines, stored as
    stage ids. Without `pipelines` (amoCRM did not answer) every field is shown disabled with its current value."""

    def __init__(self, *args, pipelines: list[dict] | None, settings: dict, **kwargs):
        from integration.amocrm.deals import DEFAULT_STAGES

        super().__init__(*args, **kwargs)
        self.available = pipelines is not None
        mapping = settings.get("stage_mapping") or {}
        stages = stage_choices(pipelines or [])
        known = _known(stages)
        pipeline_choices = [("", _("Every pipeline"))] + [(str(p["id"]), p["name"]) for p in pipelines or []]
        current_pipeline = str(settings.get("pipeline_id") or "")
        if current_pipeline and current_pipeline not in dict(pipeline_choices):
            pipeline_choices.append((current_pipeline, _("%(id)s (not found in amoCRM)") % {"id": current_pipeline}))
        self.fields["pipeline_id"] = forms.ChoiceField(
            label=_("Pipeline of the deals"), choices=pipeline_choices, required=False, initial=current_pipeline,
            disabled=not self.available,
            help_text=_("Deals of other pipelines are not turned into orders."))
        for key, label in STAGE_EVENTS:
            default = DEFAULT_STAGES.get(key)
            head = [(BY_DEFAULT, _("Stage named “%(name)s” (default)") % {"name": default})] if default else []
            head.append((DO_NOT_MOVE if default else BY_DEFAULT, _("Do not move the deal")))
            choices = head + stages
            if key not in mapping:
                initial = BY_DEFAULT
            elif mapping[key] in ("", None):
                initial = DO_NOT_MOVE if default else BY_DEFAULT
            else:
                initial = str(mapping[key])
                if initial not in known:
                    choices.append((initial, _("“%(value)s” (stored; not a stage id amoCRM lists now)")
                                    % {"value": initial}))
            self.fields[f"stage_{key}"] = forms.ChoiceField(label=label, choices=choices, required=False,
                                                            initial=initial, disabled=not self.available)

    def stage_mapping(self) -> dict[str, str]:
        """The `stage_mapping` setting: event → stage id (text), "" = never move; a default is left out."""
        mapping = {}
        for key, _label in STAGE_EVENTS:
            value = self.cleaned_data.get(f"stage_{key}") or BY_DEFAULT
            if value == DO_NOT_MOVE:
                mapping[key] = ""
            elif value != BY_DEFAULT:
                mapping[key] = value
        return mapping


def _split(text: str) -> list[str]:
    return [token for token in text.replace(",", " ").split() if token]


class CategoryChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        names, node, seen = [obj.name], obj, {obj.pk}
        while node.parent_id and node.parent_id not in seen:
            node = node.parent
            seen.add(node.pk)
            names.append(node.name)
        return " › ".join(reversed(names))


class CatalogScopeForm(forms.Form):
    """Which products are pushed to the amoCRM catalog (catalog_push.products_in_scope reads it)."""

    scope = forms.ChoiceField(label=_("Products in the amoCRM catalog"), widget=forms.RadioSelect, choices=[
        ("active", _("All active products")),
        ("all", _("All products, archived ones too")),
        ("groups", _("The active products of chosen groups (and their subgroups)")),
        ("chosen", _("Chosen products, by ERP id or article")),
    ])
    groups = CategoryChoiceField(label=_("Groups"), queryset=None, required=False,
                                 widget=forms.SelectMultiple(attrs={"size": 10}))
    products = forms.CharField(label=_("Products"), required=False, widget=forms.Textarea(attrs={"rows": 5}),
                               help_text=_("ERP ids or articles, one per line or separated by commas."))

    def __init__(self, *args, settings: dict, **kwargs):
        from catalog.models import Category, Product

        super().__init__(*args, **kwargs)
        self.fields["groups"].queryset = Category.objects.select_related("parent").order_by("name")
        ids = [v for v in settings.get("catalog_groups") or [] if isinstance(v, int)]
        erp_ids = [v for v in settings.get("catalog_groups") or [] if isinstance(v, str)]
        chosen = settings.get("catalog_products") or []
        by_pk = {p.pk: p for p in Product.objects.filter(pk__in=[v for v in chosen if isinstance(v, int)])}
        self.initial.update({
            "scope": settings.get("catalog_scope") or "active",
            "groups": list(Category.objects.filter(models.Q(pk__in=ids) | models.Q(erp_id__in=erp_ids))),
            "products": "\n".join(str(v) if not isinstance(v, int) else (
                (by_pk[v].erp_id or by_pk[v].article) if v in by_pk else f"#{v}") for v in chosen),
        })

    def clean_products(self) -> list[str]:
        """Each token must name a product; the ERP id is stored (the article when the product has none)."""
        from catalog.models import Product

        tokens = _split(self.cleaned_data.get("products") or "")
        rows = Product.objects.filter(models.Q(erp_id__in=tokens) | models.Q(article__in=tokens))
        found = {}
        for product in rows:
            for token in (product.erp_id, product.article):
                if token in tokens:
                    found[token] = product.erp_id or product.article
        unknown = [t for t in tokens if t not in found]
        if unknown:
            raise forms.ValidationError(_("No product has this ERP id or article: %(values)s")
                                        % {"values": ", ".join(unknown[:20])}, code="unknown")
        return list(dict.fromkeys(found[t] for t in tokens))

    def clean(self):
        data = super().clean()
        if data.get("scope") == "groups" and not data.get("groups"):
            self.add_error("groups", _("Choose at least one group."))
        if data.get("scope") == "chosen" and not data.get("products") and "products" not in self.errors:
            self.add_error("products", _("Name at least one product."))
        return data

    def catalog_settings(self) -> dict:
        data = self.cleaned_data
        return {"catalog_scope": data["scope"],
                "catalog_groups": [c.erp_id or c.pk for c in data.get("groups") or []],
                "catalog_products": data.get("products") or []}
