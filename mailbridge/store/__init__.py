"""Storage: sqlmodel tables, the database handle with its migrations, and data-access functions."""
