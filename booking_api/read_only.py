"""Queries never write: a GET is cacheable, prefetchable and can be forged from another site.

This extension marks a query's execution read-only, so that any unit of work it opens
(`Database.transaction`) fails loudly as a bug instead of committing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from infra.db import READ_ONLY


class QueriesNeverWrite(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        # Tasks the execution starts (fields, DataLoader batches) copy the variable.
        token = READ_ONLY.set(self.execution_context.operation_type is OperationType.QUERY)
        try:
            yield
        finally:
            # When a later extension refuses the operation before it runs (a rate limit), this
            # generator is never resumed and is closed by the collector, in another context:
            # the flag then simply ends with the request's own task.
            with contextlib.suppress(ValueError):
                READ_ONLY.reset(token)
