"""ECR repository policies as docker sees them: a policy lets a user with no grant pull one
repository (and only that one), and a Deny stops a user whose grant covers the repository.
The policies are set through boto3 with an administrator's access key; docker logs in to a
private ocireg with passwords, so the token service's scopes carry the decision."""
import json
import os
import secrets
import subprocess

import boto3
import botocore.config
import pytest

from test_clients_auth import DockerClient, add_user, assert_denied, grant

pytestmark = pytest.mark.clients

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PASSWORDS = {u: f"{u}-pw-" + secrets.token_hex(4) for u in ("admin", "outsider", "granted")}
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]


def access_key(data, user):
    exe = os.environ.get("OCIREG_BIN", os.path.join(ROOT, "build", "ocireg"))
    out = subprocess.run([exe, "user", "key", "create", user, "--json", "--data", str(data)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(out)


def set_policy(server, key, repo, effect, user, actions):
    client = boto3.client("ecr", endpoint_url=server.url, region_name="us-east-1",
                          aws_access_key_id=key["AccessKeyId"],
                          aws_secret_access_key=key["SecretAccessKey"],
                          config=botocore.config.Config(retries={"max_attempts": 1}))
    client.set_repository_policy(repositoryName=repo, policyText=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": effect, "Principal": {"AWS": f"arn:aws:iam::000000000000:user/{user}"},
            "Action": actions}]}))


def test_docker_pull_follows_repository_policies(reg, registry_factory, images, dockerd,
                                                 tmp_path):
    data = tmp_path / "policydata"
    for user, password in PASSWORDS.items():
        add_user(data, user, password)
    grant(data, "admin", "pol/*", "*")
    grant(data, "granted", "pol/*", "pull")
    key = access_key(data, "admin")
    server = registry_factory(data_dir=data)
    host = server.host
    suffix = secrets.token_hex(3)
    open_ref, closed_ref = (f"{host}/pol/{name}-{suffix}:v1" for name in ("open", "closed"))
    docker = DockerClient(dockerd, tmp_path / "docker-config")
    try:
        docker.login(host, "admin", PASSWORDS["admin"])
        docker("import", "--change", 'CMD ["/bin/sh"]', images.rootfs_tar, open_ref)
        docker("tag", open_ref, closed_ref)
        for ref in (open_ref, closed_ref):
            docker("push", ref)
        repo_of = lambda ref: ref.split("/", 1)[1].rsplit(":", 1)[0]  # noqa: E731
        set_policy(server, key, repo_of(open_ref), "Allow", "outsider", PULL)
        set_policy(server, key, repo_of(closed_ref), "Deny", "granted", "ecr:*")

        # The outsider has no grant: the open repository's policy lets it pull, nothing else.
        docker.login(host, "outsider", PASSWORDS["outsider"])
        docker.rmi(open_ref, closed_ref)
        docker("pull", open_ref)
        failed = docker("pull", closed_ref, check=False)
        assert failed.returncode != 0, f"outsider pulled {closed_ref}:\n{failed.stdout}"
        assert_denied(failed, "docker pull without grant or policy")

        # The granted user's grant covers both; the Deny takes the closed one away.
        docker.login(host, "granted", PASSWORDS["granted"])
        docker.rmi(open_ref, closed_ref)
        docker("pull", open_ref)
        failed = docker("pull", closed_ref, check=False)
        assert failed.returncode != 0, f"a denied user pulled {closed_ref}:\n{failed.stdout}"
        assert_denied(failed, "docker pull denied by a repository policy")
    finally:
        docker.rmi(open_ref, closed_ref)
