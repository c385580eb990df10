"""containerd's ctr against the registry: pull images pushed with skopeo (--plain-http), run
one, push them to other repositories, and check every digest."""
import json

import pytest
import requests

from clientutil import registry_manifest, server_log_tail

pytestmark = pytest.mark.clients


def blob_present(reg, repo, digest):
    r = requests.head(f"{reg.url}/v2/{repo}/blobs/{digest}", timeout=30)
    assert r.status_code == 200, (f"HEAD /v2/{repo}/blobs/{digest} -> {r.status_code}\n"
                                  f"registry server log (tail):\n{server_log_tail()}")


def test_ctr_pull_run_push_oci_image(reg, images, seeded, containerd, repo):
    ref = seeded.oci
    containerd.ctr("images", "pull", "--plain-http", ref)
    assert containerd.image_digest(ref) == images.single.manifest_digest

    out = containerd.ctr("run", "--rm", ref, f"ctr-run-{repo.rsplit('-', 1)[1]}",
                         "/bin/sh", "-c", "echo ctr says hi; cat /etc/passwd", timeout=120).stdout
    assert "ctr says hi" in out and "root:x:0:0" in out

    dest = f"{reg.host}/{repo}:pushed"
    containerd.ctr("images", "tag", ref, dest)
    containerd.ctr("images", "push", "--plain-http", dest)
    body, ctype, digest = registry_manifest(reg, repo, "pushed")
    assert digest == images.single.manifest_digest and body == images.single.manifest
    blob_present(reg, repo, images.single.config_digest)
    for layer in images.single.layer_digests:
        blob_present(reg, repo, layer)

    # Pull the pushed copy back by digest after removing it.
    containerd.ctr("images", "rm", "--sync", dest)
    by_digest = f"{reg.host}/{repo}@{images.single.manifest_digest}"
    containerd.ctr("images", "pull", "--plain-http", by_digest)
    assert containerd.image_digest(by_digest) == images.single.manifest_digest


def test_ctr_pull_push_multiarch_index(reg, images, seeded, containerd, repo):
    ref = seeded.multi
    containerd.ctr("images", "pull", "--plain-http", "--all-platforms", ref)
    assert containerd.image_digest(ref) == images.multi.index_digest

    dest = f"{reg.host}/{repo}:multi"
    containerd.ctr("images", "tag", ref, dest)
    containerd.ctr("images", "push", "--plain-http", dest)
    body, _, digest = registry_manifest(reg, repo, "multi")
    assert digest == images.multi.index_digest and body == images.multi.index
    for image in images.multi.images.values():
        child, _, child_digest = registry_manifest(reg, repo, image.manifest_digest)
        assert child == image.manifest
        blob_present(reg, repo, image.config_digest)
        for layer in image.layer_digests:
            blob_present(reg, repo, layer)


def test_ctr_pull_push_docker_schema2(reg, seeded, containerd, repo):
    ref = seeded.v2s2
    containerd.ctr("images", "pull", "--plain-http", ref)
    assert containerd.image_digest(ref) == seeded.v2s2_digest

    dest = f"{reg.host}/{repo}:v2s2"
    containerd.ctr("images", "tag", ref, dest)
    containerd.ctr("images", "push", "--plain-http", dest)
    body, ctype, digest = registry_manifest(reg, repo, "v2s2")
    assert digest == seeded.v2s2_digest
    assert ctype == "application/vnd.docker.distribution.manifest.v2+json"
    manifest = json.loads(body)
    blob_present(reg, repo, manifest["config"]["digest"])
    for layer in manifest["layers"]:
        blob_present(reg, repo, layer["digest"])
