"""Alembic environment: runs on the connection handed over by :func:`seetrain.server.db.upgrade`."""

from alembic import context

from seetrain.server.db.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the server always passes one
    raise RuntimeError("run migrations through seetrain.server.db.upgrade(engine)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
