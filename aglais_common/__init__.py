"""What aglais-hub's three packages (hub_extension, spawner, booking_service) share, each
fact with one home: facts.py (level group names, flavours), db.py (the UTC column type,
the engine set-up for SQLite or PostgreSQL, running alembic at start-up)."""
