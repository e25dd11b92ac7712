"""The amoCRM widget archive (widget.zip): checked, then written with the bundle's files at its root.

The source is the `widget/` folder at the top of the repository. A build refuses when the manifest and the
i18n files disagree, a logo is missing, the wrong size or over 300 KB, a CSS class lacks the widget prefix, or
the version was not raised. "Raised" means: greater than the version recorded in `widget/BUILT_VERSION` by
the last successful build (that file is committed with the release, so every clone knows what was shipped);
amoCRM caches a widget's files by its version, so shipping changed files under an old version would leave
managers with stale code.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

SOURCE = Path(settings.BASE_DIR) / "widget"
OUTPUT = Path(settings.BASE_DIR) / "dist" / "widget.zip"
RECORD = "BUILT_VERSION"
CSS_PREFIX = "amoerp-"
MAX_LOGO_BYTES = 300 * 1024
LOGOS = {  # amoCRM's documented sizes (width, height)
    "logo_main.png": (400, 272),
    "logo_small.png": (108, 108),
    "logo.png": (130, 100),
    "logo_medium.png": (240, 84),
    "logo_min.png": (84, 84),
}
BUNDLE_GLOBS = ("manifest.json", "script.js", "style.css", "i18n/*.json", "templates/*.twig", "images/*.png")
VERSION = re.compile(r"^\d+\.\d+\.\d+$")
ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # fixed: the same files give the same archive


class BundleError(Exception):
    """The bundle cannot be built; `problems` lists every reason (file and what is wrong)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class BuiltWidget:
    path: Path
    version: str
    files: list[str] = field(default_factory=list)


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def read_json(path: Path, problems: list[str]) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{path.name}: missing")
        return {}
    except ValueError as exc:
        problems.append(f"{path.name}: not valid JSON ({exc})")
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path.name}: must be a JSON object")
        return {}
    return data


def manifest_keys(manifest: dict) -> list[str]:
    """The manifest values that are keys into i18n/<lang>.json."""
    widget = manifest.get("widget", {})
    keys = [widget.get(name) for name in ("name", "description", "short_description")]
    keys += [item.get("name") for item in (manifest.get("settings") or {}).values() if isinstance(item, dict)]
    keys.append((manifest.get("advanced") or {}).get("title"))
    if (manifest.get("tour") or {}).get("tour_description"):
        keys.append(manifest["tour"]["tour_description"])
    return [key for key in keys if key]


def lookup(texts: dict, key: str):
    value = texts
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def flat_keys(texts: dict, prefix: str = "") -> set[str]:
    keys = set()
    for name, value in texts.items():
        path = f"{prefix}{name}"
        keys |= flat_keys(value, path + ".") if isinstance(value, dict) else {path}
    return keys


def check_manifest(source: Path, problems: list[str]) -> dict:
    manifest = read_json(source / "manifest.json", problems)
    widget = manifest.get("widget") or {}
    if widget.get("interface_version") != 2:
        problems.append("manifest.json: widget.interface_version must be 2")
    if not VERSION.match(str(widget.get("version", ""))):
        problems.append("manifest.json: widget.version must look like 1.2.3")
    support = widget.get("support") or {}
    if not support.get("link") or not support.get("email"):
        problems.append("manifest.json: widget.support.link and widget.support.email are required")
    if not widget.get("locale"):
        problems.append("manifest.json: widget.locale lists no language")
    return manifest


def check_i18n(source: Path, manifest: dict, problems: list[str]) -> None:
    locales = list((manifest.get("widget") or {}).get("locale") or [])
    present = sorted(path.stem for path in (source / "i18n").glob("*.json"))
    if sorted(locales) != present:
        problems.append(f"i18n: the manifest's locales {sorted(locales)} differ from the files {present}")
    texts = {lang: read_json(source / "i18n" / f"{lang}.json", problems) for lang in locales}
    for lang, data in texts.items():
        for key in manifest_keys(manifest):
            value = lookup(data, key)
            if not isinstance(value, str) or not value.strip():
                problems.append(f"i18n/{lang}.json: the manifest's key {key!r} has no text")
    if len(texts) > 1:
        key_sets = {lang: flat_keys(data) for lang, data in texts.items()}
        every = set().union(*key_sets.values())
        for lang, keys in key_sets.items():
            for key in sorted(every - keys):
                problems.append(f"i18n/{lang}.json: {key!r} is missing (present in another language)")


