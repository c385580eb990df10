"""skopeo against the registry: OCI image and index round trips, Docker schema 2 conversion,
inspect, list-tags, delete, registry-to-registry copies (cross-repository blob mounts)."""
import io
import json
import os
import tarfile

import pytest

import ocibuild
from clientutil import (image_digests, layout_blob, layout_ref, registry_manifest,
                        registry_manifest_status, run_fails, sha256_digest)
from ocibuild import (DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX,
                      OCI_MANIFEST)

pytestmark = pytest.mark.clients


def check_layout_image(layout, manifest_digest, built):
    """The image manifest `manifest_digest` in OCI layout `layout` is exactly `built`."""
    manifest = layout_blob(layout, manifest_digest)
    assert manifest == built.manifest, "pulled manifest bytes differ from the pushed ones"
    config_digest, layer_digests = image_digests(manifest)
    assert config_digest == built.config_digest
    assert layer_digests == built.layer_digests
    assert layout_blob(layout, config_digest) == built.config
    for digest in layer_digests:
        layout_blob(layout, digest)  # present and matching its digest


def test_push_pull_oci_image(reg, images, skopeo, repo, tmp_path):
    ref = f"{reg.host}/{repo}:v1"
    skopeo.copy(f"oci:{images.single_dir}:v1", f"docker://{ref}", "--preserve-digests")

    body, ctype, digest = registry_manifest(reg, repo, "v1")
    assert ctype == OCI_MANIFEST
    assert digest == images.single.manifest_digest
    assert body == images.single.manifest

    out = str(tmp_path / "pulled")
    skopeo.copy(f"docker://{ref}", f"oci:{out}:v1", "--preserve-digests")
    desc = layout_ref(out, "v1")
    assert desc["digest"] == images.single.manifest_digest
    assert desc["mediaType"] == OCI_MANIFEST
    check_layout_image(out, desc["digest"], images.single)

    # Pull by digest as well.
    out2 = str(tmp_path / "by-digest")
    skopeo.copy(f"docker://{reg.host}/{repo}@{images.single.manifest_digest}", f"oci:{out2}:x",
                "--preserve-digests")
    check_layout_image(out2, layout_ref(out2, "x")["digest"], images.single)


def test_push_pull_multiarch_index(reg, images, skopeo, repo, tmp_path):
    ref = f"{reg.host}/{repo}:multi"
    skopeo.copy(f"oci:{images.multi_dir}:multi", f"docker://{ref}", "--all", "--preserve-digests")

    body, ctype, digest = registry_manifest(reg, repo, "multi")
    assert ctype == OCI_INDEX
    assert digest == images.multi.index_digest
    assert skopeo.inspect_raw(f"docker://{ref}") == images.multi.index
    for image in images.multi.images.values():
        child, child_type, child_digest = registry_manifest(reg, repo, image.manifest_digest)
        assert child_type == OCI_MANIFEST and child == image.manifest

    out = str(tmp_path / "pulled")
    skopeo.copy(f"docker://{ref}", f"oci:{out}:multi", "--all", "--preserve-digests")
    desc = layout_ref(out, "multi")
    assert desc["digest"] == images.multi.index_digest
    assert layout_blob(out, desc["digest"]) == images.multi.index
    for image in images.multi.images.values():
        check_layout_image(out, image.manifest_digest, image)

    # Without --all skopeo resolves the index to one platform's manifest.
    for arch, image in images.multi.images.items():
        one = str(tmp_path / f"only-{arch}")
        skopeo("--override-arch", arch, "copy", "--policy", skopeo.policy, "--src-tls-verify=false",
               "--preserve-digests", f"docker://{ref}", f"oci:{one}:{arch}")
        got = layout_ref(one, arch)
        assert got["digest"] == image.manifest_digest, f"{arch}: wrong child manifest"
        check_layout_image(one, got["digest"], image)


def test_docker_schema2_image(reg, images, skopeo, repo, tmp_path):
    ref = f"{reg.host}/{repo}:v2s2"
    skopeo.copy(f"oci:{images.single_dir}:v1", f"docker://{ref}", "--format", "v2s2")

    body, ctype, digest = registry_manifest(reg, repo, "v2s2")
    assert ctype == DOCKER_MANIFEST
    manifest = json.loads(body)
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert manifest["config"]["mediaType"] == DOCKER_CONFIG
    assert [layer["mediaType"] for layer in manifest["layers"]] == [DOCKER_LAYER_GZIP]
    # The compressed layer is reused as is; the config keeps the same contents.
    assert [layer["digest"] for layer in manifest["layers"]] == images.single.layer_digests
    config = skopeo.inspect_raw(f"docker://{ref}", config=True)
    assert sha256_digest(config) == manifest["config"]["digest"]
    assert json.loads(config)["rootfs"]["diff_ids"] == images.single.diff_ids

    info = skopeo.inspect(f"docker://{ref}")
    assert info["Digest"] == digest
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"

    # dir: keeps the manifest byte for byte.
    out = str(tmp_path / "dir")
    skopeo.copy(f"docker://{ref}", f"dir:{out}", "--preserve-digests")
    with open(os.path.join(out, "manifest.json"), "rb") as f:
        assert f.read() == body
    for d in [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]:
        with open(os.path.join(out, d.split(":", 1)[1]), "rb") as f:
            assert sha256_digest(f.read()) == d

    # And back from the dir: copy to another tag keeps the digest.
    skopeo.copy(f"dir:{out}", f"docker://{reg.host}/{repo}:again", "--preserve-digests")
    assert registry_manifest(reg, repo, "again")[2] == digest


