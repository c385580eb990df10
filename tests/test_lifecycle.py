"""ECR-format lifecycle policies: `ocireg lifecycle put/get/delete/preview`, each rule type
applied by `ocireg gc` to a repository whose images get controlled push times (an UPDATE of
manifests.pushed_at in DATA/meta.db while the server runs), and rejection of invalid policies."""
import json
import sqlite3
import time

import pytest

from regutil import (OCI_EMPTY, assert_pulls, cli_json, gc, manifest_status, ocireg,
                     push_image, push_index, put_manifest)

DAY = 86400
HOUR = 3600


@pytest.fixture
def srv(registry_factory):
    return registry_factory()


def set_pushed_at(data, repo, digest, when):
    conn = sqlite3.connect(f"{data}/meta.db", timeout=15)
    try:
        conn.execute("PRAGMA busy_timeout = 15000")
        cur = conn.execute(
            "UPDATE manifests SET pushed_at = ? WHERE digest = ? AND "
            "repo_id = (SELECT id FROM repositories WHERE name = ?)", (int(when), digest, repo))
        conn.commit()
        assert cur.rowcount == 1, f"expected one manifest row for {repo}@{digest}"
    finally:
        conn.close()


class Repo:
    """A repository on a server whose images are pushed with a chosen age."""

    def __init__(self, srv, name="app"):
        self.srv = srv
        self.name = name
        self.images = {}   # label -> Image
        self.count = 0

    def image(self, label, tags, age):
        self.count += 1
        layer = f"{self.name} {label} {self.count}".encode() * 8
        img = push_image(self.srv.url, self.name, tags[0] if tags else None, layers=[layer])
        for tag in tags[1:]:
            r = put_manifest(self.srv.url, self.name, tag, img.manifest)
            assert r.status_code == 201, f"tagging {tag}: {r.status_code} {r.text}"
        return self.adopt(label, img, age)

    def adopt(self, label, img, age):
        """Count img (pushed some other way) as one of the repository's, `age` seconds old."""
        set_pushed_at(self.srv.data, self.name, img.digest, time.time() - age)
        self.images[label] = img
        return img

    def policy(self, *rules):
        text = json.dumps({"rules": list(rules)})
        ocireg("lifecycle", "put", self.name, "-", "--data", self.srv.data, stdin=text)
        return text

    def digests(self, labels):
        return {self.images[label].digest for label in labels}

    def label_of(self, digest):
        return next(k for k, v in self.images.items() if v.digest == digest)

    def gc_expires(self, expected, *extra):
        """Run gc; check it expired exactly the `expected` labels; then that those 404 and
        every other image still pulls. Returns the gc report."""
        report = gc(self.srv.data, "--grace", "0", *extra)
        got = sorted(self.label_of(e["digest"]) for e in report["expired"])
        assert got == sorted(expected), \
            f"gc expired {got}, expected {sorted(expected)}; report: {report}"
        assert report["images_expired"] == len(expected), report
        assert {e["repository"] for e in report["expired"]} <= {self.name}
        for label, img in self.images.items():
            if label in expected:
                assert manifest_status(self.srv.url, self.name, img.digest) == 404, \
                    f"expired image {label} should 404 after gc"
            else:
                assert_pulls(self.srv.url, img, img.digest)
        return report


def rule(priority, status, count_type, number, prefixes=None, patterns=None, **extra):
    sel = {"tagStatus": status, "countType": count_type, "countNumber": number}
    if count_type == "sinceImagePushed":
        sel["countUnit"] = "days"
    if prefixes is not None:
        sel["tagPrefixList"] = prefixes
    if patterns is not None:
        sel["tagPatternList"] = patterns
    out = {"rulePriority": priority, "description": f"rule {priority}", "selection": sel,
           "action": {"type": "expire"}}
    out.update(extra)
    return out


