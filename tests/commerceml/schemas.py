"""1C's CommerceML 2.08 and 2.10 XSDs (xsd/, test data: see xsd/README.md) and a check of a file against both."""

from functools import cache
from pathlib import Path

import xmlschema

XSD = Path(__file__).resolve().parent / "xsd"
VERSIONS = ("2.08", "2.10")


@cache
def schema(version: str) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(XSD / f"commerceml-{version}.xsd"))


def schema_errors(content: bytes) -> dict[str, list[str]]:
    """Validation errors per schema version (path: reason); empty lists when the file is valid."""
    import io

    found = {}
    for version in VERSIONS:
        found[version] = [f"{e.path}: {e.reason}" for e in schema(version).iter_errors(io.BytesIO(content))]
    return found
