"""The served schema against the contract, and the committed SDL against the served schema."""

from __future__ import annotations

import os

import pytest
from graphql import BreakingChangeType, build_schema, find_breaking_changes

from booking_api.api import build_schema as build_served
from booking_api.api import sdl
from tests.helpers import REPO

CONTRACT = REPO / "schema" / "contract.graphql"
SHARED_CONTRACT = REPO.parent / "shared" / "contract.graphql"
COMMITTED_SDL = REPO / "schema" / "schema.graphql"

# Breaking changes that mean "not built yet" rather than "built differently".
MISSING = {
    BreakingChangeType.TYPE_REMOVED,
    BreakingChangeType.FIELD_REMOVED,
    BreakingChangeType.TYPE_REMOVED_FROM_UNION,
    BreakingChangeType.VALUE_REMOVED_FROM_ENUM,
    BreakingChangeType.IMPLEMENTED_INTERFACE_REMOVED,
    BreakingChangeType.ARG_REMOVED,
}


def test_vendored_contract_is_the_shared_one() -> None:
    if not SHARED_CONTRACT.exists():
        missing = f"{SHARED_CONTRACT} is missing: schema/contract.graphql cannot be checked"
        if os.environ.get("CI"):  # CI must compare, never pass without comparing
            pytest.fail(missing)
        pytest.skip(missing)
    assert CONTRACT.read_text() == SHARED_CONTRACT.read_text(), (
        "schema/contract.graphql is stale: copy ../shared/contract.graphql over it"
    )


def test_served_schema_does_not_break_the_contract() -> None:
    contract = build_schema(CONTRACT.read_text())
    served = build_served()._schema
    changes = find_breaking_changes(contract, served)
    missing = [c for c in changes if c.type in MISSING]
    incompatible = [c for c in changes if c.type not in MISSING]
    if missing:
        print(f"\nNot served yet ({len(missing)} parts of the contract):")
        for change in missing:
            print(f"  {change.description}")
    assert not incompatible, "\n".join(f"{c.type.name}: {c.description}" for c in incompatible)


def test_served_schema_has_the_first_contract_pieces() -> None:
    served = build_served()._schema
    query = served.query_type
    assert query is not None
    assert {"node", "viewer", "tutor"} <= set(query.fields)
    assert served.mutation_type is not None
    assert "createTutorProfile" in served.mutation_type.fields


def test_committed_sdl_is_current() -> None:
    assert COMMITTED_SDL.read_text() == sdl(), (
        "schema/schema.graphql is stale: run `booking-api export-schema -o schema/schema.graphql`"
    )
