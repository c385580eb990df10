"""Fixtures for the OCI Distribution Spec conformance suite.

`registry` and `registry_factory` come from the project's root conftest.py.
Set OCIREG_USER / OCIREG_PASSWORD to run against a registry that requires auth: the
client then follows the Docker token flow on 401 responses.
"""
import os

import pytest

from .oci import client_for, data_snapshot, unique_repo


@pytest.fixture
def client(registry):
    """A requests.Session bound to the session-wide registry (auth handled)."""
    with client_for(registry) as c:
        yield c


@pytest.fixture
def repo():
    """A fresh repository name, e.g. conformance/1a2b3c4d5e6f."""
    return unique_repo()


@pytest.fixture
def new_repo():
    """Factory of fresh repository names: new_repo(suffix='team/app/web')."""
    return lambda suffix="": unique_repo(suffix=suffix)


@pytest.fixture
def image(client, repo):
    """A small OCI image (config + one layer) pushed as <repo>:latest."""
    return client.push_image(repo, tag="latest")


@pytest.fixture
def unchanged_store(registry, client):
    """Snapshot the stored files (and the directory around the data dir) before the test
    and assert afterwards that nothing was written and the server still answers /v2/."""
    before = data_snapshot(registry.data)
    parent = os.path.dirname(registry.data) if registry.data else None
    parent_before = set(os.listdir(parent)) if parent else None
    yield
    r = client.get("/v2/")
    assert r.status_code == 200, f"server must keep serving after hostile input; GET /v2/ -> {r.status_code}"
    if before is not None:
        after = data_snapshot(registry.data)
        assert after == before, (
            f"hostile request changed stored data: added {sorted(after - before)[:10]}, "
            f"removed {sorted(before - after)[:10]}")
        assert set(os.listdir(parent)) == parent_before, (
            f"files appeared next to the data directory: {set(os.listdir(parent)) - parent_before}")
