"""`manage.py build_widget [--version X]`: check the amoCRM widget in widget/ and write dist/widget.zip."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from integration.widget.bundle import OUTPUT, RECORD, SOURCE, BundleError, build_widget


class Command(BaseCommand):
    help = ("Check the amoCRM widget (manifest vs i18n, logos, CSS prefix, a raised version) and write "
            "dist/widget.zip with its files at the root, ready to upload in amoMarket.")

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version is the widget's version here, not Django's: ours replaces the built-in option.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--version", help="raise the manifest's version to this one (e.g. 1.0.1) first")
        parser.add_argument("--source", type=Path, default=SOURCE, help="the widget folder (default: widget/)")
        parser.add_argument("--output", type=Path, default=OUTPUT, help="the archive (default: dist/widget.zip)")

    def handle(self, *args, version, source, output, **options):
        try:
            built = build_widget(source, output, version)
        except BundleError as exc:
            raise CommandError("widget.zip was not built:\n  " + "\n  ".join(exc.problems)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"{built.path}: version {built.version}, {len(built.files)} files; recorded in {source / RECORD} "
            "(commit it with the release)"))
