"""Fixtures for the real-client tests (skopeo, containerd/ctr, docker, podman).

`reg` is the registry under test: the session-wide ocireg from the root conftest (or
OCIREG_URL), or, with OCIREG_CLIENTS_STANDIN=docker-registry, Debian's CNCF distribution
started here as a stand-in (for developing these tests without ocireg).

Daemons (containerd, dockerd, the stand-in registry) are started by the fixtures below with
all state under private temporary directories, listen only on unix sockets or 127.0.0.1, and
are stopped by PID in the fixtures' finalizers.
"""
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import types

import pytest
import requests

import clientutil
import ocibuild
from clientutil import DEBIAN_DOCKER, DEBIAN_DOCKERD, Daemon, run, tool

NAMESPACE = "ocireg-tests"  # containerd namespace used by ctr


def short_tmpdir(prefix):
    """A short path under /tmp (unix socket paths must stay under 108 bytes)."""
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")


def remove_tree(path):
    """Remove a daemon's state dir after the daemon is gone; unmount what it left mounted."""
    try:
        with open("/proc/self/mounts") as f:
            mounts = [line.split()[1] for line in f]
    except OSError:
        mounts = []
    for mnt in sorted((m for m in mounts if m == path or m.startswith(path + "/")), reverse=True):
        subprocess.run(["umount", "-l", mnt], capture_output=True, timeout=30)
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def daemon_log_on_failure(daemon):
    """Append the tail of a daemon's log to a failing client command's message."""
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{daemon.name} log (tail):\n{daemon.log(2500)}") from None


# --- the registry under test -------------------------------------------------------------

class StandInRegistry:
    """Debian's docker-registry (CNCF distribution 2.8) on 127.0.0.1, for development."""

    def __init__(self, workdir):
        exe = tool("docker-registry")
        self.data = os.path.join(workdir, "data")
        self.port = _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        config = os.path.join(workdir, "config.yml")
        with open(config, "w") as f:
            f.write("version: 0.1\nlog:\n  level: info\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {self.data}\n"
                    "  delete:\n    enabled: true\n"
                    f"http:\n  addr: {self.host}\n")
        self.log_path = os.path.join(workdir, "server.log")
        self.daemon = Daemon("docker-registry", [exe, "serve", config], self.log_path)
        self.daemon.wait_ready(lambda: requests.get(self.url + "/v2/", timeout=1).status_code == 200,
                               timeout=30, what="listening")

    def log(self):
        return self.daemon.log(6000)

    def stop(self):
        self.daemon.stop()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def reg(request, tmp_path_factory):
    standin = os.environ.get("OCIREG_CLIENTS_STANDIN")
    if standin:
        assert standin == "docker-registry", "OCIREG_CLIENTS_STANDIN must be 'docker-registry'"
        server = StandInRegistry(str(tmp_path_factory.mktemp("standin-registry")))
        clientutil.set_server_log_source(server.log)
        yield server
        clientutil.set_server_log_source(None)
        server.stop()
        return
    server = request.getfixturevalue("registry")
    if getattr(server, "log", None):
        clientutil.set_server_log_source(server.log)
    yield server
    clientutil.set_server_log_source(None)


