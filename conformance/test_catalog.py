"""GET /v2/_catalog[?n=&last=] (Docker registry API; not part of OCI v1.1 proper,
but ocireg serves it): lexical order, n/last pagination, Link rel=next."""
import secrets

import pytest

from .oci import client_for, describe, parse_link_next


@pytest.fixture(scope="module")
def catalog_repos(registry):
    """Three repositories under one fresh prefix (pushed once for the module)."""
    c = client_for(registry)
    prefix = f"conformance/cat{secrets.token_hex(4)}"
    names = [f"{prefix}/a", f"{prefix}/b", f"{prefix}/c/deep/name"]
    for n in reversed(names):
        c.push_image(n, tag="t")
    c.close()
    return prefix, names


def catalog(client, **params):
    return client.get("/v2/_catalog", params=params or None)


def test_catalog_is_200_with_repositories(client, catalog_repos):
    _, names = catalog_repos
    r = catalog(client)
    assert r.status_code == 200, describe(r)
    repos = r.json().get("repositories")
    assert isinstance(repos, list), f"expected {{\"repositories\": [...]}}; got {r.json()}"
    for n in names:
        assert n in repos, f"pushed repository {n} missing from the catalog"


def test_catalog_is_lexically_sorted(client, catalog_repos):
    repos = catalog(client).json()["repositories"]
    assert repos == sorted(repos), "catalog must be in lexical order"
    assert len(repos) == len(set(repos)), "catalog must not repeat a repository"


def test_catalog_n_and_last_paginate_with_link(client, catalog_repos):
    prefix, names = catalog_repos
    r = catalog(client, n=2, last=prefix)
    assert r.status_code == 200, describe(r)
    assert r.json()["repositories"] == names[:2], (
        f"?n=2&last={prefix} must return the two repositories after it; got {r.json()['repositories']}")
    nxt = parse_link_next(r.headers.get("Link"))
    assert nxt, f"more repositories remain: expected a Link rel=next header; got {r.headers.get('Link')!r}"
    r2 = client.get(nxt)
    assert r2.status_code == 200, describe(r2)
    assert r2.json()["repositories"][:1] == names[2:3], (
        f"following Link must continue after {names[1]}; got {r2.json()['repositories']}")


def test_catalog_last_is_exclusive(client, catalog_repos):
    _, names = catalog_repos
    r = catalog(client, n=1, last=names[0])
    assert r.json()["repositories"] == [names[1]]


def test_catalog_link_walk_matches_full_listing(client, catalog_repos):
    full = catalog(client).json()["repositories"]
    seen, url, pages = [], "/v2/_catalog?n=3", 0
    while url:
        r = client.get(url)
        assert r.status_code == 200, describe(r)
        page = r.json()["repositories"]
        assert len(page) <= 3
        seen += page
        url = parse_link_next(r.headers.get("Link"))
        pages += 1
        assert pages < 1000
    assert seen == full, "walking the Link headers must visit the whole catalog once, in order"


def test_catalog_n_zero_is_empty(client, catalog_repos):
    r = catalog(client, n=0)
    assert r.status_code == 200
    assert not r.json().get("repositories")
    assert parse_link_next(r.headers.get("Link")) is None


def test_catalog_lists_multi_segment_names_verbatim(client, catalog_repos):
    _, names = catalog_repos
    assert names[2] in catalog(client).json()["repositories"]


def test_catalog_does_not_list_repository_of_failed_push(client, catalog_repos):
    prefix, _ = catalog_repos
    bad = f"{prefix}/failed"
    client.put_manifest(bad, "t", b"not json")
    repos = catalog(client).json()["repositories"]
    assert bad not in repos, "a rejected manifest push must not create a repository"
