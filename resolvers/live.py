"""Subscriptions in cohorts (infra/cohorts.py): one execution per event for every subscriber of
this process who would be sent the same bytes.

A websocket operation (the app sets its `Seat`) joins the cohort of its document, operation
name, variables and visibility class: what the viewer may see of the event, which each
subscription states (resolvers/events.py). The cohort's leader runs the same subscription
through the same schema (its extensions: error codes, masking) with the first member's context,
once; each result becomes the payload of a `next` message, serialized once, and is written to
every member's socket as it is. Members are admitted one by one exactly as before (their own
operation, validation, limits and authorization), so only the per-event work is shared.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncGenerator, Callable, Hashable
from contextlib import aclosing
from typing import Any, TypeVar

from graphql import GraphQLError
from strawberry.types import ExecutionResult, Info

from infra.cohorts import END, SEAT, Cohort, Lead, Seat
from infra.pubsub import EventsMissed, FeedEnded, SubscriberTooSlow
from schema.context import Context

T = TypeVar("T")

# The visibility class of an event nothing of which depends on the viewer.
EVERYONE = "everyone"


# Why the server ended a subscription, as its error's extensions.code.
ENDED_CODES: dict[type[FeedEnded], str] = {
    SubscriberTooSlow: "SUBSCRIBER_TOO_SLOW",
    EventsMissed: "EVENTS_MISSED",
}


def ended(error: FeedEnded) -> GraphQLError:
    return GraphQLError(str(error), extensions={"code": ENDED_CODES[type(error)]})


async def shared(
    info: Info[Context, None],
    visibility: Hashable,
    own: Callable[[], AsyncGenerator[T, None]],
    alone: bool = False,
) -> AsyncGenerator[T, None]:
    """The subscription's events: `own()` executed for this subscriber alone (over HTTP, or
    `alone`: what it sends first is its own), or, for a websocket operation, its cohort's
    frames written to its socket here (nothing is yielded; the stream ends when the cohort's
    does)."""
    seat = SEAT.get()
    location = info.operation.loc
    cohorts = info.context.cohorts
    if alone or seat is None or location is None or cohorts is None:
        async with aclosing(own()) as events:
            async for event in events:
                yield event
        return
    document = location.source.body
    variables = json.dumps(seat.variables, sort_keys=True)
    key = (document, seat.operation_name, variables, visibility)
    try:
        async with cohorts.join(key, _leader(info, seat, document)) as frames:
            async for frame in frames:
                if frame == END:
                    return
                await seat.send(frame)
    except FeedEnded as error:
        raise ended(error) from None


def _leader(info: Info[Context, None], seat: Seat, document: str) -> Lead:
    schema = info.schema
    context = dataclasses.replace(info.context, _loaders=None, leads_cohort=True)

    async def lead(cohort: Cohort) -> None:
        SEAT.set(None)  # the leader executes for itself
        results = await schema.subscribe(
            document,
            variable_values=seat.variables,
            context_value=context,
            operation_name=seat.operation_name,
        )
        async with aclosing(results):
            async for result in results:
                if result.errors:
                    # As a rule its last frame (an error ends a subscription): one who subscribes
                    # between it and the cohort's end would get that end and nothing else.
                    cohort.close()
                cohort.deliver(seat.encode(_payload(result)))

    return lead


def _payload(result: ExecutionResult) -> dict[str, Any]:
    """A `next` message's payload, as Strawberry's graphql-transport-ws handler writes it."""
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return payload
