// The L7 rules for credential hosts, from the sandbox's side: what may carry the token, and how.
#include "gate/credential_rules.h"

#include <gtest/gtest.h>

#include <string>

namespace acctl::gate {
namespace {

const std::string kGithubToken = "ghp_SECRETtoken123";
const std::string kGitlabToken = "glpat-SECRETtoken";

CredentialGrant github_grant() {
  CredentialGrant grant;
  grant.provider = Provider::kGithub;
  grant.token = kGithubToken;
  grant.git_hosts = {"github.com", "GHE.example.com"};
  grant.api_hosts = {"api.github.com"};
  grant.repositories = {"octo/repo", "Octo/Other"};
  return grant;
}

CredentialGrant gitlab_grant() {
  CredentialGrant grant;
  grant.provider = Provider::kGitlab;
  grant.token = kGitlabToken;
  grant.git_hosts = {"gitlab.com"};
  grant.repositories = {"group/sub/repo", "group/repo"};
  return grant;
}

std::string head_text(std::string_view method, std::string_view target, std::string_view host,
                      std::string_view extra = "") {
  return std::string(method) + " " + std::string(target) +
         " HTTP/1.1\r\nHost: " + std::string(host) + "\r\n" + std::string(extra) + "\r\n";
}

HttpRequestHead parsed(const std::string& text) {
  HttpHeadParse result = parse_http_head(text);
  EXPECT_EQ(result.status, HttpHeadStatus::kComplete) << result.reason << "\n" << text;
  return result.head;
}

// Every verdict is also checked for the token: it must never reach a reason or the log.
CredentialVerdict judge_text(const std::string& text, std::string_view host,
                             const CredentialGrant& grant) {
  CredentialVerdict verdict = judge_credential_request(parsed(text), host, grant);
  for (const std::string* part : {&verdict.reason, &verdict.operation, &verdict.repository}) {
    if (!grant.token.empty()) {
      EXPECT_EQ(part->find(grant.token), std::string::npos) << *part;
    }
    EXPECT_EQ(part->find("SECRET"), std::string::npos) << *part;
  }
  return verdict;
}

CredentialVerdict judge(std::string_view method, std::string_view target, std::string_view host,
                        const CredentialGrant& grant) {
  return judge_text(head_text(method, target, host), host, grant);
}

std::string reason(std::string_view method, std::string_view target, std::string_view host,
                   const CredentialGrant& grant) {
  CredentialVerdict verdict = judge(method, target, host, grant);
  return (verdict.allowed ? "allowed: " : "") + verdict.reason;
}

TEST(GateCredentialRules, GithubSmartHttpFetch) {
  const CredentialGrant grant = github_grant();
  CredentialVerdict v =
      judge("GET", "/octo/repo.git/info/refs?service=git-upload-pack", "github.com", grant);
  EXPECT_TRUE(v.allowed);
  EXPECT_EQ(v.reason, "git-upload-pack octo/repo");
  EXPECT_EQ(v.operation, "git-upload-pack");
  EXPECT_EQ(v.repository, "octo/repo");
  EXPECT_EQ(reason("POST", "/octo/repo.git/git-upload-pack", "github.com", grant),
            "allowed: git-upload-pack octo/repo");
  // The remote URL without ".git" names the same repository.
  EXPECT_EQ(reason("GET", "/octo/repo/info/refs?service=git-upload-pack", "github.com", grant),
            "allowed: git-upload-pack octo/repo");
}

TEST(GateCredentialRules, PushNeedsAllowPush) {
  CredentialGrant grant = github_grant();
  const std::string discover = "/octo/repo.git/info/refs?service=git-receive-pack";
  CredentialVerdict v = judge("GET", discover, "github.com", grant);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.reason, "push-not-allowed");
  EXPECT_EQ(v.operation, "git-receive-pack");
  EXPECT_EQ(v.repository, "octo/repo");
  EXPECT_EQ(reason("POST", "/octo/repo.git/git-receive-pack", "github.com", grant),
            "push-not-allowed");
  grant.allow_push = true;
  EXPECT_EQ(reason("GET", discover, "github.com", grant), "allowed: git-receive-pack octo/repo");
  EXPECT_EQ(reason("POST", "/octo/repo.git/git-receive-pack", "github.com", grant),
            "allowed: git-receive-pack octo/repo");
  // Push is still limited to the listed repositories.
  EXPECT_EQ(reason("POST", "/octo/secret.git/git-receive-pack", "github.com", grant),
            "repository-not-listed octo/secret");
}

TEST(GateCredentialRules, GitRepositoryMustBeListed) {
  CredentialGrant grant = github_grant();
  CredentialVerdict v =
      judge("GET", "/octo/secret.git/info/refs?service=git-upload-pack", "github.com", grant);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.reason, "repository-not-listed octo/secret");
  EXPECT_EQ(v.repository, "octo/secret");
  // The grant's own list is compared case-insensitively too ("Octo/Other").
  EXPECT_EQ(reason("POST", "/octo/other.git/git-upload-pack", "github.com", grant),
            "allowed: git-upload-pack octo/other");
  // The query is not part of the match.
  EXPECT_EQ(reason("GET", "/repos/octo/secret?r=/repos/octo/repo", "api.github.com", grant),
            "repository-not-listed octo/secret");
  grant.repositories.clear();
  EXPECT_EQ(
      reason("GET", "/octo/secret.git/info/refs?service=git-upload-pack", "github.com", grant),
      "allowed: git-upload-pack octo/secret");
}

