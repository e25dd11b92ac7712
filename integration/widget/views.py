"""The widget REST API (thin views: validation here, the work in orders/documents actions)."""

from __future__ import annotations

import json
from importlib import metadata

import orjson
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.utils import encoders
from rest_framework.views import APIView

from documents.actions import request_document
from documents.models import Document
from integration import outbox
from integration.throttling import WidgetAccountThrottle, WidgetIpThrottle
from integration.widget import presenters, problems
from integration.widget import serializers as s
from integration.widget.approvers import may_approve
from integration.widget.auth import WidgetTokenAuthentication
from integration.widget.leads import CheckedLead, bind_new_order, check_lead
from integration.widget.parsers import DecimalJSONParser
from integration.widget.search import ProductQuery, search_products
from orders import actions
from orders.errors import InsufficientStock
from orders.models import Order
from orders.types import CartLine

FAST_PATH_SECONDS = 1.5
PROBLEM = OpenApiResponse(s.ProblemSerializer, description="application/problem+json")
ERRORS = {400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 429: PROBLEM,  # 429: throttled (Retry-After)
          503: PROBLEM}  # 503: amoCRM unreachable
LEAD = OpenApiParameter("lead_id", OpenApiTypes.INT64, OpenApiParameter.PATH, description="amoCRM lead id")


class PdfRenderer(BaseRenderer):
    """Lets clients ask for application/pdf; error bodies still go out as problem+json."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else json.dumps(data, cls=encoders.JSONEncoder).encode()


class FastJSONRenderer(JSONRenderer):
    """JSONRenderer's very bytes, made by orjson (about a fifth of json.dumps' time for a search page). Only plain
    JSON data goes that way: anything orjson does not encode exactly as DRF would (Decimal, datetime, lazy or other
    str subclasses, huge ints), an indent asked for, or U+2028/U+2029 (which DRF escapes) is left to DRF."""

    OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is not None and self.get_indent(accepted_media_type, renderer_context or {}) is None:
            try:
                out = orjson.dumps(data, option=self.OPTIONS)
            except orjson.JSONEncodeError:
                pass
            else:
                if b"\xe2\x80\xa8" not in out and b"\xe2\x80\xa9" not in out:
                    return out
        return super().render(data, accepted_media_type, renderer_context)


class WidgetView(APIView):
    authentication_classes = [WidgetTokenAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    parser_classes = [DecimalJSONParser]

    throttle_classes = [WidgetAccountThrottle]

    def perform_authentication(self, request):
        ip = WidgetIpThrottle()  # before the token is verified: a flood of bad tokens is throttled too
        if not ip.allow_request(request, self):
            self.throttled(request, ip.wait())
        request.user  # noqa: B018 — authenticates now, as DRF does
        # The widget caller is no Django user: history rows and other request.user readers see none.
        request._request.user = AnonymousUser()

    def get_exception_handler(self):
        return problems.exception_handler

    def actor(self, **options):
        return self.request.user.actor(**options)

    @property
    def backend(self):
        return self.request.user.identity.backend

    def lead(self, lead_id: int, **options) -> CheckedLead:
        """The deal in the token's amoCRM account (404 when there is none); see integration.widget.leads."""
        if lead_id > s.MAX_ID:
            raise NotFound()
        return check_lead(self.backend, lead_id, **options)

    def order_of(self, lead_id: int) -> Order:
        self.lead(lead_id)
        order = Order.objects.filter(lead_id=lead_id).first()
        if order is None:
            raise NotFound(problems.NO_ORDER)
        return order


def platform_version() -> str:
    try:
        return metadata.version("amoerp")
    except metadata.PackageNotFoundError:  # run from a source tree that was not pip-installed
        return "unknown"


class PingView(WidgetView):
    @extend_schema(responses={200: s.PingSerializer, **ERRORS},
                   summary="The token's account and user, whether they may approve shortages, the platform version")
    def get(self, request):
        identity = request.user.identity
        return Response(s.PingSerializer({
            "account_id": identity.account_id, "subdomain": identity.subdomain, "user_id": identity.user_id,
            "can_approve": may_approve(identity.backend, identity.user_id),
            "platform": "amoerp", "version": platform_version(),
        }).data)


class ProductSearchView(WidgetView):
    renderer_classes = [FastJSONRenderer]  # search_products answers plain JSON types only (no floats)

    @extend_schema(parameters=[s.ProductQuerySerializer], responses={200: s.ProductPageSerializer, **ERRORS},
                   summary="Search products with the lead's prices and the sellable stock")
    def get(self, request):
        params = s.ProductQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        lead_id = data.get("lead_id")
        if lead_id and lead_id > s.MAX_ID:
            raise NotFound()
        # A deal our rows know is checked in the page's own query; any other by client_of, then the page is read.
        query = ProductQuery(q=data.get("q", ""), lead_id=lead_id, warehouse_id=data.get("warehouse"),
                             page=data["page"], page_size=data["page_size"], fresh=data["fresh"],
                             backend_id=request.user.identity.backend_id if lead_id else None)
        return Response(search_products(query, client_of=self.client_of))

    def client_of(self, lead_id: int) -> int | None:
        """The deal's counterparty id, as self.lead(lead_id, party=True) gives it (amoCRM may be asked)."""
        lead = self.lead(lead_id, party=True)
        return lead.counterparty.pk if lead.counterparty else None


