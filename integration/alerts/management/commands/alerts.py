"""manage.py alerts test | evaluate"""

from django.core.management.base import BaseCommand, CommandError

from integration.alerts.incidents import evaluate, send_test


class Command(BaseCommand):
    help = "Send a test alert on every configured channel, or evaluate the alert rules now."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("test", help="Send a test message on every enabled channel.")
        sub.add_parser("evaluate", help="Evaluate the rules now (the schedule does it every minute).")

    def handle(self, *args, **options):
        if options["action"] == "test":
            deliveries = send_test()
            if not deliveries:
                raise CommandError("no alert channel is enabled and configured (admin: Alerts › Alert channels)")
            for delivery in deliveries:
                self.stdout.write(f"{delivery.channel}: {'sent' if delivery.ok else 'FAILED: ' + delivery.error}")
            if not all(d.ok for d in deliveries):
                raise CommandError("the test alert failed on at least one channel")
            return
        result = evaluate()
        for incident in result.opened:
            self.stdout.write(f"opened: {incident.rule} {incident.subject}: {incident.message}")
        for incident in result.reminded:
            self.stdout.write(f"still on: {incident.rule} {incident.subject}")
        for incident in result.resolved:
            self.stdout.write(f"resolved: {incident.rule} {incident.subject}")
        if result.failed_rules:
            raise CommandError(f"rules failed: {', '.join(result.failed_rules)}")
