"""Debian's docker engine (docker.io) against the registry: import/push/rmi/pull/run, a
classic-builder build (COPY + RUN) pushed and pulled back, and pulls of the OCI image, the
OCI index and the Docker schema 2 image pushed with skopeo."""
import re

import pytest

from clientutil import DEBIAN_DOCKER, registry_manifest

pytestmark = pytest.mark.clients


def pushed_digest(push_output):
    """The manifest digest `docker push` reports ("TAG: digest: sha256:... size: N")."""
    m = re.search(r"digest: (sha256:[0-9a-f]{64}) size: \d+", push_output)
    assert m, f"no digest in docker push output:\n{push_output}"
    return m.group(1)


def repo_digests(dockerd, ref):
    return dockerd.inspect(ref).get("RepoDigests") or []


def test_docker_client_matches_engine(dockerd):
    """The tests drive dockerd with Debian's own client, not /usr/local/bin/docker."""
    assert dockerd.docker_exe == DEBIAN_DOCKER
    out = dockerd.docker("version", "--format", "{{.Client.Version}} {{.Server.Version}}").stdout.split()
    assert len(out) == 2 and out[0] == out[1], f"client/engine versions differ: {out}"


def test_docker_import_push_pull_run(reg, images, dockerd, repo):
    ref = f"{reg.host}/{repo}:v1"
    image_id = dockerd.docker("import", "--change", 'CMD ["/bin/sh"]', "--change", "ENV PATH=/bin",
                              images.rootfs_tar, ref).stdout.strip()
    digest = pushed_digest(dockerd.docker("push", ref).stdout)
    body, ctype, registry_digest = registry_manifest(reg, repo, "v1")
    assert registry_digest == digest
    assert ctype == "application/vnd.docker.distribution.manifest.v2+json"

    dockerd.docker("rmi", ref)
    assert dockerd.docker("image", "inspect", ref, check=False).returncode != 0
    out = dockerd.docker("pull", ref).stdout
    assert f"Digest: {digest}" in out, out
    assert dockerd.inspect(ref)["Id"] == image_id
    assert f"{reg.host}/{repo}@{digest}" in repo_digests(dockerd, ref)

    run = dockerd.docker("run", "--rm", "--network", "none", ref,
                         "/bin/sh", "-c", "echo docker says hi from $(uname -s)", timeout=120)
    assert run.stdout.strip() == "docker says hi from Linux", run.stdout + run.stderr
    dockerd.docker("rmi", ref)


def test_docker_build_push_pull_run(reg, images, dockerd, repo, tmp_path):
    base = f"{reg.host}/{repo}/base:v1"
    built = f"{reg.host}/{repo}/built:v1"
    dockerd.docker("import", "--change", 'CMD ["/bin/sh"]', "--change", "ENV PATH=/bin",
                   images.rootfs_tar, base)
    dockerd.docker("push", base)

    ctx = tmp_path / "context"
    ctx.mkdir()
    (ctx / "payload.txt").write_text("payload for ocireg\n")
    (ctx / "Dockerfile").write_text(
        f"FROM {base}\n"
        "COPY payload.txt /data/payload.txt\n"
        "RUN echo built-by-run > /data/run.txt && sha256sum /data/payload.txt > /data/sum.txt\n"
        'CMD ["/bin/cat", "/data/payload.txt", "/data/run.txt"]\n')
    dockerd.docker("build", "--network", "none", "-t", built, str(ctx), timeout=240)
    built_id = dockerd.inspect(built)["Id"]
    assert len(dockerd.inspect(built)["RootFS"]["Layers"]) == 3

    digest = pushed_digest(dockerd.docker("push", built).stdout)
    assert registry_manifest(reg, f"{repo}/built", "v1")[2] == digest

    dockerd.docker("rmi", built, base)
    out = dockerd.docker("pull", built).stdout
    assert f"Digest: {digest}" in out, out
    assert dockerd.inspect(built)["Id"] == built_id

    run = dockerd.docker("run", "--rm", "--network", "none", built, timeout=120)
    assert run.stdout == "payload for ocireg\nbuilt-by-run\n", run.stdout + run.stderr
    run = dockerd.docker("run", "--rm", "--network", "none", built, "/bin/cat", "/data/sum.txt")
    assert "/data/payload.txt" in run.stdout
    dockerd.docker("rmi", built)


@pytest.mark.parametrize("kind", ["oci", "multi", "v2s2"])
def test_docker_pulls_skopeo_images(reg, images, seeded, dockerd, kind):
    ref = getattr(seeded, kind)
    expected_digest, expected_config, greeting = {
        "oci": (images.single.manifest_digest, images.single.config_digest, "hello from ocireg"),
        "multi": (images.multi.index_digest, images.multi.images["amd64"].config_digest,
                  "hello from amd64"),
        "v2s2": (seeded.v2s2_digest, seeded.v2s2_config, "hello from ocireg"),
    }[kind]
    out = dockerd.docker("pull", ref).stdout
    assert f"Digest: {expected_digest}" in out, out
    info = dockerd.inspect(ref)
    assert info["Id"] == expected_config
    assert info["Architecture"] == "amd64"
    repo_name = ref.rsplit(":", 1)[0]
    assert f"{repo_name}@{expected_digest}" in info["RepoDigests"]
    run = dockerd.docker("run", "--rm", "--network", "none", ref, timeout=120)
    assert run.stdout.strip() == greeting, run.stdout + run.stderr
    dockerd.docker("rmi", ref)
