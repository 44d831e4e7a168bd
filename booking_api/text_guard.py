"""One check for every string a caller sends as an argument, at any depth, before any resolver.

Once per operation, before execution: every string in the variables and every string literal
in the document (arguments, defaults, directives) is checked. Any string argument a field gets
comes from one of those, so when all pass (nearly always) the operation runs with no field hook
at all. When one fails, the field hook is armed for that operation only: it sees graphql-core's
coerced arguments (dicts keyed by GraphQL names, lists, scalars) of each field as it runs, so the
refusal names the caller's own path (`input.guest.name`, `input.tutorIds.1`) and is an
`InvalidInput` member where the field's result union has one, else a `BAD_USER_INPUT` error on
that field. (A per-field hook on every operation cost a listing of 1,500 slots 6,000 extra calls
through Strawberry's extension wrapper.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from graphql import GraphQLResolveInfo, GraphQLUnionType, Node, StringValueNode, get_nullable_type
from graphql.execution.middleware import MiddlewareManager, get_middleware_resolvers
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


def string_literals(node: Node) -> Iterator[str]:
    """Every string literal written in a document."""
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, StringValueNode):
            yield current.value
        for key in current.keys:
            child = getattr(current, key, None)
            if isinstance(child, Node):
                pending.append(child)
            elif isinstance(child, tuple | list):
                pending.extend(item for item in child if isinstance(item, Node))


def answers_invalid_input(info: GraphQLResolveInfo[Any]) -> bool:
    """Whether the field's result union has InvalidInput, so the refusal can be data."""
    result = get_nullable_type(info.return_type)
    return isinstance(result, GraphQLUnionType) and any(
        member.name == "InvalidInput" for member in result.types
    )


def check_field(
    _next: Callable[..., Any], root: Any, info: GraphQLResolveInfo[Any], *args: Any, **kwargs: Any
) -> Any:
    """The field hook: refuses a field whose arguments hold text that cannot be stored."""
    for name, value in kwargs.items():
        found = first_unstorable(value, name)
        if found is not None:
            field, message = found
            if answers_invalid_input(info):
                return InvalidInput(message=message, field=field)
            raise bad_user_input(message, field)
    return _next(root, info, *args, **kwargs)


class FieldHooks(MiddlewareManager):
    """The operation's field middleware, to which the text check can add its hook once it has
    seen the operation (before graphql-core asks for any field's resolver)."""

    def add(self, hook: Callable[..., Any]) -> None:
        self.middlewares = (*self.middlewares, hook)
        self._middleware_resolvers = list(get_middleware_resolvers(self.middlewares))


class StorableText(SchemaExtension):
    hooks: FieldHooks | None = None  # set by the schema for each operation

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        texts = [
            *([] if document is None else string_literals(document)),
            *strings_in(context.variables),
        ]
        if self.hooks is not None and any(unstorable(text) for text in texts):
            self.hooks.add(check_field)
        yield


def strings_in(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
