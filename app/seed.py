"""Seed data: attendees, the three event days' sessions, and the synthetic monitoring accounts (the monitor
and its peer, both with the synthetic password)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from app.security import hash_password

EVENT_TZ = ZoneInfo("America/Los_Angeles")
EVENT_DAYS = (datetime(2026, 1, 28, tzinfo=EVENT_TZ), datetime(2026, 1, 29, tzinfo=EVENT_TZ),
              datetime(2026, 1, 30, tzinfo=EVENT_TZ))
ROOMS = ("Main Hall", "Room A", "Room B", "Room C")
TOPICS = ("Edge AI", "Maritime Autonomy", "Cyber Defense", "Space Systems", "Energy Resilience",
          "Undersea Sensing", "Logistics at Scale", "Human-Machine Teaming")
SYNTHETIC_EMAIL = "synthetic-monitor@converge.test"
SYNTHETIC_QR = "CNV-SYNTHETIC"
# The critical-feature journey's other side: the QR code it scans and the recipient of its message.
SYNTHETIC_PEER_EMAIL = "synthetic-peer@converge.test"
SYNTHETIC_PEER_QR = "CNV-SYNTHETIC-PEER"


def attendee_email(i: int) -> str:
    return f"attendee{i:05d}@converge.test"


def attendee_qr(i: int) -> str:
    return f"CNV-{i:05d}"


def seed(database_url: str, attendees: int, password: str, synthetic_password: str,
         sessions_per_day: int = 12) -> dict[str, int]:
    # Seeded attendees are synthetic and share one password, so one Argon2 hash serves them all.
    shared_hash = hash_password(password)
    rows = [(attendee_email(i), f"Attendee {i}", shared_hash, attendee_qr(i)) for i in range(1, attendees + 1)]
    synthetic_hash = hash_password(synthetic_password)
    rows.append((SYNTHETIC_EMAIL, "Synthetic Monitor", synthetic_hash, SYNTHETIC_QR))
    rows.append((SYNTHETIC_PEER_EMAIL, "Synthetic Peer", synthetic_hash, SYNTHETIC_PEER_QR))
    sessions = []
    for day in EVENT_DAYS:
        for n in range(sessions_per_day):
            start = day + timedelta(hours=8 + n // len(ROOMS))  # one slot per hour, four rooms
            sessions.append((f"{TOPICS[n % len(TOPICS)]} #{day.day}-{n + 1}", f"Speaker {n + 1}",
                             ROOMS[n % len(ROOMS)], start, start + timedelta(minutes=45), 50 + 25 * (n % 4)))
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO attendees (email, name, password_hash, qr_code) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash", rows)
        existing = cur.execute("SELECT count(*) FROM sessions").fetchone()
        if existing is not None and existing[0] == 0:
            cur.executemany("INSERT INTO sessions (title, speaker, room, starts_at, ends_at, capacity) "
                            "VALUES (%s, %s, %s, %s, %s, %s)", sessions)
        counts = {t: cur.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
                  for t in ("attendees", "sessions")}
    return counts
