"""ECR image operations as boto3 (Debian's botocore and its ECR model) sees them:
BatchDeleteImage's tag and digest semantics and failure codes, BatchGetImage's failures and
acceptedMediaTypes, the default page of 100 for ListImages / DescribeImages /
GetLifecyclePolicyPreview, and lifecycle previews kept in the index."""
import json

import boto3
import pytest
import requests
from botocore.config import Config

from authutil import user_with_key
from regutil import OCI_INDEX, OCI_MANIFEST, digest_of, image_manifest, push_image, \
    push_index, put_manifest

DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MISSING = "sha256:" + "0" * 64


@pytest.fixture(scope="module")
def ecr(tmp_path_factory):
    """A server with user `admin` (everything under ecr/*) and a boto3 ECR client for it."""
    from ocireg_harness import RegistryServer
    data = tmp_path_factory.mktemp("ecrimg") / "data"
    key = user_with_key(data, "admin", "admin-pass", "ecr/*")
    server = RegistryServer(data).start()
    yield server, client_for(server, key), key
    server.stop()


def client_for(server, key):
    return boto3.client("ecr", endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id=key["AccessKeyId"],
                        aws_secret_access_key=key["SecretAccessKey"],
                        config=Config(retries={"max_attempts": 1}))


class Repo:
    """A repository created through ECR, pushed to through the OCI API with a token."""

    def __init__(self, ecr, name):
        self.server, self.client, _ = ecr
        self.name = name
        self.client.create_repository(repositoryName=name)
        r = requests.get(f"{self.server.url}/token", auth=("admin", "admin-pass"), timeout=30,
                         params={"service": "ocireg", "scope": f"repository:{name}:pull,push,delete"})
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Bearer " + r.json()["token"]
        self.count = 0

    def push(self, *tags):
        self.count += 1
        img = push_image(self.server.url, self.name, tags[0] if tags else None,
                         layers=(f"{self.name} layer {self.count}".encode(),),
                         session=self.session)
        for tag in tags[1:]:
            self.tag(img, tag)
        return img

    def tag(self, img, tag, media_type=OCI_MANIFEST):
        r = put_manifest(self.server.url, self.name, tag, img.manifest, media_type,
                         session=self.session)
        assert r.status_code == 201, f"tagging {tag}: {r.status_code} {r.text}"

    def status(self, ref):
        return self.session.get(f"{self.server.url}/v2/{self.name}/manifests/{ref}", timeout=10,
                                headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}).status_code

    def tags_of(self, digest):
        out = self.client.describe_images(repositoryName=self.name,
                                          imageIds=[{"imageDigest": digest}])
        return sorted(out["imageDetails"][0].get("imageTags", []))

    def delete(self, *ids):
        return self.client.batch_delete_image(repositoryName=self.name, imageIds=list(ids))


def failure_codes(out):
    return [f["failureCode"] for f in out["failures"]]


# ---- BatchDeleteImage ----

def test_delete_with_a_tag_of_another_image_deletes_nothing(ecr):
    repo = Repo(ecr, "ecr/del-mismatch")
    a = repo.push("v1")
    b = repo.push("v2")
    out = repo.delete({"imageDigest": b.digest, "imageTag": "v1"})
    assert out["imageIds"] == [], f"nothing may be deleted: {out}"
    assert failure_codes(out) == ["ImageTagDoesNotMatchDigest"], out
    assert out["failures"][0]["imageId"] == {"imageDigest": b.digest, "imageTag": "v1"}
    assert repo.status(b.digest) == 200 and repo.status("v2") == 200, "image B was deleted"
    assert repo.status("v1") == 200 and repo.status(a.digest) == 200, "tag v1 was removed"


def test_delete_with_the_tag_and_digest_of_one_image_removes_that_tag(ecr):
    repo = Repo(ecr, "ecr/del-match")
    a = repo.push("v1", "v1b")
    out = repo.delete({"imageDigest": a.digest, "imageTag": "v1"})
    assert out["imageIds"] == [{"imageDigest": a.digest, "imageTag": "v1"}], out
    assert repo.status("v1") == 404 and repo.tags_of(a.digest) == ["v1b"]