def png_size(path: Path) -> tuple[int, int] | None:
    head = path.read_bytes()[:24]
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def check_logos(source: Path, problems: list[str]) -> None:
    for name, size in LOGOS.items():
        path = source / "images" / name
        if not path.is_file():
            problems.append(f"images/{name}: missing")
            continue
        if path.stat().st_size > MAX_LOGO_BYTES:
            problems.append(f"images/{name}: {path.stat().st_size} bytes, more than {MAX_LOGO_BYTES}")
        actual = png_size(path)
        if actual != size:
            problems.append(f"images/{name}: {actual or 'not a PNG'}, must be {size[0]}x{size[1]}")


def check_style(source: Path, problems: list[str]) -> None:
    path = source / "style.css"
    if not path.is_file():
        return
    css = re.sub(r"/\*.*?\*/", "", path.read_text(encoding="utf-8"), flags=re.S)
    for selector in re.findall(r"([^{}]+)\{", css):
        for name in re.findall(r"\.(-?[A-Za-z_][\w-]*)", selector):
            if not name.startswith(CSS_PREFIX):
                problems.append(f"style.css: the class .{name} lacks the widget prefix {CSS_PREFIX!r}")


def recorded_version(source: Path) -> str | None:
    path = source / RECORD
    return path.read_text(encoding="utf-8").strip() or None if path.is_file() else None


def check_version(source: Path, version: str, problems: list[str]) -> None:
    last = recorded_version(source)
    if last and VERSION.match(version) and version_tuple(version) <= version_tuple(last):
        problems.append(f"version {version} is not raised: {last} was built last ({RECORD}); "
                        "pass --version with a greater one")


def set_version(source: Path, version: str) -> None:
    """Write the new version into manifest.json (the version's source of truth)."""
    path = source / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["widget"]["version"] = version
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def bundle_files(source: Path) -> list[Path]:
    found = {path for pattern in BUNDLE_GLOBS for path in source.glob(pattern) if path.is_file()}
    return sorted(found, key=lambda p: p.relative_to(source).as_posix())


def check_bundle(source: Path = SOURCE, version: str | None = None) -> dict:
    """Every check (with `version` instead of the manifest's, when given); returns the manifest or raises
    BundleError with all the problems found."""
    problems: list[str] = []
    manifest = check_manifest(source, problems)
    if version:
        manifest.setdefault("widget", {})["version"] = version
        if not VERSION.match(version):
            problems.append(f"version {version!r} must look like 1.2.3")
    if not (source / "script.js").is_file():
        problems.append("script.js: missing")
    check_i18n(source, manifest, problems)
    check_logos(source, problems)
    check_style(source, problems)
    check_version(source, str((manifest.get("widget") or {}).get("version", "")), problems)
    if problems:
        raise BundleError(problems)
    return manifest


def build_widget(source: Path = SOURCE, output: Path = OUTPUT, version: str | None = None) -> BuiltWidget:
    """Check the bundle, write the archive (files at its root), record the version built. `version`: raise
    the manifest's version to it first (written only once every check passed)."""
    manifest = check_bundle(source, version)
    if version:
        set_version(source, version)
    built = BuiltWidget(path=output, version=manifest["widget"]["version"])
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in bundle_files(source):
            name = path.relative_to(source).as_posix()
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
            built.files.append(name)
    partial.replace(output)
    (source / RECORD).write_text(built.version + "\n", encoding="utf-8")
    return built
