"""Helpers for the real-client tests: running commands, daemons, digests, registry reads.

Every subprocess has a timeout; failures raise AssertionError with the command, its exit
status, the tail of its stderr/stdout and the tail of the registry's server log.
"""
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import time

import pytest
import requests

# Debian package that provides each tool the client tests use.
PACKAGES = {
    "skopeo": "skopeo",
    "containerd": "containerd",
    "ctr": "containerd",
    "containerd-shim-runc-v2": "containerd",
    "runc": "runc",
    "dockerd": "docker.io",
    "docker": "docker.io",
    "podman": "podman",
    "conmon": "conmon",
    "busybox": "busybox-static",
    "docker-registry": "docker-registry",
}

# The Debian docker engine and the client that ships with it; /usr/local/bin/docker
# (if present) may be a different, newer client, so always use these absolute paths.
DEBIAN_DOCKER = "/usr/bin/docker"
DEBIAN_DOCKERD = "/usr/sbin/dockerd"
BUSYBOX_STATIC = "/bin/busybox"

_server_log_source = None


def set_server_log_source(fn):
    """fn() -> str: tail of the registry's log, appended to every failure message."""
    global _server_log_source
    _server_log_source = fn


def server_log_tail(limit=3000):
    if _server_log_source is None:
        return ""
    try:
        text = _server_log_source() or ""
    except Exception as exc:  # never mask the real failure
        return f"(could not read server log: {exc})"
    return text[-limit:]


def tool(name, path=None):
    """Absolute path of a required tool; fails (not skips) naming the Debian package."""
    found = path if path and os.access(path, os.X_OK) else (None if path else shutil.which(name))
    if not found:
        pkg = PACKAGES.get(name, name)
        pytest.fail(f"required tool {path or name!r} not found: install the Debian package "
                    f"{pkg!r} (apt-get install -y {pkg})", pytrace=False)
    return found


def _tail(data, limit=4000):
    if data is None:
        return ""
    if isinstance(data, bytes):
        data = data.decode(errors="replace")
    data = data.strip()
    return data if len(data) <= limit else "..." + data[-limit:]


def failure_message(what, cmd, rc=None, stdout=None, stderr=None, extra=""):
    parts = [f"{what}: {shlex.join(str(c) for c in cmd)}"]
    if rc is not None:
        parts.append(f"exit status: {rc}")
    if stderr:
        parts.append("stderr:\n" + _tail(stderr))
    if stdout:
        parts.append("stdout:\n" + _tail(stdout, 2000))
    if extra:
        parts.append(extra)
    log = server_log_tail()
    if log:
        parts.append("registry server log (tail):\n" + log)
    return "\n".join(parts)


def run(cmd, timeout=120, env=None, check=True, input=None, cwd=None):
    """Run cmd (list); return CompletedProcess with text stdout/stderr."""
    cmd = [str(c) for c in cmd]
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env,
                              input=input, cwd=cwd, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(failure_message(f"command timed out after {timeout}s", cmd,
                                             stdout=exc.stdout, stderr=exc.stderr)) from None
    except FileNotFoundError:
        pkg = PACKAGES.get(os.path.basename(cmd[0]), os.path.basename(cmd[0]))
        pytest.fail(f"{cmd[0]} not found: install the Debian package {pkg!r}", pytrace=False)
    proc.elapsed = time.monotonic() - start
    if check and proc.returncode != 0:
        raise AssertionError(failure_message("command failed", cmd, proc.returncode,
                                             proc.stdout, proc.stderr))
    return proc


def run_fails(cmd, timeout=120, env=None):
    """Run a command that is expected to fail; return the CompletedProcess."""
    proc = run(cmd, timeout=timeout, env=env, check=False)
    if proc.returncode == 0:
        raise AssertionError(failure_message("command unexpectedly succeeded", cmd, 0,
                                             proc.stdout, proc.stderr))
    return proc


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- reading what a client wrote ---------------------------------------------------------

def layout_blob(layout, digest):
    algo, hexd = digest.split(":", 1)
    with open(os.path.join(layout, "blobs", algo, hexd), "rb") as f:
        data = f.read()
    assert sha256_digest(data) == digest, f"blob {digest} in {layout} does not match its digest"
    return data


