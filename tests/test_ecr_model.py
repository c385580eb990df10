"""The ECR API held to its own model: Debian's botocore `service-2.json` for ECR. Every operation
the model lists is either called through boto3 with a valid request (CALLS) and its raw JSON
answer checked against the operation's output shape, or answers a documented refusal (REFUSED)
with the modelled error named there. Every operation with input members also gets invalid
requests, which must fail with one of the operation's modelled client errors. An operation a
newer model adds fails test_every_model_operation_is_handled until it is handled here."""
import base64
import datetime
import hashlib
import json
import math
import re
import time

import pytest
import requests

from authutil import user_with_key
from regutil import OCI_MANIFEST, push_image

boto3 = pytest.importorskip("boto3", reason="python3-boto3 (scripts/deps.sh test)")
import botocore.config  # noqa: E402  (after boto3, which brings it)
from botocore import xform_name  # noqa: E402

MODEL_PATH = "/usr/lib/python3/dist-packages/botocore/data/ecr/2015-09-21/service-2.json"
ACCOUNT = "000000000000"
REGION = "us-east-1"
APP = "model/app"   # the repository most calls read; its image is tagged v1
JSON_TYPE = "application/x-amz-json-1.1"
EARLIEST = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc).timestamp()

with open(MODEL_PATH) as f:
    MODEL = json.load(f)
SHAPES = MODEL["shapes"]
OPERATIONS = MODEL["operations"]


# ---- the server and the calls ----

class EcrSession:
    """A server with user `admin` (every action on every repository), its access key, the image
    APP:v1 pushed over the OCI API, and a boto3 client whose raw answers are kept."""

    def __init__(self, server, key):
        self.server = server
        self.key = key
        self.raw = None
        self.clients = {v: self._client(v) for v in (True, False)}
        self.image = self.push(APP, "v1")
        self.unique = 0

    def _client(self, validate):
        client = boto3.client(
            "ecr", endpoint_url=self.server.url, region_name=REGION,
            aws_access_key_id=self.key["AccessKeyId"],
            aws_secret_access_key=self.key["SecretAccessKey"],
            config=botocore.config.Config(parameter_validation=validate,
                                          retries={"total_max_attempts": 1},
                                          connect_timeout=10, read_timeout=60))
        client.meta.events.register("after-call.ecr", self._keep_raw)
        return client

    def _keep_raw(self, http_response, **_):
        self.raw = http_response

    def call(self, op, params, validate=True):
        """One operation; returns (HTTP status, Content-Type, body bytes) as the server sent
        them, whatever boto3 made of it."""
        self.raw = None
        try:
            getattr(self.clients[validate], xform_name(op))(**params)
        except botocore.exceptions.ClientError:
            pass
        assert self.raw is not None, f"{op}: no HTTP answer"
        return (self.raw.status_code, self.raw.headers.get("Content-Type", ""),
                self.raw.content)

    def ok(self, op, params):
        """A set-up call that must succeed; returns its parsed body."""
        status, _, body = self.call(op, params)
        assert status == 200, f"set-up call {op} {params}: {status} {body[:300]!r}"
        return json.loads(body)

    def name(self, what):
        self.unique += 1
        return f"model/{what}{self.unique}"

    def prefix(self, what):
        """A pull-through cache rule prefix not used before (2 to 20 of [a-z0-9._-])."""
        self.unique += 1
        return f"{what}-{self.unique}"

    def push(self, repo, tag):
        r = requests.get(f"{self.server.url}/token", auth=("admin", "admin-pass"), timeout=30,
                         params={"service": "ocireg", "scope": f"repository:{repo}:pull,push"})
        assert r.status_code == 200, r.text
        s = requests.Session()
        s.headers["Authorization"] = "Bearer " + r.json()["token"]
        return push_image(self.server.url, repo, tag, layers=(b"layer of " + repo.encode(),),
                          session=s)

    def arn(self, repo):
        return f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{repo}"

    def repo_with_image(self, what):
        repo = self.name(what)
        self.push(repo, "v1")
        return repo


@pytest.fixture(scope="module")
def ecr(tmp_path_factory):
    from ocireg_harness import RegistryServer
    data = tmp_path_factory.mktemp("ecr-model") / "data"
    key = user_with_key(data, "admin", "admin-pass", "*")
    server = RegistryServer(data).start()
    try:
        yield EcrSession(server, key)
    finally:
        server.stop()


