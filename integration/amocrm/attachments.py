"""Documents in the deal: the PDF goes through the files API and is attached to the lead with a timeline note.

Each step is safe to repeat: the uploaded file's uuid is stored on the document at once (Document.crm_file_uuid),
so a retry attaches the same file instead of uploading it again, and the note is added only when the lead has
no attachment note for that file yet.
"""

from __future__ import annotations

from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _

from documents.models import Document
from integration.amocrm.client import AmoCrmClient
from integration.amocrm.deals import note_language
from integration.errors import PermanentError
from integration.models import Backend


def file_name(document: Document) -> str:
    number = (document.number or str(document.pk)).replace("/", "-").replace(" ", "_")
    return f"{document.kind}-{number}.pdf"


def attach_document(backend: Backend, document_id: int, *, client: AmoCrmClient | None = None) -> dict[str, Any]:
    document = Document.objects.select_related("order").get(pk=document_id)
    lead_id = document.order.lead_id
    if not lead_id:
        return {"skipped": "the order has no lead"}
    if not document.pdf:
        raise PermanentError(f"document {document.pk}: no PDF to attach")
    client = client or AmoCrmClient(backend)
    name = file_name(document)
    uploaded = False
    if not document.crm_file_uuid:
        with document.pdf.open("rb") as fh:
            content = fh.read()
        model = client.upload_file(name, content, "application/pdf")
        document.crm_file_uuid = model["uuid"]
        Document.objects.filter(pk=document.pk).update(crm_file_uuid=model["uuid"])  # before anything else
        uploaded = True
    # A file uploaded just now is on no lead and in no note yet: only a retry has anything to look up.
    if uploaded or document.crm_file_uuid not in client.lead_files(lead_id):
        client.attach_files(lead_id, [document.crm_file_uuid])
    noted = False
    if uploaded or not any(n.get("params", {}).get("file_uuid") == document.crm_file_uuid
                           for n in client.notes("leads", lead_id, "attachment")):
        with translation.override(note_language(backend)):
            client.add_note("leads", lead_id, "attachment", {
                "file_uuid": document.crm_file_uuid, "file_name": name,
                "text": _("%(kind)s No. %(number)s") % {"kind": document.get_kind_display(),
                                                       "number": document.number or document.pk}})
        noted = True
    return {"lead_id": lead_id, "file_uuid": document.crm_file_uuid, "uploaded": uploaded, "noted": noted}
