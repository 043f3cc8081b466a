"""Storage: sqlmodel tables, the database handle with its migrations, and data-access functions.

`models` are the tables, `db` opens SQLite or PostgreSQL and checks the schema, `repo*` are the
queries the rest of mailbridge runs (sessions passed in keyword-only), `migrations` are alembic's.
`listing` reads the ticket listings of `mailbridge tickets list` through the database driver,
without SQLAlchemy, for its start-up time.
A new table or query belongs here. It may import `config` types, `errors` and the pure helpers;
never a source, the service, outgoing mail, the pipeline or the CLI.
"""
