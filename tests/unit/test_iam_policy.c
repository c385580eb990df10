/* test_iam_policy.c - IAM policy documents: what the parser refuses (and says), and how
 * statements judge (user, action, repository): Deny wins, wildcards, principals, resources. */
#include "auth/iam_policy.h"
#include "storage/base/reg_error.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

#define ID "000000000000"

static iam_policy *parse(const char *text)
{
    iam_policy *p = NULL;
    int err = iam_policy_parse(&p, text, ID);
    CHECK(err == REG_OK, "expected %s to parse, got: %s", text, reg_error_last("?"));
    return p;
}

/* The text must be refused with a message containing `want`. */
static void refused(const char *text, const char *want)
{
    iam_policy *p = NULL;
    reg_error_clear();
    int err = iam_policy_parse(&p, text, ID);
    CHECK(err == REG_EINVALID, "expected %s to be refused", text);
    CHECK(strstr(reg_error_last(""), want) != NULL, "for %s expected a message with '%s', got '%s'",
          text, want, reg_error_last(""));
    CHECK(p == NULL, "no policy comes back when refused");
    iam_policy_free(p);
}

#define STMT(effect, principal, action)                                                            \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"" effect                             \
    "\",\"Principal\":" principal ",\"Action\":" action "}]}"

static void test_validation_messages(void)
{
    refused("{", "not valid JSON");
    refused("[]", "must be a JSON object");
    refused("{\"Version\":\"2012-10-17\"}", "Statement: at least one statement is required");
    refused("{\"Statement\":[]}", "at least one statement");
    refused("{\"Version\":\"2020-01-01\",\"Statement\":{}}", "Version: must be");
    refused("{\"Statement\":{},\"Extra\":1}", "unknown element 'Extra'");
    refused(STMT("allow", "\"*\"", "\"ecr:BatchGetImage\""),
            "Statement[0].Effect: must be \"Allow\" or \"Deny\"");
    refused(STMT("Allow", "\"*\"", "\"ecr:PullImage\""),
            "Statement[0].Action: unknown ECR action 'ecr:PullImage'");
    refused(STMT("Allow", "\"*\"", "[\"ecr:BatchGetImage\", \"s3:GetObject\"]"),
            "Statement[0].Action[1]: 's3:GetObject' is not an ECR action");
    refused(STMT("Allow", "\"*\"", "[]"), "Statement[0].Action: must not be an empty list");
    refused(STMT("Allow", "\"*\"", "[1]"), "Statement[0].Action[0]: must be a string");
    refused(STMT("Allow", "{\"AWS\":\"arn:aws:iam::000000000000:group/dev\"}", "\"ecr:*\""),
            "Statement[0].Principal.AWS: 'arn:aws:iam::000000000000:group/dev' is not");
    refused(STMT("Allow", "{\"AWS\":[\"*\",\"arn:aws:iam::12:user/x\"]}", "\"ecr:*\""),
            "Statement[0].Principal.AWS[1]");
    refused(STMT("Allow", "{\"Federated\":\"x\"}", "\"ecr:*\""),
            "principal type 'Federated' is not supported");
    refused(STMT("Allow", "\"someone\"", "\"ecr:*\""), "Statement[0].Principal: must be \"*\"");
    refused("{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"ecr:*\"}]}",
            "Statement[0]: Principal is required");
    refused("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:*\","
            "\"Condition\":{}}]}",
            "Statement[0]: Condition is not supported");
    refused("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"NotAction\":\"ecr:*\"}]}",
            "Statement[0]: NotAction is not supported");
    refused("{\"Statement\":[{\"Sid\":\"A\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":"
            "\"ecr:*\"},{\"Sid\":\"A\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":"
            "\"ecr:*\"}]}",
            "Statement[1].Sid: 'A' is also the Sid of Statement[0]");
    refused("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:*\","
            "\"Resource\":\"arn:aws:s3:::bucket\"}]}",
            "Statement[0].Resource: 'arn:aws:s3:::bucket' is not \"*\" or a repository ARN");
    refused("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:*\","
            "\"Resource\":\"arn:aws:ecr:us-east-1:000000000000:repository/Bad Name\"}]}",
            "is not \"*\" or a repository ARN");
    refused("{\"Statement\":{\"Effect\":\"Allow\",\"Effect\":\"Deny\",\"Principal\":\"*\","
            "\"Action\":\"ecr:*\"}}",
            "duplicate object key");
}

static void test_text_limit(void)
{
    const char *head = "{\"Id\":\"";
    const char *tail = "\",\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":"
                       "\"ecr:*\"}}";
    size_t fill = IAM_POLICY_TEXT_MAX - strlen(head) - strlen(tail);
    char *text = malloc(IAM_POLICY_TEXT_MAX + 2);
    memcpy(text, head, strlen(head));
    memset(text + strlen(head), 'x', fill);
    strcpy(text + strlen(head) + fill, tail);
    CHECK_INT(strlen(text), IAM_POLICY_TEXT_MAX);
    iam_policy_free(parse(text)); /* exactly at the limit */
    memmove(text + 1, text, strlen(text) + 1);
    text[0] = ' ';
    refused(text, "more than the 10240 allowed");
    free(text);
}