TEST(GateCredentialRules, HostsAndRepositoriesAreCaseInsensitive) {
  const CredentialGrant grant = github_grant();
  const std::string text =
      head_text("GET", "/Octo/Repo.GIT/info/refs?service=git-upload-pack", "GITHUB.com");
  CredentialVerdict v = judge_text(text, "GitHub.COM.", grant);
  EXPECT_TRUE(v.allowed) << v.reason;
  EXPECT_EQ(v.repository, "octo/repo");
  EXPECT_EQ(reason("GET", "/repos/OCTO/Repo/pulls", "API.GitHub.com", grant),
            "allowed: api octo/repo");
  EXPECT_EQ(
      reason("GET", "/Octo/Secret.git/info/refs?service=git-upload-pack", "GitHub.com", grant),
      "repository-not-listed octo/secret");
}

TEST(GateCredentialRules, GithubRepositoryIsExactlyOwnerAndRepo) {
  const CredentialGrant grant = github_grant();
  EXPECT_EQ(
      reason("GET", "/octo/repo/sub.git/info/refs?service=git-upload-pack", "github.com", grant),
      "not-a-git-request");
  EXPECT_EQ(reason("GET", "/repo.git/info/refs?service=git-upload-pack", "github.com", grant),
            "not-a-git-request");
  EXPECT_EQ(reason("POST", "/octo/.git/git-upload-pack", "github.com", grant), "not-a-git-request");
}

TEST(GateCredentialRules, OnlySmartHttpOnAGitHost) {
  const CredentialGrant grant = github_grant();
  // The dumb protocol, and anything that is not git: the web UI, archives.
  EXPECT_EQ(reason("GET", "/octo/repo.git/info/refs", "github.com", grant), "not-a-git-request");
  EXPECT_EQ(reason("GET", "/octo/repo.git/HEAD", "github.com", grant), "not-a-git-request");
  EXPECT_EQ(reason("HEAD", "/octo/repo.git/info/refs?service=git-upload-pack", "github.com", grant),
            "not-a-git-request");
  EXPECT_EQ(reason("GET", "/octo/repo.git/objects/info/packs", "github.com", grant),
            "not-a-git-request");
  EXPECT_EQ(reason("GET", "/octo/repo", "github.com", grant), "not-a-git-request");
  EXPECT_EQ(reason("GET", "/octo/repo/archive/refs/heads/main.tar.gz", "github.com", grant),
            "not-a-git-request");
  EXPECT_EQ(reason("GET", "/", "github.com", grant), "not-a-git-request");
  // The protocol's own shape: one service parameter, GET for discovery, POST for the service.
  EXPECT_EQ(
      reason("GET", "/octo/repo.git/info/refs?service=git-upload-pack&x=1", "github.com", grant),
      "not-a-git-request");
  EXPECT_EQ(
      reason("GET", "/octo/repo.git/info/refs?service=git-upload-archive", "github.com", grant),
      "not-a-git-request");
  EXPECT_EQ(reason("POST", "/octo/repo.git/info/refs?service=git-upload-pack", "github.com", grant),
            "not-a-git-request");
  EXPECT_EQ(reason("GET", "/octo/repo.git/git-upload-pack", "github.com", grant),
            "not-a-git-request");
  EXPECT_EQ(reason("POST", "/octo/repo.git/git-upload-pack?x", "github.com", grant),
            "not-a-git-request");
}

