"""The sandboxes, the demo and the pilot are development tools: no product module imports them (they stay out of
the installed package, pyproject.toml), so production code cannot come to depend on an emulator."""

import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT_PACKAGES = ("config", "catalog", "counterparties", "orders", "documents", "integration")
DEV_PACKAGES = ("integration.sandbox", "integration.pilot")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_dev(name: str) -> bool:
    return any(name == dev or name.startswith(dev + ".") for dev in DEV_PACKAGES)


def imported_names(path: Path) -> set[str]:
    """Every module an import statement of the file names (relative imports resolved; anywhere in the file)."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from integration import sandbox`
    return names


def product_modules() -> list[Path]:
    return [path for package in PRODUCT_PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
            if not is_dev(module_name(path))]


def test_no_product_module_imports_the_sandboxes_or_the_pilot():
    offenders = {
        module_name(path): sorted(name for name in imported_names(path) if is_dev(name))
        for path in product_modules()
    }
    offenders = {module: names for module, names in offenders.items() if names}
    assert offenders == {}, f"product modules importing development tools: {offenders}"


def test_the_walk_sees_imports_in_every_form(tmp_path, monkeypatch):
    """The check itself: absolute, relative, `from package import module` and imports inside functions."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    package = tmp_path / "integration" / "erp"
    package.mkdir(parents=True)
    forms = {
        "absolute.py": "import integration.sandbox.process\n",
        "relative.py": "from ..sandbox.base import serve\n",
        "member.py": "from integration import pilot\n",
        "lazy.py": "def run():\n    from integration.pilot.run import run_pilot\n",
        "clean.py": "from integration.erp import types\nimport integration.sandboxes_are_elsewhere\n",
    }
    for name, text in forms.items():
        (package / name).write_text(text)
    found = {path.name: any(is_dev(n) for n in imported_names(path)) for path in package.glob("*.py")}
    assert found == {"absolute.py": True, "relative.py": True, "member.py": True, "lazy.py": True, "clean.py": False}


def test_the_installed_package_leaves_the_development_tools_out():
    from setuptools import find_namespace_packages

    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = find_namespace_packages(where=str(ROOT), include=found["include"], exclude=found.get("exclude", []))
    assert "integration.erp.importers" in packages and "catalog" in packages
    assert [p for p in packages if is_dev(p)] == []
