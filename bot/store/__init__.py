"""Persistence: SQLAlchemy 2 (async) models, Alembic migrations, the repository and the outage-tolerant recorder."""

from bot.store.repository import Store, TickRecords, sqlite_url

__all__ = ["Store", "TickRecords", "sqlite_url"]
