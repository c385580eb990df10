"""Authentication with real clients: docker login/push/pull/run/logout, skopeo login and
--src-creds/--dest-creds, ctr --user, podman login/push/pull/logout, and the same over HTTPS
with ocireg's own (self-signed) certificate trusted through each client's certificate dir.

Every test gets a private ocireg (registry_factory) whose data folder has two users:
`pusher` (pull,push on auth/*) and `reader` (pull on auth/*). Each client keeps its
credentials in a private file or directory, never the machine's ~/.docker or auth.json.
"""
import contextlib
import json
import os
import re
import secrets
import subprocess

import pytest

import clientutil
from clientutil import layout_ref, run, sha256_digest

pytestmark = pytest.mark.clients

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PUSHER_PW = "pusher-pw-" + secrets.token_hex(4)
READER_PW = "reader-pw-" + secrets.token_hex(4)
DENIED = re.compile(r"denied|invalid username/password|unauthori[sz]ed|authentication required"
                    r"|forbidden|\b40[13]\b", re.I)


# --- private servers with users ------------------------------------------------------------

def ocireg_cli(*args, stdin=None):
    exe = os.environ.get("OCIREG_BIN", os.path.join(ROOT, "build", "ocireg"))
    proc = subprocess.run([exe, *args], input=stdin, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"ocireg {' '.join(args)} failed ({proc.returncode}): " \
        + proc.stderr


def add_user(data, name, password):
    ocireg_cli("user", "add", name, "--password-stdin", "--data", str(data), stdin=password + "\n")


def grant(data, principal, pattern, actions):
    ocireg_cli("grant", principal, pattern, actions, "--data", str(data))


def self_signed(directory):
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
def auth_server(reg, registry_factory, tmp_path):
    """start(tls=False) -> a private ocireg with the users pusher and reader. Failure
    messages of client commands carry the tail of that server's log (DATA/server.log).
    (`reg` is requested first only so that its log hook is set before ours.)"""
    previous = clientutil._server_log_source
    servers = []

    def start(tls=False):
        data = tmp_path / f"authdata{len(servers)}"
        add_user(data, "pusher", PUSHER_PW)
        add_user(data, "reader", READER_PW)
        grant(data, "pusher", "auth/*", "pull,push")
        grant(data, "reader", "auth/*", "pull")
        if tls:
            certdir = tmp_path / f"tls{len(servers)}"
            certdir.mkdir()
            cert, key = self_signed(str(certdir))
            server = registry_factory(extra_args=["--tls-cert", cert, "--tls-key", key],
                                      data_dir=data, scheme="https", verify=cert)
            server.cert = cert
        else:
            server = registry_factory(data_dir=data)
        servers.append(server)
        clientutil.set_server_log_source(server.log)
        return server

    yield start
    clientutil.set_server_log_source(previous)


def repo_name(tag):
    return f"auth/{tag}-{secrets.token_hex(3)}"


def assert_denied(proc, what):
    out = proc.stderr + proc.stdout
    assert DENIED.search(out), f"{what}: expected an access-denied message, got:\n{out}"


# --- containers/image tools (skopeo, podman) with private credentials ----------------------

def auth_env(base_env, tmp_path, name):
    """base_env plus a private auth file (REGISTRY_AUTH_FILE) and an empty DOCKER_CONFIG, so
    no credentials of the machine are ever used. Returns (env, authfile)."""
    d = tmp_path / f"creds-{name}"
    (d / "docker").mkdir(parents=True, exist_ok=True)
    authfile = str(d / "auth.json")
    return dict(base_env, REGISTRY_AUTH_FILE=authfile, DOCKER_CONFIG=str(d / "docker")), authfile


def stored_auths(authfile):
    try:
        with open(authfile) as f:
            return json.load(f).get("auths", {})
    except FileNotFoundError:
        return {}


def skopeo_run(skopeo, env, *args, check=True, input=None):
    return run([skopeo.exe, *args], env=env, check=check, input=input, timeout=120)


def skopeo_copy(skopeo, env, src, dst, *opts, check=True, tls=("--src-tls-verify=false",
                                                                "--dest-tls-verify=false")):
    return skopeo_run(skopeo, env, "copy", "--policy", skopeo.policy, *tls, *opts, src, dst,
                      check=check)


# --- docker with its own client config dir --------------------------------------------------

class DockerClient:
    """Debian's docker client talking to the test-started dockerd, with DOCKER_CONFIG in a
    directory of this test (config.json holds what `docker login` stored)."""

    def __init__(self, dockerd, config_dir):
        os.makedirs(config_dir, exist_ok=True)
        self.dockerd = dockerd
        self.config_dir = str(config_dir)
        self.env = dict(dockerd.env, DOCKER_CONFIG=self.config_dir)

    def __call__(self, *args, check=True, input=None, timeout=180):
        return run([self.dockerd.docker_exe, *args], env=self.env, check=check, input=input,
                   timeout=timeout)

    def login(self, host, user, password, check=True):
        return self("login", "--username", user, "--password-stdin", host, check=check,
                    input=password + "\n")

    def stored_auths(self):
        try:
            with open(os.path.join(self.config_dir, "config.json")) as f:
                return json.load(f).get("auths", {})
        except FileNotFoundError:
            return {}

    def image_id(self, ref):
        return json.loads(self("image", "inspect", ref).stdout)[0]["Id"]

    def rmi(self, *refs):
        self("rmi", "--force", *refs, check=False, timeout=60)


def pushed_digest(push_output):
    m = re.search(r"digest: (sha256:[0-9a-f]{64}) size: \d+", push_output)
    assert m, f"no digest in docker push output:\n{push_output}"
    return m.group(1)


# --- 1. docker ------------------------------------------------------------------------------

def test_docker_login_push_pull_run_logout(auth_server, images, dockerd, tmp_path):
    server = auth_server()
    host = server.host
    docker = DockerClient(dockerd, tmp_path / "docker-config")
    ref = f"{host}/{repo_name('docker')}:v1"
    reader_ref = f"{host}/{repo_name('docker-reader')}:v1"
    try:
        failed = docker.login(host, "pusher", "wrong-" + PUSHER_PW, check=False)
        assert failed.returncode != 0, f"login with a wrong password succeeded:\n{failed.stdout}"
        assert_denied(failed, "docker login with a wrong password")
        assert host not in docker.stored_auths()

        out = docker.login(host, "pusher", PUSHER_PW).stdout
        assert "Login Succeeded" in out, out
        assert host in docker.stored_auths()

        image_id = docker("import", "--change", 'CMD ["/bin/sh"]', "--change", "ENV PATH=/bin",
                          images.rootfs_tar, ref).stdout.strip()
        digest = pushed_digest(docker("push", ref).stdout)
        docker.rmi(ref)
        assert docker("image", "inspect", ref, check=False).returncode != 0
        out = docker("pull", ref).stdout
        assert f"Digest: {digest}" in out, out
        assert docker.image_id(ref) == image_id
        ran = docker("run", "--rm", "--network", "none", ref, "/bin/sh", "-c",
                     "echo authenticated pull runs")
        assert ran.stdout.strip() == "authenticated pull runs", ran.stdout + ran.stderr

        # The reader pulls, but cannot push: neither a new tag of the repository (its blobs
        # exist, so only the manifest PUT is refused) nor a new repository.
        docker.login(host, "reader", READER_PW)
        docker.rmi(ref)
        assert f"Digest: {digest}" in docker("pull", ref).stdout
        docker("tag", ref, ref.rsplit(":", 1)[0] + ":by-reader")
        docker("tag", ref, reader_ref)
        for target in (ref.rsplit(":", 1)[0] + ":by-reader", reader_ref):
            failed = docker("push", target, check=False)
            assert failed.returncode != 0, f"reader pushed {target}:\n{failed.stdout}"
            assert_denied(failed, f"docker push {target} as reader")

        # After logout the private repository cannot be pulled.
        docker("logout", host)
        assert host not in docker.stored_auths()
        docker.rmi(ref, ref.rsplit(":", 1)[0] + ":by-reader", reader_ref)
        failed = docker("pull", ref, check=False)
        assert failed.returncode != 0, f"anonymous pull succeeded:\n{failed.stdout}"
        assert_denied(failed, "docker pull after logout")
    finally:
        docker.rmi(ref, ref.rsplit(":", 1)[0] + ":by-reader", reader_ref)


# --- 2. skopeo ------------------------------------------------------------------------------

def test_skopeo_login_and_creds(auth_server, images, skopeo, tmp_path):
    server = auth_server()
    host = server.host
    repo = repo_name("skopeo")
    src = f"oci:{images.single_dir}:{images.single_tag}"
    env, authfile = auth_env(skopeo.env, tmp_path, "login")
    anon, _ = auth_env(skopeo.env, tmp_path, "anonymous")

    failed = skopeo_run(skopeo, env, "login", "--tls-verify=false", "--username", "pusher",
                        "--password-stdin", host, input="wrong-" + PUSHER_PW + "\n", check=False)
    assert failed.returncode != 0, "skopeo login with a wrong password succeeded"
    assert_denied(failed, "skopeo login with a wrong password")
    assert host not in stored_auths(authfile)

    skopeo_run(skopeo, env, "login", "--tls-verify=false", "--username", "pusher",
               "--password-stdin", host, input=PUSHER_PW + "\n")
    assert host in stored_auths(authfile)

    # Push with the stored login, and with --dest-creds and no stored login.
    skopeo_copy(skopeo, env, src, f"docker://{host}/{repo}:login", "--preserve-digests")
    skopeo_copy(skopeo, anon, src, f"docker://{host}/{repo}:v1", "--preserve-digests",
                "--dest-creds", f"pusher:{PUSHER_PW}")

    # The reader pulls with --src-creds; digests and bytes are the pushed ones.
    for tag in ("login", "v1"):
        out = str(tmp_path / f"pulled-{tag}")
        skopeo_copy(skopeo, anon, f"docker://{host}/{repo}:{tag}", f"oci:{out}:{tag}",
                    "--preserve-digests", "--src-creds", f"reader:{READER_PW}")
        assert layout_ref(out, tag)["digest"] == images.single.manifest_digest
    raw = skopeo_run(skopeo, anon, "inspect", "--tls-verify=false", "--raw", "--creds",
                     f"reader:{READER_PW}", f"docker://{host}/{repo}:v1").stdout.encode()
    assert raw == images.single.manifest and sha256_digest(raw) == images.single.manifest_digest

    # The reader cannot push (new tag of an existing repository, or a new repository).
    for dst in (f"{host}/{repo}:by-reader", f"{host}/{repo_name('skopeo-reader')}:v1"):
        failed = skopeo_copy(skopeo, anon, src, f"docker://{dst}", "--dest-creds",
                             f"reader:{READER_PW}", check=False)
        assert failed.returncode != 0, f"reader pushed {dst}"
        assert_denied(failed, f"skopeo copy to {dst} as reader")

    # A wrong password, and no credentials at all, cannot read the private repository.
    failed = skopeo_run(skopeo, anon, "inspect", "--tls-verify=false", "--raw", "--creds",
                        f"reader:wrong-{READER_PW}", f"docker://{host}/{repo}:v1", check=False)
    assert failed.returncode != 0, "inspect with a wrong password succeeded"
    assert_denied(failed, "skopeo inspect with a wrong password")
    failed = skopeo_copy(skopeo, anon, f"docker://{host}/{repo}:v1",
                         f"oci:{tmp_path / 'anon-pull'}:v1", check=False)
    assert failed.returncode != 0, "anonymous pull of a private repository succeeded"
    assert_denied(failed, "anonymous skopeo copy from a private repository")

    # public/*: the pusher has no grant there yet; grants take effect on the running server.
    public = f"{host}/public/{repo.split('/', 1)[1]}:v1"
    failed = skopeo_copy(skopeo, env, src, f"docker://{public}", check=False)
    assert failed.returncode != 0, "push to public/* without a grant succeeded"
    assert_denied(failed, "skopeo push to public/* without a grant")
    grant(server.data, "pusher", "public/*", "pull,push")
    grant(server.data, "anonymous", "public/*", "pull")
    skopeo_copy(skopeo, env, src, f"docker://{public}", "--preserve-digests")
    raw = skopeo_run(skopeo, anon, "inspect", "--tls-verify=false", "--raw",
                     f"docker://{public}").stdout.encode()
    assert sha256_digest(raw) == images.single.manifest_digest
    out = str(tmp_path / "anon-public")
    skopeo_copy(skopeo, anon, f"docker://{public}", f"oci:{out}:v1", "--preserve-digests")
    assert layout_ref(out, "v1")["digest"] == images.single.manifest_digest
    # Anonymous may pull public/* but not push there, nor still read auth/*.
    failed = skopeo_copy(skopeo, anon, src, f"docker://{public.rsplit(':', 1)[0]}:anon",
                         check=False)
    assert failed.returncode != 0, "anonymous push to public/* succeeded"
    assert_denied(failed, "anonymous skopeo push to public/*")
    failed = skopeo_run(skopeo, anon, "inspect", "--tls-verify=false", "--raw",
                        f"docker://{host}/{repo}:v1", check=False)
    assert failed.returncode != 0, "anonymous inspect of auth/* succeeded after public grant"

    skopeo_run(skopeo, env, "logout", host)
    assert host not in stored_auths(authfile)


# --- 3. containerd --------------------------------------------------------------------------

def test_ctr_pull_with_user(auth_server, images, skopeo, containerd, tmp_path):
    server = auth_server()
    ref = f"{server.host}/{repo_name('ctr')}:v1"
    env, _ = auth_env(skopeo.env, tmp_path, "skopeo")
    skopeo_copy(skopeo, env, f"oci:{images.single_dir}:{images.single_tag}", f"docker://{ref}",
                "--preserve-digests", "--dest-creds", f"pusher:{PUSHER_PW}")
    try:
        failed = containerd.ctr("images", "pull", "--plain-http", "--user",
                                f"pusher:wrong-{PUSHER_PW}", ref, check=False)
        assert failed.returncode != 0, "ctr pull with a wrong password succeeded"
        assert_denied(failed, "ctr pull with a wrong password")
        failed = containerd.ctr("images", "pull", "--plain-http", ref, check=False)
        assert failed.returncode != 0, "anonymous ctr pull of a private repository succeeded"
        assert_denied(failed, "anonymous ctr pull")

        containerd.ctr("images", "pull", "--plain-http", "--user", f"pusher:{PUSHER_PW}", ref)
        assert containerd.image_digest(ref) == images.single.manifest_digest
        containerd.ctr("images", "rm", "--sync", ref)
        containerd.ctr("images", "pull", "--plain-http", "--user", f"reader:{READER_PW}", ref)
        assert containerd.image_digest(ref) == images.single.manifest_digest

        # The reader cannot push with ctr either.
        dest = ref.rsplit(":", 1)[0] + ":ctr-reader"
        containerd.ctr("images", "tag", ref, dest)
        failed = containerd.ctr("images", "push", "--plain-http", "--user",
                                f"reader:{READER_PW}", dest, check=False)
        assert failed.returncode != 0, "ctr push as reader succeeded"
        # containerd 1.6 streams the manifest PUT from a pipe; when the registry answers 401
        # before reading the body it reports only "io: read/write on closed pipe", so check
        # the outcome in the registry instead of the message: the tag was not created.
        gone = skopeo_run(skopeo, env, "inspect", "--tls-verify=false", "--raw", "--creds",
                          f"pusher:{PUSHER_PW}", f"docker://{dest}", check=False)
        assert gone.returncode != 0 and re.search(r"manifest unknown|not found", gone.stderr,
                                                  re.I), f"reader's push created {dest}"
        containerd.ctr("images", "push", "--plain-http", "--user", f"pusher:{PUSHER_PW}", dest)
    finally:
        containerd.ctr("images", "rm", "--sync", ref, ref.rsplit(":", 1)[0] + ":ctr-reader",
                       check=False)


# --- 4. podman ------------------------------------------------------------------------------

def test_podman_login_push_pull_logout(auth_server, images, podman, tmp_path):
    server = auth_server()
    host = server.host
    env, authfile = auth_env(podman.env, tmp_path, "podman")
    ref = f"{host}/{repo_name('podman')}:v1"
    reader_ref = ref.rsplit(":", 1)[0] + ":by-reader"

    def pm(*args, check=True, input=None):
        return run(podman.base + list(args), env=env, check=check, input=input, timeout=180)

    def login(user, password, check=True):
        return pm("login", "--tls-verify=false", "--authfile", authfile, "--username", user,
                  "--password-stdin", host, input=password + "\n", check=check)

    def pull(check=True):
        return pm("pull", "--tls-verify=false", "--authfile", authfile, "--signature-policy",
                  podman.policy, ref, check=check)

    def push(target, check=True, digestfile=None):
        extra = ["--digestfile", digestfile] if digestfile else []
        return pm("push", "--tls-verify=false", "--authfile", authfile, "--signature-policy",
                  podman.policy, *extra, target, check=check)

    try:
        failed = login("pusher", "wrong-" + PUSHER_PW, check=False)
        assert failed.returncode != 0, "podman login with a wrong password succeeded"
        assert_denied(failed, "podman login with a wrong password")
        assert host not in stored_auths(authfile)
        login("pusher", PUSHER_PW)
        assert host in stored_auths(authfile)

        pulled = pm("pull", "--signature-policy", podman.policy,
                    f"oci:{images.single_dir}:{images.single_tag}")
        image_id = pulled.stdout.strip().splitlines()[-1]
        assert "sha256:" + image_id == images.single.config_digest
        pm("tag", image_id, ref)
        digestfile = str(tmp_path / "digest")
        push(ref, digestfile=digestfile)
        with open(digestfile) as f:
            digest = f.read().strip()
        pm("rmi", "--force", ref)
        pull()
        info = json.loads(pm("image", "inspect", ref).stdout)[0]
        assert "sha256:" + info["Id"] == images.single.config_digest
        assert f"{ref.rsplit(':', 1)[0]}@{digest}" in info["RepoDigests"], info["RepoDigests"]

        login("reader", READER_PW)
        pm("rmi", "--force", ref)
        pull()
        pm("tag", ref, reader_ref)
        failed = push(reader_ref, check=False)
        assert failed.returncode != 0, "podman push as reader succeeded"
        assert_denied(failed, "podman push as reader")

        pm("logout", "--authfile", authfile, host)
        assert host not in stored_auths(authfile)
        pm("rmi", "--force", ref, reader_ref)
        failed = pull(check=False)
        assert failed.returncode != 0, "podman pull after logout succeeded"
        assert_denied(failed, "podman pull after logout")
    finally:
        pm("rmi", "--force", ref, reader_ref, check=False)


# --- 5. HTTPS -------------------------------------------------------------------------------

@contextlib.contextmanager
def docker_registry_ca(host, cert):
    """dockerd (not rootless) reads registry CAs only from /etc/docker/certs.d/HOST:PORT/;
    install the CA there for this port and remove what we created afterwards."""
    base = "/etc/docker/certs.d"
    created_base = not os.path.isdir(base)
    hostdir = os.path.join(base, host)
    assert not os.path.exists(hostdir), f"{hostdir} exists already; not touching it"
    os.makedirs(hostdir)
    try:
        with open(cert, "rb") as f, open(os.path.join(hostdir, "ca.crt"), "wb") as out:
            out.write(f.read())
        yield hostdir
    finally:
        with contextlib.suppress(OSError):
            os.remove(os.path.join(hostdir, "ca.crt"))
        with contextlib.suppress(OSError):
            os.rmdir(hostdir)
        if created_base:
            with contextlib.suppress(OSError):
                os.rmdir(base)


def test_https_skopeo_and_docker(auth_server, images, skopeo, dockerd, tmp_path):
    server = auth_server(tls=True)
    host = server.host
    repo = repo_name("https")
    certdir = tmp_path / "skopeo-certs"
    certdir.mkdir()
    with open(server.cert, "rb") as f:
        (certdir / "ca.crt").write_bytes(f.read())
    env, _ = auth_env(skopeo.env, tmp_path, "https")
    src = f"oci:{images.single_dir}:{images.single_tag}"

    # Without the CA, skopeo refuses the self-signed certificate.
    failed = skopeo_copy(skopeo, env, src, f"docker://{host}/{repo}:v1", "--dest-creds",
                         f"pusher:{PUSHER_PW}", tls=(), check=False)
    assert failed.returncode != 0, "skopeo trusted a self-signed certificate without its CA"
    assert re.search(r"x509|certificate", failed.stderr, re.I), failed.stderr

    skopeo_copy(skopeo, env, src, f"docker://{host}/{repo}:v1", "--preserve-digests",
                "--dest-cert-dir", str(certdir), "--dest-creds", f"pusher:{PUSHER_PW}", tls=())
    out = str(tmp_path / "pulled")
    skopeo_copy(skopeo, env, f"docker://{host}/{repo}:v1", f"oci:{out}:v1", "--preserve-digests",
                "--src-cert-dir", str(certdir), "--src-creds", f"reader:{READER_PW}", tls=())
    assert layout_ref(out, "v1")["digest"] == images.single.manifest_digest
    failed = skopeo_copy(skopeo, env, src, f"docker://{host}/{repo}:by-reader", "--dest-cert-dir",
                         str(certdir), "--dest-creds", f"reader:{READER_PW}", tls=(), check=False)
    assert failed.returncode != 0, "reader pushed over HTTPS"
    assert_denied(failed, "skopeo push over HTTPS as reader")

    # docker: CA in certs.d for this host:port; no --insecure-registry for it. (dockerd always
    # counts 127.0.0.0/8 as insecure, so for a loopback registry it talks HTTPS without
    # verifying the certificate; this part checks login/push/pull over ocireg's TLS with an
    # https token realm, while skopeo above checks the certificate itself.)
    docker = DockerClient(dockerd, tmp_path / "docker-config")
    ref = f"{host}/{repo}/docker:v1"
    assert host not in dockerd.daemon.cmd
    with docker_registry_ca(host, server.cert):
        try:
            docker.login(host, "pusher", PUSHER_PW)
            image_id = docker("import", "--change", 'CMD ["/bin/sh"]', images.rootfs_tar,
                              ref).stdout.strip()
            digest = pushed_digest(docker("push", ref).stdout)
            docker.rmi(ref)
            out = docker("pull", ref).stdout
            assert f"Digest: {digest}" in out, out
            assert docker.image_id(ref) == image_id
            docker("logout", host)
        finally:
            docker.rmi(ref)