def test_lifecycle_put_get_delete(srv, tmp_path):
    data = srv.data
    ocireg("repo", "create", "app", "--data", data)
    first = {"rules": [rule(1, "untagged", "sinceImagePushed", 14)]}
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(first))

    ocireg("lifecycle", "put", "app", str(path), "--data", data)

    assert json.loads(ocireg("lifecycle", "get", "app", "--data", data).stdout) == first, \
        "lifecycle get should print the policy that was put"
    assert cli_json("repo", "describe", "app", "--json", "--data", data)["lifecycle_policy"]

    second = {"rules": [rule(1, "tagged", "imageCountMoreThan", 3, prefixes=["v"])]}
    ocireg("lifecycle", "put", "app", "-", "--data", data, stdin=json.dumps(second))
    assert json.loads(ocireg("lifecycle", "get", "app", "--data", data).stdout) == second, \
        "a second put (from stdin) should replace the policy"

    ocireg("lifecycle", "delete", "app", "--data", data)

    proc = ocireg("lifecycle", "get", "app", "--data", data, check=False)
    assert proc.returncode != 0, "lifecycle get after delete should fail"
    assert "no lifecycle policy" in proc.stderr, proc.stderr
    assert not cli_json("repo", "describe", "app", "--json", "--data", data)["lifecycle_policy"]


def test_lifecycle_put_to_an_unknown_repository_fails(srv):
    proc = ocireg("lifecycle", "put", "nope", "-", "--data", srv.data, check=False,
                  stdin=json.dumps({"rules": [rule(1, "untagged", "sinceImagePushed", 1)]}))
    assert proc.returncode != 0 and "no such repository" in proc.stderr, proc.stderr


def test_image_count_more_than_keeps_the_newest_n_tagged_with_the_prefix(srv):
    repo = Repo(srv)
    for n in range(1, 6):                        # release-5 is the newest
        repo.image(f"release-{n}", [f"release-{n}"], (10 - n) * DAY)
    repo.image("dev", ["dev-1"], 30 * DAY)
    repo.image("mixed", ["rel-x"], 40 * DAY)     # "rel-" is not the "release-" prefix
    repo.image("untagged", [], 50 * DAY)
    repo.policy(rule(1, "tagged", "imageCountMoreThan", 2, prefixes=["release-"]))

    report = repo.gc_expires(["release-1", "release-2", "release-3"])

    assert {e["rule"] for e in report["expired"]} == {1}


def test_since_image_pushed_expires_only_images_older_than_the_days(srv):
    repo = Repo(srv)
    repo.image("v-10d", ["v1"], 10 * DAY)
    repo.image("v-5d", ["v2"], 5 * DAY)
    repo.image("v-3d-and-a-bit", ["v3"], 3 * DAY + HOUR)
    repo.image("v-just-under-3d", ["v4"], 3 * DAY - HOUR)
    repo.image("v-new", ["v5"], HOUR)
    repo.image("other-old", ["other"], 20 * DAY)
    repo.image("untagged-old", [], 20 * DAY)
    repo.policy(rule(1, "tagged", "sinceImagePushed", 3, prefixes=["v"]))

    repo.gc_expires(["v-10d", "v-5d", "v-3d-and-a-bit"])


@pytest.mark.parametrize("count_type,number", [("sinceImagePushed", 1),
                                               ("imageCountMoreThan", 1)])
def test_untagged_rule_expires_only_untagged_images(srv, count_type, number):
    repo = Repo(srv)
    repo.image("untagged-3d", [], 3 * DAY)
    repo.image("untagged-2d", [], 2 * DAY)
    repo.image("untagged-1h", [], HOUR)
    repo.image("tagged-30d", ["old"], 30 * DAY)
    repo.policy(rule(1, "untagged", count_type, number))

    repo.gc_expires(["untagged-3d", "untagged-2d"])


def test_tag_pattern_list_selects_tags_matching_the_wildcards(srv):
    repo = Repo(srv)
    repo.image("prod-1-final", ["prod-1-final"], 10 * DAY)
    repo.image("prod-2-rc", ["prod-2-rc"], 10 * DAY)
    repo.image("test-1-final", ["test-1-final"], 10 * DAY)
    repo.image("prod-final", ["prodfinal"], 10 * DAY)        # '*' also matches nothing
    repo.image("prod-3-final-new", ["prod-3-final"], HOUR)
    repo.image("untagged", [], 10 * DAY)
    repo.policy(rule(1, "tagged", "sinceImagePushed", 1, patterns=["prod*final"]))

    repo.gc_expires(["prod-1-final", "prod-final"])


