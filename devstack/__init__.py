"""Private PostgreSQL, Redis and Converge API processes started from local binaries.

Used by the test fixtures, `make demo` and the fault drills: each server runs on a free
loopback port in its own temporary directory and is stopped by its PID.
"""

from devstack.alertmanager import PrivateAlertmanager
from devstack.api import ApiServer
from devstack.postgres import PrivatePostgres
from devstack.process import MissingBinaryError, free_port
from devstack.prometheus import PrivatePrometheus, PrometheusError
from devstack.redis import PrivateRedis

__all__ = ["ApiServer", "MissingBinaryError", "PrivateAlertmanager", "PrivatePostgres", "PrivatePrometheus",
           "PrivateRedis", "PrometheusError", "free_port"]
