"""Who may approve selling more than is available from the widget: the amoCRM users the backend lists in
settings["approvers"], or the members of the amoCRM groups listed by id in settings["approver_groups"].

Group membership is read from amoCRM (GET /api/v4/users/{id}, `rights.group_id`; a user of the account's main
group "Отдел продаж" has group 0 or none) when an approval is asked for, so a user moved to another group loses
the right at once."""

from __future__ import annotations

from integration.amocrm.client import AmoCrmClient
from integration.amocrm.errors import ApiError
from integration.errors import IntegrationError
from integration.models import Backend
from integration.widget.leads import CrmUnavailable

MAIN_GROUP = 0


def _ids(values) -> set[str]:
    return {str(value).strip() for value in values or () if str(value).strip()}


def may_approve(backend: Backend, user_id: int) -> bool:
    """True when the amoCRM user is listed as an approver or belongs to an approver group; CrmUnavailable when
    the groups are configured and amoCRM cannot be asked."""
    if str(user_id) in _ids(backend.settings.get("approvers")):
        return True
    groups = _ids(backend.settings.get("approver_groups"))
    if not groups:
        return False
    try:
        user = AmoCrmClient(backend, max_429_retries=1, read_retries=1).get(f"/api/v4/users/{int(user_id)}")
    except ApiError as exc:
        if exc.status in (400, 404):
            return False
        raise CrmUnavailable() from exc
    except IntegrationError as exc:
        raise CrmUnavailable() from exc
    if not user or not (user.get("rights") or {}).get("is_active", True):
        return False
    group = (user.get("rights") or {}).get("group_id")
    return str(MAIN_GROUP if group is None else group) in groups
