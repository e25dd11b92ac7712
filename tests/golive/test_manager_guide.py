"""The managers' guide as a public page: served without any login (managers have none in the admin), the
Markdown rendered (headings, nested lists, bold), raw HTML in the source escaped, read-only."""

from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from integration.widget.guide import GUIDE, load_guide

GUIDE_PATH = "/guide/managers/"


def fetch(url: str, method: str = "GET") -> tuple[int, str, str]:
    try:
        with urlopen(Request(url, method=method), timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode(errors="replace")


@pytest.mark.django_db
def test_the_guide_is_public_and_rendered(live_server):
    status, content_type, html = fetch(live_server.url + GUIDE_PATH)  # no session, no token
    assert status == 200 and content_type.startswith("text/html"), html[:300]
    source = GUIDE.read_text(encoding="utf-8")
    title = source.splitlines()[0].removeprefix("# ")
    assert f"<title>{title}</title>" in html and f"<h1>{title}</h1>" in html
    assert "<h2>1. Как найти товар и узнать, сколько его на самом деле</h2>" in html
    assert "<strong>«Свободно»</strong>" in html and "**" not in html
    assert "<li>" in html and "<ul>\n<li><strong>Цену клиента.</strong>" in html  # a list nested in a list
    assert fetch(live_server.url + GUIDE_PATH, "POST")[0] in (403, 405)  # read-only: nothing to post


def test_raw_html_in_the_guide_is_escaped(tmp_path):
    source = tmp_path / "guide.md"
    source.write_text("# Памятка\n\n<script>alert(1)</script>\n\n- **жирный** и `код`\n", encoding="utf-8")
    guide = load_guide(source)
    assert guide.title == "Памятка"
    assert "<script>" not in guide.html and "&lt;script&gt;" in guide.html
    assert "<strong>жирный</strong>" in guide.html and "<code>код</code>" in guide.html
    source.write_text("# Другая\n", encoding="utf-8")  # an edited guide is shown as edited
    assert load_guide(source).title == "Другая"
