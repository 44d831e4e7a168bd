"""Services and queries, one module per domain. No GraphQL here: plain values in, rows out."""