def test_docker_manifest_list(reg, images, skopeo, repo):
    """--all --format v2s2 turns the OCI index into a Docker manifest list."""
    ref = f"{reg.host}/{repo}:list"
    skopeo.copy(f"oci:{images.multi_dir}:multi", f"docker://{ref}", "--all", "--format", "v2s2")
    body, ctype, _ = registry_manifest(reg, repo, "list")
    assert ctype == DOCKER_LIST
    listing = json.loads(body)
    assert sorted(m["platform"]["architecture"] for m in listing["manifests"]) == ["amd64", "arm64"]
    for m in listing["manifests"]:
        assert m["mediaType"] == DOCKER_MANIFEST
        child, child_type, child_digest = registry_manifest(reg, repo, m["digest"])
        assert child_type == DOCKER_MANIFEST and child_digest == m["digest"]
        assert len(child) == m["size"]


def test_inspect_raw(reg, images, skopeo, repo):
    ref = f"docker://{reg.host}/{repo}:v1"
    skopeo.copy(f"oci:{images.single_dir}:v1", ref, "--preserve-digests")
    assert skopeo.inspect_raw(ref) == images.single.manifest
    assert skopeo.inspect_raw(ref, config=True) == images.single.config
    info = skopeo.inspect(ref)
    assert info["Digest"] == images.single.manifest_digest
    assert info["Layers"] == images.single.layer_digests
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"
    assert info["Labels"] == {"org.example.built-by": "ocireg-client-tests"}


def test_list_tags(reg, images, skopeo, repo):
    src = f"docker://{reg.host}/{repo}:one"
    skopeo.copy(f"oci:{images.single_dir}:v1", src, "--preserve-digests")
    for tag in ["two", "three", "1.0.0", "latest"]:
        skopeo.copy(src, f"docker://{reg.host}/{repo}:{tag}", "--preserve-digests")
    tags = skopeo.list_tags(f"docker://{reg.host}/{repo}")
    assert tags["Repository"] == f"{reg.host}/{repo}"
    assert sorted(tags["Tags"]) == sorted(["one", "two", "three", "1.0.0", "latest"])
    for tag in tags["Tags"]:
        assert registry_manifest(reg, repo, tag)[2] == images.single.manifest_digest


def test_delete(reg, images, skopeo, repo):
    keep = f"docker://{reg.host}/{repo}:keep"
    doomed = f"docker://{reg.host}/{repo}:doomed"
    skopeo.copy(f"oci:{images.single_dir}:v1", keep, "--preserve-digests")
    # A different manifest (Docker schema 2 of the same image) under the tag to delete.
    skopeo.copy(f"oci:{images.single_dir}:v1", doomed, "--format", "v2s2")
    doomed_digest = registry_manifest(reg, repo, "doomed")[2]
    assert doomed_digest != images.single.manifest_digest

    skopeo.delete(doomed)
    failed = run_fails([skopeo.exe, "inspect", "--tls-verify=false", "--raw", doomed])
    assert any(s in failed.stderr.lower() for s in ("manifest unknown", "not found", "404")), failed.stderr
    assert registry_manifest_status(reg, repo, doomed_digest) == 404
    assert registry_manifest_status(reg, repo, "doomed") == 404
    assert sorted(skopeo.list_tags(f"docker://{reg.host}/{repo}")["Tags"]) == ["keep"]
    # The other manifest is untouched.
    assert skopeo.inspect_raw(keep) == images.single.manifest

    # Delete by digest.
    skopeo.delete(f"docker://{reg.host}/{repo}@{images.single.manifest_digest}")
    assert registry_manifest_status(reg, repo, images.single.manifest_digest) == 404


def test_copy_between_repositories(reg, images, skopeo, repo):
    """Registry-to-registry copy: skopeo mounts the blobs from the source repository."""
    skopeo.copy(f"oci:{images.multi_dir}:multi", f"docker://{reg.host}/{repo}/src:multi",
                "--all", "--preserve-digests")
    skopeo.copy(f"docker://{reg.host}/{repo}/src:multi", f"docker://{reg.host}/{repo}/dst:multi",
                "--all", "--preserve-digests")
    assert registry_manifest(reg, f"{repo}/dst", "multi")[2] == images.multi.index_digest
    for image in images.multi.images.values():
        assert registry_manifest(reg, f"{repo}/dst", image.manifest_digest)[0] == image.manifest
        assert skopeo.inspect_raw(f"docker://{reg.host}/{repo}/dst@{image.manifest_digest}",
                                  config=True) == image.config


def test_push_pull_large_layer(reg, skopeo, repo, tmp_path):
    """A second, incompressible 24 MiB layer: streamed uploads and downloads."""
    data = os.urandom(24 << 20)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("data/random.bin")
        info.size = len(data)
        info.mtime = ocibuild.MTIME
        tar.addfile(info, io.BytesIO(data))
    layout = ocibuild.OCILayout(str(tmp_path / "src"))
    image = ocibuild.add_image(layout, layers=[ocibuild.busybox_rootfs_tar(), buf.getvalue()])
    layout.tag("big", {k: v for k, v in image.manifest_desc.items() if k != "platform"})

    ref = f"docker://{reg.host}/{repo}:big"
    skopeo.copy(f"oci:{layout.path}:big", ref, "--preserve-digests", timeout=180)
    assert registry_manifest(reg, repo, "big")[2] == image.manifest_digest
    out = str(tmp_path / "pulled")
    skopeo.copy(ref, f"oci:{out}:big", "--preserve-digests", timeout=180)
    check_layout_image(out, layout_ref(out, "big")["digest"], image)