def test_deleting_the_last_tag_deletes_the_image(ecr):
    repo = Repo(ecr, "ecr/del-last")
    a = repo.push("only")
    out = repo.delete({"imageTag": "only"})
    assert out["imageIds"] == [{"imageDigest": a.digest, "imageTag": "only"}], out
    assert out["failures"] == []
    assert repo.status(a.digest) == 404, "an image whose last tag went must be deleted"
    listed = repo.client.list_images(repositoryName=repo.name)["imageIds"]
    assert listed == [], f"no untagged image may be left: {listed}"


def test_deleting_one_of_several_tags_keeps_the_image(ecr):
    repo = Repo(ecr, "ecr/del-one-tag")
    a = repo.push("x", "y")
    out = repo.delete({"imageTag": "x"})
    assert out["imageIds"] == [{"imageDigest": a.digest, "imageTag": "x"}], out
    assert repo.status(a.digest) == 200 and repo.tags_of(a.digest) == ["y"]
    repo.delete({"imageTag": "y"})
    assert repo.status(a.digest) == 404


def test_deleting_the_last_tag_of_an_index_child_keeps_the_child(ecr):
    repo = Repo(ecr, "ecr/del-child")
    child = repo.push("child")
    idx = push_index(repo.server.url, repo.name, "multi", [child], session=repo.session)
    out = repo.delete({"imageTag": "child"})
    assert out["failures"] == [] and repo.status("child") == 404
    assert repo.status(child.digest) == 200, "the index still lists the child"
    out = repo.delete({"imageDigest": child.digest})
    assert failure_codes(out) == ["ImageReferencedByManifestList"], out
    assert repo.status(idx.digest) == 200


def test_delete_by_digest_removes_every_tag(ecr):
    repo = Repo(ecr, "ecr/del-digest")
    a = repo.push("p", "q")
    out = repo.delete({"imageDigest": a.digest})
    assert out["imageIds"] == [{"imageDigest": a.digest}] and out["failures"] == [], out
    assert repo.status("p") == 404 and repo.status("q") == 404 and repo.status(a.digest) == 404


def test_the_oci_api_delete_of_a_tag_only_untags(ecr):
    repo = Repo(ecr, "ecr/oci-untag")
    a = repo.push("t")
    r = repo.session.delete(f"{repo.server.url}/v2/{repo.name}/manifests/t", timeout=10)
    assert r.status_code == 202, r.text
    assert repo.status(a.digest) == 200, "DELETE of a tag through /v2 must keep the image"


@pytest.mark.parametrize("image_id, code", [
    ({"imageTag": "absent"}, "ImageNotFound"),
    ({"imageDigest": MISSING}, "ImageNotFound"),
    ({"imageDigest": "sha256:xyz"}, "InvalidImageDigest"),
    ({"imageTag": "-bad tag"}, "InvalidImageTag"),
    ({}, "MissingDigestAndTag"),
])
def test_delete_failures_carry_the_model_codes(ecr, image_id, code):
    client = ecr[1]
    name = "ecr/del-codes"
    try:
        client.create_repository(repositoryName=name)
    except client.exceptions.RepositoryAlreadyExistsException:
        pass
    out = client.batch_delete_image(repositoryName=name, imageIds=[image_id])
    assert out["imageIds"] == [] and failure_codes(out) == [code], out
    assert out["failures"][0]["imageId"] == image_id and out["failures"][0]["failureReason"]


# ---- default pages ----

MANY = 105


@pytest.fixture(scope="module")
def many(ecr):
    """A repository with MANY untagged images (one config and layer, distinct annotations)."""
    repo = Repo(ecr, "ecr/many")
    base = repo.push()
    digests = {base.digest}
    config = base.blobs[base.config]
    layers = [base.blobs[d] for d in base.layers]
    for i in range(MANY - 1):
        body = image_manifest(config, layers, annotations={"n": str(i)})
        r = put_manifest(repo.server.url, repo.name, digest_of(body), body, session=repo.session)
        assert r.status_code == 201, r.text
        digests.add(digest_of(body))
    return repo, digests


def test_list_images_without_max_results_pages_at_100(many):
    repo, digests = many
    out = repo.client.list_images(repositoryName=repo.name)
    assert len(out["imageIds"]) == 100 and out.get("nextToken"), \
        f"expected a page of 100 and a nextToken, got {len(out['imageIds'])} items"
    rest = repo.client.list_images(repositoryName=repo.name, nextToken=out["nextToken"])
    assert len(rest["imageIds"]) == MANY - 100 and "nextToken" not in rest
    got = {i["imageDigest"] for i in out["imageIds"] + rest["imageIds"]}
    assert got == digests
    big = repo.client.list_images(repositoryName=repo.name, maxResults=1000)
    assert len(big["imageIds"]) == MANY and "nextToken" not in big


