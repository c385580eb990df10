"""The ECR layer API and PutImage, driven by boto3 and the aws CLI: an image pushed entirely
through InitiateLayerUpload / UploadLayerPart / CompleteLayerUpload / PutImage pulls with
skopeo and docker, an image pushed with skopeo or docker downloads through
GetDownloadUrlForLayer, retag with batch-get-image + put-image, and every refusal."""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import urllib.parse

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from regutil import digest_of, push_image, put_manifest
from test_ecr import aws, ecr  # noqa: F401  (the module's server, users and access keys)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "clients"))
import ocibuild  # noqa: E402

PART_MAX = 20 << 20  # ECR_LAYER_PART_MAX


def client(ecr, user="admin"):
    server, keys, _ = ecr
    return boto3.client("ecr", endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id=keys[user]["AccessKeyId"],
                        aws_secret_access_key=keys[user]["SecretAccessKey"],
                        config=Config(retries={"max_attempts": 1}, read_timeout=120))


def error_of(call, *args, **kw):
    """The AWS error a call fails with: (code, the whole error response)."""
    try:
        call(*args, **kw)
    except ClientError as exc:
        return exc.response["Error"]["Code"], exc.response
    raise AssertionError(f"{call.__name__} should have failed")


def create(ecr, repo, **kw):
    client(ecr).create_repository(repositoryName=repo, **kw)
    return repo


def upload_layer(ecr_client, repo, data, part_size=256 * 1024):
    """Push one blob with the layer API (skipped when BatchCheckLayerAvailability has it)."""
    dg = digest_of(data)
    check = ecr_client.batch_check_layer_availability(repositoryName=repo, layerDigests=[dg])
    if check["layers"]:
        return dg
    upload_id = ecr_client.initiate_layer_upload(repositoryName=repo)["uploadId"]
    for first in range(0, len(data), part_size):
        part = data[first:first + part_size]
        r = ecr_client.upload_layer_part(repositoryName=repo, uploadId=upload_id,
                                         partFirstByte=first,
                                         partLastByte=first + len(part) - 1, layerPartBlob=part)
        assert r["lastByteReceived"] == first + len(part) - 1
    done = ecr_client.complete_layer_upload(repositoryName=repo, uploadId=upload_id,
                                            layerDigests=[dg])
    assert done["layerDigest"] == dg
    return dg


def layout_blob(layout, dg):
    with open(os.path.join(layout, "blobs", "sha256", dg.split(":", 1)[1]), "rb") as f:
        return f.read()


def push_layout_with_layer_api(ecr_client, repo, tag, layout, image):
    for dg in [image.config_digest, *image.layer_digests]:
        upload_layer(ecr_client, repo, layout_blob(layout, dg))
    out = ecr_client.put_image(repositoryName=repo, imageTag=tag,
                               imageManifest=image.manifest.decode())
    assert out["image"]["imageId"] == {"imageDigest": image.manifest_digest, "imageTag": tag}
    assert out["image"]["imageManifestMediaType"] == ocibuild.OCI_MANIFEST
    return out


def login_authfile(ecr, path):
    server = ecr[0]
    data = client(ecr).get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    with open(path, "w") as f:
        json.dump({"auths": {server.host: {"auth": auth}}}, f)
    return password


def skopeo(*args):
    proc = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"skopeo {' '.join(args)}: {proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A real busybox image (config + one gzip layer) in an OCI layout."""
    layout = str(tmp_path_factory.mktemp("layer-api") / "layout")
    return layout, ocibuild.build_single(layout, tag="v1")


# ---- pushing with the layer API, pulling with clients ----

