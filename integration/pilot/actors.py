"""The people of the pilot, all over real HTTP: managers working in amoCRM (the sandbox's as_manager control runs
an API call with a user's rights) and in the widget (tokens the amoCRM sandbox signs, sent to our web server);
the ERP desk — warehouse, accountants, buyers — acting in MoySklad through its control API and its own API."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

from integration.sandbox.process import SandboxProcess

WIDGET = "/api/widget/v1"
MOYSKLAD_TOKEN = "sandbox-token"  # noqa: S105 - the sandbox's documented default
PATIENCE = 8  # a person tries this many times before giving up on a call that fails for a moment
RETRYABLE = frozenset({429, 500, 502, 503, 504})


class GaveUp(RuntimeError):
    """A person tried long enough and left the task undone (recorded; not a platform failure by itself)."""


@dataclass
class Answer:
    status: int
    body: Any


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


class Manager:
    """A sales manager: an amoCRM user working on their deals and in the widget."""

    def __init__(self, user_id: int, amo: SandboxProcess, base: str, pause: float):
        self.user_id, self.amo, self.base, self.pause = user_id, amo, base, pause
        self.session = requests.Session()

    def crm(self, method: str, path: str, body: Any = None) -> Answer:
        """An action in amoCRM's interface (rights of this user; emits webhooks as people's changes do)."""
        answer = self.amo.control("amocrm/as_manager",
                                  {"method": method, "path": path, "body": body, "user_id": self.user_id})
        return Answer(answer["status"], answer["body"])

    def token(self) -> str:
        # Signed at the real time: the sandbox's own clock may run ahead (the token-expiry fault moves it).
        now = int(time.time())
        return self.amo.control("amocrm/widget_token", {"user_id": self.user_id, "iat": now, "nbf": now,
                                                        "exp": now + 1800})["token"]

    def widget(self, method: str, path: str, *, json: Any = None, params: dict | None = None,
               accept: frozenset[int] = frozenset()) -> Answer:
        """A widget call; a moment's failure (503, 429, a lost response) is tried again, as a person clicks again.
        Statuses in `accept` (e.g. 409 for a shortage) are answers, not failures."""
        last: Answer | None = None
        for attempt in range(PATIENCE):
            try:
                response = self.session.request(method, f"{self.base}{WIDGET}{path}", json=json, params=params,
                                                 headers={"X-Auth-Token": self.token(), "Accept-Language": "en"},
                                                 timeout=60)
            except requests.RequestException as exc:
                last = Answer(0, str(exc))
            else:
                last = Answer(response.status_code, _json(response))
                if response.status_code < 400 or response.status_code in accept:
                    return last
                if response.status_code not in RETRYABLE:
                    return last
            time.sleep(self.pause * (attempt + 1))
        raise GaveUp(f"{method} {path}: {last.status if last else '?'} {str(last.body if last else '')[:300]}")

    def close(self) -> None:
        self.session.close()


class ErpDesk:
    """The people working in MoySklad: the warehouse ships, the bank pays, buyers receive, managers edit."""

    def __init__(self, ms: SandboxProcess, pause: float):
        self.ms, self.pause = ms, pause
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {MOYSKLAD_TOKEN}", "Accept-Encoding": "gzip",
                                     "Content-Type": "application/json"})

    def control(self, path: str, payload: dict | None = None, method: str = "POST") -> Any:
        return self.ms.control(f"moysklad/{path}", payload, method=method)

    def entities(self, kind: str, filter_: str = "") -> list[dict]:
        path = f"entities/{kind}" + (f"?filter={requests.utils.quote(filter_)}" if filter_ else "")
        return self.ms.control(f"moysklad/{path}", None, method="GET")

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """MoySklad's own API, as the ERP's interface uses it; waits out an outage like a person would."""
        url = f"{self.ms.url}/api/remap/1.2/{path.lstrip('/')}"
        for attempt in range(PATIENCE * 3):
            try:
                response = self.session.request(method, url, json=body, timeout=30)
            except requests.RequestException:
                response = None
            if response is not None and response.status_code not in RETRYABLE:
                response.raise_for_status()
                return _json(response)
            time.sleep(self.pause * (attempt + 1))
        raise GaveUp(f"MoySklad {method} {path} kept failing")

    def close(self) -> None:
        self.session.close()
