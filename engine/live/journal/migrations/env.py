"""Alembic's entry point: migrate on the connection `migrate.upgrade` hands over, inside its transaction
(so the whole upgrade commits or none of it does)."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, transactional_ddl=True)
with context.begin_transaction():  # joins the caller's transaction
    context.run_migrations()
