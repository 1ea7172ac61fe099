"""Alembic environment for lrsearch's own tables; run through lrsearch.store.migrate only."""

from __future__ import annotations

from alembic import context

from lrsearch.store.migrate import VERSION_TABLE
from lrsearch.store.models import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    include_name=lambda name, type_, parent: type_ != "table" or str(name).startswith("lr_"),
)
with context.begin_transaction():
    context.run_migrations()