static void test_deny_wins_and_principals(void)
{
    iam_policy *p = parse(
        "{\"Version\":\"2008-10-17\",\"Statement\":["
        "{\"Sid\":\"pull\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":"
        "[\"arn:aws:iam::000000000000:user/alice\",\"arn:aws:iam::000000000000:user/ops/bob\"]},"
        "\"Action\":[\"ecr:BatchGetImage\",\"ecr:GetDownloadUrlForLayer\"]},"
        "{\"Sid\":\"nobob\",\"Effect\":\"Deny\",\"Principal\":{\"AWS\":"
        "\"arn:aws:iam::000000000000:user/bob\"},\"Action\":\"ecr:Batch*\"},"
        "{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111111111111:root\"},"
        "\"Action\":\"ecr:*\"},"
        "{\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"codebuild.amazonaws.com\"},"
        "\"Action\":\"ecr:*\"}]}");
    CHECK_INT(iam_policy_eval(p, "alice", "ecr:BatchGetImage", "app"), IAM_ALLOW);
    CHECK_INT(iam_policy_eval(p, "alice", "ECR:batchgetimage", "app"), IAM_ALLOW);
    CHECK_INT(iam_policy_eval(p, "alice", "ecr:PutImage", "app"), IAM_NONE);
    CHECK_INT(iam_policy_eval(p, "bob", "ecr:GetDownloadUrlForLayer", "app"), IAM_ALLOW);
    CHECK_INT(iam_policy_eval(p, "bob", "ecr:BatchGetImage", "app"), IAM_DENY);
    CHECK_INT(iam_policy_eval(p, "carol", "ecr:BatchGetImage", "app"), IAM_NONE);
    CHECK_INT(iam_policy_eval(p, NULL, "ecr:BatchGetImage", "app"), IAM_NONE);
    iam_policy_free(p);

    p = parse(STMT("Allow", "\"*\"", "\"ecr:BatchGetImage\""));
    CHECK_INT(iam_policy_eval(p, NULL, "ecr:BatchGetImage", "app"), IAM_ALLOW);
    iam_policy_free(p);
    p = parse(STMT("Allow", "{\"AWS\":\"arn:aws:iam::000000000000:root\"}", "\"ecr:*\""));
    CHECK_INT(iam_policy_eval(p, "anyone", "ecr:ListImages", "app"), IAM_ALLOW);
    CHECK_INT(iam_policy_eval(p, NULL, "ecr:ListImages", "app"), IAM_NONE);
    iam_policy_free(p);
    p = parse(STMT("Deny", "{\"AWS\":\"000000000000\"}", "\"*\""));
    CHECK_INT(iam_policy_eval(p, "anyone", "ecr:PutImage", "app"), IAM_DENY);
    iam_policy_free(p);
}

static void test_action_wildcards(void)
{
    iam_policy *p = parse(STMT("Allow", "\"*\"", "[\"ecr:Get*\", \"ecr:?utImage\"]"));
    CHECK_INT(iam_policy_eval(p, "u", "ecr:GetDownloadUrlForLayer", "r"), IAM_ALLOW);
    CHECK_INT(iam_policy_eval(p, "u", "ecr:getrepositorypolicy", "r"), IAM_ALLOW);
    CHECK_INT(iam_policy_eval(p, "u", "ecr:PutImage", "r"), IAM_ALLOW);
    CHECK_INT(iam_policy_eval(p, "u", "ecr:BatchGetImage", "r"), IAM_NONE);
    iam_policy_free(p);
}

static void test_resources(void)
{
    iam_policy *p =
        parse("{\"Statement\":[{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"ecr:*\","
              "\"Resource\":[\"arn:aws:ecr:us-east-1:000000000000:repository/team-a/*\","
              "\"arn:aws:ecr:*:000000000000:repository/solo\","
              "\"arn:aws:ecr:us-east-1:222222222222:repository/*\"]}]}");
    CHECK_INT(iam_policy_eval(p, "u", "ecr:BatchGetImage", "team-a/app"), IAM_DENY);
    CHECK_INT(iam_policy_eval(p, "u", "ecr:BatchGetImage", "solo"), IAM_DENY);
    CHECK_INT(iam_policy_eval(p, "u", "ecr:BatchGetImage", "solo2"), IAM_NONE);
    CHECK_INT(iam_policy_eval(p, "u", "ecr:BatchGetImage", "team-b/app"), IAM_NONE);
    iam_policy_free(p);
    p = parse("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:*\","
              "\"Resource\":\"*\"}]}");
    CHECK_INT(iam_policy_eval(p, "u", "ecr:PutImage", "any/thing"), IAM_ALLOW);
    iam_policy_free(p);
    CHECK_INT(iam_policy_eval(NULL, "u", "ecr:PutImage", "any"), IAM_NONE);
}

static void test_known_actions(void)
{
    CHECK(iam_action_known("ecr:ReplicateImage"), "registry policies name ecr:ReplicateImage");
    CHECK(iam_action_known("ecr:batchimportupstreamimage"), "case-insensitive");
    CHECK(!iam_action_known("ecr:Pull"), "ecr:Pull is no action");
    CHECK(!iam_action_known("BatchGetImage"), "the service prefix is needed");
}

int main(void)
{
    RUN(test_validation_messages);
    RUN(test_text_limit);
    RUN(test_deny_wins_and_principals);
    RUN(test_action_wildcards);
    RUN(test_resources);
    RUN(test_known_actions);
    return check_failures ? 1 : 0;
}
