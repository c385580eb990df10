"""Shared pytest fixtures: start a fresh `ocireg serve` on a free loopback port.

Every suite (conformance/, tests/) gets the same `registry` (session-wide server) and
`registry_factory` (a private server per test, for tests that restart or kill it).
Set OCIREG_URL to run the suites against an already running server instead.
`postgres` and `rgw` start the real engines of the scale-out tests (PostgreSQL, one-node Ceph
with radosgw) once per session, only when a test asks for them (tests/engines.py).
"""
import os

import pytest

from ocireg_harness import ExternalRegistry, RegistryServer


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    if os.environ.get("OCIREG_URL"):
        yield ExternalRegistry(os.environ["OCIREG_URL"])
        return
    server = RegistryServer(tmp_path_factory.mktemp("registry-data")).start()
    yield server
    server.stop()


@pytest.fixture
def registry_factory(tmp_path):
    """Start private servers: registry_factory(extra_args=[...], data_dir=None, ...)."""
    started = []

    def make(extra_args=(), data_dir=None, env=None, scheme="http", verify=True):
        server = RegistryServer(data_dir or tmp_path / f"data{len(started)}", extra_args, env,
                                scheme, verify)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


_engines = []


def _engine(tmp_path_factory, kind):
    """Start one engine of tests/engines.py for the session; it is stopped by PID at the end."""
    import tests.engines
    engine = getattr(tests.engines, kind)(tmp_path_factory.mktemp(kind.lower()))
    _engines.append(engine)
    try:
        yield engine.start()
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    yield from _engine(tmp_path_factory, "Postgres")


@pytest.fixture(scope="session")
def rgw(tmp_path_factory):
    yield from _engine(tmp_path_factory, "CephRGW")


def pytest_terminal_summary(terminalreporter):
    for engine in _engines:
        if engine.started_seconds is not None:
            terminalreporter.write_line(f"{type(engine).__name__} started in "
                                        f"{engine.started_seconds:.2f} s")
