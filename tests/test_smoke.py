import pytest
from django.db import connection


@pytest.mark.django_db
def test_admin_login_page_is_served_in_russian(client):
    response = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code == 200
    assert "Войти" in response.content.decode()  # the Russian login button (the header is amoerp's own)


@pytest.mark.postgres
@pytest.mark.django_db
def test_suite_runs_on_postgresql():
    assert connection.vendor == "postgresql"
