"""Backends for the amoCRM tests."""

from integration.models import Backend


def make_amocrm_backend(name: str = "amo", *, base_url: str = "https://demo.amocrm.ru", account_id: int = 30441694,
                        credentials: dict | None = None, settings: dict | None = None, **fields) -> Backend:
    creds = {
        "client_id": "0b0832f6-1d0a-4c71-9a50-4d7c5f1e2a11",
        "client_secret": "s3cr3t-client-secret-for-tests-0123456789",
        "redirect_uri": "https://erp.example.com/hooks/amocrm/oauth/",
    }
    creds.update(credentials or {})
    conf = {"account_id": account_id, "subdomain": "demo"}
    conf.update(settings or {})
    return Backend.objects.create(name=name, kind=Backend.Kind.AMOCRM, base_url=base_url, credentials=creds,
                                  settings=conf, **fields)
