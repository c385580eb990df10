"""Export, import, backup and restore: `ocireg export` writes an OCI image layout as .tar.zst
that `ocireg import`, skopeo and umoci read; import refuses damaged or unsafe archives without
changing the registry; `ocireg backup` runs beside a server taking pushes and `ocireg restore`
rebuilds a data folder that serves every image pushed before the backup began."""
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
import threading
import time

import pytest
import requests

from ocireg_harness import ocireg_binary
from regutil import (OCI_EMPTY, Image, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, assert_pulls, blob_files,
                     blob_path, db, descriptor, digest_of, manifest_status, ocireg, pull_problems,
                     push_blob, push_image, push_index, put_manifest)

GIB = 1 << 30
BLOCK = 1 << 20
HWM_LIMIT_KIB = 64 * 1024
TABLES = ("repositories", "blobs", "repo_blobs", "manifests", "manifest_refs", "tags")


@pytest.fixture
def srv(registry_factory):
    # Blob files (some tests remove one): tests/test_inline_blobs.py covers blobs in the index.
    return registry_factory(["--inline-max", "0"])


def export(data, out, *refs, check=True):
    return ocireg("export", *refs, "-o", out, "--data", data, check=check)


def import_(data, archive, *args, check=True):
    return ocireg("import", archive, *args, "--data", data, check=check)


def decompress(src, dst):
    subprocess.run(["zstd", "-q", "-d", "-f", str(src), "-o", str(dst)], check=True, timeout=60)


def state(data):
    """Everything an import could change: blob files, upload spools and every index row."""
    uploads = sorted(os.listdir(os.path.join(str(data), "uploads")))
    conn = db(data)
    try:
        rows = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in TABLES}
    finally:
        conn.close()
    return blob_files(data), uploads, rows


def push_sample(url):
    """Two tagged images, a multi-arch index of two untagged children, and a signature-like
    referrer of the first image. Returns them by name."""
    v1 = push_image(url, "team/app", "v1", layers=[b"base layer" * 500, b"app v1" * 70])
    v2 = push_image(url, "team/app", "v2", layers=[b"base layer" * 500, b"app v2" * 70])
    amd = push_image(url, "multi", None, layers=[b"amd64 bits" * 40])
    arm = push_image(url, "multi", None, layers=[b"arm64 bits" * 40])
    idx = push_index(url, "multi", "latest", [amd, arm])
    sig = push_image(url, "team/app", None, layers=[b"signature"], config=b"{}",
                     config_type=OCI_EMPTY, subject=v1, artifact_type="application/x-sig")
    return dict(v1=v1, v2=v2, amd=amd, arm=arm, idx=idx, sig=sig)


def referrers(url, repo, digest):
    r = requests.get(f"{url}/v2/{repo}/referrers/{digest}", timeout=30)
    assert r.status_code == 200, f"referrers of {digest}: expected 200, got {r.status_code}"
    return [m["digest"] for m in r.json().get("manifests", [])]


def test_export_then_import_pulls_back_every_digest_identical(registry_factory, tmp_path):
    a = registry_factory()
    imgs = push_sample(a.url)
    archive = tmp_path / "images.tar.zst"

    out = export(a.data, archive, "team/app", "multi:latest").stdout
    assert "exported 4 images" in out, f"expected v1, v2, the referrer and the index: {out}"
    assert not os.path.exists(str(archive) + ".tmp"), "the temporary file should be renamed"

    target = tmp_path / "fresh"
    import_(target, archive)
    b = registry_factory(data_dir=target)
    for name, img in imgs.items():
        problems = pull_problems(b.url, img, ref=img.digest)
        assert not problems, f"{name} after export + import: " + "; ".join(problems)
    assert_pulls(b.url, imgs["v1"], "v1")
    assert_pulls(b.url, imgs["v2"], "v2")
    assert_pulls(b.url, imgs["idx"], "latest")
    assert referrers(b.url, "team/app", imgs["v1"].digest) == [imgs["sig"].digest], \
        "the referrer of v1 should have come along and be listed again"
    tags = requests.get(f"{b.url}/v2/team/app/tags/list", timeout=30).json()["tags"]
    assert sorted(tags) == ["v1", "v2"], f"expected exactly the exported tags, got {tags}"


