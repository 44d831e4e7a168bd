"""Thin resolvers: parse, authorize, call one service function, shape the result.

Each domain module offers a Query (and Mutation) class; they are merged into the roots here.
"""

from strawberry.tools import merge_types

from resolvers import node, people

Query = merge_types("Query", (node.Query, people.Query))
Mutation = merge_types("Mutation", (people.Mutation,))

__all__ = ["Mutation", "Query"]
