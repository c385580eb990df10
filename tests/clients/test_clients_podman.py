"""podman (as root, private vfs storage) against the registry: pull the images pushed with
skopeo, run one, push to another repository, remove and pull back; build + push + pull."""
import json

import pytest

from clientutil import registry_manifest

pytestmark = pytest.mark.clients


def test_podman_pull_run_push(reg, images, seeded, podman, repo, tmp_path):
    ref = seeded.oci
    podman.pull(ref)
    info = podman.inspect(ref)
    assert "sha256:" + info["Id"] == images.single.config_digest
    assert f"{ref.rsplit(':', 1)[0]}@{images.single.manifest_digest}" in info["RepoDigests"]

    run = podman("run", "--rm", "--network", "none", ref, "/bin/sh", "-c", "echo podman says hi")
    assert run.stdout.strip() == "podman says hi", run.stdout + run.stderr

    dest = f"{reg.host}/{repo}:v1"
    podman("tag", ref, dest)
    digestfile = str(tmp_path / "digest")
    podman.push(dest, "--digestfile", digestfile)
    with open(digestfile) as f:
        digest = f.read().strip()
    body, _, registry_digest = registry_manifest(reg, repo, "v1")
    assert registry_digest == digest
    assert json.loads(body)["config"]["digest"] == images.single.config_digest

    podman("rmi", "--force", dest, ref)
    podman.pull(dest)
    info = podman.inspect(dest)
    assert "sha256:" + info["Id"] == images.single.config_digest
    assert f"{reg.host}/{repo}@{digest}" in info["RepoDigests"], info["RepoDigests"]


@pytest.mark.parametrize("kind", ["multi", "v2s2"])
def test_podman_pulls_skopeo_images(images, seeded, podman, kind):
    ref = getattr(seeded, kind)
    expected_digest, expected_config = {
        "multi": (images.multi.index_digest, images.multi.images["amd64"].config_digest),
        "v2s2": (seeded.v2s2_digest, seeded.v2s2_config),
    }[kind]
    podman.pull(ref)
    info = podman.inspect(ref)
    assert "sha256:" + info["Id"] == expected_config
    # Same config blob as other images -> same podman image; check this reference's digest.
    assert f"{ref.rsplit(':', 1)[0]}@{expected_digest}" in info["RepoDigests"], info["RepoDigests"]
    assert info["Architecture"] == "amd64"
    podman("rmi", "--force", ref)


def test_podman_build_push_pull(reg, seeded, podman, repo, tmp_path):
    podman.pull(seeded.oci)
    ctx = tmp_path / "context"
    ctx.mkdir()
    (ctx / "note.txt").write_text("built by podman\n")
    (ctx / "Containerfile").write_text(
        f"FROM {seeded.oci}\n"
        "COPY note.txt /note.txt\n"
        "RUN echo run-step >> /note.txt\n"
        'CMD ["/bin/cat", "/note.txt"]\n')
    dest = f"{reg.host}/{repo}:built"
    podman("build", "--network", "none", "--pull=never", "--format", "oci", "-t", dest, str(ctx),
           timeout=240)
    digestfile = str(tmp_path / "digest")
    podman.push(dest, "--digestfile", digestfile)
    with open(digestfile) as f:
        digest = f.read().strip()
    assert registry_manifest(reg, repo, "built")[2] == digest

    image_id = podman.inspect(dest)["Id"]
    podman("rmi", "--force", dest)
    podman.pull(dest)
    assert podman.inspect(dest)["Id"] == image_id
    run = podman("run", "--rm", "--network", "none", dest)
    assert run.stdout == "built by podman\nrun-step\n", run.stdout + run.stderr
