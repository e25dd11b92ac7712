"""A local emulator of the amoCRM/Kommo REST API v4 (see reference/amocrm-api-v4.md)."""
