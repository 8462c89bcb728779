"""Alembic migrations of the cygno-mw SQL schema (run through `migrate.upgrade`)."""
