"""How long a list field may be: each list in the schema declares its bound next to its type
(booking_api.cost prices operations by these bounds before they run)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from strawberry.extensions import FieldExtension
from strawberry.types import Info
from strawberry.utils.await_maybe import await_maybe

# graphql-core completes a plain list in one go, without an await: a longer one is handed over
# in turns of this many items, so other requests (and the time budget) get in between.
TURN = 100


async def in_turns(items: Sequence[Any]) -> AsyncIterator[Any]:
    for index, item in enumerate(items):
        if index and index % TURN == 0:
            await asyncio.sleep(0)
        yield item


class AtMost(FieldExtension):
    """A list field of at most `maximum` items: its bound for the cost, and a cut of what the
    resolver returns, so the estimate holds whatever the data. Long lists come in turns."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum

    def _cut(self, items: Sequence[Any]) -> Any:
        items = items[: self.maximum]
        return in_turns(items) if len(items) > TURN else items

    def resolve(self, next_: Any, source: Any, info: Info[Any, Any], **kwargs: Any) -> Any:
        return self._cut(next_(source, info, **kwargs))

    async def resolve_async(
        self, next_: Any, source: Any, info: Info[Any, Any], **kwargs: Any
    ) -> Any:
        return self._cut(await await_maybe(next_(source, info, **kwargs)))


class OnePerId(AtMost):
    """A list of at most one item for each id its argument `argument` names (duplicates
    counted), or `maximum` when the argument is not given: the cost follows what is asked."""

    def __init__(self, maximum: int, argument: str) -> None:
        super().__init__(maximum)
        self.argument = argument


class PageOf(FieldExtension):
    """A page's items: as many as the enclosing field's `first` or `last` argument asks, or
    `default` when it asks neither (the resolver refuses more than `maximum`)."""

    def __init__(self, maximum: int, default: int) -> None:
        self.maximum = maximum
        self.default = default


Bound = AtMost | PageOf
