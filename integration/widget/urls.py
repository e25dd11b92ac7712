from django.urls import path

from integration.widget import views

app_name = "widget"

urlpatterns = [
    path("ping", views.PingView.as_view(), name="ping"),
    path("products", views.ProductSearchView.as_view(), name="products"),
    path("leads/<int:lead_id>/order", views.LeadOrderView.as_view(), name="lead-order"),
    path("leads/<int:lead_id>/order/approve", views.ApproveView.as_view(), name="lead-order-approve"),
    path("leads/<int:lead_id>/order/cancel", views.CancelView.as_view(), name="lead-order-cancel"),
    path("leads/<int:lead_id>/documents", views.DocumentRequestView.as_view(), name="lead-documents"),
    # A document is reached through its deal only: the deal is checked in the token's account first.
    path("leads/<int:lead_id>/documents/<int:document_id>/pdf", views.DocumentPdfView.as_view(), name="document-pdf"),
]
