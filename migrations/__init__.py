"""Alembic migrations, built from the SQLModel metadata in models/."""
