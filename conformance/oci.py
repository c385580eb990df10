"""Helpers for the OCI Distribution Spec v1.1 conformance suite.

Everything here talks to the registry over HTTP only (black box): a requests.Session
bound to the registry URL that performs the Docker token flow when credentials are
set, a raw HTTP client for paths that requests would normalise, blob/manifest push
helpers, and builders for OCI/Docker manifests, indexes and artifacts.
"""
import base64
import hashlib
import http.client
import json
import os
import re
import secrets
import socket
import urllib.parse
from dataclasses import dataclass, field

import requests

# --- media types (OCI image-spec and Docker schema2) -----------------------------------

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_EMPTY = "application/vnd.oci.empty.v1+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_ACCEPT = ", ".join(
    [MT_OCI_MANIFEST, MT_OCI_INDEX, MT_DOCKER_MANIFEST, MT_DOCKER_LIST])

# The image-spec "empty descriptor": content `{}`.
EMPTY_JSON = b"{}"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

# Error codes of the spec's table (code-1 .. code-14) plus the two extra ones ocireg uses.
SPEC_ERROR_CODES = {
    "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID",
    "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED",
    "TOOMANYREQUESTS",
}
EXTRA_ERROR_CODES = {"TAG_INVALID", "RANGE_INVALID"}

# <name> grammar of the spec, and the tag grammar.
NAME_RE = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*")
TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")


# --- content helpers -------------------------------------------------------------------

def digest_of(data, algo="sha256"):
    return f"{algo}:{hashlib.new(algo, data).hexdigest()}"


def random_bytes(n):
    return os.urandom(n)


def unique_repo(prefix="conformance", suffix=""):
    name = f"{prefix}/{secrets.token_hex(6)}"
    if suffix:
        name += "/" + suffix.strip("/")
    assert NAME_RE.fullmatch(name), name
    return name


def descriptor(media_type, data, algo="sha256", **extra):
    d = {"mediaType": media_type, "digest": digest_of(data, algo), "size": len(data)}
    d.update({k: v for k, v in extra.items() if v is not None})
    return d


def empty_descriptor():
    return {"mediaType": MT_OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2}


def to_json(obj):
    return json.dumps(obj, indent=2, sort_keys=False).encode()


def random_config(media_type=MT_OCI_CONFIG):
    cfg = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
        "config": {"Labels": {"conformance.nonce": secrets.token_hex(8)}},
    }
    return json.dumps(cfg).encode()


def image_manifest(config_desc, layer_descs, media_type=MT_OCI_MANIFEST, subject=None,
                   artifact_type=None, annotations=None, include_media_type=True):
    m = {"schemaVersion": 2}
    if include_media_type:
        m["mediaType"] = media_type
    if artifact_type is not None:
        m["artifactType"] = artifact_type
    m["config"] = config_desc
    m["layers"] = list(layer_descs)
    if subject is not None:
        m["subject"] = subject
    if annotations is not None:
        m["annotations"] = annotations
    return to_json(m)


def image_index(manifest_descs, media_type=MT_OCI_INDEX, subject=None, artifact_type=None,
                annotations=None):
    m = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type is not None:
        m["artifactType"] = artifact_type
    m["manifests"] = list(manifest_descs)
    if subject is not None:
        m["subject"] = subject
    if annotations is not None:
        m["annotations"] = annotations
    return to_json(m)


def platform(arch="amd64", os_="linux"):
    return {"architecture": arch, "os": os_}


# --- response helpers ------------------------------------------------------------------

def media_type_of(resp):
    """Content-Type without parameters (clients SHOULD ignore parameters)."""
    return (resp.headers.get("Content-Type") or "").split(";")[0].strip()


def error_body(resp):
    try:
        return json.loads(resp.content)
    except ValueError:
        return None


def error_codes(resp):
    body = error_body(resp)
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return []
    return [e.get("code") for e in body["errors"] if isinstance(e, dict)]


def describe(resp):
    body = resp.content[:400]
    return (f"{resp.request.method} {resp.request.url} -> {resp.status_code} "
            f"headers={dict(resp.headers)} body={body!r}")