class LeadOrderView(WidgetView):
    @extend_schema(parameters=[LEAD], responses={200: s.OrderSerializer, **ERRORS},
                   summary="The lead's order with lines, reserves, documents, shipments and a timeline")
    def get(self, request, lead_id: int):
        return Response(s.OrderSerializer(presenters.order_detail(self.order_of(lead_id))).data)

    @extend_schema(parameters=[LEAD], request=s.CartSerializer,
                   responses={200: s.CartResultSerializer, 409: PROBLEM, **ERRORS},
                   summary="Set the cart and reserve it (409 with the shortage per line)")
    def put(self, request, lead_id: int):
        if lead_id > s.MAX_ID:
            raise NotFound()
        body = s.CartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        lines = [
            CartLine(product_id=line["product"], quantity=line["quantity"], pack_id=line.get("pack"),
                     warehouse_id=line.get("warehouse"), batch_id=line.get("batch"),
                     discount_percent=line["discount_percent"])
            for line in data["lines"]
        ]
        known = Order.objects.filter(lead_id=lead_id).values_list("counterparty_id", flat=True).first()
        lead = self.lead(lead_id, party=True, fresh=known is None)  # a new order or one without its client
        shortage = None
        with transaction.atomic():  # a refused cart leaves no new order behind; a short one is kept (by design)
            order = actions.get_or_create_order_for_lead(lead_id, counterparty=lead.counterparty)
            bind_new_order(self.backend, order, lead)
            try:
                result = actions.set_cart(order, lines, delivery_address=data.get("delivery_address"),
                                          comment=data.get("comment"), actor=self.actor(),
                                          counterparty_note=lead.problems)
            except InsufficientStock as exc:
                shortage = exc
        if shortage is not None:
            raise shortage
        if result.erp_event is not None:
            outbox.deliver_now(result.erp_event, timeout=FAST_PATH_SECONDS)
        order.refresh_from_db()
        return Response(s.CartResultSerializer(presenters.cart_result(result, order)).data)


class ApproveView(WidgetView):
    @extend_schema(parameters=[LEAD], request=s.ApproveSerializer,
                   responses={200: s.CartResultSerializer, 409: PROBLEM, **ERRORS},
                   summary="Approve the order's shortage (approvers only)")
    def post(self, request, lead_id: int):
        order = self.order_of(lead_id)
        body = s.ApproveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = actions.approve_shortage(order, self.actor(approving=True), body.validated_data["reason"])
        if result.erp_event is not None:
            outbox.deliver_now(result.erp_event, timeout=FAST_PATH_SECONDS)
        order.refresh_from_db()
        return Response(s.CartResultSerializer(presenters.cart_result(result, order)).data)


class CancelView(WidgetView):
    @extend_schema(parameters=[LEAD], request=None, responses={200: s.OrderSerializer, 409: PROBLEM, **ERRORS},
                   summary="Cancel the order and release its reserves")
    def post(self, request, lead_id: int):
        order = actions.cancel(self.order_of(lead_id), self.actor())
        return Response(s.OrderSerializer(presenters.order_detail(order)).data)


class DocumentRequestView(WidgetView):
    @extend_schema(parameters=[LEAD], request=s.DocumentRequestSerializer,
                   responses={202: s.DocumentSerializer, **ERRORS}, summary="Ask the ERP for a document")
    def post(self, request, lead_id: int):
        order = self.order_of(lead_id)
        body = s.DocumentRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        document = request_document(order, body.validated_data["kind"], actor=self.actor(),
                                    valid_until=body.validated_data.get("valid_until"))
        return Response(s.DocumentSerializer(presenters.document(document)).data, status=status.HTTP_202_ACCEPTED)


class DocumentPdfView(WidgetView):
    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        parameters=[LEAD, OpenApiParameter("document_id", OpenApiTypes.INT64, OpenApiParameter.PATH)],
        responses={(200, "application/pdf"): OpenApiTypes.BINARY, **ERRORS},
        summary="The PDF of a document of the lead's order (404 until it is issued, and for other deals' documents)",
    )
    def get(self, request, lead_id: int, document_id: int):
        order = self.order_of(lead_id)
        if document_id > s.MAX_ID:
            raise NotFound()
        document = get_object_or_404(Document, pk=document_id, order=order, status=Document.Status.ISSUED)
        if not document.pdf:
            raise NotFound()
        name = f"{document.get_kind_display()} {document.number or document.pk}.pdf"
        return FileResponse(document.pdf.open("rb"), content_type="application/pdf", filename=name)