def test_tag_list_needs_every_entry_to_match_some_tag(srv):
    repo = Repo(srv)
    repo.image("both", ["prod-1", "v1"], 10 * DAY)
    repo.image("prod-only", ["prod-2"], 10 * DAY)
    repo.image("v-only", ["v2"], 10 * DAY)
    repo.policy(rule(1, "tagged", "sinceImagePushed", 1, prefixes=["prod", "v"]))

    repo.gc_expires(["both"])


def only_a_stray_expires(repo):
    """Add an old untagged image and an untagged rule (1 day): gc must expire that one alone."""
    repo.image("stray", [], 20 * DAY)
    repo.policy(rule(1, "untagged", "sinceImagePushed", 1))
    repo.gc_expires(["stray"])


def test_untagged_rule_leaves_the_children_of_a_tagged_index_alone(srv):
    repo = Repo(srv)
    repo.image("child-amd64", [], 20 * DAY)
    repo.image("child-arm64", [], 20 * DAY)
    idx = push_index(srv.url, "app", "multi",
                     [repo.images["child-amd64"], repo.images["child-arm64"]])
    repo.adopt("index", idx, 20 * DAY)
    only_a_stray_expires(repo)


def test_untagged_rule_leaves_the_referrers_of_a_kept_image_alone(srv):
    repo = Repo(srv)
    subject = repo.image("signed", ["v1"], 20 * DAY)
    sig = push_image(srv.url, "app", None, layers=[b"signature"], config=b"{}",
                     config_type=OCI_EMPTY, subject=subject,
                     artifact_type="application/vnd.example.signature")
    repo.adopt("signature", sig, 20 * DAY)
    only_a_stray_expires(repo)


def test_preview_lists_exactly_what_gc_then_expires(srv):
    repo = Repo(srv)
    for n in range(1, 5):
        repo.image(f"prod-{n}", [f"prod-{n}"], (10 - n) * DAY)
    repo.image("untagged-old", [], 5 * DAY)
    repo.image("untagged-new", [], HOUR)
    repo.image("feature", ["feature-x"], 60 * DAY)
    repo.policy(rule(1, "tagged", "imageCountMoreThan", 2, prefixes=["prod"]),
                rule(2, "untagged", "sinceImagePushed", 2))
    data = srv.data

    preview = cli_json("lifecycle", "preview", "app", "--json", "--data", data)

    assert preview["dry_run"] is True
    previewed = sorted((e["digest"], e["rule"], e["tags"]) for e in preview["expired"])
    assert sorted(repo.label_of(d) for d, _, _ in previewed) == \
        ["prod-1", "prod-2", "untagged-old"], f"preview: {preview}"
    for img in repo.images.values():
        assert manifest_status(srv.url, "app", img.digest) == 200, \
            "preview should not delete anything"
    text = ocireg("lifecycle", "preview", "app", "--data", data).stdout
    for digest, _, _ in previewed:
        assert digest in text, f"the preview table should list {digest}: {text}"

    report = repo.gc_expires(["prod-1", "prod-2", "untagged-old"])

    assert sorted((e["digest"], e["rule"], e["tags"]) for e in report["expired"]) == previewed, \
        f"gc should expire what preview listed, with the same rules: {report['expired']}"


def test_policy_of_another_repository_is_not_applied(srv):
    repo = Repo(srv, "app")
    other = Repo(srv, "other")
    repo.image("old", ["v1"], 10 * DAY)
    other.image("old", ["v1"], 10 * DAY)
    repo.policy(rule(1, "tagged", "sinceImagePushed", 1, prefixes=["v"]))

    repo.gc_expires(["old"])

    assert_pulls(srv.url, other.images["old"])


VALID = rule(1, "tagged", "imageCountMoreThan", 5, prefixes=["v"])


