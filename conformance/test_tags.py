"""Content discovery: end-8a/8b GET /v2/<name>/tags/list[?n=&last=]."""
import pytest

from .oci import (MT_OCI_CONFIG, assert_error, client_for, descriptor, describe, digest_of,
                  image_manifest, parse_link_next, random_config, unique_repo)

TAGS = ["latest", "v1.0", "v1.10", "v1.2", "A", "b", "Z9", "_under", "0.1"]


def ascii_or_lexical(tags):
    return [sorted(tags), sorted(tags, key=str.lower)]


@pytest.fixture(scope="module")
def tagged(registry):
    """One repository with TAGS pushed (module scope: shared by the read-only tests)."""
    c = client_for(registry)
    repo = unique_repo()
    cfg = random_config()
    c.push_blob(repo, cfg)
    body = image_manifest(descriptor(MT_OCI_CONFIG, cfg), [])
    for t in TAGS:
        c.push_manifest(repo, t, body)
    c.close()
    return repo


def test_tags_list_is_200_with_name_and_tags(client, tagged):
    r = client.tags(tagged)
    assert r.status_code == 200, describe(r)
    body = r.json()
    assert body.get("name") == tagged, f"tags/list must echo the repository name; got {body.get('name')!r}"
    assert sorted(body.get("tags")) == sorted(TAGS)


def test_tags_list_is_sorted(client, tagged):
    tags = client.tags(tagged).json()["tags"]
    assert tags in ascii_or_lexical(TAGS), f"tags MUST be in lexical or ASCIIbetical order; got {tags}"


def test_tags_list_content_type_is_json(client, tagged):
    r = client.tags(tagged)
    assert r.headers.get("Content-Type", "").startswith("application/json")


def test_tags_list_n_limits_results_with_link(client, tagged):
    r = client.tags(tagged, n=3)
    assert r.status_code == 200, describe(r)
    tags = r.json()["tags"]
    full = client.tags(tagged).json()["tags"]
    assert tags == full[:3], f"?n=3 must return the first 3 tags in order; got {tags}"
    nxt = parse_link_next(r.headers.get("Link"))
    assert nxt, f"more tags are available: expected Link: <...>; rel=\"next\"; got {r.headers.get('Link')!r}"


def test_tags_list_link_pagination_walks_all_tags(client, tagged):
    full = client.tags(tagged).json()["tags"]
    seen, url, pages = [], f"/v2/{tagged}/tags/list?n=2", 0
    while url:
        r = client.get(url)
        assert r.status_code == 200, describe(r)
        page = r.json()["tags"] or []
        assert len(page) <= 2
        seen += page
        url = parse_link_next(r.headers.get("Link"))
        pages += 1
        assert pages < 20, "pagination does not terminate"
    assert seen == full, f"following Link rel=next must yield every tag once, in order; got {seen}"


def test_tags_list_last_is_exclusive(client, tagged):
    full = client.tags(tagged).json()["tags"]
    pivot = full[3]
    r = client.tags(tagged, n=2, last=pivot)
    assert r.status_code == 200, describe(r)
    assert r.json()["tags"] == full[4:6], f"?last={pivot}&n=2 must return the 2 tags after {pivot}; got {r.json()['tags']}"


def test_tags_list_last_without_n(client, tagged):
    full = client.tags(tagged).json()["tags"]
    r = client.tags(tagged, last=full[5])
    assert r.status_code == 200, describe(r)
    assert r.json()["tags"] == full[6:], f"?last= alone returns all tags after it; got {r.json()['tags']}"


def test_tags_list_last_that_is_not_a_tag(client, tagged):
    full = client.tags(tagged).json()["tags"]
    pivot = "v1.1"  # between v1.0 and v1.10, not itself a tag
    r = client.tags(tagged, last=pivot)
    expected = [t for t in full if (t > pivot if full == sorted(full) else t.lower() > pivot)]
    assert r.json()["tags"] == expected


def test_tags_list_n_zero_is_empty_without_link(client, tagged):
    r = client.tags(tagged, n=0)
    assert r.status_code == 200, describe(r)
    assert not r.json().get("tags"), f"?n=0 MUST return an empty list; got {r.json().get('tags')}"
    assert "Link" not in r.headers, "?n=0 MUST NOT include a Link header"


def test_tags_list_n_larger_than_count_has_no_link(client, tagged):
    r = client.tags(tagged, n=100)
    assert r.status_code == 200
    assert len(r.json()["tags"]) == len(TAGS)
    assert parse_link_next(r.headers.get("Link")) is None, "no more tags: there must be no rel=next Link"


def test_tags_list_n_returns_at_most_n(client, tagged):
    n = len(TAGS) - 1
    r = client.tags(tagged, n=n)
    tags = r.json()["tags"]
    assert len(tags) <= n, f"?n={n} must return at most {n} tags; got {len(tags)}"
    assert len(tags) == n or parse_link_next(r.headers.get("Link")), (
        "fewer than n tags is only allowed at the end of the list or with a Link header")


def test_tags_list_last_after_final_tag_is_empty(client, tagged):
    full = client.tags(tagged).json()["tags"]
    r = client.tags(tagged, last=full[-1])
    assert r.status_code == 200
    assert not r.json().get("tags")
    assert parse_link_next(r.headers.get("Link")) is None


def test_tags_list_unknown_repository_is_404_name_unknown(client, new_repo):
    r = client.tags(new_repo())
    assert_error(r, 404, "NAME_UNKNOWN")


def test_tags_list_of_repository_with_only_untagged_manifest(client, repo):
    cfg = random_config()
    client.push_blob(repo, cfg)
    body = image_manifest(descriptor(MT_OCI_CONFIG, cfg), [])
    client.push_manifest(repo, digest_of(body), body)
    r = client.tags(repo)
    assert r.status_code == 200, f"a repository with content but no tags: 200 with an empty list; {describe(r)}"
    assert not r.json().get("tags")


def test_tags_list_multi_segment_repository(client, new_repo):
    repo = new_repo("team/app/web")
    client.push_image(repo, tag="1.0")
    r = client.tags(repo)
    assert r.status_code == 200, describe(r)
    assert r.json()["name"] == repo and r.json()["tags"] == ["1.0"], r.json()


@pytest.mark.parametrize("n", ["-1", "abc", "1e3", "99999999999999999999999"])
def test_tags_list_bad_n_is_400_with_spec_error_or_ignored(client, tagged, n):
    r = client.get(f"/v2/{tagged}/tags/list?n={n}")
    assert r.status_code in (200, 400), f"?n={n}: expected 400 (or 200 ignoring it); {describe(r)}"
    if r.status_code == 400:
        assert_error(r, 400)


def test_tags_list_without_n_returns_all_or_paginates(client, repo):
    """With many tags and no n, the registry returns them all, or a page plus Link rel=next."""
    cfg = random_config()
    client.push_blob(repo, cfg)
    body = image_manifest(descriptor(MT_OCI_CONFIG, cfg), [])
    wanted = sorted(f"t{i:04d}" for i in range(150))
    for t in wanted:
        client.push_manifest(repo, t, body)
    seen, url = [], f"/v2/{repo}/tags/list"
    for _ in range(200):
        r = client.get(url)
        assert r.status_code == 200, describe(r)
        seen += r.json()["tags"] or []
        url = parse_link_next(r.headers.get("Link"))
        if not url:
            break
    assert seen == wanted, f"expected all 150 tags in order; got {len(seen)}"
