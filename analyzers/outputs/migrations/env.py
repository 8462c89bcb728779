"""Alembic environment: runs on the connection `migrate.upgrade` hands over, or on the URL
of alembic.ini / $CYGNO_DB_URL when an operator runs the `alembic` command directly."""

from __future__ import annotations

from alembic import context

from cygno_mw.analyzers.outputs import database, schema

VERSION_TABLE = "cygno_schema_version"

config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=schema.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url") or database.default_url()
    engine = database.create_db_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