def with_selection(**changes):
    r = json.loads(json.dumps(VALID))
    for key, value in changes.items():
        if value is None:
            r["selection"].pop(key, None)
        else:
            r["selection"][key] = value
    return {"rules": [r]}


INVALID = [
    ("not json", '{"rules": [', "JSON"),
    ("not an object", "[]", "object"),
    ("no rules", "{}", "rules"),
    ("empty rules", '{"rules": []}', "rules"),
    ("unknown top-level field", {"rules": [VALID], "extra": 1}, "extra"),
    ("unknown rule field", {"rules": [dict(VALID, colour="red")]}, "colour"),
    ("priority zero", {"rules": [dict(VALID, rulePriority=0)]}, "rulePriority"),
    ("priority not a number", {"rules": [dict(VALID, rulePriority="1")]}, "rulePriority"),
    ("duplicate priority",
     {"rules": [VALID, rule(1, "untagged", "sinceImagePushed", 1)]}, "rulePriority"),
    ("bad tagStatus", with_selection(tagStatus="TAGGED"), "tagStatus"),
    ("bad countType", with_selection(countType="imageCountLessThan"), "countType"),
    ("countNumber zero", with_selection(countNumber=0), "countNumber"),
    ("countNumber not an integer", with_selection(countNumber=1.5), "countNumber"),
    ("countUnit with imageCountMoreThan", with_selection(countUnit="days"), "countUnit"),
    ("sinceImagePushed without countUnit",
     with_selection(countType="sinceImagePushed"), "countUnit"),
    ("sinceImagePushed in hours",
     with_selection(countType="sinceImagePushed", countUnit="hours"), "countUnit"),
    ("tagged without a tag list", with_selection(tagPrefixList=None), "tagPrefixList"),
    ("tagged with both lists", with_selection(tagPatternList=["v*"]), "tagPatternList"),
    ("empty tagPrefixList", with_selection(tagPrefixList=[]), "tagPrefixList"),
    ("too many wildcards",
     with_selection(tagPrefixList=None, tagPatternList=["*a*b*c*d*"]), "tagPatternList"),
    ("untagged with a tag list",
     {"rules": [dict(rule(1, "untagged", "sinceImagePushed", 1), selection={
         "tagStatus": "untagged", "tagPrefixList": ["v"], "countType": "sinceImagePushed",
         "countUnit": "days", "countNumber": 1})]}, "tagPrefixList"),
    ("action not expire", {"rules": [dict(VALID, action={"type": "delete"})]}, "action"),
    ("no action", {"rules": [{k: v for k, v in VALID.items() if k != "action"}]}, "action"),
    ("any not on the last rule",
     {"rules": [rule(1, "any", "imageCountMoreThan", 1), VALID | {"rulePriority": 2}]}, "any"),
    ("two untagged rules",
     {"rules": [rule(1, "untagged", "sinceImagePushed", 1),
                rule(2, "untagged", "imageCountMoreThan", 3)]}, "untagged"),
]


@pytest.mark.parametrize("policy,needle", [(p, n) for _, p, n in INVALID],
                         ids=[i for i, _, _ in INVALID])
def test_invalid_policy_is_rejected_with_a_message_naming_the_problem(srv, policy, needle):
    data = srv.data
    ocireg("repo", "create", "app", "--data", data)
    good = {"rules": [rule(1, "untagged", "sinceImagePushed", 7)]}
    ocireg("lifecycle", "put", "app", "-", "--data", data, stdin=json.dumps(good))
    text = policy if isinstance(policy, str) else json.dumps(policy)

    proc = ocireg("lifecycle", "put", "app", "-", "--data", data, stdin=text, check=False)

    assert proc.returncode != 0, f"an invalid policy ({text}) should be rejected"
    assert needle in proc.stderr, \
        f"the error should name {needle!r}; stderr: {proc.stderr!r}"
    assert json.loads(ocireg("lifecycle", "get", "app", "--data", data).stdout) == good, \
        "a rejected policy should leave the previous one in place"
