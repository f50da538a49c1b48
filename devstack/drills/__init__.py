"""Fault drills: `converge-monitor drill NAME|all` (issue 7, "test disaster recovery procedures").

Each drill injects one real fault into a running stack (stop a process, slow the database, hold the
API's DB pool, delay or fail requests, flood from one IP, fill Redis, serve an expiring certificate),
waits for the monitor's notification of the expected alert, removes the fault and waits for the resolve.

    catalog.py       the drills: expected alerts, what each needs, timing allowances
    drill_config.py  the monitor config of the drill's own stack, with every rule override documented
    stack.py         the stack under test: a private one (default) or the one a config names (loopback only)
    faults.py        how each fault is injected and removed
    load.py          request generators (steady background load, a one-IP flood)
    tls.py           a local HTTPS server whose certificate can be swapped, and the certificates
    notifications.py reading the monitor's notifications JSON-lines file
    runner.py        one drill -> one Row; the table (the `drill` command is monitor/cli/drill.py)
"""
