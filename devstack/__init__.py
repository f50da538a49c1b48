"""Private stacks for the tests, the fault drills, the demo and the benchmarks, from local binaries.

devstack/stack.py (PrivateStack) is the one place that starts PostgreSQL, Redis and the Converge API (run as
`python -m app migrate|seed|serve`, never imported); the other modules are its parts and the servers around
it (Prometheus, Alertmanager, the monitor, synthetic traffic, the drills). Each server runs on a free loopback
port in its own temporary directory and is stopped by its PID.
"""

from devstack.alertmanager import PrivateAlertmanager
from devstack.api import ApiServer
from devstack.postgres import PrivatePostgres
from devstack.process import MissingBinaryError, free_port
from devstack.prometheus import PrivatePrometheus, PrometheusError
from devstack.redis import PrivateRedis
from devstack.stack import PrivateStack, Seed

__all__ = ["ApiServer", "MissingBinaryError", "PrivateAlertmanager", "PrivatePostgres", "PrivatePrometheus",
           "PrivateRedis", "PrivateStack", "PrometheusError", "Seed", "free_port"]