@pytest.fixture
def repo(request):
    """A fresh repository name for this test: clients/<test-name>-<random>."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]
    return f"clients/{name}-{secrets.token_hex(3)}"


# --- images built without network --------------------------------------------------------

@pytest.fixture(scope="session")
def images(tmp_path_factory):
    """OCI layouts written by hand: `single` (tag v1, amd64) and `multi` (tag multi: an
    index of amd64 + arm64), plus the busybox rootfs as a plain tar for `docker import`."""
    base = tmp_path_factory.mktemp("images")
    single_dir, multi_dir = str(base / "single"), str(base / "multi")
    single = ocibuild.build_single(single_dir, "v1")
    multi = ocibuild.build_multiarch(multi_dir, "multi")
    rootfs_tar = str(base / "rootfs.tar")
    with open(rootfs_tar, "wb") as f:
        f.write(ocibuild.busybox_rootfs_tar())
    return types.SimpleNamespace(single_dir=single_dir, single=single, single_tag="v1",
                                 multi_dir=multi_dir, multi=multi, multi_tag="multi",
                                 rootfs_tar=rootfs_tar)


# --- skopeo ------------------------------------------------------------------------------

class Skopeo:
    """skopeo with a private accept-anything signature policy and registries.conf."""

    def __init__(self, workdir):
        self.exe = tool("skopeo")
        self.policy = os.path.join(workdir, "policy.json")
        with open(self.policy, "w") as f:
            json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
        self.env = _containers_env(workdir)

    def __call__(self, *args, timeout=120, check=True):
        return run([self.exe, *args], timeout=timeout, env=self.env, check=check)

    def copy(self, src, dst, *opts, timeout=120):
        """skopeo copy with TLS verification off on both ends (plain-HTTP registry)."""
        return self("copy", "--policy", self.policy, "--src-tls-verify=false",
                    "--dest-tls-verify=false", *opts, src, dst, timeout=timeout)

    def inspect_raw(self, ref, config=False):
        args = ["inspect", "--tls-verify=false", "--raw"] + (["--config"] if config else [])
        # stdout is text; the registry's bytes are compared byte-for-byte, so re-encode.
        return self(*args, ref).stdout.encode()

    def inspect(self, ref):
        return json.loads(self("inspect", "--tls-verify=false", ref).stdout)

    def list_tags(self, ref):
        return json.loads(self("list-tags", "--tls-verify=false", ref).stdout)

    def delete(self, ref):
        return self("delete", "--tls-verify=false", ref)


def _containers_env(workdir):
    """Environment for containers/image tools: private registries.conf, no short names."""
    conf = os.path.join(workdir, "registries.conf")
    if not os.path.exists(conf):
        with open(conf, "w") as f:
            f.write('unqualified-search-registries = []\nshort-name-mode = "disabled"\n')
    return {"CONTAINERS_REGISTRIES_CONF": conf}


@pytest.fixture(scope="session")
def skopeo(tmp_path_factory):
    return Skopeo(str(tmp_path_factory.mktemp("skopeo")))


@pytest.fixture(scope="session")
def seeded(reg, images, skopeo):
    """The hand-built images pushed once with skopeo, for the other clients to pull:
    oci (OCI manifest), multi (OCI index amd64+arm64), v2s2 (Docker schema 2)."""
    base = f"clients/seed-{secrets.token_hex(3)}"
    refs = types.SimpleNamespace(
        oci=f"{reg.host}/{base}/oci:v1",
        multi=f"{reg.host}/{base}/multi:multi",
        v2s2=f"{reg.host}/{base}/v2s2:v1")
    skopeo.copy(f"oci:{images.single_dir}:{images.single_tag}", f"docker://{refs.oci}",
                "--preserve-digests")
    skopeo.copy(f"oci:{images.multi_dir}:{images.multi_tag}", f"docker://{refs.multi}",
                "--all", "--preserve-digests")
    skopeo.copy(f"oci:{images.single_dir}:{images.single_tag}", f"docker://{refs.v2s2}",
                "--format", "v2s2")
    v2s2_manifest = skopeo.inspect_raw(f"docker://{refs.v2s2}")
    refs.v2s2_digest = clientutil.sha256_digest(v2s2_manifest)
    refs.v2s2_config = json.loads(v2s2_manifest)["config"]["digest"]
    return refs


# --- containerd --------------------------------------------------------------------------

class Containerd:
    def __init__(self):
        self.exe = tool("containerd")
        self.ctr_exe = tool("ctr")
        tool("containerd-shim-runc-v2")
        tool("runc")
        self.dir = short_tmpdir("ocireg-ctd-")
        self.sock = os.path.join(self.dir, "containerd.sock")
        config = os.path.join(self.dir, "config.toml")
        # No CRI (needs CNI etc.), no snapshotters/tracing that need extra setup.
        disabled = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp",
                    "io.containerd.internal.v1.tracing"]
        with open(config, "w") as f:
            f.write(f'version = 2\nroot = "{self.dir}/root"\nstate = "{self.dir}/state"\n'
                    f"disabled_plugins = {json.dumps(disabled)}\n"
                    f'[grpc]\n  address = "{self.sock}"\n'
                    f'[ttrpc]\n  address = "{self.sock}.ttrpc"\n'
                    f'[debug]\n  address = ""\n'
                    f'[metrics]\n  address = ""\n'
                    f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{self.dir}/opt"\n')
        self.daemon = Daemon("containerd", [self.exe, "--config", config],
                             os.path.join(self.dir, "containerd.log"))
        self.daemon.wait_ready(lambda: run([self.ctr_exe, "-a", self.sock, "version"],
                                           timeout=10, check=False).returncode == 0,
                               timeout=60, what="serving on " + self.sock)

    def ctr(self, *args, timeout=120, check=True):
        with daemon_log_on_failure(self.daemon):
            return run([self.ctr_exe, "-a", self.sock, "-n", NAMESPACE, *args],
                       timeout=timeout, check=check)

    def image_digest(self, ref):
        """Target digest of an image in containerd's image store (`ctr images ls`)."""
        for line in self.ctr("images", "ls").stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == ref:
                return fields[2]
        raise AssertionError(f"{ref} not in `ctr images ls`:\n{self.ctr('images', 'ls').stdout}")

    def stop(self):
        self.daemon.stop()
        remove_tree(self.dir)


@pytest.fixture(scope="session")
def containerd():
    daemon = Containerd()
    yield daemon
    daemon.stop()