def assert_error(resp, status, *codes):
    """Assert a spec error response: status (int or tuple) and a JSON body
    {"errors":[{"code":..., "message":...}]} containing one of `codes` (if given)."""
    statuses = (status,) if isinstance(status, int) else tuple(status)
    assert resp.status_code in statuses, (
        f"expected HTTP {' or '.join(map(str, statuses))}; got {describe(resp)}")
    if resp.request.method == "HEAD":
        return
    body = error_body(resp)
    assert isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"], (
        f"expected a JSON error body {{\"errors\":[{{\"code\":...}}]}}; got {describe(resp)}")
    for e in body["errors"]:
        assert isinstance(e, dict) and isinstance(e.get("code"), str), f"malformed error entry {e!r}"
        assert re.fullmatch(r"[A-Z_]+", e["code"]), (
            f"error code must be upper-case letters and underscores: {e['code']!r}")
        assert e["code"] in SPEC_ERROR_CODES | EXTRA_ERROR_CODES, (
            f"error code {e['code']!r} is not in the spec's table")
        if "message" in e:
            assert isinstance(e["message"], str), f"message must be a string: {e!r}"
    if codes:
        got = [e["code"] for e in body["errors"]]
        assert set(got) & set(codes), f"expected error code {' or '.join(codes)}; got {got}: {describe(resp)}"


def parse_link_next(link):
    """Return the target of a `<url>; rel="next"` Link header, or None."""
    if not link:
        return None
    for part in link.split(","):
        m = re.match(r'\s*<([^>]*)>\s*;(.*)$', part)
        if m and re.search(r'rel\s*=\s*"?next"?', m.group(2)):
            return m.group(1)
    return None


def header_list(resp, name):
    """All comma-separated values of a (possibly repeated) header."""
    raw = resp.headers.get(name)
    if raw is None:
        return None
    return [v.strip() for v in raw.split(",") if v.strip()]


def with_query(url, params):
    """Append query parameters (list of pairs) to a URL that may already have a query."""
    parts = urllib.parse.urlsplit(url)
    extra = urllib.parse.urlencode(params)
    query = parts.query + ("&" if parts.query and extra else "") + extra
    return urllib.parse.urlunsplit(parts._replace(query=query))


# --- the client ------------------------------------------------------------------------

def _parse_challenge(header):
    """Parse `Bearer realm="...",service="...",scope="..."` into (scheme, params)."""
    if not header:
        return None, {}
    scheme, _, rest = header.strip().partition(" ")
    params = dict((k.lower(), v) for k, v in
                  re.findall(r'([A-Za-z_]+)\s*=\s*"([^"]*)"', rest))
    return scheme.lower(), params


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: dict
    body: bytes
    method: str = ""
    path: str = ""

    @property
    def content(self):
        return self.body

    @property
    def status_code(self):
        return self.status

    def json(self):
        return json.loads(self.body)

    @property
    def request(self):
        return type("Req", (), {"method": self.method, "url": self.path})()


