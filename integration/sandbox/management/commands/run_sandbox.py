import json

from django.core.management.base import BaseCommand, CommandError

from integration.sandbox.base import serve
from integration.sandbox.registry import EMULATORS, load_emulator


def parse_option(raw: str) -> tuple[str, object]:
    key, sep, value = raw.partition("=")
    if not sep or not key:
        raise CommandError(f"--option takes key=value, got {raw!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


class Command(BaseCommand):
    help = "Run a sandbox emulator (amoCRM or MoySklad) as its own HTTP server."

    def add_arguments(self, parser):
        parser.add_argument("name", choices=sorted(EMULATORS))
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
        parser.add_argument("--seed", default="", help="dataset to load before serving, e.g. 'demo'")
        parser.add_argument("--option", action="append", default=[], help="emulator option key=value (JSON)")

    def handle(self, *args, name, host, port, seed, option, **kwargs):
        options = dict(parse_option(raw) for raw in option)
        emulator = load_emulator(name)(options)
        server, url = serve(emulator, host, port)
        if seed:
            counts = emulator.seed({"dataset": seed, **options})
            self.stderr.write(f"sandbox {name} seeded: {counts}")
        self.stdout.write(f"sandbox {name} listening on {url}")
        self.stdout.flush()
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
