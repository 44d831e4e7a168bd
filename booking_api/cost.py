"""The static cost of a GraphQL operation, worked out before it runs.

Like GitHub's and Shopify's APIs, an operation is priced from its document alone: every field
counts 1, and a field under a list counts once for every item that list can hold, so costs
multiply through nesting; aliases and fragments add up (each spread is priced where it is
spread); @skip and @include are not looked at. Every list field declares its bound next to its
type: `AtMost(n)` (a fixed maximum, also enforced on what the resolver returns) or `PageOf(n)`
(as many items as the enclosing field's `first` or `last` asks, its default when neither is
given, at most n).
Introspection is priced as a whole (its depth is already limited by MaxIntrospectionDepthRule).
Operations over the budget are refused with QUERY_TOO_COMPLEX before any resolver runs.

Our own because the one maintained Python library, graphql-complexity 1.0, does not fit
(measured): it crashes on a variable without a default, never multiplies a connection's items
by `first`, counts a list without `first` as one item, and runs before validation (a fragment
cycle would recurse without end).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    get_operation_ast,
    get_variable_values,
)
from graphql.execution.values import VariableValues, get_argument_values
from strawberry.extensions import SchemaExtension
from strawberry.types.field import StrawberryField

from schema.bounds import AtMost, Bound, OnePerId, PageOf

# The whole of an introspection query (GraphiQL's: about 6,300 fields on this schema), and one
# type's description.
SCHEMA_INTROSPECTION_COST = 10_000
TYPE_INTROSPECTION_COST = 500
PAGE_ARGUMENTS = ("first", "last")
# A page argument that is not a number is priced at the page's maximum (min() cuts it).
MAX_ITEMS = 2**31


def bound_of(definition: GraphQLField) -> Bound | None:
    strawberry_field = (definition.extensions or {}).get("strawberry-definition")
    if not isinstance(strawberry_field, StrawberryField):
        return None
    return next((e for e in strawberry_field.extensions if isinstance(e, AtMost | PageOf)), None)


def is_list(type_: GraphQLOutputType) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def unbounded_lists(schema: GraphQLSchema) -> list[str]:
    """List fields that declare no bound: the schema must have none (checked when built)."""
    return [
        f"{type_.name}.{name}"
        for type_ in schema.type_map.values()
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType)
        and not type_.name.startswith("__")
        for name, definition in type_.fields.items()
        if is_list(definition.type) and bound_of(definition) is None
    ]


@dataclass
class _Pricing:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    variables: VariableValues | None
    # A fragment's price depends only on the page it is spread in: each is worked out once,
    # so fragments spread many times cannot make the pricing itself expensive.
    priced: dict[tuple[str, int | None], int] = field(default_factory=dict)

    def selections(
        self, selection_set: SelectionSetNode | None, parent: Any, page: int | None
    ) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selections(selection.selection_set, inner, page)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.spread(selection.name.value, page)
        return total

    def spread(self, name: str, page: int | None) -> int:
        key = (name, page)
        if key not in self.priced:
            fragment = self.fragments[name]
            inner = self.schema.get_type(fragment.type_condition.name.value)
            self.priced[key] = self.selections(fragment.selection_set, inner, page)
        return self.priced[key]

    def field(self, node: FieldNode, parent: Any, page: int | None) -> int:
        name = node.name.value
        if name == "__schema":
            return SCHEMA_INTROSPECTION_COST
        if name == "__type":
            return TYPE_INTROSPECTION_COST
        if name == "__typename":
            return 1
        definition: GraphQLField = parent.fields[name]
        items = 1
        if is_list(definition.type):
            bound = bound_of(definition)
            if bound is None:  # every list field declares one (tests/api/test_cost.py)
                raise TypeError(f"{parent.name}.{name} has no bound")
            items = bound.maximum
            if isinstance(bound, PageOf):
                items = max(0, min(bound.default if page is None else page, bound.maximum))
            elif isinstance(bound, OnePerId):
                items = self.ids_asked(definition, node, bound)
        inner = self.selections(
            node.selection_set, get_named_type(definition.type), self.page_asked(definition, node)
        )
        return 1 + items * inner

    def ids_asked(self, definition: GraphQLField, node: FieldNode, bound: OnePerId) -> int:
        """How many ids the field's id list names, at most the bound; the bound when it names
        none (or its value cannot be read: execution refuses it)."""
        try:
            values = get_argument_values(definition, node, self.variables)
        except GraphQLError:
            return bound.maximum
        ids = values.get(bound.argument)
        return min(len(ids), bound.maximum) if isinstance(ids, list) else bound.maximum

    def page_asked(self, definition: GraphQLField, node: FieldNode) -> int | None:
        """The `first` or `last` this field asks for; None when it asks neither (its page's
        default applies). Not numbers (execution refuses them): priced at the maximum."""
        if not any(name in definition.args for name in PAGE_ARGUMENTS):
            return None
        try:
            values = get_argument_values(definition, node, self.variables)
        except GraphQLError:
            return MAX_ITEMS
        asked = [value for name in PAGE_ARGUMENTS if isinstance(value := values.get(name), int)]
        # Both given: the resolver refuses it, but price the larger.
        return max(asked, default=None)


def operation_cost(
    schema: GraphQLSchema,
    document: Any,
    operation_name: str | None,
    variables: dict[str, Any] | None,
) -> int:
    """The cost of the operation that will run; 0 when none can (execution says why)."""
    operation: OperationDefinitionNode | None = get_operation_ast(document, operation_name)
    root = schema.get_root_type(operation.operation) if operation else None
    if operation is None or root is None:
        return 0
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    pricing = _Pricing(schema, fragments, coerced if isinstance(coerced, VariableValues) else None)
    try:
        return pricing.selections(operation.selection_set, root, None)
    except RecursionError:
        # Fragments nested past the interpreter's limit: far beyond any budget.
        return 10**18


def too_complex(cost: int, max_cost: int) -> GraphQLError:
    return GraphQLError(
        f"This operation would cost {cost:,} and at most {max_cost:,} is allowed: ask for "
        "fewer fields, fewer items (first), fewer aliases or a narrower nesting.",
        extensions={"code": "QUERY_TOO_COMPLEX", "cost": cost, "maxCost": max_cost},
    )


class CostLimit(SchemaExtension):
    """Refuse an operation (query, mutation or subscription) that costs more than the budget."""

    def __init__(self, max_cost: int) -> None:
        self.max_cost = max_cost

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        cost = operation_cost(
            context.schema._schema,
            context.graphql_document,
            context.operation_name,
            context.variables,
        )
        if cost > self.max_cost:
            raise too_complex(cost, self.max_cost)
        yield
