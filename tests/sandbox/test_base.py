"""The shared emulator plumbing: routing, control endpoints, faults, gzip, and "commit then drop"."""

import gzip
import json
import threading

import pytest
import requests

from integration.sandbox.base import Emulator, empty_response, json_response, serve


class CounterEmulator(Emulator):
    name = "counter"
    gzip_responses = True

    def __init__(self, options=None):
        super().__init__(options)
        self.items: list[dict] = []

        @self.router.route("GET", r"/items")
        def list_items(request):
            return json_response({"rows": self.items}) if self.items else empty_response(204)

        @self.router.route("POST", r"/items")
        def create_item(request):
            with self.lock:
                self.items.append(request.json())
            return json_response({"id": len(self.items)}, 201)

        @self.router.route("GET", r"/items/(?P<item_id>\d+)")
        def get_item(request, item_id):
            return json_response(self.items[int(item_id) - 1])

    def reset(self):
        self.items.clear()

    def stats(self):
        return {"items": len(self.items)}


@pytest.fixture
def sandbox():
    emulator = CounterEmulator()
    server, url = serve(emulator)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield emulator, url
    server.shutdown()
    server.server_close()


def test_routes_with_groups_and_405_and_404(sandbox):
    emulator, url = sandbox
    assert requests.get(f"{url}/items", timeout=5).status_code == 204
    assert requests.post(f"{url}/items", json={"name": "кабель"}, timeout=5).json() == {"id": 1}
    assert requests.get(f"{url}/items/1", timeout=5).json() == {"name": "кабель"}
    assert requests.delete(f"{url}/items", timeout=5).status_code == 405
    assert requests.get(f"{url}/nowhere", timeout=5).status_code == 404


def test_invalid_json_is_a_400_not_a_crash(sandbox):
    _, url = sandbox
    response = requests.post(f"{url}/items", data=b"{nope", timeout=5)
    assert response.status_code == 400
    assert "invalid JSON" in response.json()["error"]


def test_gzip_only_when_accepted(sandbox):
    _, url = sandbox
    requests.post(f"{url}/items", json={"name": "x" * 100}, timeout=5)
    zipped = requests.get(f"{url}/items", headers={"Accept-Encoding": "gzip"}, timeout=5, stream=True)
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(zipped.raw.read()))["rows"][0]["name"] == "x" * 100
    plain = requests.get(f"{url}/items", headers={"Accept-Encoding": "identity"}, timeout=5)
    assert "Content-Encoding" not in plain.headers


def test_down_and_error_rate_faults_spare_control_endpoints(sandbox):
    _, url = sandbox
    requests.post(f"{url}/_control/faults", json={"down": True}, timeout=5)
    assert requests.get(f"{url}/items", timeout=5).status_code == 503
    assert requests.get(f"{url}/_control/health", timeout=5).json()["ok"] is True
    requests.post(f"{url}/_control/faults", json={"down": False, "error_rate": 1.0, "error_status": 502}, timeout=5)
    assert requests.get(f"{url}/items", timeout=5).status_code == 502
    assert requests.post(f"{url}/_control/faults", json={"bogus": 1}, timeout=5).status_code == 400


def test_path_regex_limits_faults(sandbox):
    _, url = sandbox
    requests.post(f"{url}/_control/faults", json={"down": True, "path_regex": r"^/items/\d+$"}, timeout=5)
    assert requests.get(f"{url}/items", timeout=5).status_code == 204
    requests.post(f"{url}/items", json={}, timeout=5)
    assert requests.get(f"{url}/items/1", timeout=5).status_code == 503


def test_drop_response_commits_the_write_but_the_client_hears_nothing(sandbox):
    emulator, url = sandbox
    requests.post(f"{url}/_control/faults", json={"drop_responses": 1}, timeout=5)
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{url}/items", json={"name": "lost"}, timeout=5)
    assert emulator.items == [{"name": "lost"}]
    # Only the next write was dropped.
    assert requests.post(f"{url}/items", json={"name": "ok"}, timeout=5).status_code == 201
    stats = requests.get(f"{url}/_control/stats", timeout=5).json()
    assert stats["dropped"] == 1 and stats["items"] == 2


def test_reset_clears_storage_faults_and_counters(sandbox):
    emulator, url = sandbox
    requests.post(f"{url}/items", json={}, timeout=5)
    requests.post(f"{url}/_control/faults", json={"latency_ms": 5}, timeout=5)
    requests.post(f"{url}/_control/reset", json={}, timeout=5)
    assert emulator.items == []
    assert requests.get(f"{url}/_control/faults", timeout=5).json()["latency_ms"] == 0
