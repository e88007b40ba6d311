"""The journal's schema migrations (Alembic), run by `engine.live.journal.migrate` when a journal is opened;
no alembic.ini is involved. A new revision is a new file in `versions/` whose `down_revision` is the newest
one; a migration is never edited once released, because journals on disk were made by it."""
