"""A local emulator of the MoySklad JSON API 1.2 (run by `manage.py run_sandbox moysklad`)."""