# --- docker ------------------------------------------------------------------------------

class Dockerd:
    """Debian's dockerd (package docker.io) with all state in a private directory, driven
    by the matching Debian client /usr/bin/docker (not whatever `docker` is first in PATH)."""

    def __init__(self, reg):
        self.dockerd_exe = tool("dockerd", DEBIAN_DOCKERD)
        self.docker_exe = tool("docker", DEBIAN_DOCKER)
        tool("containerd")
        tool("runc")
        self.dir = short_tmpdir("ocireg-dkd-")
        self.sock = os.path.join(self.dir, "docker.sock")
        config_file = os.path.join(self.dir, "daemon.json")
        with open(config_file, "w") as f:
            f.write("{}\n")  # ignore the machine's /etc/docker/daemon.json
        os.makedirs(os.path.join(self.dir, "client"))
        self.env = {"DOCKER_HOST": "unix://" + self.sock,
                    "DOCKER_CONFIG": os.path.join(self.dir, "client"),
                    "DOCKER_BUILDKIT": "0",  # the classic builder needs no network/buildx
                    "DOCKER_CLI_EXPERIMENTAL": "disabled"}
        cmd = [self.dockerd_exe, "--config-file", config_file,
               "--data-root", os.path.join(self.dir, "data"),
               "--exec-root", os.path.join(self.dir, "exec"),
               "--pidfile", os.path.join(self.dir, "docker.pid"),
               "-H", "unix://" + self.sock,
               "--storage-driver=vfs", "--iptables=false", "--ip6tables=false",
               "--bridge=none", "--ip-masq=false", "--userland-proxy=false",
               "--insecure-registry", reg.host]
        self.daemon = Daemon("dockerd", cmd, os.path.join(self.dir, "dockerd.log"))
        self.daemon.wait_ready(lambda: self.docker("version", timeout=10, check=False).returncode == 0,
                               timeout=90, what="serving on " + self.sock)

    def docker(self, *args, timeout=180, check=True, cwd=None):
        with daemon_log_on_failure(self.daemon):
            return run([self.docker_exe, *args], timeout=timeout, env=self.env, check=check, cwd=cwd)

    def inspect(self, ref):
        return json.loads(self.docker("image", "inspect", ref).stdout)[0]

    def stop(self):
        self.daemon.stop(timeout=60)
        remove_tree(self.dir)


@pytest.fixture(scope="session")
def dockerd(reg):
    daemon = Dockerd(reg)
    yield daemon
    daemon.stop()


# --- podman ------------------------------------------------------------------------------

class Podman:
    """podman as root with private storage (vfs) under a temporary directory.

    The sandbox has no CAP_SYS_RESOURCE, so podman's default rlimits for root containers
    (nofile=1048576, nproc=4194304) cannot be set by runc; containers.conf lowers them."""

    def __init__(self):
        self.exe = tool("podman")
        tool("conmon")
        tool("runc")
        self.dir = short_tmpdir("ocireg-pdm-")
        self.policy = os.path.join(self.dir, "policy.json")
        with open(self.policy, "w") as f:
            json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
        conf = os.path.join(self.dir, "containers.conf")
        with open(conf, "w") as f:
            f.write("[engine]\n"
                    'cgroup_manager = "cgroupfs"\n'
                    'events_logger = "file"\n'
                    f'events_logfile_path = "{self.dir}/events.log"\n'
                    'runtime = "runc"\n'
                    f'tmp_dir = "{self.dir}/tmp"\n'
                    "[containers]\n"
                    'netns = "none"\n'
                    'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n')
        self.env = _containers_env(self.dir)
        self.env["CONTAINERS_CONF"] = conf
        self.base = [self.exe, "--root", os.path.join(self.dir, "root"),
                     "--runroot", os.path.join(self.dir, "runroot"),
                     "--tmpdir", os.path.join(self.dir, "tmp"),
                     "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs",
                     "--events-backend", "file"]

    def __call__(self, *args, timeout=180, check=True, cwd=None):
        return run(self.base + list(args), timeout=timeout, env=self.env, check=check, cwd=cwd)

    def pull(self, ref):
        return self("pull", "--tls-verify=false", "--signature-policy", self.policy, ref)

    def push(self, ref, *opts):
        return self("push", "--tls-verify=false", "--signature-policy", self.policy, *opts, ref)

    def inspect(self, ref):
        return json.loads(self("image", "inspect", ref).stdout)[0]

    def stop(self):
        # podman has no daemon; remove the images so nothing is left mounted, then the dir.
        self("rm", "--all", "--force", check=False, timeout=60)
        self("rmi", "--all", "--force", check=False, timeout=60)
        remove_tree(self.dir)


@pytest.fixture(scope="session")
def podman():
    p = Podman()
    yield p
    p.stop()
