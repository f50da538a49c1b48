"""What `python -m app seed` writes, as devstack's callers log in with it: the attendees' e-mail addresses and
QR codes, the synthetic monitoring account, and the passwords the seed command uses when given none.

This mirrors app/seed.py and app/__main__.py, so that devstack talks to the API as a client does, without
importing the app; tests/devstack/test_stack.py checks it against the real app.
"""

from __future__ import annotations

SEED_PASSWORD = "converge-demo"  # `python -m app seed --password` default
SYNTHETIC_PASSWORD = "synthetic-check"  # `--synthetic-password` default; monitor.yml's synthetic flow uses it too
SYNTHETIC_EMAIL = "synthetic-monitor@converge.test"
SYNTHETIC_PEER_EMAIL = "synthetic-peer@converge.test"  # the journey's peer, with the synthetic password
SYNTHETIC_PEER_QR = "CNV-SYNTHETIC-PEER"


def attendee_email(i: int) -> str:
    return f"attendee{i:05d}@converge.test"


def attendee_qr(i: int) -> str:
    return f"CNV-{i:05d}"
