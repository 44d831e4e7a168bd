"""Every GraphQL document the pages send is valid against the served schema: a field renamed
or a fragment on a union that cannot hold it fails here, without a browser."""

from __future__ import annotations

import re
from importlib.resources import files

from graphql import build_schema, parse, validate

from tests.helpers import REPO

CONSTANT = re.compile(r"^const (\w+) = (?:`([^`]*)`|\"([^\"]*)\");", re.MULTILINE | re.DOTALL)
USE = re.compile(r"\$\{(\w+)\}")


def fill(text: str, constants: dict[str, str]) -> str:
    while USE.search(text):
        text = USE.sub(lambda use: constants[use[1]], text)
    return text


def documents() -> dict[str, str]:
    """The pages' operations, by module and constant, their ${FRAGMENT} parts filled in."""
    found: dict[str, str] = {}
    for module in (files("booking_api.pages") / "static").iterdir():
        if not module.name.endswith(".js"):
            continue
        constants = {
            m[1]: m[2] if m[2] is not None else m[3] for m in CONSTANT.finditer(module.read_text())
        }
        for name, text in constants.items():
            filled = fill(text, constants)
            if re.match(r"\s*(query|mutation|subscription)\b|\s*\{\s*viewer", filled):
                found[f"{module.name}:{name}"] = filled
    return found


def test_every_document_is_valid() -> None:
    schema = build_schema((REPO / "schema" / "schema.graphql").read_text())
    found = documents()
    assert len(found) >= 20, sorted(found)
    problems = {
        name: [error.message for error in validate(schema, parse(text))]
        for name, text in found.items()
    }
    assert problems == {name: [] for name in found}
