"""Staff API (session auth, staff with the model's permissions): list, read, create and update counterparties with
contacts. ERP and CRM ids are read-only here: only the syncs bind a counterparty to a remote record."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

from .actions import create_counterparty, update_counterparty
from .errors import InvalidValue
from .models import Counterparty
from .permissions import StaffModelPermissions
from .types import CounterpartyData
from .validators import normalize_phone

WRITABLE = ("kind", "name", "full_name", "inn", "kpp", "ogrn", "segment", "legal_address", "actual_address")
EXTERNAL_IDS = ("erp_id", "crm_id")


class CounterpartySerializer(serializers.ModelSerializer):
    inn = serializers.CharField(max_length=32, allow_blank=True, required=False)
    kpp = serializers.CharField(max_length=32, allow_blank=True, required=False)
    ogrn = serializers.CharField(max_length=32, allow_blank=True, required=False)
    phones = serializers.ListField(child=serializers.CharField(max_length=64), required=False, write_only=True)
    emails = serializers.ListField(child=serializers.CharField(max_length=254), required=False, write_only=True)

    class Meta:
        model = Counterparty
        fields = ("id", *WRITABLE, *EXTERNAL_IDS, "phones", "emails", "merged_into", "created_at", "updated_at")
        read_only_fields = ("id", *EXTERNAL_IDS, "merged_into", "created_at", "updated_at")
        validators = []  # natural keys are checked by the actions, per kind, with a message naming the match

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["phones"] = [p.number for p in instance.phones.all()]
        data["emails"] = [e.address for e in instance.emails.all()]
        return data

    def validate(self, attrs):
        instance = self.instance
        values = {f: attrs.get(f, getattr(instance, f) if instance else None) for f in WRITABLE}
        segment = values.pop("segment")
        self.data_object = CounterpartyData(
            **{k: (v if v is not None else "") for k, v in values.items()},
            **{k: getattr(instance, k) if instance else None for k in EXTERNAL_IDS},
            segment_id=segment.pk if segment else None,
            phones=tuple(attrs["phones"]) if "phones" in attrs else (None if instance else ()),
            emails=tuple(attrs["emails"]) if "emails" in attrs else (None if instance else ()),
        )
        return attrs

    def _write(self, action, *args):
        request = self.context.get("request")
        try:
            return action(*args, self.data_object, user=getattr(request, "user", None), reason="staff API")
        except DjangoValidationError as exc:
            raise ValidationError(serializers.as_serializer_error(exc)) from None

    def create(self, validated_data):
        return self._write(create_counterparty)

    def update(self, instance, validated_data):
        return self._write(update_counterparty, instance)


class Pages(LimitOffsetPagination):
    default_limit = 100
    max_limit = 1000


class CounterpartyViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Counterparties; filters: `?inn=`, `?kind=`, `?phone=` (any spelling), `?live=1` (not merged);
    pages: `?limit=&offset=` (100 by default)."""

    serializer_class = CounterpartySerializer
    pagination_class = Pages
    permission_classes = [StaffModelPermissions]

    def get_queryset(self):
        queryset = Counterparty.objects.prefetch_related("phones", "emails").order_by("pk")
        params = self.request.query_params
        if params.get("inn"):
            queryset = queryset.filter(inn=params["inn"].strip())
        if params.get("kind"):
            queryset = queryset.filter(kind=params["kind"])
        if params.get("live"):
            queryset = queryset.filter(merged_into__isnull=True)
        if params.get("phone"):
            try:
                queryset = queryset.filter(phones__number=normalize_phone(params["phone"], russia_only=False))
            except InvalidValue as exc:
                raise ValidationError({"phone": list(exc.messages)}) from None
        return queryset
