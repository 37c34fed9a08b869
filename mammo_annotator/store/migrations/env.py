"""Alembic environment: the engine comes from the caller (store.engine), never from an ini file."""

from alembic import context

from mammo_annotator.store.schema import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    context.run_migrations()
