"""Database: SQLAlchemy 2 tables (:mod:`.models`), engine setup and Alembic migrations (:mod:`.engine`)."""

from .engine import make_engine, upgrade

__all__ = ["make_engine", "upgrade"]
