"""`make demo ERP=cml`: the demo with 1C exchanging by CommerceML — 1C calls the platform, not the other way round.

No ERP sandbox runs: once the platform serves, the 1C client simulator (integration/sandbox/commerceml/client.py)
uploads the demo files (import.xml, offers.xml) to the exchange URL as 1C's scheduled exchange would, and the
orders managers make wait there for 1C's next "sale" exchange. What it prints replays an exchange by hand.
Everything else is `manage.py demo`: a fresh SQLite database, the amoCRM sandbox, the queue worker, django-q2.
"""

from pathlib import Path

from django.core.management import call_command

from integration.models import Backend
from integration.sandbox.management.commands.demo import Command as DemoCommand
from integration.sandbox.process import SandboxProcess

LOGIN = "Обмен"
PASSWORD = "demo-обмен"  # noqa: S105 - the demo's documented exchange password, printed on start
FIXTURES = Path(__file__).resolve().parents[2] / "commerceml" / "fixtures"
DEMO_FILES = ("import0_1.xml", "offers0_1.xml")


class Command(DemoCommand):
    help = "The demo with 1C exchanging by CommerceML (1C calls us): migrate, exchange, serve until Ctrl-C."

    def handle(self, *args, **options):
        options["pilot_days"] = 0  # the pilot's world drives the MoySklad sandbox
        return super().handle(*args, **options)

    def start_sandboxes(self, base: str) -> list[SandboxProcess]:
        self.step("Starting the amoCRM sandbox (1C is played by the CommerceML exchange simulator)")
        return [self.start_amocrm(base)]

    def prepare(self, sandboxes: list[SandboxProcess], base: str) -> tuple[Backend, Backend]:
        from integration.amocrm.setup import prepare_account
        from integration.erp.commerceml.config import configure_exchange

        [amocrm] = sandboxes
        erp = Backend.objects.create(name="onec-cml", kind=Backend.Kind.ONEC_CML, base_url=base)
        self.exchange_url = f"{base}/exchange/1c/{configure_exchange(erp, login=LOGIN, password=PASSWORD)}/"
        crm = self.connect_amocrm(amocrm, base)
        self.step("Preparing the amoCRM account")
        prepare_account(crm, public_url=base)
        call_command("setup_schedules", stdout=self.stdout._out)
        return Backend.objects.get(pk=erp.pk), Backend.objects.get(pk=crm.pk)

    def warm_up(self, platform, sandboxes: list[SandboxProcess], pilot_days: int) -> None:
        from integration.sandbox.commerceml.client import OneCSimulator

        self.step("1C's exchange: the catalog and the offers, over HTTP to the exchange URL")
        simulator = OneCSimulator(self.exchange_url, LOGIN, PASSWORD)
        transcript = simulator.exchange_catalog({name: (FIXTURES / name).read_bytes() for name in DEMO_FILES})
        self.stdout.write(f"    {len(transcript.calls)} calls, imports: {', '.join(transcript.modes('import'))}")
        self.step("Pushing the catalog to amoCRM")
        self.run_syncs(Backend.objects.get(kind=Backend.Kind.AMOCRM), ("crm_catalog",))

    def more_to_see(self) -> str:
        files = " ".join(str(FIXTURES / name) for name in DEMO_FILES)
        return (f"  1C exchange  {self.exchange_url}   login: {LOGIN} / {PASSWORD}\n"
                "  exchange again as 1C would (then it asks for the orders):\n"
                f"    python -m integration.sandbox.commerceml.client {self.exchange_url} {LOGIN} {PASSWORD} {files}\n")