class RegistryClient(requests.Session):
    """requests.Session bound to the registry. Relative URLs ('/v2/...') are resolved
    against the registry URL. With credentials, 401 Bearer challenges are answered by
    the Docker token flow (Basic challenges by Basic auth) and the request is retried."""

    def __init__(self, base_url, user=None, password=None, timeout=30):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        parsed = urllib.parse.urlsplit(self.base_url)
        self.host, self.port = parsed.hostname, parsed.port or 80
        self.user, self.password = user, password
        self.timeout = timeout
        self.bearer = None
        self.headers["Accept-Encoding"] = "identity"
        self.headers["User-Agent"] = "ocireg-conformance/1.0"

    # URL helpers
    def abs(self, location):
        return urllib.parse.urljoin(self.base_url + "/", location)

    # auth
    def _authorization_for(self, resp):
        if not self.user:
            return None
        scheme, params = _parse_challenge(resp.headers.get("WWW-Authenticate"))
        if scheme == "basic":
            tok = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            return "Basic " + tok
        if scheme != "bearer" or "realm" not in params:
            return None
        query = {k: params[k] for k in ("service", "scope") if k in params}
        r = requests.get(self.abs(params["realm"]), params=query,
                         auth=(self.user, self.password or ""), timeout=self.timeout)
        if r.status_code != 200:
            return None
        data = r.json()
        token = data.get("token") or data.get("access_token")
        if not token:
            return None
        self.bearer = "Bearer " + token
        return self.bearer

    def request(self, method, url, *args, **kwargs):
        url = self.abs(url)
        kwargs.setdefault("timeout", self.timeout)
        headers = dict(kwargs.pop("headers", None) or {})
        if self.bearer and not any(k.lower() == "authorization" for k in headers):
            headers["Authorization"] = self.bearer
        resp = super().request(method, url, *args, headers=headers, **kwargs)
        if resp.status_code == 401 and self.user:
            auth = self._authorization_for(resp)
            if auth:
                headers["Authorization"] = auth
                resp = super().request(method, url, *args, headers=headers, **kwargs)
        return resp

    def auth_line(self):
        """'Authorization: ...\r\n' for hand-written requests ('' without credentials)."""
        if self.user and not self.bearer:
            self.get("/v2/")
        return f"Authorization: {self.bearer}\r\n" if self.bearer else ""

    # raw HTTP, for paths that requests/urllib3 would normalise
    def raw(self, method, path, headers=None, body=None):
        headers = dict(headers or {})
        resp = self._raw_once(method, path, headers, body)
        if resp.status == 401 and self.user:
            fake = requests.Response()
            fake.headers = requests.structures.CaseInsensitiveDict(resp.headers)
            auth = self._authorization_for(fake)
            if auth:
                headers["Authorization"] = auth
                resp = self._raw_once(method, path, headers, body)
        return resp

    def _raw_once(self, method, path, headers, body):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            if self.bearer and "Authorization" not in headers:
                headers["Authorization"] = self.bearer
            conn.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
            if body is not None and not any(k.lower() == "content-length" for k in headers):
                headers["Content-Length"] = str(len(body))
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.endheaders(body)
            r = conn.getresponse()
            data = r.read()
            hdrs = requests.structures.CaseInsensitiveDict(r.getheaders())
            return RawResponse(r.status, r.reason, hdrs, data, method, path)
        finally:
            conn.close()

    # --- blob helpers ----------------------------------------------------------------
    def start_upload(self, repo, params=None, **kw):
        return self.post(f"/v2/{repo}/blobs/uploads/", params=params, **kw)

    def new_upload(self, repo, params=None):
        r = self.start_upload(repo, params=params)
        assert r.status_code == 202, f"POST upload: expected 202; got {describe(r)}"
        assert r.headers.get("Location"), f"POST upload: expected a Location header; {describe(r)}"
        return self.abs(r.headers["Location"])

    def push_blob(self, repo, data, algo="sha256"):
        """POST then PUT (monolithic). Returns the digest."""
        dig = digest_of(data, algo)
        params = {"digest-algorithm": algo} if algo != "sha256" else None
        loc = self.new_upload(repo, params=params)
        r = self.put(with_query(loc, [("digest", dig)]), data=data,
                     headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, f"PUT upload: expected 201; got {describe(r)}"
        return dig

    def push_blob_chunked(self, repo, data, chunk_size, algo="sha256"):
        dig = digest_of(data, algo)
        loc = self.new_upload(repo)
        off = 0
        while off < len(data):
            chunk = data[off:off + chunk_size]
            r = self.patch(loc, data=chunk, headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{off}-{off + len(chunk) - 1}"})
            assert r.status_code == 202, f"PATCH chunk at {off}: expected 202; got {describe(r)}"
            loc = self.abs(r.headers["Location"])
            off += len(chunk)
        r = self.put(with_query(loc, [("digest", dig)]))
        assert r.status_code == 201, f"closing PUT: expected 201; got {describe(r)}"
        return dig

    def blob_exists(self, repo, dig):
        return self.head(f"/v2/{repo}/blobs/{dig}").status_code == 200

    # --- manifest helpers ------------------------------------------------------------
    def put_manifest(self, repo, ref, body, media_type=MT_OCI_MANIFEST, params=None):
        headers = {"Content-Type": media_type} if media_type else {}
        return self.put(f"/v2/{repo}/manifests/{ref}", data=body, headers=headers,
                        params=params)

    def push_manifest(self, repo, ref, body, media_type=MT_OCI_MANIFEST):
        r = self.put_manifest(repo, ref, body, media_type)
        assert r.status_code == 201, f"PUT manifest {repo}:{ref}: expected 201; got {describe(r)}"
        return digest_of(body)

    def get_manifest(self, repo, ref, accept=MANIFEST_ACCEPT):
        return self.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": accept})

    def head_manifest(self, repo, ref, accept=MANIFEST_ACCEPT):
        return self.head(f"/v2/{repo}/manifests/{ref}", headers={"Accept": accept})

    def tags(self, repo, **params):
        return self.get(f"/v2/{repo}/tags/list", params=params or None)

    def tag_list(self, repo):
        r = self.tags(repo)
        if r.status_code == 404:
            return None
        assert r.status_code == 200, describe(r)
        return r.json().get("tags") or []

    # --- composite -------------------------------------------------------------------
    def push_image(self, repo, tag=None, layers=1, layer_size=64, media_type=MT_OCI_MANIFEST,
                   subject=None, artifact_type=None, annotations=None):
        docker = media_type == MT_DOCKER_MANIFEST
        cfg = random_config()
        cfg_desc = descriptor(MT_DOCKER_CONFIG if docker else MT_OCI_CONFIG, cfg)
        self.push_blob(repo, cfg)
        blobs, descs = [], []
        for _ in range(layers):
            b = random_bytes(layer_size)
            self.push_blob(repo, b)
            blobs.append(b)
            descs.append(descriptor(MT_DOCKER_LAYER if docker else MT_OCI_LAYER, b))
        body = image_manifest(cfg_desc, descs, media_type=media_type, subject=subject,
                              artifact_type=artifact_type, annotations=annotations)
        dig = self.push_manifest(repo, tag or digest_of(body), body, media_type)
        return Image(repo, body, dig, media_type, cfg, blobs, tag)

    def push_artifact(self, repo, artifact_type, subject=None, annotations=None, tag=None,
                      payload=None, config_media_type=None):
        """An artifact: empty config (or typed config blob), one layer, artifactType set."""
        if config_media_type is None:
            self.push_blob(repo, EMPTY_JSON)
            cfg_desc, cfg = empty_descriptor(), EMPTY_JSON
        else:
            cfg = random_config()
            self.push_blob(repo, cfg)
            cfg_desc = descriptor(config_media_type, cfg)
        payload = payload if payload is not None else random_bytes(32)
        self.push_blob(repo, payload)
        body = image_manifest(
            cfg_desc, [descriptor("application/octet-stream", payload)],
            subject=subject,
            artifact_type=artifact_type if config_media_type is None else None,
            annotations=annotations)
        dig = self.push_manifest(repo, tag or digest_of(body), body, MT_OCI_MANIFEST)
        return Image(repo, body, dig, MT_OCI_MANIFEST, cfg, [payload], tag)


def client_for(registry):
    """A RegistryClient for a `registry` fixture object, with OCIREG_USER/OCIREG_PASSWORD."""
    return RegistryClient(registry.url, os.environ.get("OCIREG_USER"),
                          os.environ.get("OCIREG_PASSWORD"))


@dataclass
class Image:
    repo: str
    body: bytes
    digest: str
    media_type: str
    config: bytes
    layers: list = field(default_factory=list)
    tag: str = None

    @property
    def desc(self):
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.body)}


# --- raw socket helpers (for hostile input) -------------------------------------------

def send_raw_bytes(host, port, payload, read_timeout=5, half_close=False):
    """Send raw bytes, return everything the server answers until it closes or times
    out (callers send `Connection: close` so the server closes after answering). A reset
    after partial data is reported as what was read so far."""
    out = b""
    with socket.create_connection((host, port), timeout=read_timeout) as s:
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if half_close:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except (ConnectionResetError, socket.timeout, TimeoutError):
            pass
    return out


def parse_statuses(raw):
    """All HTTP status codes at the start of responses found in a raw byte stream."""
    return [int(m.group(1)) for m in re.finditer(rb"HTTP/1\.[01] (\d{3})", raw)]


def data_snapshot(data_dir):
    """The set of files (relative paths) under the registry's data directory, excluding
    the server log; None for an external registry."""
    if not data_dir:
        return None
    files = set()
    for root, dirs, names in os.walk(data_dir):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), data_dir)
            if rel == "server.log":
                continue
            files.add(rel)
    return files
