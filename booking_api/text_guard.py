"""One check for every string a caller sends as an argument, at any depth, before any resolver.

Why a resolve hook: scalars cannot answer with a result union member, and checking in each
resolver or domain function would miss one sooner or later. The hook sees graphql-core's coerced
arguments (dicts keyed by GraphQL names, lists, scalars), so the path it names is the caller's
own (`input.guest.name`, `input.tutorIds.1`). Fields without arguments pass straight through:
measured on 100,000 fields in memory, the hook added 0-5% CPU (within the noise of a loaded
machine). The walk is over what the caller sent, which the document and body limits bound.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from graphql import GraphQLResolveInfo, GraphQLUnionType, get_nullable_type
from strawberry.extensions import SchemaExtension

from infra.text import unstorable
from schema.errors import InvalidInput, bad_user_input


def first_unstorable(value: object, path: str) -> tuple[str, str] | None:
    """The path of the first text PostgreSQL cannot store, and why; None when all is fine."""
    if isinstance(value, str):
        problem = unstorable(value)
        return (path, problem) if problem else None
    items: Iterable[tuple[object, object]]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = first_unstorable(item, f"{path}.{key}")
        if found is not None:
            return found
    return None


def answers_invalid_input(info: GraphQLResolveInfo[Any]) -> bool:
    """Whether the field's result union has InvalidInput, so the refusal can be data."""
    result = get_nullable_type(info.return_type)
    return isinstance(result, GraphQLUnionType) and any(
        member.name == "InvalidInput" for member in result.types
    )


class StorableText(SchemaExtension):
    def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        for name, value in kwargs.items():
            found = first_unstorable(value, name)
            if found is not None:
                field, message = found
                if answers_invalid_input(info):
                    return InvalidInput(message=message, field=field)
                raise bad_user_input(message, field)
        return _next(root, info, *args, **kwargs)
