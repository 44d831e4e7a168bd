"""The webhook receiver and its settings, shared with the integrations' tests."""

from tests.integrations.conftest import (  # noqa: F401
    deliveries,
    hook_gql,
    hook_settings,
    receiver,
    receiver_server,
)
