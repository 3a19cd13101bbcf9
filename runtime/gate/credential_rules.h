// The gate's L7 rules for a sandbox's credential hosts: which plaintext request heads may go
// upstream with the sandbox's real token, and the head they go with (the sandbox holds only a
// placeholder). Pure: a parsed head and the grant in, a verdict or a rewritten head out.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gate/http_head.h"

namespace acctl::gate {

enum class Provider { kGithub, kGitlab };

// One Sandbox's credential for one provider.
struct CredentialGrant {
  Provider provider = Provider::kGithub;
  std::string token;                   // the secret: never in a verdict
  std::vector<std::string> git_hosts;  // github.com or a GHE host; gitlab.com or your own
  // api.github.com; a host in both lists is GHE Server's layout (/api/v3, /api/graphql). A
  // GitLab git host serves /api/v4 itself, so GitLab grants need no API host.
  std::vector<std::string> api_hosts;
  bool allow_push = false;
  // "owner/repo" (GitLab: "group/sub/repo"); empty: any repository the token reaches.
  std::vector<std::string> repositories;
};

struct CredentialVerdict {
  bool allowed = false;
  // Allowed: "<operation> <repository>" or "<operation>". Refused: "not-a-credential-host",
  // "token-not-sendable", "host-mismatch", "ambiguous-path", "not-a-git-request",
  // "not-an-api-request", "push-not-allowed", "repository-not-listed <repository>",
  // "project-id-not-matchable <id>", "graphql-can-reach-any-repository",
  // "api-path-outside-listed-repositories".
  std::string reason;
  std::string operation;   // "git-upload-pack", "git-receive-pack", "git-lfs", "api", "other"
  std::string repository;  // lower-case "owner/repo" when the request names one
};

// Whether a request head the sandbox sent to `host` (the name the gate terminated TLS for) may
// carry the grant's token. In order:
//  - `host` (lower-cased, one trailing dot dropped) must be one of the grant's hosts, the token
//    must be visible ASCII (a Bearer value is sent as is), and the Host field must name `host`
//    (its port is not compared): a Host naming another tenant of a shared front end would get
//    the token there.
//  - The target must be origin-form without '#', and its path (the query is not looked at)
//    unambiguous: no empty or dot segment, no '\', no malformed '%', and no '%' encoding of
//    '/', '.', '\' or '%' except in GitLab's /api/v4/projects/{id} segment, which is decoded
//    whole and must then be a clean path itself. So GitLab's other encoded segments (a file
//    path in repository/files/..., a branch with '/') are refused too.
//  - Git smart HTTP: GET <repo>/info/refs?service=git-upload-pack|git-receive-pack (the query
//    exactly that, as the protocol has it) and POST <repo>/git-upload-pack|git-receive-pack
//    (no query). Git LFS: POST <repo>.git/info/lfs/objects/batch, and the locks API under
//    <repo>.git/info/lfs/locks. <repo> is exactly owner/repo on GitHub, two or more segments
//    on GitLab, lower-cased with one ".git" dropped. Anything else on a git host is refused as
//    "not-a-git-request": the dumb protocol (info/refs without a service, objects/..., HEAD
//    requests; GitHub and GitLab speak only smart HTTP, and git asks for it first), the web
//    UI, archive and release downloads, and GitLab's own LFS object URLs (gitlab-lfs/...).
//  - allow_push == false refuses receive-pack in both forms and the LFS lock writes (create,
//    unlock, and the verify a push makes). An LFS batch is allowed either way: whether it
//    uploads is in its body, and uploaded objects are unreachable until a push names them.
//    The API is not limited by allow_push (the vault's allowPush is about git push too): a
//    token that may write contents can still commit through the REST contents or git-data
//    APIs or GraphQL's createCommitOnBranch, so a read-only grant needs a read-only token.
//  - repositories non-empty: a git request must name a listed repository; GitHub REST
//    /repos/{owner}/{repo}[/...] likewise, other REST paths only GET/HEAD /user, /rate_limit,
//    /meta; GitLab /api/v4/projects/{id}[/...] likewise by the decoded path (a numeric id
//    cannot be matched and is refused), other paths only GET/HEAD /user, /version, /metadata;
//    GraphQL (GitHub /graphql or GHE /api/graphql, GitLab /api/graphql) is refused, since one
//    query can act on any repository.
CredentialVerdict judge_credential_request(const HttpRequestHead& head, std::string_view host,
                                           const CredentialGrant& grant);

// The head to send upstream for a request judge_credential_request allowed: every
// Authorization and Proxy-Authorization field the client sent dropped (names compared
// case-insensitively), one Authorization field inserted right after the request line, every
// other byte as received. GitHub git: Basic "x-access-token:<token>"; GitLab git: Basic
// "oauth2:<token>"; any API: Bearer <token>. `raw_head` starts with the head `head` was parsed
// from (HttpHeadReader accepted it, so every line ends in CRLF); bytes after the head follow
// unchanged. For a host not in the grant, or a token judge refuses to send, no field is added.
std::string rewrite_head_with_token(std::string_view raw_head, const HttpRequestHead& head,
                                    std::string_view host, const CredentialGrant& grant);

// What would allow a request judge_credential_request refused, for the agent and its operator
// ("set git.allowPush: true on Sandbox/dev"); "" when no setting can (an ambiguous path, a
// request that is not git's or the API's).
std::string what_would_allow_request(const CredentialVerdict& refused, std::string_view sandbox);

}  // namespace acctl::gate
