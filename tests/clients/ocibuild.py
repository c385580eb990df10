"""Build container images without network: a busybox-static rootfs written into an OCI
image layout (oci-layout, index.json, blobs/sha256/...) by hand.

Everything is deterministic (fixed mtimes, gzip mtime 0), so the same inputs give the same
digests.
"""
import gzip
import io
import json
import os
import tarfile

from clientutil import BUSYBOX_STATIC, sha256_digest, tool

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MTIME = 1700000000  # fixed timestamp for reproducible tars
CREATED = "2023-11-14T22:13:20Z"

# Applets linked into /bin; enough for `sh -c`, the Dockerfile RUN step and checks.
APPLETS = ["sh", "echo", "cat", "ls", "mkdir", "rm", "cp", "mv", "touch", "test", "[",
           "true", "false", "sleep", "env", "id", "uname", "sha256sum", "wc", "grep",
           "head", "tail", "printf", "hostname", "chmod", "ln", "pwd", "date", "stat"]


def _tarinfo(name, kind, mode, size=0, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = linkname
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def busybox_rootfs_tar(extra_files=None):
    """Uncompressed tar of a minimal rootfs: /bin/busybox (static) plus applet symlinks.

    extra_files: {path: bytes} added as regular files (mode 0644)."""
    tool("busybox", BUSYBOX_STATIC)
    with open(BUSYBOX_STATIC, "rb") as f:
        busybox = f.read()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ["bin", "dev", "etc", "proc", "sys", "tmp", "root"]:
            tar.addfile(_tarinfo(d + "/", tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755))
        tar.addfile(_tarinfo("bin/busybox", tarfile.REGTYPE, 0o755, len(busybox)), io.BytesIO(busybox))
        for applet in APPLETS:
            tar.addfile(_tarinfo("bin/" + applet, tarfile.SYMTYPE, 0o777, linkname="busybox"))
        files = {"etc/passwd": b"root:x:0:0:root:/root:/bin/sh\n",
                 "etc/group": b"root:x:0:\n"}
        files.update(extra_files or {})
        for path, data in sorted(files.items()):
            tar.addfile(_tarinfo(path.lstrip("/"), tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    return buf.getvalue()


def gzip_bytes(data):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(data)
    return out.getvalue()


def canonical_json(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


class OCILayout:
    """Writes blobs into an OCI image layout and records tagged entries in index.json."""

    def __init__(self, path):
        self.path = str(path)
        os.makedirs(os.path.join(self.path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(self.path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.entries = []
        self._write_index()

    def add_blob(self, data):
        digest = sha256_digest(data)
        blob_path = os.path.join(self.path, "blobs", "sha256", digest.split(":", 1)[1])
        if not os.path.exists(blob_path):
            with open(blob_path, "wb") as f:
                f.write(data)
        return digest

    def descriptor(self, media_type, data, **extra):
        d = {"mediaType": media_type, "digest": self.add_blob(data), "size": len(data)}
        d.update(extra)
        return d

    def tag(self, name, descriptor):
        entry = dict(descriptor)
        entry["annotations"] = {"org.opencontainers.image.ref.name": name}
        self.entries = [e for e in self.entries
                        if e["annotations"]["org.opencontainers.image.ref.name"] != name]
        self.entries.append(entry)
        self._write_index()

    def _write_index(self):
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.entries}
        with open(os.path.join(self.path, "index.json"), "wb") as f:
            f.write(canonical_json(index))


class BuiltImage:
    """What was written for one image manifest (all digests as 'sha256:...')."""

    def __init__(self, manifest_desc, manifest, config_desc, config, layer_descs, diff_ids):
        self.manifest_desc = manifest_desc
        self.manifest_digest = manifest_desc["digest"]
        self.manifest = manifest
        self.config_desc = config_desc
        self.config_digest = config_desc["digest"]
        self.config = config
        self.layer_descs = layer_descs
        self.layer_digests = [d["digest"] for d in layer_descs]
        self.diff_ids = diff_ids


def add_image(layout, arch="amd64", variant=None, cmd=("/bin/sh", "-c", "echo hello from ocireg"),
              layers=None, labels=None):
    """Write config + manifest for a busybox image into `layout`; return a BuiltImage.

    layers: list of uncompressed tar bytes (default: one busybox rootfs layer)."""
    if layers is None:
        layers = [busybox_rootfs_tar()]
    layer_descs, diff_ids = [], []
    for tar_bytes in layers:
        diff_ids.append(sha256_digest(tar_bytes))
        layer_descs.append(layout.descriptor(OCI_LAYER_GZIP, gzip_bytes(tar_bytes)))
    config = {
        "created": CREATED,
        "architecture": arch,
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": list(cmd), "WorkingDir": "/",
                   "Labels": dict(labels or {"org.example.built-by": "ocireg-client-tests"})},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": CREATED, "created_by": "ocireg tests: busybox rootfs"}
                    for _ in layers],
    }
    if variant:
        config["variant"] = variant
    config_bytes = canonical_json(config)
    config_desc = layout.descriptor(OCI_CONFIG, config_bytes)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc,
                "layers": layer_descs}
    manifest_bytes = canonical_json(manifest)
    platform = {"architecture": arch, "os": "linux"}
    if variant:
        platform["variant"] = variant
    manifest_desc = layout.descriptor(OCI_MANIFEST, manifest_bytes, platform=platform)
    return BuiltImage(manifest_desc, manifest_bytes, config_desc, config_bytes, layer_descs, diff_ids)


def build_single(path, tag="latest", **kw):
    """OCI layout at `path` with one amd64 busybox image tagged `tag`."""
    layout = OCILayout(path)
    image = add_image(layout, **kw)
    desc = dict(image.manifest_desc)
    desc.pop("platform", None)
    layout.tag(tag, desc)
    return image


class BuiltIndex:
    def __init__(self, index_digest, index_bytes, images):
        self.index_digest = index_digest
        self.index = index_bytes
        self.images = images  # {"amd64": BuiltImage, "arm64": BuiltImage}


def build_multiarch(path, tag="multi"):
    """OCI layout at `path` whose `tag` is an OCI index of an amd64 and an arm64 image.

    Both share the busybox layer (amd64 binary); the configs differ (architecture)."""
    layout = OCILayout(path)
    amd64 = add_image(layout, arch="amd64", cmd=("/bin/sh", "-c", "echo hello from amd64"))
    arm64 = add_image(layout, arch="arm64", variant="v8", cmd=("/bin/sh", "-c", "echo hello from arm64"))
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
             "manifests": [amd64.manifest_desc, arm64.manifest_desc]}
    index_bytes = canonical_json(index)
    desc = layout.descriptor(OCI_INDEX, index_bytes)
    layout.tag(tag, desc)
    return BuiltIndex(desc["digest"], index_bytes, {"amd64": amd64, "arm64": arm64})
