"""The emulators `manage.py run_sandbox NAME` can start."""

from importlib import import_module

from integration.sandbox.base import Emulator

EMULATORS = {
    "moysklad": "integration.sandbox.moysklad.emulator:MoySkladEmulator",
    "amocrm": "integration.sandbox.amocrm.emulator:AmoCrmEmulator",
    "onec": "integration.sandbox.onec.emulator:OneCEmulator",
}


def load_emulator(name: str) -> type[Emulator]:
    module_name, _, class_name = EMULATORS[name].partition(":")
    return getattr(import_module(module_name), class_name)
