"""SQLAlchemy layer: the project database. Repositories return core types; no ORM object leaves it."""
