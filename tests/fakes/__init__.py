"""Local fakes of the remote services we call: Stripe, SMTP, Google, Zoom, Microsoft Graph,
PostHog, and a webhook receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Literal, Protocol, TypeVar

import pytest
import uvicorn


class Resettable(Protocol):
    def reset(self) -> None: ...


FakeT = TypeVar("FakeT", bound=Resettable)


def fixtures(
    name: str,
    start: Callable[[], tuple[FakeT, uvicorn.Server]],
    scope: Literal["session", "module"] = "session",
) -> tuple[Any, Any]:
    """The two fixtures of a fake served on loopback: `{name}_server`, started once per `scope`
    and stopped after it, and `name`, the same fake emptied for each test. Bind both in a
    conftest or test module (`a_server, a = fixtures("a", start)`) so pytest finds them."""

    @pytest.fixture(scope=scope, name=f"{name}_server")
    def served() -> Iterator[FakeT]:
        fake, server = start()
        yield fake
        server.should_exit = True

    @pytest.fixture(name=name)
    def emptied(request: pytest.FixtureRequest) -> FakeT:
        fake: FakeT = request.getfixturevalue(f"{name}_server")
        fake.reset()
        return fake

    return served, emptied
