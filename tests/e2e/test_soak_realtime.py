"""The real-time soak's short version (bench/soak.py; the bench runs 500 users for 10 minutes): the event load
against a private stack, watched by monitor.yml as shipped in event mode, every channel at a recording
receiver. A healthy event must reach nobody: the soak found a page of this kind (BackupRestoreFailed, within
ten seconds of the start, because the stack's dump had no row counts and the live database moved on)."""

from __future__ import annotations

from bench import soak


def test_a_short_healthy_event_on_the_shipped_config_reaches_nobody(stack_binaries: None) -> None:
    report = soak.run(users=40, minutes=0.75, tail=15.0, procs=1)
    assert report["requests"] > 500  # the load ran: the API answered the attendees
    assert not [s for s in report["status_counts"] if s.startswith("5") or s == "0"], report["status_counts"]
    # Counted at the receivers: no message of any tier but advisories (a load advisory may still be open).
    pages = [m for m in report["notifications"] if m["tier"] != soak.ADVISORY]
    assert pages == [], pages
    left = [a for a in report["alerts_at_end"] if a["state"] == "firing" and a["tier"] != soak.ADVISORY]
    assert left == [], left
