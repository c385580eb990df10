"""Helpers for auth tests: prepare users and grants with the ocireg CLI, and run the Docker
token flow by hand with requests."""
import base64
import contextlib
import json
import re
import signal
import subprocess
import time

import requests

from ocireg_harness import free_port, ocireg_binary


def cli(*args, stdin=None, check=True):
    proc = subprocess.run([ocireg_binary(), *args], input=stdin, capture_output=True, text=True,
                          timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"ocireg {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def add_user(data, name, password):
    cli("user", "add", name, "--password-stdin", "--data", str(data), stdin=password + "\n")


def grant(data, principal, pattern, actions):
    cli("grant", principal, pattern, actions, "--data", str(data))


def access_key(data, user):
    """A new access key of `user` (its AccessKeyId and SecretAccessKey), for the ECR API."""
    return json.loads(cli("user", "key", "create", user, "--json", "--data", str(data)).stdout)


def user_with_key(data, user, password, pattern, actions="*"):
    """A user granted `actions` on `pattern`, and a new access key of it."""
    add_user(data, user, password)
    grant(data, user, pattern, actions)
    return access_key(data, user)


def self_signed(folder, name="cert", cn="127.0.0.1"):
    """A self-signed P-256 certificate for 127.0.0.1 in folder: (cert path, key path)."""
    cert, key = folder / f"{name}.pem", folder / f"{name}-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", f"/CN={cn}", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    return cert, key


def start_nginx(folder, server, port, cert, procs):
    """nginx with one `server { }` block (listening with TLS on 127.0.0.1:port, certificate
    cert) and its files in folder; its process joins procs (stop_nginx stops them). Returns its
    https URL once /healthz answers through it."""
    conf = folder / "nginx.conf"
    temp = " ".join(f"{kind}_temp_path {folder}/{kind};"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf.write_text(f"daemon off;\npid {folder}/nginx.pid;\n"
                    f"error_log {folder}/nginx-error.log;\n"
                    f"events {{ worker_connections 64; }}\n"
                    f"http {{ access_log off; {temp}\n{server}\n}}\n")
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(proc)
    url = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/healthz", verify=str(cert), timeout=1)
            return url
        except requests.ConnectionError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    raise RuntimeError("nginx did not start: " + (folder / "nginx-error.log").read_text())


def stop_nginx(procs):
    for p in procs:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)


@contextlib.contextmanager
def nginx_tls(folder, server_block):
    """Yields start(upstream_port) -> (url, cert path): nginx with TLS on a free loopback port,
    a new self-signed certificate, and the server block server_block(port, cert, key,
    upstream_port) returns; every nginx started is stopped at the end."""
    procs = []

    def start(upstream_port):
        cert, key = self_signed(folder)
        port = free_port()
        server = server_block(port, cert, key, upstream_port)
        return start_nginx(folder, server, port, cert, procs), str(cert)

    try:
        yield start
    finally:
        stop_nginx(procs)


def parse_challenge(header):
    assert header and header.startswith("Bearer "), f"expected a Bearer challenge, got {header!r}"
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def token(url, scopes, user=None, password=None, verify=True):
    params = [("service", "ocireg")] + [("scope", s) for s in scopes]
    auth = (user, password) if user else None
    r = requests.get(f"{url}/token", params=params, auth=auth, timeout=30, verify=verify)
    assert r.status_code == 200, f"token request: expected 200, got {r.status_code} {r.text}"
    body = r.json()
    assert body["token"] == body["access_token"]
    return body["token"]


def claims(jwt):
    payload = jwt.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))


def bearer(tok):
    return {"Authorization": f"Bearer {tok}"}