TEST(GateCredentialRules, GitLfs) {
  CredentialGrant grant = github_grant();
  // A batch may be an upload, but nothing a push does not name becomes visible.
  EXPECT_EQ(reason("POST", "/octo/repo.git/info/lfs/objects/batch", "github.com", grant),
            "allowed: git-lfs octo/repo");
  EXPECT_EQ(reason("POST", "/octo/secret.git/info/lfs/objects/batch", "github.com", grant),
            "repository-not-listed octo/secret");
  EXPECT_EQ(reason("GET", "/octo/repo.git/info/lfs/locks?path=a.bin", "github.com", grant),
            "allowed: git-lfs octo/repo");
  EXPECT_EQ(reason("POST", "/octo/repo.git/info/lfs/locks/verify", "github.com", grant),
            "push-not-allowed");
  EXPECT_EQ(reason("POST", "/octo/repo.git/info/lfs/locks", "github.com", grant),
            "push-not-allowed");
  EXPECT_EQ(reason("GET", "/octo/repo.git/info/lfs/objects/batch", "github.com", grant),
            "not-a-git-request");
  EXPECT_EQ(reason("POST", "/octo/repo.git/info/lfs/objects", "github.com", grant),
            "not-a-git-request");
  EXPECT_EQ(reason("POST", "/octo/repo/info/lfs/objects/batch", "github.com", grant),
            "not-a-git-request");
  grant.allow_push = true;
  EXPECT_EQ(reason("POST", "/octo/repo.git/info/lfs/locks/verify", "github.com", grant),
            "allowed: git-lfs octo/repo");
}

TEST(GateCredentialRules, GheStyleExtraGitHost) {
  CredentialGrant grant = github_grant();
  EXPECT_EQ(
      reason("GET", "/octo/repo.git/info/refs?service=git-upload-pack", "ghe.example.com", grant),
      "allowed: git-upload-pack octo/repo");
  EXPECT_EQ(
      reason("GET", "/octo/secret.git/info/refs?service=git-upload-pack", "ghe.example.com", grant),
      "repository-not-listed octo/secret");
  // Only on a git host: /api/v3 of a git-only host is no API.
  EXPECT_EQ(reason("GET", "/api/v3/repos/octo/repo", "ghe.example.com", grant),
            "not-a-git-request");
  // GHE Server serves git and the API from one host.
  grant.api_hosts.push_back("ghe.example.com");
  EXPECT_EQ(reason("GET", "/api/v3/repos/octo/repo/pulls", "ghe.example.com", grant),
            "allowed: api octo/repo");
  EXPECT_EQ(reason("GET", "/api/v3/repos/octo/secret", "ghe.example.com", grant),
            "repository-not-listed octo/secret");
  EXPECT_EQ(reason("GET", "/api/v3/user", "ghe.example.com", grant), "allowed: api");
  EXPECT_EQ(reason("POST", "/api/graphql", "ghe.example.com", grant),
            "graphql-can-reach-any-repository");
  EXPECT_EQ(reason("POST", "/octo/repo.git/git-upload-pack", "ghe.example.com", grant),
            "allowed: git-upload-pack octo/repo");
}

