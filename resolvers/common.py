"""What every resolver shares: global ids read from inputs, and domain outcomes turned into
GraphQL (union members, or top-level errors)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from graphql import GraphQLError

from domain.errors import Forbidden, InvalidInput, NotFound, UserError
from schema.context import forbidden
from schema.errors import bad_user_input, user_error
from schema.node import decode_id_of

T = TypeVar("T")
# The field's result union: inferred from the resolver's declared return type, so a shape
# returning a member the union lacks is a type error.
R = TypeVar("R")


def parse_id(value: str | None, type_name: str, field: str) -> uuid.UUID:
    """An input's global ID of the expected type, or InvalidInput naming the field."""
    pk = decode_id_of(value or "", type_name)
    if pk is None:
        raise InvalidInput(f"Not a {type_name} id", field)
    return pk


async def mutate(work: Awaitable[T], shape: Callable[[T], R]) -> R:
    """Run one service call: its result shaped, a user error as data, a refusal as FORBIDDEN."""
    try:
        value = await work
    except UserError as error:
        # Which errors a domain call raises is not in its type (exceptions never are): the
        # member is one of the union's by the mutation's contract, and Strawberry refuses at
        # run time a member its union does not list.
        return cast(R, user_error(error))
    except Forbidden as error:
        raise forbidden(error.message) from None
    return shape(value)


async def query(work: Awaitable[T]) -> T:
    """For fields with no result union: user errors become top-level errors with a code."""
    try:
        return await work
    except InvalidInput as error:
        raise bad_user_input(error.message, error.field) from None
    except NotFound as error:
        raise GraphQLError(error.message, extensions={"code": "NOT_FOUND"}) from None
    except Forbidden as error:
        raise forbidden(error.message) from None
