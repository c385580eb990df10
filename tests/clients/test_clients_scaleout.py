"""Real clients against two ocireg instances on one S3 bucket (radosgw) and one PostgreSQL
index: what skopeo or docker pushes to one instance, they pull from the other."""
import json

import pytest

from clientutil import sha256_digest
from ocireg_harness import ScaleOutCluster

pytestmark = pytest.mark.clients


@pytest.fixture(scope="module")
def pair(rgw, postgres, tmp_path_factory):
    c = ScaleOutCluster(rgw, postgres, tmp_path_factory.mktemp("clients-scaleout"))
    try:
        c.start_instance()
        c.start_instance()
        yield c.servers
    finally:
        c.stop()


def test_skopeo_pushes_to_one_instance_and_pulls_from_the_other(pair, images, skopeo, tmp_path):
    a, b = pair
    skopeo.copy(f"oci:{images.multi_dir}:{images.multi_tag}", f"docker://{a.host}/so/multi:m",
                "--all", "--preserve-digests")
    raw_a = skopeo.inspect_raw(f"docker://{a.host}/so/multi:m")
    raw_b = skopeo.inspect_raw(f"docker://{b.host}/so/multi:m")
    assert raw_a == raw_b
    out = tmp_path / "pulled"
    skopeo.copy(f"docker://{b.host}/so/multi:m", f"oci:{out}:m", "--all")
    index = json.loads((out / "index.json").read_text())
    pulled = index["manifests"][0]["digest"]
    assert pulled == sha256_digest(raw_b)
    # every blob skopeo fetched from b is byte-exact
    for blob in (out / "blobs" / "sha256").iterdir():
        assert sha256_digest(blob.read_bytes()) == "sha256:" + blob.name


def test_docker_pushes_to_one_instance_and_pulls_runs_from_the_other(pair, images, dockerd):
    a, b = pair  # dockerd treats all of 127.0.0.0/8 as insecure (plain-HTTP) registries
    ref_a, ref_b = f"{a.host}/so/busybox:v1", f"{b.host}/so/busybox:v1"
    dockerd.docker("import", "--change", 'CMD ["/bin/sh"]', "--change", "ENV PATH=/bin",
                   images.rootfs_tar, ref_a)
    dockerd.docker("push", ref_a)
    out = dockerd.docker("pull", ref_b).stdout
    assert "Downloaded newer image" in out, out
    run = dockerd.docker("run", "--rm", "--network", "none", ref_b, "/bin/echo",
                         "served-by-the-other-instance")
    assert run.stdout.strip() == "served-by-the-other-instance"