TEST(GateCredentialRules, GithubRest) {
  CredentialGrant grant = github_grant();
  EXPECT_EQ(reason("GET", "/repos/octo/repo/pulls?state=open", "api.github.com", grant),
            "allowed: api octo/repo");
  EXPECT_EQ(reason("POST", "/repos/octo/repo/issues", "api.github.com", grant),
            "allowed: api octo/repo");
  EXPECT_EQ(reason("GET", "/repos/octo/repo", "api.github.com", grant), "allowed: api octo/repo");
  EXPECT_EQ(reason("GET", "/repos/octo/secret/pulls", "api.github.com", grant),
            "repository-not-listed octo/secret");
  // Outside /repos: a short read-only list.
  EXPECT_EQ(reason("GET", "/user", "api.github.com", grant), "allowed: api");
  EXPECT_EQ(reason("HEAD", "/rate_limit", "api.github.com", grant), "allowed: api");
  EXPECT_EQ(reason("GET", "/meta", "api.github.com", grant), "allowed: api");
  EXPECT_EQ(reason("PATCH", "/user", "api.github.com", grant),
            "api-path-outside-listed-repositories");
  EXPECT_EQ(reason("GET", "/user/repos", "api.github.com", grant),
            "api-path-outside-listed-repositories");
  EXPECT_EQ(reason("GET", "/repositories/123", "api.github.com", grant),
            "api-path-outside-listed-repositories");
  EXPECT_EQ(reason("GET", "/repos/octo", "api.github.com", grant),
            "api-path-outside-listed-repositories");
  EXPECT_EQ(reason("POST", "/graphql", "api.github.com", grant),
            "graphql-can-reach-any-repository");
  grant.repositories.clear();
  EXPECT_EQ(reason("GET", "/orgs/octo/repos", "api.github.com", grant), "allowed: api");
  EXPECT_EQ(reason("POST", "/graphql", "api.github.com", grant), "allowed: api");
  EXPECT_EQ(reason("GET", "/repos/octo/secret", "api.github.com", grant),
            "allowed: api octo/secret");
}

TEST(GateCredentialRules, GitlabSubgroups) {
  CredentialGrant grant = gitlab_grant();
  EXPECT_EQ(
      reason("GET", "/group/sub/repo.git/info/refs?service=git-upload-pack", "gitlab.com", grant),
      "allowed: git-upload-pack group/sub/repo");
  EXPECT_EQ(reason("POST", "/Group/Sub/Repo.git/git-upload-pack", "GitLab.com", grant),
            "allowed: git-upload-pack group/sub/repo");
  EXPECT_EQ(reason("POST", "/group/repo.git/git-upload-pack", "gitlab.com", grant),
            "allowed: git-upload-pack group/repo");
  // A listed repository's parent or sibling is another project.
  EXPECT_EQ(reason("POST", "/group/sub.git/git-upload-pack", "gitlab.com", grant),
            "repository-not-listed group/sub");
  EXPECT_EQ(reason("POST", "/group/sub/repo/deeper.git/git-upload-pack", "gitlab.com", grant),
            "repository-not-listed group/sub/repo/deeper");
  EXPECT_EQ(reason("POST", "/repo.git/git-upload-pack", "gitlab.com", grant), "not-a-git-request");
  EXPECT_EQ(reason("POST", "/group/sub/repo.git/git-receive-pack", "gitlab.com", grant),
            "push-not-allowed");
  EXPECT_EQ(reason("POST", "/group/sub/repo.git/info/lfs/objects/batch", "gitlab.com", grant),
            "allowed: git-lfs group/sub/repo");
  EXPECT_EQ(reason("GET", "/group/sub/repo/-/merge_requests", "gitlab.com", grant),
            "not-a-git-request");
  grant.allow_push = true;
  EXPECT_EQ(reason("POST", "/group/sub/repo.git/git-receive-pack", "gitlab.com", grant),
            "allowed: git-receive-pack group/sub/repo");
}

