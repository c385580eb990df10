"""The ECR-compatible API driven by Debian's real `aws` CLI (awscli v2) with access keys of a
user created in the test: every operation, its errors, the login flow and permissions."""
import base64
import json
import os
import subprocess
import sys

import pytest
import requests

from authutil import access_key, add_user, cli, grant
from regutil import push_image

AWS = "/usr/bin/aws"


@pytest.fixture(scope="module")
def ecr(tmp_path_factory):
    """A server with users `admin` (everything under ecr/*) and `reader` (pull), and their keys."""
    from ocireg_harness import RegistryServer
    data = tmp_path_factory.mktemp("ecr") / "data"
    add_user(data, "admin", "admin-pass")
    add_user(data, "reader", "reader-pass")
    grant(data, "admin", "ecr/*", "*")
    grant(data, "reader", "ecr/*", "pull")
    keys = {u: access_key(data, u)
            for u in ("admin", "reader")}
    server = RegistryServer(data).start()
    yield server, keys, tmp_path_factory.mktemp("awshome")
    server.stop()


def aws(ecr, *args, user="admin", check=True, secret=None):
    server, keys, home = ecr
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "AWS_ACCESS_KEY_ID":
           keys[user]["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": secret or
           keys[user]["SecretAccessKey"], "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": "",
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    proc = subprocess.run([AWS, "ecr", *args, "--endpoint-url", server.url, "--output", "json"],
                          capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert proc.returncode == 0, f"aws ecr {' '.join(args)}: {proc.stderr}"
        return json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc


def aws_error(ecr, *args, **kw):
    proc = aws(ecr, *args, check=False, **kw)
    assert proc.returncode != 0, f"aws ecr {' '.join(args)} should fail: {proc.stdout}"
    return proc.stderr


def token_for(ecr, repo):
    server, _, _ = ecr
    r = requests.get(f"{server.url}/token", auth=("admin", "admin-pass"), timeout=30,
                     params={"service": "ocireg", "scope": f"repository:{repo}:pull,push"})
    return r.json()["token"]


def push(ecr, repo, tag):
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + token_for(ecr, repo)
    return push_image(ecr[0].url, repo, tag, layers=(b"layer of " + repo.encode(),),
                      session=session).digest


def test_create_and_describe_repository(ecr):
    server = ecr[0]
    out = aws(ecr, "create-repository", "--repository-name", "ecr/app",
              "--image-tag-mutability", "IMMUTABLE", "--tags", "Key=team,Value=a")
    repo = out["repository"]
    assert repo["repositoryName"] == "ecr/app" and repo["registryId"] == "000000000000"
    assert repo["repositoryUri"] == f"{server.host}/ecr/app"
    assert repo["repositoryArn"] == "arn:aws:ecr:us-east-1:000000000000:repository/ecr/app"
    assert repo["imageTagMutability"] == "IMMUTABLE"
    err = aws_error(ecr, "create-repository", "--repository-name", "ecr/app")
    assert "RepositoryAlreadyExistsException" in err
    got = aws(ecr, "describe-repositories", "--repository-names", "ecr/app")["repositories"]
    assert [r["repositoryName"] for r in got] == ["ecr/app"]
    assert "RepositoryNotFoundException" in aws_error(ecr, "describe-repositories",
                                                      "--repository-names", "ecr/none")
    assert "InvalidParameterException" in aws_error(ecr, "create-repository",
                                                    "--repository-name", "Ecr/Bad")


def test_describe_repositories_paginates(ecr):
    for n in ("ecr/p1", "ecr/p2", "ecr/p3"):
        aws(ecr, "create-repository", "--repository-name", n)
    out = aws(ecr, "describe-repositories", "--page-size", "1")
    names = [r["repositoryName"] for r in out["repositories"]]
    assert {"ecr/p1", "ecr/p2", "ecr/p3"} <= set(names) and names == sorted(names)
    page = aws(ecr, "describe-repositories", "--max-items", "2")
    assert len(page["repositories"]) == 2 and "NextToken" in page


def test_images_list_describe_get_delete(ecr):
    aws(ecr, "create-repository", "--repository-name", "ecr/img")
    d1 = push(ecr, "ecr/img", "v1")
    d2 = push(ecr, "ecr/img", "v2")
    server = ecr[0]
    ids = aws(ecr, "list-images", "--repository-name", "ecr/img")["imageIds"]
    assert {(i["imageDigest"], i.get("imageTag")) for i in ids} >= {(d1, "v1"), (d2, "v2")}
    tagged = aws(ecr, "list-images", "--repository-name", "ecr/img", "--filter",
                 "tagStatus=UNTAGGED")["imageIds"]
    assert tagged == []
    details = aws(ecr, "describe-images", "--repository-name", "ecr/img", "--image-ids",
                  "imageTag=v1")["imageDetails"]
    d = details[0]
    assert d["imageDigest"] == d1 and d["imageTags"] == ["v1"]
    manifest = requests.get(f"{server.url}/v2/ecr/img/manifests/v1", timeout=10, headers={
        "Authorization": "Bearer " + token_for(ecr, "ecr/img")}).content
    cfg_and_layers = sum(l["size"] for l in json.loads(manifest)["layers"]) + \
        json.loads(manifest)["config"]["size"]
    assert d["imageSizeInBytes"] == len(manifest) + cfg_and_layers
    assert d["imageManifestMediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert d["artifactMediaType"] == "application/vnd.oci.image.config.v1+json"
    assert "imagePushedAt" in d
    assert "ImageNotFoundException" in aws_error(ecr, "describe-images", "--repository-name",
                                                 "ecr/img", "--image-ids", "imageTag=nope")
    got = aws(ecr, "batch-get-image", "--repository-name", "ecr/img", "--image-ids",
              "imageTag=v1", "imageTag=missing")
    assert got["images"][0]["imageManifest"].encode() == manifest
    assert got["failures"][0]["failureCode"] == "ImageNotFound"
    out = aws(ecr, "batch-delete-image", "--repository-name", "ecr/img", "--image-ids",
              "imageTag=v2", f"imageDigest={d1}", "imageTag=ghost")
    assert len(out["imageIds"]) == 2 and out["failures"][0]["failureCode"] == "ImageNotFound"
    left = aws(ecr, "list-images", "--repository-name", "ecr/img", "--filter",
               "tagStatus=UNTAGGED")["imageIds"]
    assert left == [], "deleting v2, its last tag, deletes the image (as ECR does)"


def test_tag_mutability_and_resource_tags(ecr):
    out = aws(ecr, "create-repository", "--repository-name", "ecr/mut")
    arn = out["repository"]["repositoryArn"]
    out = aws(ecr, "put-image-tag-mutability", "--repository-name", "ecr/mut",
              "--image-tag-mutability", "IMMUTABLE")
    assert out["imageTagMutability"] == "IMMUTABLE"
    aws(ecr, "tag-resource", "--resource-arn", arn, "--tags", "Key=env,Value=prod")
    tags = aws(ecr, "list-tags-for-resource", "--resource-arn", arn)["tags"]
    assert tags == [{"Key": "env", "Value": "prod"}]
    aws(ecr, "untag-resource", "--resource-arn", arn, "--tag-keys", "env")
    assert aws(ecr, "list-tags-for-resource", "--resource-arn", arn)["tags"] == []
    assert "AccessDeniedException" in aws_error(ecr, "describe-registry"), \
        "the registry itself needs a grant on '*'; admin holds ecr/* only"


def test_lifecycle_policy_operations(ecr):
    aws(ecr, "create-repository", "--repository-name", "ecr/life")
    for tag in ("a1", "a2", "a3"):
        push(ecr, "ecr/life", tag)
    policy = json.dumps({"rules": [{"rulePriority": 1, "selection": {
        "tagStatus": "tagged", "tagPrefixList": ["a"], "countType": "imageCountMoreThan",
        "countNumber": 1}, "action": {"type": "expire"}}]})
    assert "LifecyclePolicyNotFoundException" in aws_error(ecr, "get-lifecycle-policy",
                                                           "--repository-name", "ecr/life")
    out = aws(ecr, "put-lifecycle-policy", "--repository-name", "ecr/life",
              "--lifecycle-policy-text", policy)
    assert out["lifecyclePolicyText"] == policy
    assert aws(ecr, "get-lifecycle-policy", "--repository-name",
               "ecr/life")["lifecyclePolicyText"] == policy
    bad_policy = json.dumps({"rules": [{"rulePriority": 1, "description": "a rule that has "
                                        "no selection, which ECR requires",
                                        "action": {"type": "expire"}}]})
    bad = aws_error(ecr, "put-lifecycle-policy", "--repository-name", "ecr/life",
                    "--lifecycle-policy-text", bad_policy)
    assert "InvalidParameterException" in bad and "selection" in bad
    aws(ecr, "start-lifecycle-policy-preview", "--repository-name", "ecr/life")
    preview = aws(ecr, "get-lifecycle-policy-preview", "--repository-name", "ecr/life")
    assert preview["status"] == "COMPLETE"
    assert preview["summary"]["expiringImageTotalCount"] == 2
    assert all(r["action"]["type"] == "EXPIRE" for r in preview["previewResults"])
    aws(ecr, "delete-lifecycle-policy", "--repository-name", "ecr/life")
    assert "LifecyclePolicyNotFoundException" in aws_error(ecr, "delete-lifecycle-policy",
                                                           "--repository-name", "ecr/life")


def test_login_password_works_for_v2_and_token_endpoint(ecr):
    server = ecr[0]
    out = aws(ecr, "get-authorization-token")["authorizationData"][0]
    user, password = base64.b64decode(out["authorizationToken"]).decode().split(":", 1)
    assert user == "AWS" and out["proxyEndpoint"] == server.url and out["expiresAt"]
    login = aws(ecr, "get-login-password", check=False)
    assert login.returncode == 0 and login.stdout.strip()
    push(ecr, "ecr/login", "v1")
    r = requests.get(f"{server.url}/v2/ecr/login/tags/list", auth=("AWS", password), timeout=10)
    assert r.status_code == 200 and r.json()["tags"] == ["v1"]
    r = requests.get(f"{server.url}/v2/ecr/login/tags/list", auth=("AWS", password + "x"),
                     timeout=10)
    assert r.status_code == 401
    r = requests.get(f"{server.url}/token", auth=("AWS", password), timeout=10,
                     params={"service": "ocireg", "scope": "repository:ecr/login:pull"})
    assert r.status_code == 200


def test_reader_cannot_delete_or_change_policy(ecr):
    aws(ecr, "create-repository", "--repository-name", "ecr/guarded")
    push(ecr, "ecr/guarded", "v1")
    assert aws(ecr, "list-images", "--repository-name", "ecr/guarded", user="reader")["imageIds"]
    for args in (["batch-delete-image", "--repository-name", "ecr/guarded", "--image-ids",
                  "imageTag=v1"],
                 ["put-lifecycle-policy", "--repository-name", "ecr/guarded",
                  "--lifecycle-policy-text", json.dumps({"rules": [{
                      "rulePriority": 1, "selection": {"tagStatus": "any", "countType":
                                                       "imageCountMoreThan", "countNumber": 1},
                      "action": {"type": "expire"}}]})],
                 ["delete-repository", "--repository-name", "ecr/guarded", "--force"]):
        assert "AccessDeniedException" in aws_error(ecr, *args, user="reader"), args


def test_delete_repository_needs_force_when_not_empty(ecr):
    aws(ecr, "create-repository", "--repository-name", "ecr/del")
    push(ecr, "ecr/del", "v1")
    assert "RepositoryNotEmptyException" in aws_error(ecr, "delete-repository",
                                                      "--repository-name", "ecr/del")
    out = aws(ecr, "delete-repository", "--repository-name", "ecr/del", "--force")
    assert out["repository"]["repositoryName"] == "ecr/del"
    assert "RepositoryNotFoundException" in aws_error(ecr, "describe-repositories",
                                                      "--repository-names", "ecr/del")


def test_bad_signatures_are_refused(ecr):
    server = ecr[0]
    assert "InvalidSignatureException" in aws_error(ecr, "describe-registry",
                                                    secret="x" * 40)
    r = requests.post(server.url + "/", data="{}", timeout=10, headers={
        "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeRegistry",
        "Content-Type": "application/x-amz-json-1.1"})
    assert r.status_code in (400, 403)
    assert r.json()["__type"] == "MissingAuthenticationTokenException"
    r = requests.post(server.url + "/", data="{}", timeout=10, headers={
        "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeRegistry",
        "X-Amz-Date": "20260101T000000Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIANOSUCHKEY0000000/20260101/us-east-1/"
                         "ecr/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64})
    assert r.json()["__type"] == "UnrecognizedClientException"


def test_ecr_login_flow_with_skopeo(ecr, tmp_path):
    """get-login-password -> skopeo login -> skopeo copy push -> describe-images shows it."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "clients"))
    from ocibuild import build_single
    server = ecr[0]
    aws(ecr, "create-repository", "--repository-name", "ecr/skopeo")
    login = aws(ecr, "get-login-password", check=False)
    assert login.returncode == 0, login.stderr
    authfile = str(tmp_path / "auth.json")
    proc = subprocess.run(["skopeo", "login", "--authfile", authfile, "-u", "AWS",
                           "--password-stdin", "--tls-verify=false", server.host],
                          input=login.stdout.strip(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    layout = str(tmp_path / "layout")
    build_single(layout, tag="v1")
    proc = subprocess.run(["skopeo", "copy", "--authfile", authfile, "--dest-tls-verify=false",
                           f"oci:{layout}:v1", f"docker://{server.host}/ecr/skopeo:v1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    details = aws(ecr, "describe-images", "--repository-name", "ecr/skopeo")["imageDetails"]
    assert len(details) == 1 and details[0]["imageTags"] == ["v1"]
    assert details[0]["imageSizeInBytes"] > 100_000, "busybox layer + config + manifest"
    proc = subprocess.run(["skopeo", "copy", "--authfile", authfile, "--dest-tls-verify=false",
                           f"oci:{layout}:v1", f"docker://{server.host}/other/repo:v1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0, "the login password carries admin's grants (ecr/*) only"


def test_aws_cli_batch_delete_by_mismatched_tag_and_digest_deletes_nothing(ecr):
    """The worst bug a registry can have, as a script would hit it: v1 names image A, the
    digest is image B's; ECR answers a failure and deletes neither."""
    a = push(ecr, "ecr/mismatch", "v1")
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + token_for(ecr, "ecr/mismatch")
    b = push_image(ecr[0].url, "ecr/mismatch", "v2", layers=(b"the other image",),
                   session=session).digest
    out = aws(ecr, "batch-delete-image", "--repository-name", "ecr/mismatch", "--image-ids",
              f"imageDigest={b},imageTag=v1")
    assert out["imageIds"] == []
    assert out["failures"][0]["failureCode"] == "ImageTagDoesNotMatchDigest"
    left = aws(ecr, "list-images", "--repository-name", "ecr/mismatch")["imageIds"]
    assert {(i["imageDigest"], i.get("imageTag")) for i in left} == {(a, "v1"), (b, "v2")}


def test_aws_cli_repository_policy_round_trip(ecr):
    push(ecr, "ecr/policy-cli", "v1")
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "ReaderPulls", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::000000000000:user/reader"},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]})
    out = aws(ecr, "set-repository-policy", "--repository-name", "ecr/policy-cli",
              "--policy-text", policy)
    assert json.loads(out["policyText"]) == json.loads(policy)
    got = aws(ecr, "get-repository-policy", "--repository-name", "ecr/policy-cli")
    assert json.loads(got["policyText"])["Statement"][0]["Sid"] == "ReaderPulls"
    err = aws_error(ecr, "set-repository-policy", "--repository-name", "ecr/policy-cli",
                    "--policy-text", '{"Statement": [{"Effect": "Maybe"}]}')
    assert "InvalidParameterException" in err
    aws(ecr, "delete-repository-policy", "--repository-name", "ecr/policy-cli")
    assert "RepositoryPolicyNotFoundException" in aws_error(
        ecr, "get-repository-policy", "--repository-name", "ecr/policy-cli")
