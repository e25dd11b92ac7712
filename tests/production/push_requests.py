"""A child process of test_shared_limits: `python -m tests.production.push_requests <kind> <backend id> <requests>
<go file> <log file>` — writes `<log file>.ready`, waits until the go file exists (all children ready), then sends through the real client with 3 threads,
appending one JSON line per request sent: {"t": send time, "w": weight} (and a final {"http_429": n})."""

import json
import os
import sys
import threading
import time
from pathlib import Path

import django


def main(kind: str, backend_id: int, count: int, go: str, log_path: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    django.setup()
    from django.db import connection

    from integration.amocrm.client import AmoCrmClient
    from integration.erp.moysklad.client import MoySkladClient
    from integration.models import Backend

    backend = Backend.objects.get(pk=backend_id)
    sent: list[dict] = []
    lock = threading.Lock()
    rejected = [0]

    def work(n: int) -> None:
        try:
            client = MoySkladClient(backend) if kind == "moysklad" else AmoCrmClient(backend)
            send = client.session.request

            def logged(method, url, *args, **kwargs):
                with lock:
                    sent.append({"t": time.time(), "w": 5 if "report/stock/all" in url else 1})
                response = send(method, url, *args, **kwargs)
                if response.status_code == 429:
                    rejected[0] += 1
                return response

            client.session.request = logged  # records what goes on the wire; the real session sends it
            ready.wait()
            for i in range(n):
                if kind == "amocrm":
                    client.account()
                elif i % 10 == 9:
                    client.get("report/stock/all", {"limit": 1})
                else:
                    client.get("entity/store", {"limit": 1})
        finally:
            connection.close()

    ready = threading.Event()
    threads = [threading.Thread(target=work, args=(count // 3 + (i < count % 3),)) for i in range(3)]
    for thread in threads:
        thread.start()
    Path(log_path + ".ready").touch()
    while not Path(go).exists():
        time.sleep(0.01)
    ready.set()
    for thread in threads:
        thread.join()
    with open(log_path, "w") as log:
        for row in sent:
            log.write(json.dumps(row) + "\n")
        log.write(json.dumps({"http_429": rejected[0]}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