TEST(GateCredentialRules, GitlabApiProjectIsTheDecodedPath) {
  CredentialGrant grant = gitlab_grant();
  CredentialVerdict v =
      judge("GET", "/api/v4/projects/group%2Fsub%2Frepo/merge_requests", "gitlab.com", grant);
  EXPECT_TRUE(v.allowed) << v.reason;
  EXPECT_EQ(v.operation, "api");
  EXPECT_EQ(v.repository, "group/sub/repo");
  EXPECT_EQ(reason("POST", "/api/v4/projects/Group%2frepo/issues", "gitlab.com", grant),
            "allowed: api group/repo");
  EXPECT_EQ(reason("GET", "/api/v4/projects/group%2Fsecret", "gitlab.com", grant),
            "repository-not-listed group/secret");
  EXPECT_EQ(reason("GET", "/api/v4/projects/42/issues", "gitlab.com", grant),
            "project-id-not-matchable 42");
  EXPECT_EQ(reason("GET", "/api/v4/projects", "gitlab.com", grant),
            "api-path-outside-listed-repositories");
  EXPECT_EQ(reason("GET", "/api/v4/user", "gitlab.com", grant), "allowed: api");
  EXPECT_EQ(reason("GET", "/api/v4/version", "gitlab.com", grant), "allowed: api");
  EXPECT_EQ(reason("DELETE", "/api/v4/user", "gitlab.com", grant),
            "api-path-outside-listed-repositories");
  EXPECT_EQ(reason("POST", "/api/graphql", "gitlab.com", grant),
            "graphql-can-reach-any-repository");
  grant.repositories.clear();
  EXPECT_EQ(reason("GET", "/api/v4/projects/42/issues", "gitlab.com", grant), "allowed: api");
  EXPECT_EQ(reason("GET", "/api/v4/groups/group/projects", "gitlab.com", grant), "allowed: api");
  EXPECT_EQ(reason("POST", "/api/graphql", "gitlab.com", grant), "allowed: api");
}

TEST(GateCredentialRules, GitlabApiHostServesOnlyTheApi) {
  CredentialGrant grant = gitlab_grant();
  grant.api_hosts = {"gitlab-api.example.com"};
  EXPECT_EQ(reason("GET", "/api/v4/projects/group%2Frepo", "gitlab-api.example.com", grant),
            "allowed: api group/repo");
  EXPECT_EQ(reason("POST", "/group/repo.git/git-upload-pack", "gitlab-api.example.com", grant),
            "not-an-api-request");
}

TEST(GateCredentialRules, AmbiguousPathsAreRefused) {
  const CredentialGrant github = github_grant();
  for (const char* target : {
           "/octo/secret.git/../../octo/repo.git/info/refs?service=git-upload-pack",
           "/octo/./repo.git/info/refs?service=git-upload-pack",
           "/octo//repo.git/info/refs?service=git-upload-pack",
           "//octo/repo.git/info/refs?service=git-upload-pack",
           "/octo/repo.git/info/refs/?service=git-upload-pack",
           "/octo\\repo.git/info/refs?service=git-upload-pack",
           "/octo%2Frepo.git/info/refs?service=git-upload-pack",
           "/octo%2frepo/info/refs?service=git-upload-pack",
           "/octo/repo%2Egit/info/refs?service=git-upload-pack",
           "/octo/%2e%2e/octo/repo.git/info/refs?service=git-upload-pack",
           "/octo/repo%5C..%5Csecret.git/info/refs?service=git-upload-pack",
           "/octo/repo%252F.git/info/refs?service=git-upload-pack",
           "/octo/repo%2/info/refs?service=git-upload-pack",
           "/octo/repo%zz/info/refs?service=git-upload-pack",
           "/octo/repo.git/info/refs#x",
       }) {
    EXPECT_EQ(reason("GET", target, "github.com", github), "ambiguous-path") << target;
  }
  for (const char* target : {"/repos/octo/repo/../secret", "/repos/octo/repo/%2e%2e/secret",
                             "/repos/octo/repo/", "/repos/octo%2Frepo/pulls"}) {
    EXPECT_EQ(reason("GET", target, "api.github.com", github), "ambiguous-path") << target;
  }
  // Encoded in the query is fine: the query is not matched.
  EXPECT_EQ(reason("GET", "/repos/octo/repo/contents/a?ref=feature%2Fx", "api.github.com", github),
            "allowed: api octo/repo");
  // Other encodings in the path are not ambiguous, and name no listed repository.
  EXPECT_EQ(reason("GET", "/repos/oct%6F/repo", "api.github.com", github),
            "repository-not-listed oct%6f/repo");

  const CredentialGrant gitlab = gitlab_grant();
  for (const char* target : {
           "/api/v4/projects/group%2F..%2Fsecret",
           "/api/v4/projects/group%2F%2E%2E%2Fsecret",
           "/api/v4/projects/group%2F%2Frepo",
           "/api/v4/projects/group%2Frepo%2F",
           "/api/v4/projects/group%5Crepo",
           "/api/v4/projects/group%252Frepo",
           "/api/v4/projects/group%2Frepo%00",
           "/api/v4/projects/group%2Frepo/repository/files/a%2Fb",
           "/api/v4/projects/%2Fgroup%2Frepo",
           "/api/v4/groups/group%2Fsub",
           "/api/v4/projects//group",
           "/group%2Fsub/repo.git/info/refs?service=git-upload-pack",
       }) {
    EXPECT_EQ(reason("GET", target, "gitlab.com", gitlab), "ambiguous-path") << target;
  }
}

