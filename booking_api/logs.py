"""Log lines and request ids: text or JSON lines (LOG_FORMAT), each with its request's id.

The id comes from the client's X-Request-ID when it looks like one, else it is made here
(asgi-correlation-id's middleware); it is sent back as X-Request-ID, written on the outbox rows
the request adds (domain/outbox.py), and set again by the job runner (workers/jobs.py), so a
job's lines carry the id of the request that caused it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from asgi_correlation_id import CorrelationIdFilter, CorrelationIdMiddleware
from pythonjsonlogger.json import JsonFormatter
from starlette.middleware import Middleware

from infra.settings import Settings

HEADER = "X-Request-ID"
# What a proxy or client may hand us: UUIDs, nginx's $request_id, trace ids, ULIDs. Anything
# else (long, or with characters a log line should not carry) is replaced by our own.
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# uvicorn gives its loggers handlers of their own: without them they reach ours.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def sane_request_id(value: str) -> bool:
    return _SANE_ID.fullmatch(value) is not None


def request_ids() -> Middleware:
    return Middleware(CorrelationIdMiddleware, header_name=HEADER, validator=sane_request_id)


class RequestIdFilter(CorrelationIdFilter):
    """The current request's (or job's) id on every record, as `request_id` ('-': none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        super().filter(record)
        record.request_id = record.__dict__.pop("correlation_id", None) or "-"
        return True


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        fields: Any = ["levelname", "name", "request_id", "message"]
        return JsonFormatter(
            fields,
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",  # ISO 8601, UTC
        )
    return logging.Formatter(TEXT_FORMAT)


def configure(settings: Settings) -> None:
    """The root logger: one stream handler in the chosen format; uvicorn's loggers join it."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter(settings.observability.log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