def test_index_json_names_images_repo_colon_tag(srv, tmp_path):
    imgs = push_sample(srv.url)
    archive, plain = tmp_path / "x.tar.zst", tmp_path / "x.tar"
    export(srv.data, archive, "team/app:v2", "multi")
    decompress(archive, plain)
    with tarfile.open(plain) as t:
        names = t.getnames()
        index = json.load(t.extractfile("index.json"))
    refs = {m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
            for m in index["manifests"]}
    assert refs == {"team/app:v2": imgs["v2"].digest, "multi:latest": imgs["idx"].digest}, \
        f"index.json should list exactly the two tags as REPO:TAG, got {refs}"
    for child in (imgs["amd"], imgs["arm"]):
        for d in child.all_digests():
            assert "blobs/sha256/" + d.split(":")[1] in names, \
                f"blob {d} of an index child is missing from the archive"


def test_skopeo_and_umoci_read_an_export(srv, tmp_path):
    img = push_image(srv.url, "single", "v1", layers=[b"one layer" * 300])
    archive, plain = tmp_path / "single.tar.zst", tmp_path / "single.tar"
    export(srv.data, archive, "single:v1")
    decompress(archive, plain)
    env = skopeo_env(tmp_path)

    inspect = run(["skopeo", "inspect", "--raw", f"oci-archive:{plain}"], env)
    assert inspect.stdout.encode() == img.manifest, \
        "skopeo should read back the manifest byte for byte"
    run(["skopeo", "copy", "--policy", env["POLICY"], "--dest-tls-verify=false",
         "--preserve-digests", f"oci-archive:{plain}", f"docker://{srv.host}/copied:v1"], env)
    copied = push_copy(img, "copied")
    assert_pulls(srv.url, copied, "v1")

    layout = tmp_path / "layout"
    layout.mkdir()
    with tarfile.open(plain) as t:
        t.extractall(layout)
    listed = run(["umoci", "ls", "--layout", str(layout)], env).stdout.split()
    assert listed == ["single:v1"], f"umoci ls should list the ref name, got {listed}"


def test_skopeo_layout_tarred_with_zstd_imports_with_repo(registry_factory, tmp_path):
    a = registry_factory()
    push_image(a.url, "src", "v1", layers=[b"from skopeo" * 100, b"second" * 10])
    env = skopeo_env(tmp_path)
    layout = tmp_path / "oci"
    run(["skopeo", "copy", "--policy", env["POLICY"], "--src-tls-verify=false",
         f"docker://{a.host}/src:v1", f"oci:{layout}:v1"], env)
    archive = tmp_path / "skopeo.tar.zst"
    subprocess.run(["tar", "--zstd", "-cf", str(archive), "-C", str(layout), "."], check=True,
                   timeout=60)
    target = tmp_path / "target"

    refused = import_(target, archive, check=False)
    assert refused.returncode == 1 and "--repo" in refused.stderr, \
        f"a plain tag ref name needs --repo; got {refused.returncode} {refused.stderr}"
    import_(target, archive, "--repo", "mirror/src")

    with open(layout / "index.json") as f:
        desc = json.load(f)["manifests"][0]
    digest = desc["digest"]
    with open(layout / "blobs" / "sha256" / digest.split(":")[1], "rb") as f:
        manifest = f.read()
    b = registry_factory(data_dir=target)
    r = requests.get(f"{b.url}/v2/mirror/src/manifests/v1", timeout=30,
                     headers={"Accept": desc["mediaType"]})
    assert r.status_code == 200 and r.content == manifest, \
        f"mirror/src:v1 should serve skopeo's manifest byte for byte, got {r.status_code}"
    for layer in json.loads(manifest)["layers"]:
        with open(layout / "blobs" / "sha256" / layer["digest"].split(":")[1], "rb") as f:
            want = f.read()
        got = requests.get(f"{b.url}/v2/mirror/src/blobs/{layer['digest']}", timeout=30)
        assert got.content == want, f"layer {layer['digest']} differs after import"


