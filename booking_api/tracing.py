"""OpenTelemetry tracing, configured by the standard OTEL_* variables; off when they ask for none.

On (OTEL_TRACES_EXPORTER, or an OTLP endpoint): spans for each HTTP request and websocket
(the ASGI middleware), each GraphQL operation and resolver (Strawberry's extension) and each SQL
statement (SQLAlchemy's instrumentation), exported in batches. The SDK and the exporters read
the rest themselves: OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER,
OTEL_EXPORTER_OTLP_ENDPOINT and _HEADERS, OTEL_BSP_*.
"""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from starlette.middleware import Middleware
from strawberry.extensions import SchemaExtension
from strawberry.extensions.tracing import OpenTelemetryExtension

from infra.db import Database
from infra.settings import Observability

EXPORTERS = "opentelemetry_traces_exporter"


def _exporter(name: str) -> SpanExporter:
    (entry,) = entry_points(group=EXPORTERS, name=name)  # checked by the settings
    exporter: SpanExporter = entry.load()()
    return exporter


def configure(observability: Observability) -> bool:
    """The global tracer provider with the configured exporters; False when tracing is off."""
    if not observability.trace_exporters:
        return False
    named = "OTEL_SERVICE_NAME" in os.environ or "service.name" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    provider = TracerProvider(
        resource=Resource.create({} if named else {"service.name": "booking-api"})
    )
    for name in observability.trace_exporters:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    trace.set_tracer_provider(provider)
    return True


def tracing_on() -> bool:
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def schema_extensions() -> list[type[SchemaExtension]]:
    """Strawberry's spans, only when tracing is on (its resolver hook costs every field)."""
    return [OpenTelemetryExtension] if tracing_on() else []


def middleware() -> list[Middleware]:
    return [Middleware(OpenTelemetryMiddleware)] if tracing_on() else []


def trace_database(db: Database) -> None:
    if tracing_on():
        # The instrumentation declares sqlalchemy < 2.1; 2.1's engine events are the same.
        instrumentor: Any = SQLAlchemyInstrumentor()
        instrumentor.instrument(engine=db.engine.sync_engine, skip_dep_check=True)
