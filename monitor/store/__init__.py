"""The monitor's state: latest observation per series and a bounded history.

SQLite by default (a file), PostgreSQL for several replicas; both behind `Store`. Never the
monitored database.
"""

from monitor.store.base import OutboxRow, Sample, Store
from monitor.store.factory import open_store

__all__ = ["OutboxRow", "Sample", "Store", "open_store"]