def test_describe_images_without_max_results_pages_at_100(many):
    repo, digests = many
    out = repo.client.describe_images(repositoryName=repo.name)
    assert len(out["imageDetails"]) == 100 and out.get("nextToken")
    rest = repo.client.describe_images(repositoryName=repo.name, nextToken=out["nextToken"])
    got = {d["imageDigest"] for d in out["imageDetails"] + rest["imageDetails"]}
    assert got == digests and "nextToken" not in rest


@pytest.mark.parametrize("param", ["maxResults", "nextToken"])
def test_describe_images_refuses_paging_with_image_ids(many, param):
    repo, digests = many
    token = repo.client.describe_images(repositoryName=repo.name, maxResults=1)["nextToken"]
    extra = {"maxResults": 5} if param == "maxResults" else {"nextToken": token}
    with pytest.raises(repo.client.exceptions.InvalidParameterException):
        repo.client.describe_images(repositoryName=repo.name,
                                    imageIds=[{"imageDigest": next(iter(digests))}], **extra)


# ---- BatchGetImage ----

def test_batch_get_image_failures_carry_the_model_codes(ecr):
    repo = Repo(ecr, "ecr/get-codes")
    a = repo.push("a")
    b = repo.push("b")
    ids = [{"imageDigest": b.digest, "imageTag": "a"}, {"imageDigest": "sha256:nothex"},
           {"imageTag": "-bad"}, {}, {"imageTag": "ghost"}, {"imageDigest": MISSING},
           {"imageDigest": a.digest, "imageTag": "a"}]
    out = repo.client.batch_get_image(repositoryName=repo.name, imageIds=ids)
    assert failure_codes(out) == ["ImageTagDoesNotMatchDigest", "InvalidImageDigest",
                                  "InvalidImageTag", "MissingDigestAndTag", "ImageNotFound",
                                  "ImageNotFound"], out["failures"]
    assert [f["imageId"] for f in out["failures"]] == ids[:6]
    assert [i["imageId"] for i in out["images"]] == [{"imageDigest": a.digest, "imageTag": "a"}]


def test_batch_get_image_honours_accepted_media_types(ecr):
    repo = Repo(ecr, "ecr/get-types")
    img = repo.push("oci")
    out = repo.client.batch_get_image(repositoryName=repo.name, imageIds=[{"imageTag": "oci"}],
                                      acceptedMediaTypes=[DOCKER_V2])
    assert out["images"] == [] and failure_codes(out) == ["UnsupportedImageType"], out
    out = repo.client.batch_get_image(repositoryName=repo.name, imageIds=[{"imageTag": "oci"}],
                                      acceptedMediaTypes=[DOCKER_V2, OCI_MANIFEST])
    assert out["failures"] == [] and out["images"][0]["imageManifest"].encode() == img.manifest
    assert out["images"][0]["imageManifestMediaType"] == OCI_MANIFEST


# ---- lifecycle policy previews ----

def keep_newest(status, prefixes=None, priority=1):
    sel = {"tagStatus": status, "countType": "imageCountMoreThan", "countNumber": 1}
    if prefixes:
        sel["tagPrefixList"] = prefixes
    return {"rulePriority": priority, "selection": sel, "action": {"type": "expire"}}


def start_preview(repo, *rules):
    text = json.dumps({"rules": list(rules)})
    out = repo.client.start_lifecycle_policy_preview(repositoryName=repo.name,
                                                     lifecyclePolicyText=text)
    assert out["status"] == "COMPLETE", f"the preview is done when Start answers: {out}"
    return text


def test_preview_without_max_results_pages_at_100(many):
    repo, _ = many
    start_preview(repo, keep_newest("untagged"))
    out = repo.client.get_lifecycle_policy_preview(repositoryName=repo.name)
    assert len(out["previewResults"]) == 100 and out.get("nextToken"), len(out["previewResults"])
    assert out["summary"]["expiringImageTotalCount"] == MANY - 1
    rest = repo.client.get_lifecycle_policy_preview(repositoryName=repo.name,
                                                    nextToken=out["nextToken"])
    assert len(rest["previewResults"]) == MANY - 101 and "nextToken" not in rest
    digests = {r["imageDigest"] for r in out["previewResults"] + rest["previewResults"]}
    assert len(digests) == MANY - 1


