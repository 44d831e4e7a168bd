"""GraphQL over HTTP's two answers: `application/json` (every error HTTP 200, as clients before
the specification expect) or, when the client asks for it, `application/graphql-response+json`,
where a request that could not run has no `data` and a 4xx/5xx status saying why."""

from __future__ import annotations

from http import HTTPStatus

from strawberry.types import ExecutionResult

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"

# A request error's status under GRAPHQL_RESPONSE, by its extensions.code.
STATUS_OF_CODE = {
    "UNAUTHENTICATED": HTTPStatus.UNAUTHORIZED,
    "FORBIDDEN": HTTPStatus.FORBIDDEN,
    "RATE_LIMITED": HTTPStatus.TOO_MANY_REQUESTS,
    "TIMEOUT": HTTPStatus.GATEWAY_TIMEOUT,
    "INTERNAL_SERVER_ERROR": HTTPStatus.INTERNAL_SERVER_ERROR,
    "UNAVAILABLE": HTTPStatus.SERVICE_UNAVAILABLE,
}


def _weights(accept: str) -> dict[str, float]:
    """Each media range of an Accept header with its q (a malformed q counts as 0)."""
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media:
            weights[media.lower()] = max(q, weights.get(media.lower(), 0.0))
    return weights


def answer_type(accept: str | None) -> str:
    """GRAPHQL_RESPONSE when the client prefers it (or names only it), else JSON: also for no
    Accept header, `*/*` and anything we do not serve, which legacy clients send."""
    weights = _weights(accept or "")
    wanted = weights.get(GRAPHQL_RESPONSE, 0.0)
    legacy = max(weights.get(JSON, 0.0), weights.get("application/*", 0.0))
    return GRAPHQL_RESPONSE if wanted > 0 and wanted >= legacy else JSON


def is_request_error(result: ExecutionResult) -> bool:
    """Nothing ran: refused before execution (parse, validation, variables, limits, sign-in,
    rate limits) or stopped whole (a timeout). Field errors have a path; these have none."""
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )


def request_error_status(result: ExecutionResult) -> int:
    """The status of a request error under GRAPHQL_RESPONSE: the first error's, else 400."""
    for error in result.errors or ():
        status = STATUS_OF_CODE.get(str((error.extensions or {}).get("code")))
        if status is not None:
            return status
    return HTTPStatus.BAD_REQUEST