TEST(GateCredentialRules, OnlyOriginForm) {
  const CredentialGrant grant = github_grant();
  const std::string absolute = head_text(
      "GET", "https://github.com/octo/repo.git/info/refs?service=git-upload-pack", "github.com");
  EXPECT_EQ(judge_text(absolute, "github.com", grant).reason, "ambiguous-path");
  EXPECT_EQ(judge_text(head_text("OPTIONS", "*", "github.com"), "github.com", grant).reason,
            "ambiguous-path");
}

TEST(GateCredentialRules, HostMustBeTheGrantsAndTheHostFieldMustAgree) {
  const CredentialGrant grant = github_grant();
  const std::string target = "/octo/repo.git/info/refs?service=git-upload-pack";
  EXPECT_EQ(reason("GET", target, "evil.com", grant), "not-a-credential-host");
  EXPECT_EQ(reason("GET", target, "github.com.evil.com", grant), "not-a-credential-host");
  EXPECT_EQ(reason("GET", target, "gitlab.com", grant), "not-a-credential-host");
  // TLS for github.com, a Host for a neighbour behind the same front end.
  EXPECT_EQ(judge_text(head_text("GET", target, "evil.com"), "github.com", grant).reason,
            "host-mismatch");
  EXPECT_TRUE(judge_text(head_text("GET", target, "github.com:443"), "github.com", grant).allowed);
  EXPECT_EQ(judge_text(head_text("GET", target, "github.com@evil.com"), "github.com", grant).reason,
            "host-mismatch");
  const std::string no_host = "GET " + target + " HTTP/1.0\r\n\r\n";
  EXPECT_EQ(judge_text(no_host, "github.com", grant).reason, "host-mismatch");
}

TEST(GateCredentialRules, UnsendableTokenIsNeverSent) {
  CredentialGrant grant = github_grant();
  const std::string text = head_text("GET", "/repos/octo/repo", "api.github.com",
                                     "Authorization: Bearer placeholder\r\n");
  grant.token = "abc\r\nX-Injected: 1";
  EXPECT_EQ(judge_text(text, "api.github.com", grant).reason, "token-not-sendable");
  EXPECT_EQ(rewrite_head_with_token(text, parsed(text), "api.github.com", grant),
            head_text("GET", "/repos/octo/repo", "api.github.com"));
  grant.token = "";
  EXPECT_EQ(judge_text(text, "api.github.com", grant).reason, "token-not-sendable");
}

TEST(GateCredentialRules, RewriteReplacesThePlaceholder) {
  const CredentialGrant grant = github_grant();
  const std::string text =
      "GET /octo/repo.git/info/refs?service=git-upload-pack HTTP/1.1\r\n"
      "Host: github.com\r\n"
      "authorization: Basic eC1hY2Nlc3MtdG9rZW46cGxhY2Vob2xkZXI=\r\n"
      "User-Agent: git/2.39.2\r\n"
      "Proxy-Authorization: Basic cHJveHk=\r\n"
      "AUTHORIZATION:Bearer second\r\n"
      "Git-Protocol:  version=2 \r\n"
      "X-Authorization: kept\r\n"
      "\r\n";
  EXPECT_TRUE(judge_text(text, "github.com", grant).allowed);
  const std::string body = "0000";
  EXPECT_EQ(rewrite_head_with_token(text + body, parsed(text), "github.com", grant),
            "GET /octo/repo.git/info/refs?service=git-upload-pack HTTP/1.1\r\n"
            "Authorization: Basic eC1hY2Nlc3MtdG9rZW46Z2hwX1NFQ1JFVHRva2VuMTIz\r\n"
            "Host: github.com\r\n"
            "User-Agent: git/2.39.2\r\n"
            "Git-Protocol:  version=2 \r\n"
            "X-Authorization: kept\r\n"
            "\r\n0000");
}

