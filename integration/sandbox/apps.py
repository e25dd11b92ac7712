from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """Development tools, installed only with DEBUG (config/settings.py) and left out of the installed package:
    the emulators (`run_sandbox`), the demo company (`load_demo`, `demo`) and the pilot (`simulate_pilot`)."""

    name = "integration.sandbox"
    label = "sandbox"
    verbose_name = "Sandboxes, demo and pilot (development)"
