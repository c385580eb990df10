"""ECR repository and registry policies through boto3: Set/Get/DeleteRepositoryPolicy and
Put/Get/DeleteRegistryPolicy with their validation errors, and their enforcement on both APIs
(Docker token scopes and the v2 API, and the ECR operations) together with the grants."""
import base64
import json

import boto3
import botocore.config
import botocore.exceptions
import pytest
import requests

from authutil import access_key, add_user, claims, grant, token
from regutil import push_image

ACCOUNT = "000000000000"
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]


def user_arn(name):
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def statement(effect, who, actions, **extra):
    return {"Effect": effect, "Principal": {"AWS": who}, "Action": actions, **extra}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A server with `admin` (everything on pol/*), `granted` (pull on pol/*) and `outsider`
    (no grant at all), each with an access key."""
    from ocireg_harness import RegistryServer
    data = tmp_path_factory.mktemp("ecrpolicy") / "data"
    users = {"admin": "admin-pass", "granted": "granted-pass", "outsider": "outsider-pass"}
    for name, password in users.items():
        add_user(data, name, password)
    grant(data, "admin", "pol/*", "*")
    grant(data, "admin", "*", "admin")
    grant(data, "granted", "pol/*", "pull")
    keys = {u: access_key(data, u)
            for u in users}
    server = RegistryServer(data).start()
    yield server, keys, users
    server.stop()


def ecr(env, user="admin"):
    server, keys, _ = env
    return boto3.client(
        "ecr", endpoint_url=server.url, region_name="us-east-1",
        aws_access_key_id=keys[user]["AccessKeyId"],
        aws_secret_access_key=keys[user]["SecretAccessKey"],
        config=botocore.config.Config(retries={"max_attempts": 1}))


def error_of(call, *args, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        call(*args, **kw)
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def make_repo(env, name, tag="v1"):
    """Create `name` through ECR and push one image (as admin, over the token flow)."""
    server = env[0]
    ecr(env).create_repository(repositoryName=name)
    session = requests.Session()
    tok = token(server.url, [f"repository:{name}:pull,push"], "admin", "admin-pass")
    session.headers["Authorization"] = "Bearer " + tok
    return push_image(server.url, name, tag, layers=(b"layer of " + name.encode(),),
                      session=session).digest


def granted_actions(env, user, repo):
    """The actions the token service grants `user` on `repo` when pull and push are asked."""
    server, _, users = env
    tok = token(server.url, [f"repository:{repo}:pull,push"], user, users[user])
    return sorted(a for entry in claims(tok).get("access", []) if entry["name"] == repo
                  for a in entry["actions"])


def manifest_status(env, user, repo, tag="v1"):
    server, _, users = env
    tok = token(server.url, [f"repository:{repo}:pull"], user, users[user])
    r = requests.get(f"{server.url}/v2/{repo}/manifests/{tag}", timeout=10,
                     headers={"Authorization": "Bearer " + tok, "Accept":
                              "application/vnd.oci.image.manifest.v1+json"})
    return r.status_code


def login_password(env, user):
    out = ecr(env, user).get_authorization_token()["authorizationData"][0]
    return base64.b64decode(out["authorizationToken"]).decode().split(":", 1)[1]


def test_repository_policy_set_get_delete(env):
    make_repo(env, "pol/crud")
    client = ecr(env)
    text = policy(statement("Allow", user_arn("outsider"), PULL))
    out = client.set_repository_policy(repositoryName="pol/crud", policyText=text)
    assert out["policyText"] == text and out["repositoryName"] == "pol/crud"
    assert out["registryId"] == ACCOUNT
    assert client.get_repository_policy(repositoryName="pol/crud")["policyText"] == text
    assert client.delete_repository_policy(repositoryName="pol/crud")["policyText"] == text
    for call in (client.get_repository_policy, client.delete_repository_policy):
        code, message = error_of(call, repositoryName="pol/crud")
        assert code == "RepositoryPolicyNotFoundException", message
        assert "pol/crud" in message
    code, _ = error_of(client.set_repository_policy, repositoryName="pol/missing",
                       policyText=text)
    assert code == "RepositoryNotFoundException"


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    (policy(statement("Allow", user_arn("x"), "ecr:PullImage")),
     "Statement[0].Action: unknown ECR action 'ecr:PullImage'"),
    (policy(statement("allow", user_arn("x"), PULL)),
     "Statement[0].Effect: must be \"Allow\" or \"Deny\""),
    (policy(statement("Allow", "arn:aws:iam::0:user/x", PULL)),
     "Statement[0].Principal.AWS: 'arn:aws:iam::0:user/x' is not"),
    (policy(statement("Allow", user_arn("x"), ["ecr:BatchGetImage", "s3:GetObject"])),
     "Statement[0].Action[1]: 's3:GetObject' is not an ECR action"),
    (policy(statement("Allow", user_arn("x"), PULL, Condition={})),
     "Statement[0]: Condition is not supported"),
    (policy({"Effect": "Allow", "Action": PULL}), "Statement[0]: Principal is required"),
    ("{\"Id\": \"" + "x" * 10240 + "\"}", "more than the 10240 allowed"),
], ids=["json", "action", "effect", "principal", "service", "condition", "no-principal",
        "too-long"])
def test_invalid_repository_policies_are_refused(env, text, message):
    client = ecr(env)
    try:
        client.create_repository(repositoryName="pol/invalid")
    except client.exceptions.RepositoryAlreadyExistsException:
        pass
    code, got = error_of(client.set_repository_policy, repositoryName="pol/invalid",
                         policyText=text)
    assert code == "InvalidParameterException", got
    assert "Invalid repository policy provided" in got and message in got, got
    code, _ = error_of(client.get_repository_policy, repositoryName="pol/invalid")
    assert code == "RepositoryPolicyNotFoundException", "a refused policy must not be stored"


def test_a_policy_that_locks_its_setter_out_needs_force(env):
    make_repo(env, "pol/lockout")
    client = ecr(env)
    text = policy(statement("Deny", user_arn("admin"), "ecr:SetRepositoryPolicy"))
    code, message = error_of(client.set_repository_policy, repositoryName="pol/lockout",
                             policyText=text)
    assert code == "InvalidParameterException" and "force" in message, message
    client.set_repository_policy(repositoryName="pol/lockout", policyText=text, force=True)
    code, _ = error_of(client.set_repository_policy, repositoryName="pol/lockout",
                       policyText=policy(statement("Allow", "*", PULL)), force=True)
    assert code == "AccessDeniedException"
    client.delete_repository_policy(repositoryName="pol/lockout")


def test_policy_lets_an_ungranted_user_pull_one_repository(env):
    make_repo(env, "pol/open")
    make_repo(env, "pol/closed")
    assert granted_actions(env, "outsider", "pol/open") == []
    assert manifest_status(env, "outsider", "pol/open") == 401
    ecr(env).set_repository_policy(repositoryName="pol/open", policyText=policy(
        statement("Allow", user_arn("outsider"), PULL)))
    assert granted_actions(env, "outsider", "pol/open") == ["pull"]
    assert manifest_status(env, "outsider", "pol/open") == 200
    assert granted_actions(env, "outsider", "pol/closed") == []
    assert manifest_status(env, "outsider", "pol/closed") == 401
    outsider = ecr(env, "outsider")
    images = outsider.batch_get_image(repositoryName="pol/open",
                                      imageIds=[{"imageTag": "v1"}])["images"]
    assert len(images) == 1 and images[0]["imageId"]["imageTag"] == "v1"
    code, _ = error_of(outsider.batch_get_image, repositoryName="pol/closed",
                       imageIds=[{"imageTag": "v1"}])
    assert code == "AccessDeniedException"
    code, _ = error_of(outsider.batch_delete_image, repositoryName="pol/open",
                       imageIds=[{"imageTag": "v1"}])
    assert code == "AccessDeniedException", "the policy allows pulling only"
    # An ECR login password (Basic AWS:<jwt>) is judged by the same policy.
    password = login_password(env, "outsider")
    server = env[0]
    r = requests.get(f"{server.url}/v2/pol/open/tags/list", auth=("AWS", password), timeout=10)
    assert r.status_code == 200 and r.json()["tags"] == ["v1"]
    r = requests.get(f"{server.url}/v2/pol/closed/tags/list", auth=("AWS", password), timeout=10)
    assert r.status_code == 401


def test_deny_stops_a_granted_user_on_both_apis(env):
    make_repo(env, "pol/locked")
    make_repo(env, "pol/free")
    assert granted_actions(env, "granted", "pol/locked") == ["pull"]
    ecr(env).set_repository_policy(repositoryName="pol/locked", policyText=policy(
        statement("Deny", user_arn("granted"), "ecr:*")))
    assert granted_actions(env, "granted", "pol/locked") == []
    assert manifest_status(env, "granted", "pol/locked") == 401
    assert granted_actions(env, "granted", "pol/free") == ["pull"]
    assert manifest_status(env, "granted", "pol/free") == 200
    granted = ecr(env, "granted")
    for call, kw in ((granted.batch_get_image, {"imageIds": [{"imageTag": "v1"}]}),
                     (granted.list_images, {})):
        code, message = error_of(call, repositoryName="pol/locked", **kw)
        assert code == "AccessDeniedException", message
    assert granted.list_images(repositoryName="pol/free")["imageIds"]
    ecr(env).delete_repository_policy(repositoryName="pol/locked")
    assert granted_actions(env, "granted", "pol/locked") == ["pull"]


def test_registry_policy_is_stored_validated_and_enforced(env):
    client = ecr(env)
    code, _ = error_of(client.get_registry_policy)
    assert code == "RegistryPolicyNotFoundException"
    code, message = error_of(client.put_registry_policy, policyText=policy(
        statement("Allow", "arn:aws:iam::111111111111:root", "ecr:ReplicateImage",
                  Resource="arn:aws:ecr:us-east-1:000000000000:repos/x")))
    assert code == "InvalidParameterException", message
    assert "Invalid registry policy provided" in message and "Statement[0].Resource" in message
    make_repo(env, "pol/reg-deny")
    text = policy(
        statement("Allow", "arn:aws:iam::111111111111:root",
                  ["ecr:ReplicateImage", "ecr:CreateRepository"],
                  Resource=f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/*"),
        statement("Deny", user_arn("granted"), "ecr:Batch*",
                  Resource=f"arn:aws:ecr:*:{ACCOUNT}:repository/pol/reg-*"))
    out = client.put_registry_policy(policyText=text)
    assert out["registryId"] == ACCOUNT and out["policyText"] == text
    assert client.get_registry_policy()["policyText"] == text
    assert granted_actions(env, "granted", "pol/reg-deny") == []
    assert granted_actions(env, "granted", "pol/free") == ["pull"]
    code, _ = error_of(ecr(env, "granted").batch_get_image, repositoryName="pol/reg-deny",
                       imageIds=[{"imageTag": "v1"}])
    assert code == "AccessDeniedException"
    code, _ = error_of(ecr(env, "granted").put_registry_policy, policyText=text)
    assert code == "AccessDeniedException", "the registry policy is the administrators'"
    assert client.delete_registry_policy()["policyText"] == text
    code, _ = error_of(client.delete_registry_policy)
    assert code == "RegistryPolicyNotFoundException"
    assert granted_actions(env, "granted", "pol/reg-deny") == ["pull"]


def test_deleting_a_repository_deletes_its_policy(env):
    client = ecr(env)
    client.create_repository(repositoryName="pol/reborn")
    client.set_repository_policy(repositoryName="pol/reborn", policyText=policy(
        statement("Allow", user_arn("outsider"), PULL)))
    client.delete_repository(repositoryName="pol/reborn", force=True)
    client.create_repository(repositoryName="pol/reborn")
    code, _ = error_of(client.get_repository_policy, repositoryName="pol/reborn")
    assert code == "RepositoryPolicyNotFoundException"
    assert granted_actions(env, "outsider", "pol/reborn") == []
