"""The container image of scripts/container-image.sh: built offline from the build output,
loaded by the real dockerd, run with a volume as a non-root user with its settings from
OCIREG_* variables; docker pushes to and pulls from the ocireg inside it, its HEALTHCHECK
turns healthy, `docker stop` (SIGTERM) ends it cleanly within the timeout, and a new container
on the same volume serves every image. The OCI layout is also pushed into a running ocireg
with skopeo and pulled back unchanged."""
import gzip
import io
import json
import os
import re
import secrets
import subprocess
import tarfile
import time
import types

import pytest
import requests

from clientutil import (image_digests, layout_blob, layout_ref, registry_manifest, run,
                        sha256_digest)
from ocireg_harness import ROOT, free_port, ocireg_binary

pytestmark = pytest.mark.clients

IMAGE_UID = 10001
STOP_TIMEOUT = 30  # `docker stop -t`: SIGKILL after this long
CLEAN_STOP_WITHIN = 10  # seconds a SIGTERM'ed idle ocireg may take


EPOCH = "1700000000"


def build_image(out, tag):
    run([os.path.join(ROOT, "scripts", "container-image.sh"),
         "--build", os.path.dirname(ocireg_binary()), "--out", out, "--tag", tag],
        env={"SOURCE_DATE_EPOCH": EPOCH}, timeout=180)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    out = tmp_path_factory.mktemp("container-image")
    tag = "test-" + secrets.token_hex(3)
    build_image(out, tag)
    layout = str(out / "oci")
    return types.SimpleNamespace(layout=layout, tar=str(out / "ocireg-image.tar"), tag=tag,
                                 ref=f"ocireg:{tag}", digest=layout_ref(layout, tag)["digest"])


@pytest.fixture(scope="module")
def loaded(dockerd, image):
    out = dockerd.docker("load", "-i", image.tar, timeout=180).stdout
    assert f"Loaded image: {image.ref}" in out, out
    yield image.ref
    dockerd.docker("rmi", "-f", image.ref, check=False)


def wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last is True:
            return
        time.sleep(0.25)
    raise AssertionError(f"{what} not within {timeout}s (last: {last})")


def container_state(dockerd, name):
    return json.loads(dockerd.docker("inspect", "--format", "{{json .State}}", name).stdout)


def wait_healthy(dockerd, name, url):
    """The container's own HEALTHCHECK (`ocireg health`) says healthy, and /readyz agrees."""
    def healthy():
        state = container_state(dockerd, name)
        if not state.get("Running"):
            return f"not running: {state}\n{dockerd.docker('logs', name, check=False).stderr}"
        return state.get("Health", {}).get("Status") == "healthy" or state.get("Health")
    wait_for(f"{name} healthy", healthy, 60)
    assert requests.get(url + "/readyz", timeout=5).status_code == 200


def run_registry(dockerd, ref, name, volume, port):
    """The image as a registry on 127.0.0.1:port: the host's network (the test dockerd has
    no bridge), the listen address from OCIREG_LISTEN, a health check every second."""
    dockerd.docker("run", "-d", "--name", name, "--network", "host",
                   "-e", f"OCIREG_LISTEN=127.0.0.1:{port}", "-v", f"{volume}:/data",
                   "--health-interval", "1s", ref)
    wait_healthy(dockerd, name, f"http://127.0.0.1:{port}")