def test_tampered_layer_is_refused_and_the_registry_is_unchanged(srv, tmp_path):
    img = push_image(srv.url, "app", "v1", layers=[b"precious layer content" * 400])
    archive, plain = tmp_path / "a.tar.zst", tmp_path / "a.tar"
    export(srv.data, archive, "app:v1")
    decompress(archive, plain)
    data = bytearray(plain.read_bytes())
    data[data.find(b"precious layer content") + 1000] ^= 0x01
    tampered = tmp_path / "tampered.tar"
    tampered.write_bytes(bytes(data))
    target = tmp_path / "target"
    import_(target, archive, "--repo-prefix", "before")
    before = state(target)

    proc = import_(target, tampered, check=False)

    assert proc.returncode == 1, f"a tampered archive should be refused: {proc.stdout}"
    assert img.layers[0] in proc.stderr and "does not match its digest" in proc.stderr, \
        f"the message should name the damaged layer: {proc.stderr}"
    assert "nothing was imported" in proc.stderr
    assert state(target) == before, "a refused import must leave files, spools and rows as they were"


def test_flipped_byte_in_the_compressed_file_is_refused(srv, tmp_path):
    push_image(srv.url, "app", "v1", layers=[os.urandom(200000)])
    archive = tmp_path / "a.tar.zst"
    export(srv.data, archive, "app:v1")
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x10
    damaged = tmp_path / "damaged.tar.zst"
    damaged.write_bytes(bytes(data))
    target = tmp_path / "target"

    proc = import_(target, damaged, check=False)

    assert proc.returncode == 1, "a damaged zstd stream should be refused"
    assert "corrupt" in proc.stderr or "does not match" in proc.stderr, proc.stderr
    assert blob_files(target) == {} and os.listdir(target / "uploads") == [], \
        "nothing may be left behind"