def test_layer_api_push_pulls_with_skopeo(ecr, built, tmp_path):
    layout, image = built
    repo = create(ecr, "ecr/layers-skopeo")
    push_layout_with_layer_api(client(ecr), repo, "v1", layout, image)
    authfile = str(tmp_path / "auth.json")
    login_authfile(ecr, authfile)
    out = str(tmp_path / "pulled")
    skopeo("copy", "--authfile", authfile, "--src-tls-verify=false",
           f"docker://{ecr[0].host}/{repo}:v1", f"dir:{out}")
    with open(os.path.join(out, "manifest.json"), "rb") as f:
        assert f.read() == image.manifest, "skopeo must receive the manifest byte for byte"
    for dg in [image.config_digest, *image.layer_digests]:
        with open(os.path.join(out, dg.split(":", 1)[1]), "rb") as f:
            assert digest_of(f.read()) == dg


def clients_conftest():
    """tests/clients/conftest.py as a module of its own (for its Dockerd)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "clients_conftest", os.path.join(os.path.dirname(__file__), "clients", "conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.clients
def test_layer_api_push_pulls_with_docker_and_docker_push_downloads(ecr, built, tmp_path):
    layout, image = built
    server = ecr[0]
    repo = create(ecr, "ecr/layers-docker")
    target = create(ecr, "ecr/docker-pushed")
    push_layout_with_layer_api(client(ecr), repo, "v1", layout, image)
    password = login_authfile(ecr, str(tmp_path / "unused.json"))
    dockerd = clients_conftest().Dockerd(server)
    try:
        login = subprocess.run([dockerd.docker_exe, "login", "-u", "AWS", "--password-stdin",
                                server.host], input=password, env=dockerd.env,
                               capture_output=True, text=True, timeout=60)
        assert login.returncode == 0, login.stderr
        dockerd.docker("pull", f"{server.host}/{repo}:v1")
        assert dockerd.inspect(f"{server.host}/{repo}:v1")["Id"] == image.config_digest
        dockerd.docker("tag", f"{server.host}/{repo}:v1", f"{server.host}/{target}:d1")
        dockerd.docker("push", f"{server.host}/{target}:d1")
    finally:
        dockerd.stop()
    download_every_layer(ecr, target, "d1")


# ---- pushing with clients, downloading through GetDownloadUrlForLayer ----

def download_every_layer(ecr, repo, tag):
    """boto3: batch-get-image, then every layer and the config through a download URL."""
    c = client(ecr)
    img = c.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": tag}])["images"][0]
    manifest = json.loads(img["imageManifest"])
    digests = [manifest["config"]["digest"]] + [l["digest"] for l in manifest["layers"]]
    for dg in digests:
        url = c.get_download_url_for_layer(repositoryName=repo, layerDigest=dg)
        assert url["layerDigest"] == dg
        r = requests.get(url["downloadUrl"], timeout=60)
        assert r.status_code == 200, f"download URL of {dg}: {r.status_code} {r.text}"
        assert digest_of(r.content) == dg
    return digests


def test_skopeo_push_downloads_through_get_download_url(ecr, built, tmp_path):
    layout, image = built
    repo = create(ecr, "ecr/skopeo-pushed")
    authfile = str(tmp_path / "auth.json")
    login_authfile(ecr, authfile)
    skopeo("copy", "--authfile", authfile, "--dest-tls-verify=false", f"oci:{layout}:v1",
           f"docker://{ecr[0].host}/{repo}:v1")
    assert download_every_layer(ecr, repo, "v1") == [image.config_digest, *image.layer_digests]


# ---- signed download URLs ----

@pytest.fixture(scope="module")
def two_blobs(ecr):
    repo = create(ecr, "ecr/signed")
    c = client(ecr)
    first, second = b"first blob " * 100, b"second blob " * 100
    return repo, upload_layer(c, repo, first), upload_layer(c, repo, second), first


def with_query(url, **changes):
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query.update(changes)
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def test_download_url_grants_one_blob_and_refuses_tampering(ecr, two_blobs):
    repo, first, second, first_bytes = two_blobs
    server = ecr[0]
    create(ecr, "ecr/signed-other")
    url = client(ecr).get_download_url_for_layer(repositoryName=repo, layerDigest=first)
    url = url["downloadUrl"]
    assert url.startswith(f"{server.url}/v2/{repo}/blobs/{first}?"), url
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and r.content == first_bytes
    r = requests.get(url, headers={"Range": "bytes=0-4"}, timeout=30)
    assert r.status_code == 206 and r.content == first_bytes[:5]
    assert requests.get(url.split("?")[0], timeout=30).status_code == 401, \
        "without the signature the blob needs a token"
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    sig, expires = query["X-Ocireg-Signature"], query["X-Ocireg-Expires"]
    tampered = {
        "other blob": url.replace(first, second),
        "other repository": url.replace(f"/v2/{repo}/", "/v2/ecr/signed-other/"),
        "later expiry": with_query(url, **{"X-Ocireg-Expires": str(int(expires) + 1)}),
        "expiry with a leading zero": with_query(url, **{"X-Ocireg-Expires": "0" + expires}),
        "changed signature": with_query(url, **{"X-Ocireg-Signature": ("0" if sig[0] != "0"
                                                                       else "1") + sig[1:]}),
        "short signature": with_query(url, **{"X-Ocireg-Signature": sig[:-1]}),
        "no signature": url.split("&X-Ocireg-Signature")[0],
        "manifest route": url.replace(f"/blobs/{first}", f"/manifests/{first}"),
    }
    for what, bad in tampered.items():
        r = requests.get(bad, timeout=30)
        assert r.status_code == 403, f"{what}: expected 403, got {r.status_code} {r.text}"
        assert r.json()["errors"][0]["code"] == "DENIED"
    for method in ("HEAD", "DELETE"):
        r = requests.request(method, url, timeout=30)
        assert r.status_code == 403, f"a signed URL must not grant {method}: {r.status_code}"
    assert requests.get(url, timeout=30).status_code == 200, "the blob must still be there"


def test_expired_download_url_is_refused(ecr, two_blobs):
    """A URL signed (with the server's key, as the server derives it) for a past time."""
    repo, first, _, _ = two_blobs
    server = ecr[0]
    with open(os.path.join(server.data, "keys", "master.key"), "rb") as f:
        master = f.read()
    key = hmac.new(master, b"ocireg blob download URL v1", hashlib.sha256).digest()

    def signed(expires):
        sig = hmac.new(key, f"GET\n{repo}\n{first}\n{expires}".encode(), hashlib.sha256)
        return (f"{server.url}/v2/{repo}/blobs/{first}?X-Ocireg-Expires={expires}"
                f"&X-Ocireg-Signature={sig.hexdigest()}")

    assert requests.get(signed(int(time.time()) + 60), timeout=30).status_code == 200, \
        "the test signs as the server does"
    r = requests.get(signed(int(time.time()) - 5), timeout=30)
    assert r.status_code == 403 and "expired" in r.text, r.text


def test_get_download_url_errors(ecr, two_blobs):
    repo = two_blobs[0]
    c = client(ecr)
    code, _ = error_of(c.get_download_url_for_layer, repositoryName=repo,
                       layerDigest="sha256:" + "ab" * 32)
    assert code == "LayersNotFoundException"
    code, _ = error_of(c.get_download_url_for_layer, repositoryName=repo, layerDigest="sha256:xyz")
    assert code == "InvalidParameterException"
    code, _ = error_of(c.get_download_url_for_layer, repositoryName="ecr/nope",
                       layerDigest=two_blobs[1])
    assert code == "RepositoryNotFoundException"
    url = client(ecr, "reader").get_download_url_for_layer(repositoryName=repo,
                                                           layerDigest=two_blobs[1])
    assert requests.get(url["downloadUrl"], timeout=30).status_code == 200, "pull suffices"


# ---- the layer API's rules ----

def test_batch_check_layer_availability(ecr, two_blobs):
    repo, first, _, first_bytes = two_blobs
    missing = "sha256:" + "cd" * 32
    out = client(ecr).batch_check_layer_availability(
        repositoryName=repo, layerDigests=[first, missing, "sha256:nothex"])
    assert out["layers"] == [{"layerDigest": first, "layerAvailability": "AVAILABLE",
                              "layerSize": len(first_bytes)}]
    assert [(f["layerDigest"], f["failureCode"]) for f in out["failures"]] == [
        (missing, "MissingLayerDigest"), ("sha256:nothex", "InvalidLayerDigest")]
    code, _ = error_of(client(ecr).batch_check_layer_availability, repositoryName="ecr/nope",
                       layerDigests=[first])
    assert code == "RepositoryNotFoundException"


def test_upload_layer_part_must_continue_the_upload_exactly(ecr):
    repo = create(ecr, "ecr/parts")
    c = client(ecr)
    uid = c.initiate_layer_upload(repositoryName=repo)["uploadId"]
    c.upload_layer_part(repositoryName=repo, uploadId=uid, partFirstByte=0, partLastByte=9,
                        layerPartBlob=b"0123456789")
    for first, last, what in ((11, 20, "gap"), (5, 14, "overlap"), (10, 30, "wrong last byte"),
                              (10, 9, "empty")):
        blob = b"x" * max(0, last - first + 1) if what != "wrong last byte" else b"x" * 10
        code, resp = error_of(c.upload_layer_part, repositoryName=repo, uploadId=uid,
                              partFirstByte=first, partLastByte=last, layerPartBlob=blob)
        assert code == "InvalidLayerPartException", what
        assert resp["lastValidByteReceived"] == 9, f"{what}: {resp}"
        assert resp["uploadId"] == uid
    c.upload_layer_part(repositoryName=repo, uploadId=uid, partFirstByte=10, partLastByte=14,
                        layerPartBlob=b"abcde")
    done = c.complete_layer_upload(repositoryName=repo, uploadId=uid,
                                   layerDigests=[digest_of(b"0123456789abcde")])
    assert done["layerDigest"] == digest_of(b"0123456789abcde")
    code, _ = error_of(c.upload_layer_part, repositoryName=repo, uploadId=uid, partFirstByte=15,
                       partLastByte=15, layerPartBlob=b"z")
    assert code == "UploadNotFoundException", "a completed upload is gone"


def test_upload_belongs_to_its_repository(ecr):
    repo, other = create(ecr, "ecr/parts-a"), create(ecr, "ecr/parts-b")
    c = client(ecr)
    uid = c.initiate_layer_upload(repositoryName=repo)["uploadId"]
    code, _ = error_of(c.upload_layer_part, repositoryName=other, uploadId=uid, partFirstByte=0,
                       partLastByte=0, layerPartBlob=b"a")
    assert code == "UploadNotFoundException"
    code, _ = error_of(c.upload_layer_part, repositoryName=repo,
                       uploadId="00000000-0000-4000-8000-000000000000", partFirstByte=0,
                       partLastByte=0, layerPartBlob=b"a")
    assert code == "UploadNotFoundException"
    code, _ = error_of(c.initiate_layer_upload, repositoryName="ecr/nope")
    assert code == "RepositoryNotFoundException"


def test_complete_layer_upload_errors(ecr):
    repo = create(ecr, "ecr/complete")
    c = client(ecr)
    uid = c.initiate_layer_upload(repositoryName=repo)["uploadId"]
    code, _ = error_of(c.complete_layer_upload, repositoryName=repo, uploadId=uid,
                       layerDigests=[digest_of(b"")])
    assert code == "EmptyUploadException"
    c.upload_layer_part(repositoryName=repo, uploadId=uid, partFirstByte=0, partLastByte=4,
                        layerPartBlob=b"hello")
    code, _ = error_of(c.complete_layer_upload, repositoryName=repo, uploadId=uid,
                       layerDigests=[digest_of(b"other")])
    assert code == "InvalidLayerException"
    code, _ = error_of(c.complete_layer_upload, repositoryName=repo, uploadId=uid,
                       layerDigests=["sha256:short"])
    assert code == "InvalidParameterException"
    out = c.complete_layer_upload(repositoryName=repo, uploadId=uid,
                                  layerDigests=[digest_of(b"hello")])
    assert out["layerDigest"] == digest_of(b"hello"), "a wrong digest leaves the upload usable"
    uid = c.initiate_layer_upload(repositoryName=repo)["uploadId"]
    c.upload_layer_part(repositoryName=repo, uploadId=uid, partFirstByte=0, partLastByte=4,
                        layerPartBlob=b"hello")
    code, _ = error_of(c.complete_layer_upload, repositoryName=repo, uploadId=uid,
                       layerDigests=[digest_of(b"hello")])
    assert code == "LayerAlreadyExistsException"


def test_layer_part_limit(ecr):
    """A part of ECR_LAYER_PART_MAX bytes is taken; one byte more is refused; other
    operations keep the 1 MiB body limit."""
    repo = create(ecr, "ecr/big-parts")
    c = client(ecr)
    uid = c.initiate_layer_upload(repositoryName=repo)["uploadId"]
    assert c.initiate_layer_upload(repositoryName=repo)["partSize"] == PART_MAX
    part = os.urandom(1024) * (PART_MAX // 1024)
    out = c.upload_layer_part(repositoryName=repo, uploadId=uid, partFirstByte=0,
                              partLastByte=PART_MAX - 1, layerPartBlob=part)
    assert out["lastByteReceived"] == PART_MAX - 1
    code, _ = error_of(c.upload_layer_part, repositoryName=repo, uploadId=uid,
                       partFirstByte=PART_MAX, partLastByte=2 * PART_MAX,
                       layerPartBlob=part + b"x")
    assert code == "InvalidParameterException"
    out = c.complete_layer_upload(repositoryName=repo, uploadId=uid, layerDigests=[digest_of(part)])
    assert out["layerDigest"] == digest_of(part)
    try:
        c.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText="x" * (2 << 20))
        raise AssertionError("a 2 MiB PutLifecyclePolicy body must be refused")
    except ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_put_image_takes_manifests_up_to_the_oci_limit(ecr):
    """MANIFEST_MAX_BYTES (4 MiB) as over OCI, though the JSON body escapes it (\\u00e9)."""
    repo = create(ecr, "ecr/big-manifest")
    c = client(ecr)
    doc = json.loads(manifest_for(c, repo, "big"))
    doc["annotations"] = {"org.example.filler": "\u00e9" * (1 << 20)}  # 2 MiB of UTF-8
    text = json.dumps(doc, ensure_ascii=False)
    out = c.put_image(repositoryName=repo, imageManifest=text, imageTag="big")
    assert out["image"]["imageId"]["imageDigest"] == digest_of(text.encode())
    doc["annotations"]["org.example.filler"] = "x" * (4 << 20)
    code, resp = error_of(c.put_image, repositoryName=repo, imageManifest=json.dumps(doc))
    assert code == "InvalidParameterException" and "longer than" in resp["Error"]["Message"]


def test_reader_cannot_push_layers_or_images(ecr, two_blobs):
    repo = two_blobs[0]
    r = client(ecr, "reader")
    assert error_of(r.initiate_layer_upload, repositoryName=repo)[0] == "AccessDeniedException"
    assert error_of(r.put_image, repositoryName=repo, imageManifest="{}")[0] == \
        "AccessDeniedException"
    assert r.batch_check_layer_availability(repositoryName=repo,
                                            layerDigests=[two_blobs[1]])["layers"]


# ---- PutImage ----

def manifest_for(ecr_client, repo, label):
    config = json.dumps({"architecture": "amd64", "os": "linux", "label": label}).encode()
    layer = b"layer for " + label.encode()
    cdg, ldg = upload_layer(ecr_client, repo, config), upload_layer(ecr_client, repo, layer)
    return json.dumps({"schemaVersion": 2, "mediaType": ocibuild.OCI_MANIFEST,
                       "config": {"mediaType": ocibuild.OCI_CONFIG, "digest": cdg,
                                  "size": len(config)},
                       "layers": [{"mediaType": ocibuild.OCI_LAYER_GZIP, "digest": ldg,
                                   "size": len(layer)}]}, sort_keys=True)


def test_put_image_errors(ecr):
    repo = create(ecr, "ecr/put-image")
    c = client(ecr)
    text = manifest_for(c, repo, "one")
    dg = digest_of(text.encode())
    code, _ = error_of(c.put_image, repositoryName=repo, imageManifest=text,
                       imageDigest="sha256:" + "0" * 64)
    assert code == "ImageDigestDoesNotMatchException"
    out = c.put_image(repositoryName=repo, imageManifest=text, imageTag="a", imageDigest=dg)
    assert out["image"]["imageId"]["imageDigest"] == dg
    assert out["image"]["imageManifest"] == text
    code, _ = error_of(c.put_image, repositoryName=repo, imageManifest=text, imageTag="a")
    assert code == "ImageAlreadyExistsException"
    code, _ = error_of(c.put_image, repositoryName=repo, imageManifest=text)
    assert code == "ImageAlreadyExistsException", "untagged and already there"
    c.put_image(repositoryName=repo, imageManifest=text, imageTag="b")  # a new tag is a change
    missing = json.loads(text)
    missing["layers"][0]["digest"] = "sha256:" + "ee" * 32
    code, resp = error_of(c.put_image, repositoryName=repo, imageManifest=json.dumps(missing))
    assert code == "LayersNotFoundException" and "ee" * 32 in resp["Error"]["Message"]
    index = {"schemaVersion": 2, "mediaType": ocibuild.OCI_INDEX, "manifests": [
        {"mediaType": ocibuild.OCI_MANIFEST, "digest": dg, "size": len(text)},
        {"mediaType": ocibuild.OCI_MANIFEST, "digest": "sha256:" + "dd" * 32, "size": 10}]}
    code, _ = error_of(c.put_image, repositoryName=repo, imageManifest=json.dumps(index))
    assert code == "ReferencedImagesNotFoundException"
    index["manifests"].pop()
    out = c.put_image(repositoryName=repo, imageManifest=json.dumps(index), imageTag="idx")
    assert out["image"]["imageManifestMediaType"] == ocibuild.OCI_INDEX
    for bad in ("{not json", json.dumps({"schemaVersion": 2, "mediaType": "text/plain"})):
        assert error_of(c.put_image, repositoryName=repo, imageManifest=bad)[0] == \
            "InvalidParameterException"
    assert error_of(c.put_image, repositoryName=repo, imageManifest=text, imageTag="bad tag!")[0] \
        == "InvalidParameterException"
    assert error_of(c.put_image, repositoryName="ecr/nope", imageManifest=text)[0] == \
        "RepositoryNotFoundException"


def test_put_image_respects_tag_immutability(ecr):
    repo = create(ecr, "ecr/put-immutable", imageTagMutability="IMMUTABLE")
    c = client(ecr)
    first, second = manifest_for(c, repo, "first"), manifest_for(c, repo, "second")
    c.put_image(repositoryName=repo, imageManifest=first, imageTag="v1")
    code, resp = error_of(c.put_image, repositoryName=repo, imageManifest=second, imageTag="v1")
    assert code == "ImageTagAlreadyExistsException" and "v1" in resp["Error"]["Message"]
    c.put_image(repositoryName=repo, imageManifest=second, imageTag="v2")
    tags = {d["imageDigest"]: d.get("imageTags") for d in
            c.describe_images(repositoryName=repo)["imageDetails"]}
    assert tags == {digest_of(first.encode()): ["v1"], digest_of(second.encode()): ["v2"]}


def test_put_image_media_type_must_agree(ecr):
    repo = create(ecr, "ecr/put-media-type")
    c = client(ecr)
    text = manifest_for(c, repo, "mt")
    code, _ = error_of(c.put_image, repositoryName=repo, imageManifest=text,
                       imageManifestMediaType=ocibuild.DOCKER_MANIFEST)
    assert code == "InvalidParameterException"
    out = c.put_image(repositoryName=repo, imageManifest=text,
                      imageManifestMediaType=ocibuild.OCI_MANIFEST, imageTag="ok")
    assert out["image"]["imageManifestMediaType"] == ocibuild.OCI_MANIFEST


def test_retag_with_batch_get_image_and_put_image_through_aws_cli(ecr):
    """The AWS documentation's retag recipe, as users type it."""
    server = ecr[0]
    repo = create(ecr, "ecr/retag")
    c = client(ecr)
    text = manifest_for(c, repo, "retag")
    c.put_image(repositoryName=repo, imageManifest=text, imageTag="v1")
    got = aws(ecr, "batch-get-image", "--repository-name", repo, "--image-ids", "imageTag=v1")
    manifest = got["images"][0]["imageManifest"]
    out = aws(ecr, "put-image", "--repository-name", repo, "--image-tag", "v2",
              "--image-manifest", manifest)
    assert out["image"]["imageId"] == {"imageDigest": digest_of(text.encode()), "imageTag": "v2"}
    details = aws(ecr, "describe-images", "--repository-name", repo)["imageDetails"]
    assert len(details) == 1 and sorted(details[0]["imageTags"]) == ["v1", "v2"]
    proc = aws(ecr, "put-image", "--repository-name", repo, "--image-tag", "v2",
               "--image-manifest", manifest, check=False)
    assert proc.returncode != 0 and "ImageAlreadyExistsException" in proc.stderr
    token = requests.get(f"{server.url}/token", auth=("admin", "admin-pass"), timeout=30,
                         params={"service": "ocireg", "scope": f"repository:{repo}:pull"})
    r = requests.get(f"{server.url}/v2/{repo}/manifests/v2", timeout=30, headers={
        "Authorization": "Bearer " + token.json()["token"],
        "Accept": ocibuild.OCI_MANIFEST})
    assert r.status_code == 200 and r.content == text.encode()


def test_oci_manifest_put_keeps_its_answers(ecr):
    """The OCI PUT now shares PutImage's path: its own errors and digest check stay."""
    server = ecr[0]
    repo = "ecr/oci-shared"
    token = requests.get(f"{server.url}/token", auth=("admin", "admin-pass"), timeout=30,
                         params={"service": "ocireg", "scope": f"repository:{repo}:pull,push"})
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + token.json()["token"]
    img = push_image(server.url, repo, "t1", layers=(b"shared path",), session=session)
    r = put_manifest(server.url, repo, "sha256:" + "0" * 64, img.manifest, session=session)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    r = put_manifest(server.url, repo, "t2", img.manifest, session=session)
    assert r.status_code == 201, "pushing an existing manifest again over OCI is no error"


def test_layer_api_obeys_max_blob_size(tmp_path):
    """UploadLayerPart past --max-blob-size is LimitExceededException, as an OCI push is 413."""
    from authutil import grant, user_with_key
    from ocireg_harness import RegistryServer
    data = tmp_path / "data"
    key = user_with_key(data, "admin", "admin-pass", "*")
    server = RegistryServer(data, ["--max-blob-size", "1000"]).start()
    try:
        c = client((server, {"admin": key}, None))
        c.create_repository(repositoryName="ecr/limit")
        uid = c.initiate_layer_upload(repositoryName="ecr/limit")["uploadId"]
        c.upload_layer_part(repositoryName="ecr/limit", uploadId=uid, partFirstByte=0,
                            partLastByte=999, layerPartBlob=b"a" * 1000)
        code, _ = error_of(c.upload_layer_part, repositoryName="ecr/limit", uploadId=uid,
                           partFirstByte=1000, partLastByte=1000, layerPartBlob=b"b")
        assert code == "LimitExceededException"
        done = c.complete_layer_upload(repositoryName="ecr/limit", uploadId=uid,
                                       layerDigests=[digest_of(b"a" * 1000)])
        assert done["layerDigest"] == digest_of(b"a" * 1000)
    finally:
        server.stop()
