"""Container clients through a pull-through cache (issue 20): the session registry, with the
images skopeo seeded, is the upstream of a second ocireg whose rule `up` points at it; docker,
containerd's ctr and skopeo pull through the cache and get the upstream's digests, and docker
runs what it pulled."""
import os

import pytest

from clientutil import run
from ocireg_harness import RegistryServer, ocireg_binary

pytestmark = pytest.mark.clients


@pytest.fixture(scope="module")
def cache(reg, tmp_path_factory):
    data = tmp_path_factory.mktemp("pull-through-cache") / "data"
    run([ocireg_binary(), "cache-rule", "add", "up", reg.url, "--data", data])
    server = RegistryServer(data).start()
    yield server
    server.stop()


def through(cache, ref):
    """"127.0.0.1:P/clients/seed-x/oci:v1" as the cache serves it: "127.0.0.1:Q/up/..."."""
    return f"{cache.host}/up/{ref.split('/', 1)[1]}"


def test_docker_pulls_an_index_through_the_cache_and_runs_it(images, seeded, dockerd, cache):
    ref = through(cache, seeded.multi)
    out = dockerd.docker("pull", ref).stdout
    assert f"Digest: {images.multi.index_digest}" in out, out
    assert dockerd.inspect(ref)["Id"] == images.multi.images["amd64"].config_digest
    run = dockerd.docker("run", "--rm", "--network", "none", ref, timeout=120)
    assert run.stdout.strip() == "hello from amd64", run.stdout + run.stderr
    dockerd.docker("rmi", ref)


def test_ctr_pulls_through_the_cache(images, seeded, containerd, cache):
    ref = through(cache, seeded.oci)
    containerd.ctr("images", "pull", "--plain-http", ref)
    assert containerd.image_digest(ref) == images.single.manifest_digest


def test_skopeo_copies_every_child_of_an_index_through_the_cache(images, seeded, skopeo, cache,
                                                                  tmp_path):
    out = tmp_path / "layout"
    skopeo.copy(f"docker://{through(cache, seeded.multi)}", f"oci:{out}", "--all",
                "--preserve-digests")
    blobs = set(os.listdir(out / "blobs" / "sha256"))
    for image in images.multi.images.values():
        for d in (image.manifest_digest, image.config_digest, *image.layer_digests):
            assert d.split(":")[1] in blobs, f"{d} missing after skopeo copy --all"