def test_preview_honours_max_results(many):
    repo, _ = many
    start_preview(repo, keep_newest("untagged"))
    out = repo.client.get_lifecycle_policy_preview(repositoryName=repo.name, maxResults=10)
    assert len(out["previewResults"]) == 10 and out.get("nextToken")
    with pytest.raises(repo.client.exceptions.InvalidParameterException):
        repo.client.get_lifecycle_policy_preview(repositoryName=repo.name, maxResults=101)


@pytest.fixture(scope="module")
def mixed(ecr):
    """Three tagged (v1..v3) and three untagged images, and a preview expiring two of each."""
    repo = Repo(ecr, "ecr/prev-mixed")
    for tag in ("v1", "v2", "v3", None, None, None):
        repo.push(*([tag] if tag else []))
    start_preview(repo, keep_newest("tagged", ["v"]), keep_newest("untagged", priority=2))
    return repo


@pytest.mark.parametrize("status, tagged", [("TAGGED", True), ("UNTAGGED", False)])
def test_preview_honours_the_tag_status_filter(mixed, status, tagged):
    out = mixed.client.get_lifecycle_policy_preview(repositoryName=mixed.name,
                                                    filter={"tagStatus": status})
    got = [bool(r.get("imageTags")) for r in out["previewResults"]]
    assert got == [tagged, tagged], f"{status}: {out['previewResults']}"
    assert out["summary"]["expiringImageTotalCount"] == 4


def test_preview_honours_image_ids(mixed):
    every = mixed.client.get_lifecycle_policy_preview(repositoryName=mixed.name)
    assert len(every["previewResults"]) == 4
    one = every["previewResults"][0]["imageDigest"]
    out = mixed.client.get_lifecycle_policy_preview(repositoryName=mixed.name,
                                                    imageIds=[{"imageDigest": one}])
    assert [r["imageDigest"] for r in out["previewResults"]] == [one]
    tag = next(r["imageTags"][0] for r in every["previewResults"] if r.get("imageTags"))
    out = mixed.client.get_lifecycle_policy_preview(repositoryName=mixed.name,
                                                    imageIds=[{"imageTag": tag}])
    assert [r["imageTags"] for r in out["previewResults"]] == [[tag]]
    with pytest.raises(mixed.client.exceptions.InvalidParameterException):
        mixed.client.get_lifecycle_policy_preview(repositoryName=mixed.name, maxResults=5,
                                                  imageIds=[{"imageDigest": one}])


def test_preview_is_answered_by_another_instance_and_after_a_restart(ecr):
    from ocireg_harness import RegistryServer
    server, client, key = ecr
    repo = Repo(ecr, "ecr/prev-shared")
    for tag in ("s1", "s2"):
        repo.push(tag)
    text = start_preview(repo, keep_newest("tagged", ["s"]))
    other = RegistryServer(server.data).start()
    try:
        out = client_for(other, key).get_lifecycle_policy_preview(repositoryName=repo.name)
    finally:
        other.stop()
    assert out["status"] == "COMPLETE" and out["lifecyclePolicyText"] == text
    assert out["summary"]["expiringImageTotalCount"] == 1
    server.restart()
    again = client.get_lifecycle_policy_preview(repositoryName=repo.name)
    assert again["previewResults"] == out["previewResults"]


def test_preview_goes_with_its_repository(ecr):
    _, client, _ = ecr
    repo = Repo(ecr, "ecr/prev-gone")
    repo.push("g1")
    start_preview(repo, keep_newest("tagged", ["g"]))
    client.delete_repository(repositoryName=repo.name, force=True)
    with pytest.raises(client.exceptions.RepositoryNotFoundException):
        client.get_lifecycle_policy_preview(repositoryName=repo.name)
    client.create_repository(repositoryName=repo.name)
    with pytest.raises(client.exceptions.LifecyclePolicyPreviewNotFoundException):
        client.get_lifecycle_policy_preview(repositoryName=repo.name)
