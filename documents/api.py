"""Staff API: GET /api/v1/kpis?from=YYYY-MM-DD&to=YYYY-MM-DD[&step=day|week|month] (session auth; staff who may view
the orders and documents the KPIs are computed from)."""

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from .kpis import STEPS, compute_kpis, kpi_series

DEFAULT_DAYS = 30


class KpiQuery(serializers.Serializer):
    # "from" is a Python keyword: the fields are renamed in to_internal_value.
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    step = serializers.ChoiceField(choices=STEPS, required=False)

    def to_internal_value(self, data):
        renamed = {"date_from": data.get("from"), "date_to": data.get("to"), "step": data.get("step")}
        try:
            return super().to_internal_value({k: v for k, v in renamed.items() if v not in (None, "")})
        except serializers.ValidationError as exc:
            names = {"date_from": "from", "date_to": "to"}
            raise serializers.ValidationError({names.get(k, k): v for k, v in exc.detail.items()}) from None

    def validate(self, attrs):
        date_to = attrs.setdefault("date_to", timezone.localdate())
        date_from = attrs.setdefault("date_from", date_to - timedelta(days=DEFAULT_DAYS - 1))
        if date_from > date_to:
            raise serializers.ValidationError({"to": [_("Must not be earlier than “from”.")]})
        return attrs


class KpiPointSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    documents_with_errors = serializers.IntegerField()
    orders_with_errors = serializers.IntegerField()
    automatic_reserve_share = serializers.DecimalField(max_digits=5, decimal_places=4, allow_null=True)
    quote_to_invoice_median_seconds = serializers.FloatField(allow_null=True)
    sales_in_minus = serializers.IntegerField()


class KpisSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    documents_total = serializers.IntegerField()
    documents_with_errors = serializers.IntegerField()
    orders_total = serializers.IntegerField()
    orders_with_errors = serializers.IntegerField()
    reservations_total = serializers.IntegerField()
    reservations_automatic = serializers.IntegerField()
    automatic_reserve_share = serializers.DecimalField(max_digits=5, decimal_places=4, allow_null=True)
    quote_to_invoice_count = serializers.IntegerField()
    quote_to_invoice_median_seconds = serializers.FloatField(allow_null=True)
    quote_to_invoice_average_seconds = serializers.FloatField(allow_null=True)
    sales_in_minus = serializers.IntegerField()
    duplicate_counterparty_groups = serializers.IntegerField(allow_null=True)
    duplicate_counterparties = serializers.IntegerField(allow_null=True)
    duplicate_product_groups = serializers.IntegerField(allow_null=True)
    duplicate_products = serializers.IntegerField(allow_null=True)


class CanViewKpis(BasePermission):
    RIGHTS = ("orders.view_order", "documents.view_document")

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_active and user.is_staff and user.has_perms(self.RIGHTS))


class KpiView(APIView):
    permission_classes = [CanViewKpis]

    @extend_schema(
        summary="The brief's KPIs over a period",
        parameters=[
            OpenApiParameter("from", str, description="first day, YYYY-MM-DD (default: 29 days before `to`)"),
            OpenApiParameter("to", str, description="last day, YYYY-MM-DD (default: today)"),
            OpenApiParameter("step", str, enum=list(STEPS), description="add a chart series with this step"),
        ],
        responses=inline_serializer(
            "KpiResponse", {"kpis": KpisSerializer(), "series": KpiPointSerializer(many=True, required=False)}
        ),
    )
    def get(self, request):
        query = KpiQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        try:
            kpis = compute_kpis(params["date_from"], params["date_to"])
            body = {"kpis": KpisSerializer(kpis).data}
            if params.get("step"):
                series = kpi_series(params["date_from"], params["date_to"], params["step"])
                body["series"] = KpiPointSerializer(series, many=True).data
        except ValueError as exc:  # "<field>: <reason>" from the KPI module (e.g. too many points)
            field, _sep, reason = str(exc).partition(": ")
            return Response({field: [reason]}, status=400)
        return Response(body)
