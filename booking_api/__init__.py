"""Core of the booking API: settings, database, authentication, the ASGI app and the CLI."""
