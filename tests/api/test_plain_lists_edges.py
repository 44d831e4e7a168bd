"""Plain lists on values our schema never produces: a null where the type forbids it, an
exception as a value, a value a scalar refuses, a missing attribute, something awaitable, a long
list handed over in turns that fails midway. Each list is answered as graphql-core answers it
(same data, same errors at the same paths), on a small schema of its own."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import strawberry

from booking_api.plain_lists import PlainListExecutor
from schema.bounds import in_turns


@strawberry.enum
class Kind(enum.Enum):
    ONE = "one"
    TWO = "two"


@strawberry.type
class Inner:
    name: str
    maybe: int | None


@strawberry.type
class Item:
    label: str
    count: int | None
    kind: Kind
    inner: Inner
    loose: Inner | None


def good(index: int) -> Item:
    return Item(
        label=f"item {index}",
        count=index if index % 3 else None,
        kind=Kind.ONE if index % 2 else Kind.TWO,
        inner=Inner(name=f"inner {index}", maybe=None),
        loose=None if index % 2 else Inner(name="loose", maybe=index),
    )


async def later() -> str:
    return "later"


class Missing:
    """An object without the fields."""


def item(**values: Any) -> Any:
    """An Item holding whatever it is given (Strawberry does not check at construction)."""
    fields: dict[str, Any] = {"label": "x", "count": 1, "kind": Kind.ONE}
    return Item(**{**fields, "inner": Inner(name="i", maybe=None), "loose": None, **values})


BAD: dict[str, Callable[[], Any]] = {
    "none": lambda: None,
    "null label": lambda: item(label=None),
    "null inner name": lambda: item(inner=Inner(name=None, maybe=1)),  # type: ignore[arg-type]
    "exception": lambda: item(label=ValueError("boom")),
    "refused int": lambda: item(count="many"),
    "refused enum": lambda: item(kind="three"),
    "missing": Missing,
    "awaitable": lambda: item(label=later()),
}
ITEMS: list[Any] = []


async def failing(items: list[Any]) -> AsyncIterator[Any]:
    async for item in in_turns(items):
        yield item
    raise RuntimeError("the source failed")


@strawberry.type
class Query:
    @strawberry.field
    def strict(self) -> list[Item]:
        return ITEMS

    @strawberry.field
    def lenient(self) -> list[Item | None] | None:
        return ITEMS

    @strawberry.field
    def turns(self) -> list[Item | None] | None:
        return in_turns(ITEMS)  # type: ignore[return-value]

    @strawberry.field
    def broken(self) -> list[Item] | None:
        return failing(ITEMS)  # type: ignore[return-value]


FIELDS = "label n: count kind __typename inner { name maybe } loose { name } ...on Item { label }"
QUERIES = [f"{{ {field} {{ {FIELDS} }} }}" for field in ("strict", "lenient", "turns", "broken")]
FAST = strawberry.Schema(query=Query, execution_context_class=PlainListExecutor)
USUAL = strawberry.Schema(query=Query)


async def answers(schema: strawberry.Schema, query: str) -> tuple[Any, Any]:
    result = await schema.execute(query)
    return result.data, [error.formatted for error in result.errors or []]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("position", [0, 150, 249])
async def test_values_graphql_core_refuses_are_refused_the_same(
    bad: str, position: int, query: str
) -> None:
    def items() -> list[Any]:
        """Made afresh for each run: an awaitable is awaited once."""
        made = [good(index) for index in range(250)]
        made[position] = BAD[bad]()
        return made

    ITEMS[:] = items()
    fast = await answers(FAST, query)
    ITEMS[:] = items()
    assert fast == await answers(USUAL, query)


@pytest.mark.parametrize("query", QUERIES[:3])
async def test_good_lists_are_the_same(query: str) -> None:
    ITEMS[:] = [good(index) for index in range(250)]
    fast = await answers(FAST, query)
    assert fast == await answers(USUAL, query)
    assert len(str(fast[0])) > 250 * 50
