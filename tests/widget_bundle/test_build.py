"""manage.py build_widget: dist/widget.zip with the files at its root, and the refusals (manifest vs i18n,
logos, a version not raised). Each test builds a copy of widget/ so the repository's record is untouched."""

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from integration.widget.bundle import LOGOS, MAX_LOGO_BYTES, RECORD, SOURCE

LOCATIONS = {"lcard-1", "card_sdk", "settings", "advanced_settings"}


@pytest.fixture
def source(tmp_path) -> Path:
    copy = tmp_path / "widget"
    shutil.copytree(SOURCE, copy, ignore=shutil.ignore_patterns(RECORD))
    return copy


def build(source: Path, *args) -> Path:
    output = source.parent / "dist" / "widget.zip"
    call_command("build_widget", "--source", str(source), "--output", str(output), *args, stdout=io.StringIO())
    return output


def refusal(source: Path, *args) -> str:
    with pytest.raises(CommandError) as caught:
        build(source, *args)
    return str(caught.value)


def lookup(texts: dict, key: str):
    for part in key.split("."):
        texts = texts.get(part) if isinstance(texts, dict) else None
    return texts


def test_the_archive_holds_the_widget_at_its_root(source):
    archive = zipfile.ZipFile(build(source))
    names = set(archive.namelist())
    assert {"manifest.json", "script.js", "style.css", "i18n/ru.json", "i18n/en.json", "templates/panel.twig"} <= names
    assert all(not name.startswith(("widget/", "/")) and ".." not in name for name in names)
    manifest = json.loads(archive.read("manifest.json"))
    widget = manifest["widget"]
    assert widget["interface_version"] == 2 and set(widget["locale"]) == {"ru", "en"}
    assert widget["support"]["link"] and widget["support"]["email"]
    assert set(manifest["locations"]) == LOCATIONS
    keys = [widget["name"], widget["description"], widget["short_description"], manifest["advanced"]["title"]]
    keys += [field["name"] for field in manifest["settings"].values()]
    for lang in widget["locale"]:
        texts = json.loads(archive.read(f"i18n/{lang}.json"))
        for key in keys:
            assert isinstance(lookup(texts, key), str) and lookup(texts, key).strip(), (lang, key)
        assert len(lookup(texts, "widget.name")) <= 30 and len(lookup(texts, "widget.short_description")) <= 60
        assert len(lookup(texts, "widget.description")) <= 400
    for name, size in LOGOS.items():
        data = archive.read(f"images/{name}")
        assert len(data) <= MAX_LOGO_BYTES and Image.open(io.BytesIO(data)).size == size, name
    assert (source / RECORD).read_text().strip() == widget["version"]


def test_a_version_not_raised_is_refused(source):
    build(source)
    assert "is not raised" in refusal(source)
    assert "is not raised" in refusal(source, "--version", "0.9.9")
    archive = zipfile.ZipFile(build(source, "--version", "1.0.1"))
    assert json.loads(archive.read("manifest.json"))["widget"]["version"] == "1.0.1"
    assert json.loads((source / "manifest.json").read_text())["widget"]["version"] == "1.0.1"
    assert "must look like" in refusal(source, "--version", "1.1")


def test_manifest_and_i18n_must_agree(source):
    en = json.loads((source / "i18n/en.json").read_text())
    del en["settings"]["public_url"]
    (source / "i18n/en.json").write_text(json.dumps(en))
    message = refusal(source)
    assert "i18n/en.json: the manifest's key 'settings.public_url' has no text" in message
    manifest = json.loads((source / "manifest.json").read_text())
    manifest["widget"]["locale"].append("de")
    (source / "manifest.json").write_text(json.dumps(manifest))
    assert "differ from the files" in refusal(source)
    assert not (source.parent / "dist" / "widget.zip").exists()


def test_missing_wrong_size_or_oversized_logos_are_refused(source):
    (source / "images/logo_min.png").unlink()
    Image.new("RGB", (100, 100)).save(source / "images/logo.png")
    big = source / "images/logo_main.png"
    big.write_bytes(big.read_bytes() + b"\0" * MAX_LOGO_BYTES)
    message = refusal(source)
    assert "images/logo_min.png: missing" in message
    assert "images/logo.png: (100, 100), must be 130x100" in message
    assert "images/logo_main.png:" in message and f"more than {MAX_LOGO_BYTES}" in message


def test_css_classes_must_carry_the_widget_prefix(source):
    with (source / "style.css").open("a") as css:
        css.write(".card-widgets { color: red; }\n")
    assert "the class .card-widgets lacks the widget prefix" in refusal(source)