def layout_ref(layout, tag=None):
    """Descriptor of `tag` (or the only entry) in an OCI layout's index.json."""
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    entries = index.get("manifests", [])
    if tag is not None:
        entries = [d for d in entries
                   if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
    assert len(entries) == 1, f"expected one entry for tag {tag!r} in {layout}/index.json: {index}"
    return entries[0]


def image_digests(manifest_bytes):
    """(config digest, [layer digests]) of an image manifest."""
    m = json.loads(manifest_bytes)
    return m["config"]["digest"], [layer["digest"] for layer in m["layers"]]


# --- reading the registry directly (only to cross-check what clients did) ------------------

MANIFEST_ACCEPT = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])


def registry_manifest(reg, repo, ref):
    """(body bytes, Content-Type, sha256 digest of body) of a manifest in the registry."""
    url = f"{reg.url}/v2/{repo}/manifests/{ref}"
    try:
        r = requests.get(url, headers={"Accept": MANIFEST_ACCEPT}, timeout=30)
    except requests.RequestException as exc:
        raise AssertionError(f"GET {url} failed: {exc}\n{server_log_tail()}") from None
    assert r.status_code == 200, (f"GET {url} -> {r.status_code} {r.text[:500]}\n"
                                  f"registry server log (tail):\n{server_log_tail()}")
    return r.content, r.headers.get("Content-Type", "").split(";")[0].strip(), sha256_digest(r.content)


def registry_manifest_status(reg, repo, ref):
    r = requests.get(f"{reg.url}/v2/{repo}/manifests/{ref}",
                     headers={"Accept": MANIFEST_ACCEPT}, timeout=30)
    return r.status_code


# --- daemons -------------------------------------------------------------------------------

def _stat(pid):
    """(state, ppid, starttime) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1]), int(fields[19])


def _children_of(pid):
    """{pid: starttime} of all live descendants of pid (reading /proc)."""
    parents, starts = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = _stat(entry)
        if st is None:
            continue
        parents.setdefault(st[1], []).append(int(entry))
        starts[int(entry)] = st[2]
    out, todo = {}, [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out[child] = starts[child]
            todo.append(child)
    return out


def _same_process_alive(pid, starttime):
    st = _stat(pid)
    return st is not None and st[0] != "Z" and st[2] == starttime


class Daemon:
    """A background process started by a test; stopped by its PID (and the PIDs of the
    helpers it spawned, e.g. dockerd's own containerd), never by name."""

    def __init__(self, name, cmd, log_path, env=None, cwd=None):
        self.name = name
        self.cmd = [str(c) for c in cmd]
        self.log_path = str(log_path)
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=full_env, cwd=cwd,
                                         start_new_session=True)
        except FileNotFoundError:
            pkg = PACKAGES.get(os.path.basename(self.cmd[0]), os.path.basename(self.cmd[0]))
            pytest.fail(f"{self.cmd[0]} not found: install the Debian package {pkg!r}", pytrace=False)
        finally:
            log.close()
        self.pid = self.proc.pid
        self.helpers = {}

    def log(self, limit=4000):
        try:
            with open(self.log_path, "rb") as f:
                return _tail(f.read(), limit)
        except OSError:
            return ""

    def wait_ready(self, probe, timeout=60, what="ready"):
        """Poll probe() until it returns truthy; fail with the daemon's log otherwise."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with status {self.proc.returncode} before "
                                     f"it was {what}: {shlex.join(self.cmd)}\nlog:\n{self.log()}")
            try:
                if probe():
                    self.helpers = _children_of(self.pid)
                    return
            except Exception as exc:  # probe errors just mean "not yet"
                last = exc
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"{self.name} was not {what} within {timeout}s (last probe error: {last}): "
                             f"{shlex.join(self.cmd)}\nlog:\n{self.log()}")

    def stop(self, timeout=30):
        helpers = dict(self.helpers)
        if self.proc.poll() is None:
            helpers.update(_children_of(self.pid))
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        # Helpers the daemon spawned and should have stopped itself (e.g. dockerd's containerd).
        deadline = time.monotonic() + 10
        for pid, start in helpers.items():
            while _same_process_alive(pid, start) and time.monotonic() < deadline:
                time.sleep(0.1)
        for pid, start in helpers.items():
            if _same_process_alive(pid, start):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
