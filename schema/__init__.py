"""Strawberry types, inputs and result unions, one module per domain.

The served SDL is committed beside this file as schema.graphql; contract.graphql is a copy of
the API contract (../shared/contract.graphql) that the tests hold the served schema to.
"""