@pytest.mark.parametrize("cut", ["half", "last_bytes", "tar_without_end"])
def test_truncated_archive_is_refused(srv, tmp_path, cut):
    push_image(srv.url, "app", "v1", layers=[os.urandom(300000), b"small"])
    archive, plain = tmp_path / "a.tar.zst", tmp_path / "a.tar"
    export(srv.data, archive, "app")
    whole = archive.read_bytes()
    if cut == "half":
        damaged, data = tmp_path / "cut.tar.zst", whole[:len(whole) // 2]
    elif cut == "last_bytes":
        damaged, data = tmp_path / "cut.tar.zst", whole[:-6]
    else:
        decompress(archive, plain)
        raw = plain.read_bytes().rstrip(b"\0")
        damaged, data = tmp_path / "cut.tar", raw[:len(raw) + (-len(raw)) % 512]
    damaged.write_bytes(data)
    target = tmp_path / "target"

    proc = import_(target, damaged, check=False)

    assert proc.returncode == 1, f"a truncated archive ({cut}) should be refused"
    assert "truncated" in proc.stderr, f"the message should say truncated: {proc.stderr}"
    assert blob_files(target) == {} and os.listdir(target / "uploads") == []
    assert state(target)[2] == {t: [] for t in TABLES}, "no index row may appear"


def hostile_tar(kind):
    buf = io.BytesIO()
    fmt = tarfile.PAX_FORMAT if kind == "huge_pax" else tarfile.USTAR_FORMAT
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        t.addfile(file_info("oci-layout", 30), io.BytesIO(b'{"imageLayoutVersion":"1.0.0"}'))
        if kind in ("symlink", "hardlink"):
            info = tarfile.TarInfo("blobs/sha256/" + "a" * 64)
            info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
            info.linkname = "/etc/passwd" if kind == "symlink" else "oci-layout"
            t.addfile(info)
        elif kind == "huge_pax":
            info = file_info("index.json", 2)
            info.pax_headers = {"comment": "x" * 200000}
            t.addfile(info, io.BytesIO(b"{}"))
        else:
            name = {"traversal": "blobs/sha256/../../../../tmp/evil", "absolute": "/etc/evil",
                    "other_file": "manifest.json"}[kind]
            t.addfile(file_info(name, 4), io.BytesIO(b"evil"))
    return buf.getvalue()


def file_info(name, size):
    info = tarfile.TarInfo(name)
    info.size = size
    return info


@pytest.mark.parametrize("kind,message", [
    ("symlink", "symbolic link"), ("hardlink", "hard link"), ("traversal", "unexpected entry"),
    ("absolute", "unexpected entry"), ("other_file", "unexpected entry"),
    ("huge_pax", "larger than")])
def test_unsafe_entries_are_refused(tmp_path, kind, message):
    archive = tmp_path / f"{kind}.tar"
    archive.write_bytes(hostile_tar(kind))
    target = tmp_path / "target"

    proc = import_(target, archive, check=False)

    assert proc.returncode == 1, f"{kind}: expected the import to be refused"
    assert message in proc.stderr, f"{kind}: expected \"{message}\" in: {proc.stderr}"
    assert not os.path.exists("/tmp/evil")
    assert blob_files(target) == {} and os.listdir(target / "uploads") == []


def test_import_does_not_move_an_immutable_tag(registry_factory, tmp_path):
    a = registry_factory()
    push_image(a.url, "app", "v1", layers=[b"exported v1"])
    archive = tmp_path / "a.tar.zst"
    export(a.data, archive, "app:v1")
    b = registry_factory()
    ocireg("repo", "create", "app", "--mutability", "IMMUTABLE", "--data", b.data)
    kept = push_image(b.url, "app", "v1", layers=[b"already here"])
    before = state(b.data)

    proc = import_(b.data, archive, check=False)

    assert proc.returncode == 1 and "IMMUTABLE" in proc.stderr, proc.stderr
    assert state(b.data) == before, "a refused import must not change the registry"
    assert_pulls(b.url, kept, "v1")


def test_export_to_stdout_imports_from_stdin(srv, tmp_path):
    img = push_image(srv.url, "piped", "v1", layers=[b"through a pipe" * 100])
    target = tmp_path / "target"
    exp = subprocess.Popen([ocireg_binary(), "export", "piped:v1", "-o", "-", "--data", srv.data],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    imp = subprocess.run([ocireg_binary(), "import", "-", "--data", str(target)],
                         stdin=exp.stdout, capture_output=True, text=True, timeout=60)
    exp.stdout.close()
    assert exp.wait(timeout=60) == 0 and imp.returncode == 0, imp.stderr
    row = db(target).execute("SELECT digest FROM tags WHERE name = 'v1'").fetchone()
    assert row == (img.digest,), f"piped:v1 should point at {img.digest}, got {row}"


def test_failed_export_leaves_no_file(srv, tmp_path):
    img = push_image(srv.url, "app", "v1", layers=[b"first layer", b"second layer"])
    out = tmp_path / "out"
    out.mkdir()
    proc = export(srv.data, out / "a.tar.zst", "app:v1", "app:missing", check=False)
    assert proc.returncode == 1 and "app:missing" in proc.stderr, proc.stderr
    os.remove(blob_path(srv.data, img.layers[1]))
    proc = export(srv.data, out / "b.tar.zst", "app:v1", check=False)
    assert proc.returncode == 1 and img.layers[1] in proc.stderr, \
        f"a blob missing halfway through should fail the export: {proc.stderr}"
    assert os.listdir(out) == [], f"no archive and no .tmp should remain: {os.listdir(out)}"


# ---- backup and restore ----

def fsck_clean(data):
    proc = ocireg("fsck", "--data", data, check=False)
    assert proc.returncode == 0, f"fsck of {data} should find a healthy store: {proc.stdout} " \
                                 f"{proc.stderr}"


def test_backup_under_concurrent_pushes_restores_consistently(registry_factory, tmp_path):
    a = registry_factory(extra_args=["--access-log", "false"])
    seed = push_sample(a.url)
    pushed, stop, errors = [], threading.Event(), []

    def pusher():
        session = requests.Session()
        i = 0
        while not stop.is_set() and i < 2000:
            try:
                img = push_image(a.url, f"busy/r{i % 5}", f"t{i}",
                                 layers=[os.urandom(2048), f"layer {i}".encode() * 50],
                                 session=session)
                pushed.append((time.monotonic(), img))
            except Exception as exc:  # reported below, not swallowed
                errors.append(exc)
                return
            i += 1

    threads = [threading.Thread(target=pusher) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    started = time.monotonic()
    archive = tmp_path / "backup.tar.zst"
    out = ocireg("backup", "-o", archive, "--data", a.data, timeout=120).stdout
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors, f"pushes during the backup failed: {errors[:1]}"
    before = [img for at, img in pushed if at < started]
    assert len(before) >= 5 and len(pushed) > len(before), \
        f"expected pushes before and during the backup: {len(before)}/{len(pushed)}"
    assert "backed up" in out
    print(f"pushed {len(before)} images before the backup began, {len(pushed)} in all")

    restored = tmp_path / "restored"
    ocireg("restore", archive, "--data", restored)
    fsck_clean(restored)
    b = registry_factory(data_dir=restored)
    for img in [*seed.values(), *before]:
        problems = pull_problems(b.url, img, ref=img.digest)
        assert not problems, "an image pushed before the backup began: " + "; ".join(problems)
    for _, img in pushed:
        if manifest_status(b.url, img.repo, img.digest) == 200:
            assert_pulls(b.url, img, img.digest)
    for name in os.listdir(os.path.join(a.data, "keys")):
        src, dst = os.path.join(a.data, "keys", name), restored / "keys" / name
        assert open(src, "rb").read() == dst.read_bytes(), f"keys/{name} differs"
        assert stat.S_IMODE(os.stat(src).st_mode) == stat.S_IMODE(os.stat(dst).st_mode), \
            f"keys/{name} should keep its mode"


def test_blob_gone_before_its_copy_is_left_out_with_what_needs_it(registry_factory, tmp_path):
    srv = registry_factory(["--inline-max", "0"])  # a blob file is removed below
    keep = push_image(srv.url, "app", "keep", layers=[b"keep me"])
    child = push_image(srv.url, "multi", None, layers=[b"this layer will vanish"])
    other = push_image(srv.url, "multi", None, layers=[b"sibling"])
    idx = push_index(srv.url, "multi", "latest", [child, other])
    os.remove(blob_path(srv.data, child.layers[0]))
    archive = tmp_path / "b.tar.zst"

    proc = ocireg("backup", "-o", archive, "--data", srv.data)

    assert "warning" in proc.stderr and child.layers[0] in proc.stderr, \
        f"the vanished blob should be reported: {proc.stderr}"
    restored = tmp_path / "restored"
    ocireg("restore", archive, "--data", restored)
    fsck_clean(restored)
    b = registry_factory(data_dir=restored)
    assert_pulls(b.url, keep, "keep")
    assert_pulls(b.url, other, other.digest)
    for gone in (child, idx):
        assert manifest_status(b.url, "multi", gone.digest) == 404, \
            f"{gone.digest} needs the vanished blob and should have been left out"


def test_restore_refuses_a_folder_that_is_not_empty(srv, tmp_path):
    archive = tmp_path / "b.tar.zst"
    ocireg("backup", "-o", archive, "--data", srv.data)
    target = tmp_path / "busy"
    target.mkdir()
    (target / "something").write_text("mine")

    proc = ocireg("restore", archive, "--data", target, check=False)

    assert proc.returncode == 1 and "not empty" in proc.stderr, proc.stderr
    assert os.listdir(target) == ["something"], "restore must not touch a non-empty folder"


def test_restore_of_a_damaged_backup_leaves_the_folder_empty(srv, tmp_path):
    push_image(srv.url, "app", "v1", layers=[os.urandom(100000)])
    archive, plain = tmp_path / "b.tar.zst", tmp_path / "b.tar"
    ocireg("backup", "-o", archive, "--data", srv.data)
    decompress(archive, plain)
    plain.write_bytes(plain.read_bytes()[:plain.stat().st_size // 2])
    target = tmp_path / "target"

    proc = ocireg("restore", plain, "--data", target, check=False)

    assert proc.returncode == 1 and "truncated" in proc.stderr, proc.stderr
    assert not os.path.exists(target), "a failed restore should remove the folder it created"


# ---- memory ----

def blocks(seed, total):
    base = hashlib.sha512(seed).digest() * (BLOCK // 64)
    for i in range(total // BLOCK):
        yield i.to_bytes(8, "little") + seed[:8].ljust(8, b"\0") + base[16:]


@pytest.mark.slow
def test_export_of_a_2gib_image_keeps_memory_flat(registry_factory, tmp_path):
    a = registry_factory(extra_args=["--access-log", "false"])
    h = hashlib.sha256()
    for b in blocks(b"export", 2 * GIB):
        h.update(b)
    layer = "sha256:" + h.hexdigest()
    r = requests.post(f"{a.url}/v2/big/blobs/uploads/?digest={layer}",
                      data=blocks(b"export", 2 * GIB), timeout=600)
    assert r.status_code == 201, f"push of the 2 GiB layer: {r.status_code} {r.text}"
    config = b'{"architecture":"amd64","os":"linux"}'
    push_blob(a.url, "big", config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": descriptor(OCI_CONFIG, config),
                           "layers": [{"mediaType": OCI_LAYER, "digest": layer,
                                       "size": 2 * GIB}]}).encode()
    assert put_manifest(a.url, "big", "v1", manifest).status_code == 201
    archive = tmp_path / "big.tar.zst"

    proc = subprocess.run(["/usr/bin/time", "-v", ocireg_binary(), "export", "big:v1", "-o",
                           str(archive), "--data", a.data], capture_output=True, text=True,
                          timeout=300)

    assert proc.returncode == 0, proc.stderr
    hwm = next(int(line.split(":")[1]) for line in proc.stderr.splitlines()
               if "Maximum resident set size" in line)
    print(f"export of 2 GiB: VmHWM {hwm} KiB")
    assert hwm < HWM_LIMIT_KIB, f"export peak RSS {hwm} KiB, expected under {HWM_LIMIT_KIB} KiB"
    target = tmp_path / "target"
    import_(target, archive)
    assert blob_files(target).get(layer) == 2 * GIB, "the 2 GiB layer should import whole"


# ---- client helpers ----

def skopeo_env(tmp_path):
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    conf = tmp_path / "registries.conf"
    conf.write_text('unqualified-search-registries = []\nshort-name-mode = "disabled"\n')
    env = dict(os.environ, CONTAINERS_REGISTRIES_CONF=str(conf), POLICY=str(policy))
    return env


def run(cmd, env):
    if not shutil.which(cmd[0]):
        pytest.fail(f"{cmd[0]} is needed (Debian package {cmd[0]})")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited with {proc.returncode}: {proc.stderr}"
    return proc


def push_copy(img, repo):
    """The same image as seen in another repository under tag v1."""
    return Image(repo, "v1", img.manifest, img.media_type, img.blobs, img.config, img.layers)
