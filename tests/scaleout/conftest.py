"""Fixtures for the scale-out tests: `cluster`, three `ocireg serve` instances sharing one
bucket of the session's radosgw and one database of its PostgreSQL (the `rgw` and `postgres`
fixtures of the root conftest.py start the real engines)."""
import pytest

from ocireg_harness import ScaleOutCluster

INSTANCES = 3


@pytest.fixture(scope="module")
def cluster(rgw, postgres, tmp_path_factory):
    c = ScaleOutCluster(rgw, postgres, tmp_path_factory.mktemp("scaleout"))
    try:
        for _ in range(INSTANCES):
            c.start_instance()
        c.size = INSTANCES
        yield c
    finally:
        c.stop()
