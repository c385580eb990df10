"""Replication (issue 21) with real clients: the source is an ocireg with token auth whose
outbox replicates every push to a second ocireg (token auth) and to Debian's docker-registry
(htpasswd), as tests/test_replication.py sets them up. docker pushes an image, a referrer
names it as its subject, docker moves the tag; skopeo pushes a multi-arch index. Each one is
read back bit-exact from each destination and docker pulls it from each."""
import hashlib
import json
import os
import sys
import time
import types
from urllib.parse import urlparse

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/
from regutil import OCI_INDEX, OCI_MANIFEST
from test_clients_auth import DockerClient, pushed_digest
from test_replication import (DEST_PASSWORD, DIST_DEST, OCIREG_DEST, RULES, Env,
                              push_referrer)

pytestmark = pytest.mark.clients

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST))
COMPLETE = {OCIREG_DEST: ("COMPLETE", None), DIST_DEST: ("COMPLETE", None)}


@pytest.fixture(scope="module")
def repl(tmp_path_factory):
    e = Env(tmp_path_factory.mktemp("clients-replication"), ["--outbox-retry-ms", "200"])
    e.ecr.put_replication_configuration(replicationConfiguration={"rules": RULES})
    try:
        yield e
    finally:
        e.stop()


def host(url):
    return urlparse(url).netloc


def manifest(url, session, repo, ref):
    r = session.get(f"{url}/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT}, timeout=30)
    assert r.status_code == 200, f"{url}/v2/{repo}/manifests/{ref}: {r.status_code} {r.text[:200]}"
    return r.content


def copy_problems(repl, repo, ref, dest_url, dest_session):
    """What differs between the source's repo:ref (and everything it names) and the
    destination's; empty when the destination has it bit-exact."""
    src = repl.push_session(repo)
    body = manifest(repl.source.url, src, repo, ref)
    try:
        got = manifest(dest_url, dest_session, repo, ref)
    except AssertionError as e:
        return [str(e)]
    if got != body:
        return [f"{repo}:{ref} at {dest_url}: manifest bytes differ"]
    doc, problems = json.loads(body), []
    for child in doc.get("manifests", []):
        problems += copy_problems(repl, repo, child["digest"], dest_url, dest_session)
    for blob in ([doc["config"]] if "config" in doc else []) + doc.get("layers", []):
        r = dest_session.get(f"{dest_url}/v2/{repo}/blobs/{blob['digest']}", timeout=30)
        if r.status_code != 200 or \
                "sha256:" + hashlib.sha256(r.content).hexdigest() != blob["digest"]:
            problems.append(f"blob {blob['digest']} at {dest_url}: {r.status_code}, not exact")
    return problems


def wait_everywhere(repl, repo, ref, digest, timeout=30):
    """Bounded wait until each destination has repo:ref as the source has it (digest)."""
    deadline = time.monotonic() + timeout
    while True:
        problems = [p for url, s in repl.destination_sessions(repo)
                    for p in copy_problems(repl, repo, ref, url, s)]
        statuses = repl.statuses(repo, digest)
        if (not problems and statuses == COMPLETE) or time.monotonic() > deadline:
            assert statuses == COMPLETE, f"{repo}@{digest}: statuses {statuses}"
            assert not problems, f"{repo}:{ref} not bit-exact everywhere: {problems}"
            return
        time.sleep(0.1)


def docker_pulls_from_each_destination(repl, docker, repo, tag, digest):
    for url in (repl.dest.url, repl.dist.url):
        docker.login(host(url), "repl", DEST_PASSWORD)
        ref = f"{host(url)}/{repo}:{tag}"
        out = docker("pull", ref).stdout
        assert f"Digest: {digest}" in out, f"docker pull {ref}: {out}"
        docker.rmi(ref)


def test_docker_pushed_image_referrer_and_moved_tag_replicate(repl, images, dockerd, tmp_path):
    docker = DockerClient(dockerd, tmp_path / "docker-config")
    src = host(repl.source.url)
    docker.login(src, "admin", "admin-pass")
    repo, ref = "app/docker", f"{src}/app/docker:v1"
    docker("import", "--change", "ENV GEN=1", images.rootfs_tar, ref)
    first = pushed_digest(docker("push", ref).stdout)
    wait_everywhere(repl, repo, "v1", first)
    docker_pulls_from_each_destination(repl, docker, repo, "v1", first)

    body = manifest(repl.source.url, repl.push_session(repo), repo, first)
    subject = types.SimpleNamespace(repo=repo, media_type=DOCKER_MANIFEST, digest=first,
                                    size=len(body))
    signature = push_referrer(repl, subject)
    wait_everywhere(repl, repo, signature.digest, signature.digest)
    for url, session in repl.destination_sessions(repo):
        r = session.get(f"{url}/v2/{repo}/referrers/{first}", timeout=30)
        if r.status_code == 200:   # docker-registry 2.8 has no referrers API
            listed = [m["digest"] for m in r.json()["manifests"]]
            assert signature.digest in listed, f"{url}: referrers of {first}: {listed}"

    docker("rmi", ref)
    docker("import", "--change", "ENV GEN=2", images.rootfs_tar, ref)
    moved = pushed_digest(docker("push", ref).stdout)
    assert moved != first
    wait_everywhere(repl, repo, "v1", moved)
    docker_pulls_from_each_destination(repl, docker, repo, "v1", moved)
    docker.rmi(ref)


def test_skopeo_pushed_index_replicates_through_the_outbox(repl, images, skopeo):
    repo = "app/skopeo"
    skopeo.copy(f"oci:{images.multi_dir}:{images.multi_tag}",
                f"docker://{host(repl.source.url)}/{repo}:multi", "--all", "--preserve-digests",
                "--dest-creds", "admin:admin-pass")
    wait_everywhere(repl, repo, "multi", images.multi.index_digest)
    for url in (repl.dest.url, repl.dist.url):
        raw = skopeo("inspect", "--tls-verify=false", "--raw", "--creds",
                     f"repl:{DEST_PASSWORD}", f"docker://{host(url)}/{repo}:multi").stdout
        assert raw.encode() == images.multi.index, f"{url}: index bytes differ"