# ---- valid requests, one per operation (set-up calls first where the operation needs state) ----

LIFECYCLE_POLICY = json.dumps({"rules": [{
    "rulePriority": 1, "description": "expire untagged",
    "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                  "countNumber": 14},
    "action": {"type": "expire"}}]})
REPOSITORY_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "pull", "Effect": "Allow", "Principal": "*",
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]})
REGISTRY_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "replicate", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": ["ecr:ReplicateImage"],
    "Resource": [f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/*"]}]})


def v1(e):
    return {"imageTag": "v1"}


def layer_upload(e, repo):
    """InitiateLayerUpload, then the layer's bytes as one part; returns (uploadId, data)."""
    upload_id = e.ok("InitiateLayerUpload", {"repositoryName": repo})["uploadId"]
    data = b"a layer pushed through the ECR layer API " + str(time.time()).encode()
    e.ok("UploadLayerPart", {"repositoryName": repo, "uploadId": upload_id, "partFirstByte": 0,
                             "partLastByte": len(data) - 1, "layerPartBlob": data})
    return upload_id, data


def req_upload_layer_part(e):
    upload_id = e.ok("InitiateLayerUpload", {"repositoryName": APP})["uploadId"]
    data = b"one part"
    return {"repositoryName": APP, "uploadId": upload_id, "partFirstByte": 0,
            "partLastByte": len(data) - 1, "layerPartBlob": data}


def req_complete_layer_upload(e):
    upload_id, data = layer_upload(e, APP)
    return {"repositoryName": APP, "uploadId": upload_id,
            "layerDigests": ["sha256:" + hashlib.sha256(data).hexdigest()]}


def with_lifecycle_policy(e):
    repo = e.repo_with_image("lifecycle")
    e.ok("PutLifecyclePolicy", {"repositoryName": repo, "lifecyclePolicyText": LIFECYCLE_POLICY})
    return repo


def with_repository_policy(e):
    repo = e.repo_with_image("policy")
    e.ok("SetRepositoryPolicy", {"repositoryName": repo, "policyText": REPOSITORY_POLICY})
    return repo


def req_get_lifecycle_policy_preview(e):
    repo = with_lifecycle_policy(e)
    e.ok("StartLifecyclePolicyPreview", {"repositoryName": repo})
    return {"repositoryName": repo}


def with_cache_rule(e):
    prefix = e.prefix("rule")
    e.ok("CreatePullThroughCacheRule", {"ecrRepositoryPrefix": prefix,
                                        "upstreamRegistryUrl": "registry-1.docker.io"})
    return prefix


def req_registry_policy(e):
    e.ok("PutRegistryPolicy", {"policyText": REGISTRY_POLICY})
    return {}


def req_untag(e):
    repo = e.repo_with_image("untag")
    e.ok("TagResource", {"resourceArn": e.arn(repo), "tags": [{"Key": "team", "Value": "a"}]})
    return {"resourceArn": e.arn(repo), "tagKeys": ["team"]}


CALLS = {
    "BatchCheckLayerAvailability": lambda e: {
        "repositoryName": APP, "layerDigests": [e.image.config, *e.image.layers]},
    "BatchDeleteImage": lambda e: {
        "repositoryName": e.repo_with_image("batchdel"), "imageIds": [v1(e)]},
    "BatchGetImage": lambda e: {
        "repositoryName": APP, "imageIds": [v1(e)], "acceptedMediaTypes": [OCI_MANIFEST]},
    "BatchGetRepositoryScanningConfiguration": lambda e: {"repositoryNames": [APP]},
    "CompleteLayerUpload": req_complete_layer_upload,
    "CreatePullThroughCacheRule": lambda e: {
        "ecrRepositoryPrefix": e.prefix("create"), "upstreamRegistryUrl": "public.ecr.aws"},
    "CreateRepository": lambda e: {
        "repositoryName": e.name("created"), "imageTagMutability": "MUTABLE",
        "tags": [{"Key": "team", "Value": "a"}]},
    "DeleteLifecyclePolicy": lambda e: {"repositoryName": with_lifecycle_policy(e)},
    "DeletePullThroughCacheRule": lambda e: {"ecrRepositoryPrefix": with_cache_rule(e)},
    "DeleteRegistryPolicy": req_registry_policy,
    "DeleteRepository": lambda e: {"repositoryName": e.repo_with_image("deleted"),
                                   "force": True},
    "DeleteRepositoryPolicy": lambda e: {"repositoryName": with_repository_policy(e)},
    "DescribeImages": lambda e: {"repositoryName": APP, "imageIds": [v1(e)]},
    "DescribePullThroughCacheRules": lambda e: {"ecrRepositoryPrefixes": [with_cache_rule(e)]},
    "DescribeRegistry": lambda e: {},
    "DescribeRepositories": lambda e: {"repositoryNames": [APP]},
    "GetAuthorizationToken": lambda e: {},
    "GetDownloadUrlForLayer": lambda e: {"repositoryName": APP, "layerDigest": e.image.layers[0]},
    "GetLifecyclePolicy": lambda e: {"repositoryName": with_lifecycle_policy(e)},
    "GetLifecyclePolicyPreview": req_get_lifecycle_policy_preview,
    "GetRegistryPolicy": req_registry_policy,
    "GetRegistryScanningConfiguration": lambda e: {},
    "GetRepositoryPolicy": lambda e: {"repositoryName": with_repository_policy(e)},
    "InitiateLayerUpload": lambda e: {"repositoryName": APP},
    "ListImages": lambda e: {"repositoryName": APP},
    "ListTagsForResource": lambda e: {"resourceArn": e.arn(APP)},
    "PutImage": lambda e: {
        "repositoryName": APP, "imageManifest": e.image.manifest.decode(),
        "imageManifestMediaType": OCI_MANIFEST, "imageTag": e.name("put").split("/")[1]},
    "PutImageScanningConfiguration": lambda e: {
        "repositoryName": APP, "imageScanningConfiguration": {"scanOnPush": True}},
    "PutImageTagMutability": lambda e: {"repositoryName": APP, "imageTagMutability": "MUTABLE"},
    "PutLifecyclePolicy": lambda e: {"repositoryName": APP,
                                     "lifecyclePolicyText": LIFECYCLE_POLICY},
    "PutRegistryPolicy": lambda e: {"policyText": REGISTRY_POLICY},
    "PutReplicationConfiguration": lambda e: {
        "replicationConfiguration": {"rules": [{"destinations": [
            {"region": "us-west-2", "registryId": "210987654321"}],
            "repositoryFilters": [{"filter": "app", "filterType": "PREFIX_MATCH"}]}]}},
    "DescribeImageReplicationStatus": lambda e: {"repositoryName": APP, "imageId": v1(e)},
    "PutRegistryScanningConfiguration": lambda e: {"scanType": "BASIC", "rules": [{
        "scanFrequency": "SCAN_ON_PUSH",
        "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}]},
    "SetRepositoryPolicy": lambda e: {"repositoryName": APP, "policyText": REPOSITORY_POLICY},
    "StartLifecyclePolicyPreview": lambda e: {"repositoryName": APP,
                                              "lifecyclePolicyText": LIFECYCLE_POLICY},
    "TagResource": lambda e: {"resourceArn": e.arn(APP),
                              "tags": [{"Key": "team", "Value": "a"}]},
    "UntagResource": req_untag,
    "UploadLayerPart": req_upload_layer_part,
}

# Operations ocireg refuses by design, each with a valid request and the modelled error it
# answers (its message says what is missing): there is no image scanner.
REFUSED = {
    "StartImageScan": ("ValidationException",
                       lambda e: {"repositoryName": APP, "imageId": v1(e)}),
    "DescribeImageScanFindings": ("ScanNotFoundException",
                                  lambda e: {"repositoryName": APP, "imageId": v1(e)}),
}


# ---- the output-shape validator ----

def check_value(shape_name, value, path, problems):
    """Append to problems every way `value` (decoded JSON) breaks shape `shape_name`."""
    shape = SHAPES[shape_name]
    kind = shape["type"]
    checker = CHECKERS[kind]
    if value is None:
        problems.append(f"{path}: null where {shape_name} ({kind}) belongs: omit it instead")
        return
    checker(shape, shape_name, value, path, problems)


def check_structure(shape, name, value, path, problems):
    if not isinstance(value, dict):
        problems.append(f"{path}: {name} must be an object, got {type(value).__name__}")
        return
    members = shape.get("members", {})
    for req in shape.get("required", []):
        if req not in value:
            problems.append(f"{path}.{req}: required member of {name} missing")
    for key, member in value.items():
        if key not in members:
            problems.append(f"{path}.{key}: not a member of {name} "
                            f"(members: {', '.join(sorted(members))})")
            continue
        check_value(members[key]["shape"], member, f"{path}.{key}", problems)


def check_length(shape, name, n, what, path, problems):
    if "min" in shape and n < shape["min"]:
        problems.append(f"{path}: {what} {n} below {name}'s min {shape['min']}")
    if "max" in shape and n > shape["max"]:
        problems.append(f"{path}: {what} {n} above {name}'s max {shape['max']}")


def check_string(shape, name, value, path, problems):
    if not isinstance(value, str):
        problems.append(f"{path}: {name} must be a string, got {value!r:.80}")
        return
    check_length(shape, name, len(value), "length", path, problems)
    if "enum" in shape and value not in shape["enum"]:
        problems.append(f"{path}: {value!r} is not one of {name}'s {shape['enum']}")
    if "pattern" in shape and not re.fullmatch(shape["pattern"], value):
        problems.append(f"{path}: {value!r:.80} does not match {name}'s /{shape['pattern']}/")


def check_number(shape, name, value, path, problems):
    integral = shape["type"] in ("integer", "long")
    ok = isinstance(value, int) if integral else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok:
        problems.append(f"{path}: {name} must be {'an integer' if integral else 'a number'}, "
                        f"got {value!r:.80}")
        return
    if integral and shape["type"] == "integer" and not -2**31 <= value < 2**31:
        problems.append(f"{path}: {value} does not fit {name} (a 32-bit integer)")
    check_length(shape, name, value, "value", path, problems)


def check_boolean(shape, name, value, path, problems):
    if not isinstance(value, bool):
        problems.append(f"{path}: {name} must be true or false, got {value!r:.80}")


def check_list(shape, name, value, path, problems):
    if not isinstance(value, list):
        problems.append(f"{path}: {name} must be an array, got {type(value).__name__}")
        return
    check_length(shape, name, len(value), "length", path, problems)
    for i, item in enumerate(value):
        check_value(shape["member"]["shape"], item, f"{path}[{i}]", problems)


def check_map(shape, name, value, path, problems):
    if not isinstance(value, dict):
        problems.append(f"{path}: {name} must be an object, got {type(value).__name__}")
        return
    check_length(shape, name, len(value), "size", path, problems)
    for key, item in value.items():
        check_value(shape["key"]["shape"], key, f"{path}<key {key!r}>", problems)
        check_value(shape["value"]["shape"], item, f"{path}[{key!r}]", problems)


def check_timestamp(shape, name, value, path, problems):
    """The JSON protocol's default: seconds since the epoch, as a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        problems.append(f"{path}: {name} must be epoch seconds (a number), got {value!r:.80}")
        return
    latest = time.time() + 2 * 86400
    if not EARLIEST <= value <= latest:
        problems.append(f"{path}: {value} is not a plausible time (2000-01-01 .. now + 2 days)")


def check_blob(shape, name, value, path, problems):
    if not isinstance(value, str):
        problems.append(f"{path}: {name} must be a base64 string, got {value!r:.80}")
        return
    try:
        base64.b64decode(value, validate=True)
    except ValueError:
        problems.append(f"{path}: {value!r:.80} is not base64")


CHECKERS = {"structure": check_structure, "string": check_string, "integer": check_number,
            "long": check_number, "double": check_number, "float": check_number,
            "boolean": check_boolean, "list": check_list, "map": check_map,
            "timestamp": check_timestamp, "blob": check_blob}


def shape_problems(shape_name, body):
    """Every way the raw body breaks shape_name: not JSON, or check_value's findings."""
    try:
        doc = json.loads(body)
    except ValueError as err:
        return [f"body is not JSON ({err}): {body[:200]!r}"]
    problems = []
    check_value(shape_name, doc, "$", problems)
    return problems


def error_type(body):
    """The error's __type as botocore reads it (a namespace before '#' dropped)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None, None
    kind = doc.get("__type") if isinstance(doc, dict) else None
    if not isinstance(kind, str):
        return None, doc
    return kind.rsplit("#", 1)[-1].split(":", 1)[0], doc


def modelled_errors(op):
    return [e["shape"] for e in OPERATIONS[op].get("errors", [])]


def error_problems(op, status, content_type, body, client_error=True):
    """Problems with an error answer: its __type must be one of the operation's modelled
    errors (a client error, 4xx, when client_error), its body that error's shape."""
    kind, doc = error_type(body)
    if kind is None:
        return [f"{status}: no __type in {body[:300]!r}"]
    problems = []
    if kind not in modelled_errors(op):
        problems.append(f"{kind} is not among {op}'s modelled errors {modelled_errors(op)}")
    elif client_error and (SHAPES[kind].get("fault") or not 400 <= status < 500):
        problems.append(f"{kind} with status {status}: expected a client error (4xx)")
    if not content_type.startswith(JSON_TYPE):
        problems.append(f"Content-Type {content_type!r}, expected {JSON_TYPE}")
    if kind in SHAPES:
        rest = {k: v for k, v in doc.items() if k != "__type"}
        check_value(kind, rest, kind, problems)
    return problems


# ---- the tests ----

def test_every_model_operation_is_handled():
    handled = set(CALLS) | set(REFUSED)
    assert not set(CALLS) & set(REFUSED), set(CALLS) & set(REFUSED)
    assert set(OPERATIONS) == handled, (
        f"in the model, not handled here: {sorted(set(OPERATIONS) - handled)}; "
        f"handled here, not in the model: {sorted(handled - set(OPERATIONS))}")


def test_refused_errors_are_modelled():
    for op, (kind, _) in REFUSED.items():
        assert kind in modelled_errors(op), f"{op}: {kind} not in {modelled_errors(op)}"


@pytest.mark.parametrize("op", sorted(CALLS))
def test_operation_answers_its_output_shape(ecr, op):
    params = CALLS[op](ecr)
    status, content_type, body = ecr.call(op, params)
    assert status == 200, (f"{op}: expected 200, got {status} {body[:400]!r} "
                           f"({'; '.join(error_problems(op, status, content_type, body, False))})")
    assert content_type.startswith(JSON_TYPE), f"{op}: Content-Type {content_type!r}"
    problems = shape_problems(OPERATIONS[op]["output"]["shape"], body)
    assert not problems, f"{op}: the answer breaks its output shape:\n" + "\n".join(problems)


@pytest.mark.parametrize("op", sorted(REFUSED))
def test_refused_operation_answers_its_modelled_error(ecr, op):
    kind, build = REFUSED[op]
    status, content_type, body = ecr.call(op, build(ecr))
    got, doc = error_type(body)
    assert got == kind, f"{op}: expected {kind}, got {status} {body[:400]!r}"
    problems = error_problems(op, status, content_type, body)
    assert not problems, f"{op}: " + "; ".join(problems)
    assert isinstance(doc.get("message"), str) and doc["message"].strip(), \
        f"{op}: the refusal must say what is missing: {body[:300]!r}"


# ---- invalid requests, derived from the model ----

def bad_value(shape_name):
    """A value the shape's constraints forbid, or None when it has none to break."""
    shape = SHAPES[shape_name]
    kind = shape["type"]
    if kind in ("integer", "long") and "min" in shape:
        return shape["min"] - 1
    if kind == "string" and "enum" in shape:
        return "NOT_A_MODELLED_VALUE"
    if kind == "string" and "pattern" in shape:
        return "Not A Valid Value!"
    if kind == "string" and shape.get("min", 0) > 0:
        return ""
    if kind == "list" and shape.get("min", 0) > 0:
        return []
    return None


def valid_request(e, op):
    return CALLS[op](e) if op in CALLS else REFUSED[op][1](e)


def invalid_requests(op):
    """(label, function of the session returning the request) for the operation: its first
    required member left out, a repositoryName its pattern forbids, or (no required member)
    the first member with a constraint broken."""
    shape = SHAPES[OPERATIONS[op]["input"]["shape"]]
    members, required = shape.get("members", {}), shape.get("required", [])
    cases = []
    if required:
        gone = required[0]
        cases.append((f"without-{gone}",
                      lambda e: {k: v for k, v in valid_request(e, op).items() if k != gone}))
    if "repositoryName" in members:
        cases.append(("bad-repositoryName",
                      lambda e: {**valid_request(e, op), "repositoryName": "Bad Name!"}))
    if not required:
        for name, member in members.items():
            bad = bad_value(member["shape"])
            if bad is not None:
                cases.append((f"bad-{name}",
                              lambda e, name=name, bad=bad: {**valid_request(e, op), name: bad}))
                break
    return cases


INVALID = [(op, label, build) for op in sorted(OPERATIONS) for label, build in invalid_requests(op)]
# Operations whose input has no members, so no request to them can be invalid.
NO_INPUT = sorted(op for op in OPERATIONS
                  if not SHAPES[OPERATIONS[op]["input"]["shape"]].get("members"))


def test_every_operation_with_input_has_an_invalid_request():
    covered = {op for op, _, _ in INVALID}
    assert covered | set(NO_INPUT) == set(OPERATIONS), sorted(set(OPERATIONS) - covered)


@pytest.mark.parametrize("op,label,build", INVALID, ids=[f"{op}-{label}" for op, label, _ in INVALID])
def test_invalid_request_answers_a_modelled_client_error(ecr, op, label, build):
    status, content_type, body = ecr.call(op, build(ecr), validate=False)
    assert status != 200, f"{op} {label}: accepted: {body[:300]!r}"
    problems = error_problems(op, status, content_type, body)
    assert not problems, f"{op} {label}: {status} {body[:300]!r}: " + "; ".join(problems)


# ---- the validator itself must catch what it is for ----

GOOD_REPOSITORY = {"repositoryArn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{APP}",
                   "registryId": ACCOUNT, "repositoryName": APP, "repositoryUri": f"h/{APP}",
                   "createdAt": 1700000000, "imageTagMutability": "MUTABLE"}


@pytest.mark.parametrize("change,expected", [
    ({"imageTagMutability": "SOMETIMES"}, "is not one of"),
    ({"createdAt": "2023-11-14T22:13:20Z"}, "epoch seconds"),
    ({"createdAt": 4102444800}, "plausible"),
    ({"createdAt": True}, "epoch seconds"),
    ({"registryId": "12"}, "does not match"),
    ({"repositoryName": "x"}, "below"),
    ({"repositoryArn": None}, "null"),
    ({"spelledWrong": 1}, "not a member"),
    ({"imageScanningConfiguration": {"scanOnPush": "yes"}}, "true or false"),
])
def test_validator_finds_a_broken_member(change, expected):
    good = {"repositories": [GOOD_REPOSITORY]}
    assert shape_problems("DescribeRepositoriesResponse", json.dumps(good)) == []
    doc = {"repositories": [{**GOOD_REPOSITORY, **change}]}
    problems = shape_problems("DescribeRepositoriesResponse", json.dumps(doc))
    assert any(expected in p for p in problems), (doc, problems)


def test_validator_finds_missing_required_members_and_list_bounds():
    rule = {"destinations": [{"region": "us-west-2", "registryId": ACCOUNT}]}
    good = {"registryId": ACCOUNT, "replicationConfiguration": {"rules": [rule]}}
    assert shape_problems("DescribeRegistryResponse", json.dumps(good)) == []
    missing = {"registryId": ACCOUNT, "replicationConfiguration": {"rules": [
        {"destinations": [{"region": "us-west-2"}]}]}}
    problems = shape_problems("DescribeRegistryResponse", json.dumps(missing))
    assert any("registryId: required member" in p for p in problems), problems
    too_long = {"replicationConfiguration": {"rules": [rule] * 11}}
    problems = shape_problems("DescribeRegistryResponse", json.dumps(too_long))
    assert any("above ReplicationRuleList's max 10" in p for p in problems), problems
    assert shape_problems("DescribeRegistryResponse", b"not json")
    assert shape_problems("DescribeRegistryResponse", b"[]")


def test_error_check_refuses_an_unmodelled_type_and_a_server_fault():
    body = b'{"__type":"UnknownOperationException","message":"unknown operation"}'
    assert error_problems("ListImages", 400, JSON_TYPE, body)
    fault = b'{"__type":"ServerException","message":"boom"}'
    assert error_problems("ListImages", 500, JSON_TYPE, fault)
    modelled = b'{"__type":"RepositoryNotFoundException","message":"no such repository"}'
    assert error_problems("ListImages", 400, JSON_TYPE, modelled) == []
    namespaced = b'{"__type":"com.amazonaws.ecr#RepositoryNotFoundException","message":"m"}'
    assert error_problems("ListImages", 400, JSON_TYPE, namespaced) == []
