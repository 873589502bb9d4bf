"""Alembic environment: migrations run on the connection the library opened (never from an ini file)."""

from __future__ import annotations

from alembic import context

from photobird.library.schema import Base, compared_by_alembic

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only ``alembic`` run by hand against a URL
    from sqlalchemy import create_engine

    connection = create_engine(config.get_main_option("sqlalchemy.url")).connect()

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    include_name=compared_by_alembic,  # not the FTS5 name index (migration 0002): it is no ORM table
)
with context.begin_transaction():
    context.run_migrations()