def process_uid(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise AssertionError(f"no Uid line in /proc/{pid}/status")


def push_small(dockerd, images, ref):
    dockerd.docker("import", "--change", 'CMD ["/bin/sh"]', "--change", "ENV PATH=/bin",
                   images.rootfs_tar, ref)
    out = dockerd.docker("push", ref).stdout
    digest = next(w for w in out.split() if w.startswith("sha256:"))
    dockerd.docker("rmi", ref)
    return digest


def image_layer(image):
    manifest = json.loads(layout_blob(image.layout, image.digest))
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    data = gzip.decompress(layout_blob(image.layout, layer["digest"]))
    config = json.loads(layout_blob(image.layout, manifest["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == [sha256_digest(data)]
    return tarfile.open(fileobj=io.BytesIO(data))


def test_image_holds_binary_libraries_loader_certificates_and_a_user(image):
    """The on-demand libraries are there too (libcurl for S3 and `ocireg health`, libpq), and
    only /data belongs to the unprivileged user."""
    layer = image_layer(image)
    members = {m.name: m for m in layer.getmembers()}
    for path in ("usr/bin/ocireg", "etc/ssl/certs/ca-certificates.crt", "etc/passwd",
                 "etc/group", "data"):
        assert path in members, f"{path} not in the image"
    names = {os.path.basename(n) for n in members}
    for soname in ("libcurl.so.4", "libpq.so.5", "libc.so.6", "libmicrohttpd.so.12"):
        assert soname in names, f"{soname} not in the image"
    interpreter = subprocess.run(["readelf", "-l", ocireg_binary()], capture_output=True,
                                 text=True, timeout=30).stdout
    loader = re.search(r"interpreter: /([^\]]+)\]", interpreter).group(1)
    resolved = loader.replace("lib64/", "usr/lib64/", 1) if loader.startswith("lib64/") else loader
    assert loader in members or resolved in members, f"loader {loader} not in the image"
    passwd = layer.extractfile("etc/passwd").read().decode()
    assert f"ocireg:x:{IMAGE_UID}:{IMAGE_UID}:" in passwd
    owned = sorted(n for n, m in members.items() if m.uid != 0 or m.gid != 0)
    assert owned == ["data"] and members["data"].uid == IMAGE_UID, owned


def test_image_build_is_reproducible(image, tmp_path):
    build_image(tmp_path, image.tag)
    assert layout_ref(str(tmp_path / "oci"), image.tag)["digest"] == image.digest


def test_image_config_is_unprivileged_with_volume_healthcheck_and_env_settings(dockerd, loaded):
    config = dockerd.inspect(loaded)["Config"]
    assert config["User"] == f"{IMAGE_UID}:{IMAGE_UID}"
    assert config["Entrypoint"] == ["/usr/bin/ocireg"] and config["Cmd"] == ["serve"]
    assert {"OCIREG_DATA=/data", "OCIREG_LISTEN=0.0.0.0:5000"} <= set(config["Env"])
    assert config["Volumes"] == {"/data": {}}
    assert config["ExposedPorts"] == {"5000/tcp": {}}
    assert config["StopSignal"] == "SIGTERM"
    assert config["Healthcheck"]["Test"] == ["CMD", "/usr/bin/ocireg", "health"]


def test_public_listen_needs_a_user_which_the_image_itself_adds(dockerd, loaded):
    """The image's 0.0.0.0:5000 is not loopback: with no user (and no OCIREG_INSECURE_NO_AUTH)
    the registry does not start open to the network; `docker run IMAGE user add` on its volume
    makes one, and then it serves, with auth, and its HEALTHCHECK finds it on loopback."""
    suffix = secrets.token_hex(3)
    volume, name = f"ocireg-auth-{suffix}", f"ocireg-auth-{suffix}"
    dockerd.docker("volume", "create", volume)
    try:
        refused = dockerd.docker("run", "--rm", "--network", "none", "-v", f"{volume}:/data",
                                 loaded, check=False, timeout=60)
        assert refused.returncode != 0
        assert "--insecure-no-auth" in refused.stderr, refused.stderr
        run([dockerd.docker_exe, "run", "--rm", "-i", "--network", "none", "-v",
             f"{volume}:/data", loaded, "user", "add", "alice", "--password-stdin"],
            env=dockerd.env, input="a long enough password\n", timeout=60)
        listed = dockerd.docker("run", "--rm", "--network", "none", "-v", f"{volume}:/data",
                                loaded, "user", "list")
        assert "alice" in listed.stdout, listed.stdout
        dockerd.docker("run", "-d", "--name", name, "--network", "none", "-v", f"{volume}:/data",
                       "--health-interval", "1s", loaded)
        def healthy():
            state = container_state(dockerd, name)
            return state.get("Health", {}).get("Status") == "healthy" or state
        wait_for(f"{name} healthy", healthy, 60)
        assert "(auth on)" in dockerd.docker("logs", name).stderr
    finally:
        dockerd.docker("rm", "-f", name, check=False)
        dockerd.docker("volume", "rm", "-f", volume, check=False)


def test_container_serves_stops_on_sigterm_and_a_new_one_serves_its_volume(dockerd, loaded, images):
    suffix = secrets.token_hex(3)
    volume, first, second = f"ocireg-data-{suffix}", f"ocireg-a-{suffix}", f"ocireg-b-{suffix}"
    port = free_port()
    host = f"127.0.0.1:{port}"
    refs = [f"{host}/small/one:v1", f"{host}/small/two:v2"]
    dockerd.docker("volume", "create", volume)
    try:
        run_registry(dockerd, loaded, first, volume, port)
        assert process_uid(container_state(dockerd, first)["Pid"]) == IMAGE_UID
        digests = [push_small(dockerd, images, ref) for ref in refs]

        start = time.monotonic()
        dockerd.docker("stop", "-t", str(STOP_TIMEOUT), first, timeout=STOP_TIMEOUT + 60)
        took = time.monotonic() - start
        state = container_state(dockerd, first)
        assert state["ExitCode"] == 0, f"not a clean exit on SIGTERM: {state}"
        assert took < CLEAN_STOP_WITHIN, f"docker stop took {took:.1f}s"
        assert "stopped" in dockerd.docker("logs", first).stderr

        run_registry(dockerd, loaded, second, volume, port)
        for ref, digest in zip(refs, digests):
            out = dockerd.docker("pull", ref).stdout
            assert f"Digest: {digest}" in out, out
        hello = dockerd.docker("run", "--rm", "--network", "none", refs[1],
                               "/bin/sh", "-c", "echo served again")
        assert hello.stdout.strip() == "served again"
    finally:
        dockerd.docker("rm", "-f", first, second, check=False)
        for ref in refs:
            dockerd.docker("rmi", "-f", ref, check=False)
        dockerd.docker("volume", "rm", "-f", volume, check=False)


def test_oci_layout_pushed_into_ocireg_and_pulled_back_unchanged(reg, skopeo, image, tmp_path):
    dest = f"{reg.host}/clients/ocireg-image:{image.tag}"
    skopeo.copy(f"oci:{image.layout}:{image.tag}", f"docker://{dest}", "--preserve-digests")
    body, ctype, digest = registry_manifest(reg, "clients/ocireg-image", image.tag)
    assert digest == image.digest
    assert ctype == "application/vnd.oci.image.manifest.v1+json"

    back = str(tmp_path / "back")
    skopeo.copy(f"docker://{dest}", f"oci:{back}:{image.tag}", "--preserve-digests")
    assert layout_ref(back, image.tag)["digest"] == image.digest
    config, layers = image_digests(body)
    for d in [config, *layers]:
        assert layout_blob(back, d) == layout_blob(image.layout, d)
