"""Where a backtest reads history from: the monitor's store, a JSON-lines file, or a Prometheus server.

Each source yields Observations in time order, streamed (never the whole history at once), and raises
HistoryError with a message for the person at the terminal (the file's line, the unreachable URL).
"""

from __future__ import annotations


class HistoryError(Exception):
    """The history cannot be read; the message says where and why."""
