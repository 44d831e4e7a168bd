"""Thin resolvers: parse, authorize, call one service function, shape the result.

Each domain module offers a Query (and Mutation) class; they are merged into the roots here.
"""

from strawberry.tools import merge_types

from resolvers import (
    availability,
    bookings,
    events,
    forms,
    funnel,
    integrations,
    node,
    organizations,
    packages,
    people,
    profiles,
    reviews,
    schedule_requests,
    services,
    waitlist,
    webhooks,
)

Query = merge_types(
    "Query",
    (
        node.Query,
        people.Query,
        services.Query,
        availability.Query,
        bookings.Query,
        organizations.Query,
        funnel.Query,
        schedule_requests.Query,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        people.Mutation,
        profiles.Mutation,
        availability.Mutation,
        services.Mutation,
        bookings.Mutation,
        packages.Mutation,
        integrations.Mutation,
        organizations.Mutation,
        forms.Mutation,
        webhooks.Mutation,
        funnel.Mutation,
        schedule_requests.Mutation,
        waitlist.Mutation,
        reviews.Mutation,
    ),
)

Subscription = events.Subscription

__all__ = ["Mutation", "Query", "Subscription"]
