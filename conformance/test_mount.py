"""Push category, cross-repository mount: end-11 POST ?mount=<digest>&from=<other_name>."""
from .oci import assert_error, describe, digest_of, random_bytes, with_query


def mount(client, target, dig, source=None):
    params = [("mount", dig)] + ([("from", source)] if source is not None else [])
    return client.post(f"/v2/{target}/blobs/uploads/", params=params)


def test_mount_is_201_with_location(client, new_repo):
    a, b = new_repo(), new_repo()
    data = random_bytes(100)
    dig = client.push_blob(a, data)
    r = mount(client, b, dig, a)
    assert r.status_code == 201, f"mount of a blob present in <from> must be 201 Created; {describe(r)}"
    assert r.headers.get("Location"), "201 mount must carry Location: <blob-location>"
    if "Docker-Content-Digest" in r.headers:
        assert r.headers["Docker-Content-Digest"] == dig


def test_mounted_blob_is_pullable_in_target(client, new_repo):
    a, b = new_repo(), new_repo()
    data = random_bytes(100)
    dig = client.push_blob(a, data)
    r = mount(client, b, dig, a)
    assert r.status_code == 201, describe(r)
    g = client.get(f"/v2/{b}/blobs/{dig}")
    assert g.status_code == 200 and g.content == data, f"mounted blob must be pullable from the target; {describe(g)}"
    loc = client.get(r.headers["Location"])
    assert loc.status_code == 200 and loc.content == data, "mount Location must be pullable"


def test_mount_leaves_source_intact(client, new_repo):
    a, b = new_repo(), new_repo()
    data = random_bytes(100)
    dig = client.push_blob(a, data)
    mount(client, b, dig, a)
    assert client.get(f"/v2/{a}/blobs/{dig}").content == data


def test_mounted_blob_visible_in_target_only(client, new_repo):
    a, b, c = new_repo(), new_repo(), new_repo()
    client.push_blob(c, b"make c exist")
    data = random_bytes(100)
    dig = client.push_blob(a, data)
    assert mount(client, b, dig, a).status_code == 201
    r = client.get(f"/v2/{c}/blobs/{dig}")
    assert_error(r, 404, "BLOB_UNKNOWN")


def test_blob_pushed_in_one_repository_is_not_visible_in_another(client, new_repo):
    a, b = new_repo(), new_repo()
    client.push_blob(b, b"make b exist")
    data = random_bytes(100)
    dig = client.push_blob(a, data)
    r = client.get(f"/v2/{b}/blobs/{dig}")
    assert_error(r, 404, "BLOB_UNKNOWN")
    assert client.head(f"/v2/{b}/blobs/{dig}").status_code == 404


def test_mount_of_unknown_blob_falls_back_to_upload_session(client, new_repo):
    a, b = new_repo(), new_repo()
    client.push_blob(a, b"make a exist")
    data = random_bytes(64)
    dig = digest_of(data)
    r = mount(client, b, dig, a)
    assert r.status_code == 202, f"unmountable blob: expected 202 and an upload session; {describe(r)}"
    loc = r.headers.get("Location")
    assert loc, "202 fallback must carry Location of an upload session"
    p = client.put(with_query(client.abs(loc), [("digest", dig)]), data=data)
    assert p.status_code == 201, f"the fallback session must accept the upload; {describe(p)}"
    assert client.get(f"/v2/{b}/blobs/{dig}").content == data


def test_mount_from_unknown_repository_falls_back_to_upload_session(client, new_repo):
    b = new_repo()
    r = mount(client, b, digest_of(random_bytes(8)), new_repo())
    assert r.status_code == 202, f"mount from an unknown repository: expected 202 fallback; {describe(r)}"
    assert r.headers.get("Location")


def test_mount_from_repository_without_the_blob(client, new_repo):
    """The blob exists in the registry (repo a) but not in <from> (repo c): the registry
    MAY treat from as optional (201) or refuse to mount (202 fallback)."""
    a, b, c = new_repo(), new_repo(), new_repo()
    client.push_blob(c, b"make c exist")
    data = random_bytes(64)
    dig = client.push_blob(a, data)
    r = mount(client, b, dig, c)
    assert r.status_code in (201, 202), describe(r)
    if r.status_code == 201:
        assert client.get(f"/v2/{b}/blobs/{dig}").content == data


def test_mount_without_from_is_201_or_202(client, new_repo):
    a, b = new_repo(), new_repo()
    dig = client.push_blob(a, random_bytes(64))
    r = mount(client, b, dig)
    assert r.status_code in (201, 202), f"mount without from: 201 (found) or 202 (session); {describe(r)}"


def test_mount_into_multi_segment_repository(client, new_repo):
    a, b = new_repo("team/app/web"), new_repo("team/app/api")
    data = random_bytes(64)
    dig = client.push_blob(a, data)
    r = mount(client, b, dig, a)
    assert r.status_code == 201, describe(r)
    assert client.get(f"/v2/{b}/blobs/{dig}").content == data


def test_mount_sha512_blob(client, new_repo):
    a, b = new_repo(), new_repo()
    data = random_bytes(64)
    dig = client.push_blob(a, data, algo="sha512")
    r = mount(client, b, dig, a)
    assert r.status_code == 201, describe(r)
    assert client.get(f"/v2/{b}/blobs/{dig}").content == data


def test_mount_already_present_blob_is_201(client, new_repo):
    a, b = new_repo(), new_repo()
    data = random_bytes(64)
    dig = client.push_blob(a, data)
    client.push_blob(b, data)
    r = mount(client, b, dig, a)
    assert r.status_code == 201, describe(r)


def test_manifest_can_use_mounted_blobs(client, new_repo):
    a, b = new_repo(), new_repo()
    img = client.push_image(a, tag="v1")
    for blob in [img.config] + img.layers:
        assert mount(client, b, digest_of(blob), a).status_code == 201
    r = client.put_manifest(b, "v1", img.body)
    assert r.status_code == 201, f"a manifest whose blobs were mounted must be accepted; {describe(r)}"


def test_deleting_blob_in_source_keeps_mounted_copy(client, new_repo):
    a, b = new_repo(), new_repo()
    data = random_bytes(64)
    dig = client.push_blob(a, data)
    assert mount(client, b, dig, a).status_code == 201
    d = client.delete(f"/v2/{a}/blobs/{dig}")
    assert d.status_code in (202, 405, 400), describe(d)
    g = client.get(f"/v2/{b}/blobs/{dig}")
    assert g.status_code == 200 and g.content == data, "deleting a blob from one repository must not affect another"
