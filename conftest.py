"""Shared pytest fixtures: start a fresh `ocireg serve` on a free loopback port.

Every suite (conformance/, tests/) gets the same `registry` (session-wide server) and
`registry_factory` (a private server per test, for tests that restart or kill it).
Set OCIREG_URL to run the suites against an already running server instead.
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