TEST(GateCredentialRules, AuthorizationByProviderAndHostKind) {
  auto authorization = [](const std::string& text, std::string_view host,
                          const CredentialGrant& grant) {
    const HttpRequestHead head = parsed(text);
    const HttpRequestHead out = parsed(rewrite_head_with_token(text, head, host, grant));
    std::string value;
    int count = 0;
    for (const HttpHeaderField& field : out.fields) {
      if (field.name == "Authorization") {
        value = field.value;
        ++count;
      }
    }
    EXPECT_EQ(count, 1);
    return value;
  };
  CredentialGrant github = github_grant();
  EXPECT_EQ(authorization(head_text("POST", "/octo/repo.git/git-upload-pack", "github.com"),
                          "github.com", github),
            "Basic eC1hY2Nlc3MtdG9rZW46Z2hwX1NFQ1JFVHRva2VuMTIz");
  EXPECT_EQ(authorization(head_text("GET", "/repos/octo/repo", "api.github.com"), "api.github.com",
                          github),
            "Bearer " + kGithubToken);
  github.api_hosts.push_back("ghe.example.com");
  EXPECT_EQ(
      authorization(head_text("GET", "/api/v3/user", "ghe.example.com"), "ghe.example.com", github),
      "Bearer " + kGithubToken);
  const CredentialGrant gitlab = gitlab_grant();
  EXPECT_EQ(authorization(head_text("POST", "/group/repo.git/git-upload-pack", "gitlab.com"),
                          "gitlab.com", gitlab),
            "Basic b2F1dGgyOmdscGF0LVNFQ1JFVHRva2Vu");
  EXPECT_EQ(authorization(head_text("GET", "/api/v4/projects/group%2Frepo", "gitlab.com"),
                          "gitlab.com", gitlab),
            "Bearer " + kGitlabToken);
  // Base64 padding, for tokens of every length modulo 3.
  for (auto [token, basic] :
       {std::pair{"a", "eC1hY2Nlc3MtdG9rZW46YQ=="}, std::pair{"ab", "eC1hY2Nlc3MtdG9rZW46YWI="},
        std::pair{"abc", "eC1hY2Nlc3MtdG9rZW46YWJj"}}) {
    github.token = token;
    EXPECT_EQ(authorization(head_text("POST", "/octo/repo.git/git-upload-pack", "github.com"),
                            "github.com", github),
              std::string("Basic ") + basic);
  }
}

TEST(GateCredentialRules, RewriteForAnotherHostAddsNothing) {
  const CredentialGrant grant = github_grant();
  const std::string text = head_text("GET", "/", "evil.com", "Authorization: Bearer x\r\n");
  EXPECT_EQ(rewrite_head_with_token(text, parsed(text), "evil.com", grant),
            head_text("GET", "/", "evil.com"));
}

TEST(GateCredentialRules, RefusalsSayWhatWouldAllowThem) {
  EXPECT_EQ(what_would_allow_request({false, "push-not-allowed", "git-receive-pack", "o/r"}, "dev"),
            "set git.allowPush: true on Sandbox/dev");
  EXPECT_EQ(what_would_allow_request(
                {false, "repository-not-listed o/other", "git-upload-pack", "o/other"}, "dev"),
            "add o/other to Sandbox/dev git.repositories");
  EXPECT_NE(what_would_allow_request({false, "graphql-can-reach-any-repository", "api", ""}, "dev")
                .find("leave it empty"),
            std::string::npos);
  EXPECT_EQ(what_would_allow_request({false, "ambiguous-path", "other", ""}, "dev"), "");
  EXPECT_EQ(
      what_would_allow_request({true, "git-upload-pack o/r", "git-upload-pack", "o/r"}, "dev"), "");
}

}  // namespace
}  // namespace acctl::gate
