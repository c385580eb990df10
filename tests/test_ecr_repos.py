"""ECR repository and registry operations as the SDKs know them (Debian's botocore model):
pagination bounds, resource tags, the registry id, request ids, scanning configuration, what
ocireg does not offer, and DescribeRegistry's permission. Driven with boto3, and with raw
SigV4-signed requests where the SDK would refuse the input before sending it."""
import json
import os
import re
import time
import uuid

import boto3
import botocore.config
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from authutil import access_key, add_user, grant

REGION = "us-east-1"
TARGET = "AmazonEC2ContainerRegistry_V20150921."


def start_server(tmp_path_factory, extra_args=()):
    """A server with users `root` (everything), `team` (everything under ecr/*) and `nobody`
    (no grant), and their access keys."""
    from ocireg_harness import RegistryServer
    data = tmp_path_factory.mktemp("ecrrepos") / "data"
    for user in ("root", "team", "nobody"):
        add_user(data, user, user + "-pass")
    grant(data, "root", "*", "*")
    grant(data, "team", "ecr/*", "*")
    keys = {u: access_key(data, u)
            for u in ("root", "team", "nobody")}
    return RegistryServer(data, extra_args=extra_args).start(), keys


@pytest.fixture(scope="module")
def ecr(tmp_path_factory):
    server, keys = start_server(tmp_path_factory)
    yield server, keys
    server.stop()


def client(ecr, user="root", validate=True):
    server, keys = ecr
    cfg = botocore.config.Config(retries={"max_attempts": 1},
                                 parameter_validation=validate)
    return boto3.client("ecr", endpoint_url=server.url, region_name=REGION, config=cfg,
                        aws_access_key_id=keys[user]["AccessKeyId"],
                        aws_secret_access_key=keys[user]["SecretAccessKey"])


