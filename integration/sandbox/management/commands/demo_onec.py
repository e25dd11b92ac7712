"""`make demo ERP=1c`: the demo against the 1C:Enterprise OData sandbox (УТ 11 by default) instead of MoySklad.

Everything else is `manage.py demo`: a fresh SQLite database, the amoCRM sandbox, the real syncs, the queue worker
and django-q2. The simulated pilot days are not played (the pilot's world drives the MoySklad sandbox).
"""

from integration.models import Backend
from integration.sandbox.management.commands.demo import ERP_SYNCS
from integration.sandbox.management.commands.demo import Command as DemoCommand
from integration.sandbox.process import SandboxProcess, start_sandbox

LOGIN = "Администратор"
PASSWORD = "sandbox"  # noqa: S105 - the sandbox's documented default
PUBLICATION = "demo"


class Command(DemoCommand):
    help = "The demo with 1C (standard OData sandbox) as the ERP: migrate, sync, serve until Ctrl-C."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--profile", default="ut11", choices=("ut11", "ka2", "erp2"),
                            help="the 1C configuration the sandbox plays")

    def handle(self, *args, profile, **options):
        self.profile = profile
        options["pilot_days"] = 0
        return super().handle(*args, **options)

    def start_sandboxes(self, base: str) -> list[SandboxProcess]:
        self.step(f"Starting the 1C ({self.profile}) and amoCRM sandboxes with the demo company")
        onec = start_sandbox("onec", seed="demo", options={"profile": self.profile, "publication": PUBLICATION})
        try:
            amocrm = self.start_amocrm(base)
        except BaseException:
            onec.stop()
            raise
        return [onec, amocrm]

    def prepare(self, sandboxes: list[SandboxProcess], base: str) -> tuple[Backend, Backend]:
        from django.core.management import call_command

        from integration.erp.onec.check import check_connection
        from integration.syncs import sync_for

        onec, amocrm = sandboxes
        erp = Backend.objects.create(name="onec", kind=Backend.Kind.ONEC_ODATA, base_url=f"{onec.url}/{PUBLICATION}",
                                     credentials={"login": LOGIN, "password": PASSWORD}, settings={"pool_size": 10})
        crm = self.connect_amocrm(amocrm, base)
        result = check_connection(erp)
        self.stdout.write(f"    1C connection: {'ok, ' + result.profile if result.ok else result.error or result.missing}")
        self.step("Syncing from 1C")
        self.run_syncs(erp, [kind for kind in ("counterparties", *ERP_SYNCS) if sync_for(kind, erp)])
        self.step("Loading the demo company (the rows a 1C sync did not bring)")
        call_command("load_demo", stdout=self.stdout._out)
        self.step("Preparing the amoCRM account and pushing the catalog")
        from integration.amocrm.setup import prepare_account

        prepare_account(crm, public_url=base)
        self.run_syncs(Backend.objects.get(pk=crm.pk), ("crm_catalog",))
        call_command("setup_schedules", stdout=self.stdout._out)
        return Backend.objects.get(pk=erp.pk), Backend.objects.get(pk=crm.pk)