def raw(ecr, operation, body, user="root", region=REGION):
    """One signed request as the SDKs send it, without their input validation."""
    server, keys = ecr
    creds = Credentials(keys[user]["AccessKeyId"], keys[user]["SecretAccessKey"])
    req = AWSRequest(method="POST", url=server.url + "/", data=json.dumps(body),
                     headers={"X-Amz-Target": TARGET + operation,
                              "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(creds, "ecr", region).add_auth(req)
    return requests.post(server.url + "/", data=req.body, headers=dict(req.headers), timeout=30)


def error_type(response):
    assert response.status_code >= 400, f"expected an error, got {response.status_code}: " \
        f"{response.text[:300]}"
    return response.json()["__type"]


def create(ecr, name, **kw):
    return client(ecr).create_repository(repositoryName=name, **kw)["repository"]


def ensure(ecr, name):
    """Create `name` unless an earlier test did."""
    if not raw(ecr, "DescribeRepositories", {"repositoryNames": [name]}).ok:
        create(ecr, name)


# ---- 3: the registry id -------------------------------------------------------------------

def test_registry_id_setting_is_in_every_arn_uri_and_response(tmp_path_factory):
    server, keys = start_server(tmp_path_factory, ["--registry-id", "123456789012"])
    try:
        ecr = (server, keys)
        repo = create(ecr, "ecr/acct")
        assert repo["registryId"] == "123456789012", repo
        assert repo["repositoryArn"] == "arn:aws:ecr:us-east-1:123456789012:repository/ecr/acct"
        assert client(ecr).describe_registry()["registryId"] == "123456789012"
        out = client(ecr).put_image_tag_mutability(repositoryName="ecr/acct",
                                                   imageTagMutability="IMMUTABLE")
        assert out["registryId"] == "123456789012", out
        r = raw(ecr, "DescribeRepositories", {"registryId": "000000000000",
                                              "repositoryNames": ["ecr/acct"]})
        assert error_type(r) == "RepositoryNotFoundException", r.text
        assert "000000000000" in r.json()["message"]
    finally:
        server.stop()


def test_registry_id_setting_must_be_twelve_digits(tmp_path):
    from regutil import ocireg
    for bad in ("12345", "1234567890123", "12345678901a"):
        proc = ocireg("serve", "--data", str(tmp_path), "--registry-id", bad, check=False,
                      timeout=20)
        assert proc.returncode != 0 and "registry-id: expected 12 digits" in proc.stderr, \
            f"--registry-id {bad}: expected a refusal naming the setting: {proc.stderr}"


def test_registry_id_of_another_account_is_refused(ecr):
    create(ecr, "ecr/other-acct")
    r = raw(ecr, "ListImages", {"registryId": "111122223333", "repositoryName": "ecr/other-acct"})
    assert error_type(r) == "RepositoryNotFoundException", r.text
    r = raw(ecr, "DescribeRepositories", {"registryId": "111122223333"})
    assert error_type(r) == "InvalidParameterException", r.text
    r = raw(ecr, "CreateRepository", {"registryId": "111122223333", "repositoryName": "ecr/x2"})
    assert error_type(r) == "InvalidParameterException", r.text
    r = raw(ecr, "DescribeRepositories", {"registryId": "12"})
    assert error_type(r) == "InvalidParameterException", r.text
    ours = raw(ecr, "DescribeRepositories", {"registryId": "000000000000",
                                             "repositoryNames": ["ecr/other-acct"]})
    assert ours.status_code == 200, ours.text


@pytest.mark.parametrize("arn", [
    "arn:aws:ecr:us-east-1:111122223333:repository/ecr/arns",
    "arn:aws:ecr:eu-west-1:000000000000:repository/ecr/arns",
    "arn:aws:s3:us-east-1:000000000000:repository/ecr/arns",
    "arn:aws:ecr:us-east-1:000000000000:repository",
], ids=["other-account", "other-region", "other-service", "no-name"])
def test_arn_of_another_account_or_region_is_refused(ecr, arn):
    ensure(ecr, "ecr/arns")
    for op, body in (("TagResource", {"resourceArn": arn, "tags": [{"Key": "a", "Value": "b"}]}),
                     ("UntagResource", {"resourceArn": arn, "tagKeys": ["a"]}),
                     ("ListTagsForResource", {"resourceArn": arn})):
        r = raw(ecr, op, body)
        assert error_type(r) == "InvalidParameterException", f"{op} {arn}: {r.text}"
    ok = raw(ecr, "ListTagsForResource", {
        "resourceArn": "arn:aws:ecr:us-east-1:000000000000:repository/ecr/arns"})
    assert ok.status_code == 200, ok.text


# ---- 4, 5: request ids and the access log -------------------------------------------------

def access_lines(server):
    lines = []
    with open(server.log_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("{"):
                lines.append((line, json.loads(line)))
    return lines


def test_every_ecr_response_has_a_request_id_that_the_access_log_names(ecr):
    server = ecr[0]
    ok = raw(ecr, "DescribeRepositories", {})
    failed = raw(ecr, "DescribeRepositories", {"repositoryNames": ["ecr/none-such"]})
    unsigned = requests.post(server.url + "/", data="{}", timeout=30, headers={
        "X-Amz-Target": TARGET + "DescribeRepositories"})
    ids = []
    for r in (ok, failed, unsigned):
        rid = r.headers.get("x-amzn-RequestId")
        assert rid, f"{r.status_code} answer without x-amzn-RequestId: {dict(r.headers)}"
        assert str(uuid.UUID(rid)) == rid, f"not a UUID: {rid}"
        ids.append(rid)
    assert len(set(ids)) == 3, f"each request gets its own id: {ids}"
    assert client(ecr).describe_repositories()["ResponseMetadata"]["RequestId"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        logged = {e.get("request_id"): e for _, e in access_lines(server)}
        if all(i in logged for i in ids):
            break
        time.sleep(0.1)
    for rid, r in zip(ids, (ok, failed, unsigned)):
        assert rid in logged, f"request {rid} is not in the access log"
        assert logged[rid]["status"] == r.status_code


def test_access_log_durations_are_short_decimals(ecr):
    server = ecr[0]
    for _ in range(5):
        requests.get(server.url + "/v2/", timeout=10)
    time.sleep(0.3)
    lines = access_lines(server)
    assert lines
    for text, _ in lines[-5:]:
        m = re.search(r'"duration_ms":([0-9.eE+-]+)', text)
        assert m, text
        assert re.fullmatch(r"\d+(\.\d{1,4})?", m.group(1)), \
            f"duration_ms should read like 0.0795, got {m.group(1)}"


# ---- 1: DescribeRepositories pages ---------------------------------------------------------

def test_describe_repositories_pages_at_100_without_max_results(tmp_path_factory):
    server, keys = start_server(tmp_path_factory)
    try:
        ecr = (server, keys)
        for i in range(101):
            create(ecr, f"ecr/many-{i:03d}")
        first = raw(ecr, "DescribeRepositories", {}).json()
        assert len(first["repositories"]) == 100 and "nextToken" in first, \
            f"ECR answers up to 100 repositories and a nextToken: {len(first['repositories'])}"
        rest = raw(ecr, "DescribeRepositories", {"nextToken": first["nextToken"]}).json()
        assert [r["repositoryName"] for r in rest["repositories"]] == ["ecr/many-100"]
        assert "nextToken" not in rest
        page = raw(ecr, "DescribeRepositories", {"maxResults": 1000}).json()
        assert len(page["repositories"]) == 101
        names = [r["repositoryName"] for r in client(ecr).get_paginator(
            "describe_repositories").paginate().build_full_result()["repositories"]]
        assert len(names) == 101
    finally:
        server.stop()


def test_describe_repositories_refuses_max_results_with_names(ecr):
    ensure(ecr, "ecr/named")
    for extra in ({"maxResults": 10}, {"nextToken": "ZWNyL2E"}):
        r = raw(ecr, "DescribeRepositories", {"repositoryNames": ["ecr/named"], **extra})
        assert error_type(r) == "InvalidParameterException", f"{extra}: {r.text}"
    r = raw(ecr, "DescribeRepositories", {"maxResults": 1001})
    assert error_type(r) == "InvalidParameterException", r.text
    r = raw(ecr, "DescribeRepositories", {"repositoryNames": ["ecr/named"] * 101})
    assert error_type(r) == "InvalidParameterException", r.text
    r = raw(ecr, "DescribeRepositories", {"repositoryNames": []})
    assert error_type(r) == "InvalidParameterException", r.text


# ---- 2: resource tags ----------------------------------------------------------------------

def test_tag_without_value_is_accepted(ecr):
    arn = create(ecr, "ecr/keyonly", tags=[{"Key": "made-by"}])["repositoryArn"]
    c = client(ecr)
    c.tag_resource(resourceArn=arn, tags=[{"Key": "flag"}])
    tags = c.list_tags_for_resource(resourceArn=arn)["tags"]
    assert sorted(tags, key=lambda t: t["Key"]) == [{"Key": "flag", "Value": ""},
                                                   {"Key": "made-by", "Value": ""}], tags


def test_more_than_50_tags_is_too_many(ecr):
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    r = raw(ecr, "CreateRepository", {"repositoryName": "ecr/tagged51", "tags": tags})
    assert error_type(r) == "TooManyTagsException", r.text
    gone = raw(ecr, "DescribeRepositories", {"repositoryNames": ["ecr/tagged51"]})
    assert error_type(gone) == "RepositoryNotFoundException", "a refused create stores nothing"
    arn = create(ecr, "ecr/tagged", tags=tags[:40])["repositoryArn"]
    c = client(ecr)
    c.tag_resource(resourceArn=arn, tags=tags[:40] + tags[40:50])  # 40 replaced, 10 added
    r = raw(ecr, "TagResource", {"resourceArn": arn, "tags": [{"Key": "one-more", "Value": ""}]})
    assert error_type(r) == "TooManyTagsException", r.text
    kept = c.list_tags_for_resource(resourceArn=arn)["tags"]
    assert len(kept) == 50 and "one-more" not in {t["Key"] for t in kept}, \
        "a refused TagResource changes nothing"


@pytest.mark.parametrize("tag", [{"Key": "k" * 129, "Value": "v"}, {"Key": "", "Value": "v"},
                                 {"Key": "k", "Value": "v" * 257}, {"Value": "v"},
                                 {"Key": "k", "Value": 5}],
                         ids=["key-129", "key-empty", "value-257", "no-key", "value-number"])
def test_tag_bounds_are_checked(ecr, tag):
    arn = "arn:aws:ecr:us-east-1:000000000000:repository/ecr/bounds"
    ensure(ecr, "ecr/bounds")
    r = raw(ecr, "TagResource", {"resourceArn": arn, "tags": [tag]})
    assert error_type(r) == "InvalidTagParameterException", r.text
    ok = raw(ecr, "TagResource", {"resourceArn": arn, "tags": [
        {"Key": "k" * 128, "Value": "v" * 256}]})
    assert ok.status_code == 200, ok.text


# ---- 6: scanning configuration -------------------------------------------------------------

def test_scan_on_push_is_answered_as_given_and_stored(ecr):
    c = client(ecr)
    repo = create(ecr, "ecr/scanned", imageScanningConfiguration={"scanOnPush": True})
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}, repo
    got = c.describe_repositories(repositoryNames=["ecr/scanned"])["repositories"][0]
    assert got["imageScanningConfiguration"] == {"scanOnPush": True}, got
    out = c.put_image_scanning_configuration(repositoryName="ecr/scanned",
                                             imageScanningConfiguration={"scanOnPush": False})
    assert out["imageScanningConfiguration"] == {"scanOnPush": False}, out
    assert out["registryId"] == "000000000000" and out["repositoryName"] == "ecr/scanned"
    got = c.describe_repositories(repositoryNames=["ecr/scanned"])["repositories"][0]
    assert got["imageScanningConfiguration"] == {"scanOnPush": False}, got
    r = raw(ecr, "PutImageScanningConfiguration", {
        "repositoryName": "ecr/none-such", "imageScanningConfiguration": {"scanOnPush": True}})
    assert error_type(r) == "RepositoryNotFoundException", r.text


def test_batch_get_repository_scanning_configuration(ecr):
    ensure(ecr, "ecr/scan-a")
    c = client(ecr)
    c.put_image_scanning_configuration(repositoryName="ecr/scan-a",
                                       imageScanningConfiguration={"scanOnPush": True})
    out = c.batch_get_repository_scanning_configuration(
        repositoryNames=["ecr/scan-a", "ecr/scan-missing"])
    [cfg] = out["scanningConfigurations"]
    assert cfg["repositoryName"] == "ecr/scan-a" and cfg["scanOnPush"] is True
    assert cfg["scanFrequency"] == "SCAN_ON_PUSH" and cfg["appliedScanFilters"] == []
    assert cfg["repositoryArn"] == "arn:aws:ecr:us-east-1:000000000000:repository/ecr/scan-a"
    assert out["failures"] == [{"repositoryName": "ecr/scan-missing",
                                "failureCode": "REPOSITORY_NOT_FOUND",
                                "failureReason": out["failures"][0]["failureReason"]}]
    r = raw(ecr, "BatchGetRepositoryScanningConfiguration",
            {"repositoryNames": [f"ecr/r{i}" for i in range(26)]})
    assert error_type(r) == "InvalidParameterException", r.text


def test_registry_scanning_configuration_is_stored(ecr):
    c = client(ecr)
    ensure(ecr, "ecr/rules-x")
    rules = [{"scanFrequency": "SCAN_ON_PUSH",
              "repositoryFilters": [{"filter": "ecr/rules-*", "filterType": "WILDCARD"}]}]
    out = c.put_registry_scanning_configuration(scanType="BASIC", rules=rules)
    assert out["registryScanningConfiguration"] == {"scanType": "BASIC", "rules": rules}, out
    got = c.get_registry_scanning_configuration()
    assert got["registryId"] == "000000000000"
    assert got["scanningConfiguration"] == {"scanType": "BASIC", "rules": rules}, got
    [cfg] = c.batch_get_repository_scanning_configuration(
        repositoryNames=["ecr/rules-x"])["scanningConfigurations"]
    assert cfg["scanFrequency"] == "SCAN_ON_PUSH" and cfg["appliedScanFilters"] == \
        rules[0]["repositoryFilters"], cfg
    bad = [("ENHANCED", rules, "ValidationException"),
           ("BASIC", [{"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": []}],
            "ValidationException"),
           ("BASIC", rules * 3, "InvalidParameterException"),
           ("BASIC", [{"scanFrequency": "MANUAL", "repositoryFilters": [
               {"filter": "Bad//Name", "filterType": "WILDCARD"}]}], "InvalidParameterException")]
    for scan_type, bad_rules, expected in bad:
        r = raw(ecr, "PutRegistryScanningConfiguration", {"scanType": scan_type,
                                                          "rules": bad_rules})
        assert error_type(r) == expected, f"{scan_type} {bad_rules}: {r.text}"
    assert c.get_registry_scanning_configuration()["scanningConfiguration"]["rules"] == rules, \
        "a refused configuration changes nothing"
    c.put_registry_scanning_configuration(scanType="BASIC", rules=[])


def test_registry_scanning_configuration_survives_a_restart(tmp_path_factory):
    server, keys = start_server(tmp_path_factory)
    try:
        ecr = (server, keys)
        rules = [{"scanFrequency": "MANUAL",
                  "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}]
        client(ecr).put_registry_scanning_configuration(rules=rules)
        server.restart()
        got = client(ecr).get_registry_scanning_configuration()["scanningConfiguration"]
        assert got == {"scanType": "BASIC", "rules": rules}, got
    finally:
        server.stop()


def test_no_scanner_means_no_scan_and_no_findings(ecr):
    ensure(ecr, "ecr/noscan")
    image = {"imageTag": "v1"}
    r = raw(ecr, "StartImageScan", {"repositoryName": "ecr/noscan", "imageId": image})
    assert error_type(r) == "ValidationException" and "scanner" in r.json()["message"], r.text
    r = raw(ecr, "DescribeImageScanFindings", {"repositoryName": "ecr/noscan", "imageId": image})
    assert error_type(r) == "ScanNotFoundException" and "scanner" in r.json()["message"], r.text


def test_kms_encryption_is_refused_not_stored_as_aes256(ecr):
    r = raw(ecr, "CreateRepository", {"repositoryName": "ecr/kms",
                                      "encryptionConfiguration": {"encryptionType": "KMS"}})
    assert error_type(r) == "KmsException" and "KMS" in r.json()["message"], r.text
    gone = raw(ecr, "DescribeRepositories", {"repositoryNames": ["ecr/kms"]})
    assert error_type(gone) == "RepositoryNotFoundException", "a refused create stores nothing"
    repo = create(ecr, "ecr/aes", encryptionConfiguration={"encryptionType": "AES256"})
    assert repo["encryptionConfiguration"] == {"encryptionType": "AES256"}


# ---- 8: the registry's own permission ------------------------------------------------------

def test_describe_registry_needs_a_grant_on_the_registry(ecr):
    assert client(ecr).describe_registry()["registryId"] == "000000000000"
    for user in ("team", "nobody"):
        r = raw(ecr, "DescribeRegistry", {}, user=user)
        assert error_type(r) == "AccessDeniedException", f"{user}: {r.text}"
        r = raw(ecr, "GetRegistryScanningConfiguration", {}, user=user)
        assert error_type(r) == "AccessDeniedException", f"{user}: {r.text}"
    r = raw(ecr, "PutRegistryScanningConfiguration", {"rules": []}, user="team")
    assert error_type(r) == "AccessDeniedException", r.text
