// Judges requests to a sandbox's credential hosts and puts the real token into the head.
#include "gate/credential_rules.h"

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <variant>

#include "common/ascii.h"

namespace acctl::gate {
namespace {

std::string normal_host(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return ascii_lower(host);
}

bool has_host(const std::vector<std::string>& hosts, const std::string& host) {
  return std::any_of(hosts.begin(), hosts.end(),
                     [&](const std::string& h) { return normal_host(h) == host; });
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  return ascii_lower(c) - 'a' + 10;
}

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path == "/") return out;
  path.remove_prefix(1);
  while (true) {
    const size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    path.remove_prefix(slash + 1);
  }
}

struct Target {
  std::string_view path;
  std::optional<std::string_view> query;
};

Target split_target(std::string_view target) {
  const size_t question = target.find('?');
  if (question == std::string_view::npos) return {target, std::nullopt};
  return {target.substr(0, question), target.substr(question + 1)};
}

// A path whose segments are non-empty, not "." or "..", and hold no '\' or control bytes.
bool clean_segments(std::string_view path) {
  for (std::string_view segment : split_path(path)) {
    if (segment.empty() || segment == "." || segment == "..") return false;
    for (unsigned char c : segment) {
      if (c == '\\' || c <= 0x20 || c >= 0x7f) return false;
    }
  }
  return true;
}

// The %-decoding of one path segment whose escapes are known to be well-formed.
std::string percent_decode(std::string_view segment) {
  std::string out;
  for (size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] == '%') {
      out.push_back(static_cast<char>(hex_value(segment[i + 1]) * 16 + hex_value(segment[i + 2])));
      i += 2;
    } else {
      out.push_back(segment[i]);
    }
  }
  return out;
}

// Whether the gate and the upstream could read `path` as different resources: the gate matches
// the text, the upstream may normalise dot segments, collapse "//", take '\' for '/' or decode
// "%2F" before routing. Segment `exempt` may encode anything; decoded, it must be a clean path.
bool ambiguous_path(std::string_view path, std::optional<size_t> exempt) {
  if (path.empty() || path.front() != '/') return true;
  if (!clean_segments(path)) return true;
  const std::vector<std::string_view> segments = split_path(path);
  for (size_t index = 0; index < segments.size(); ++index) {
    const std::string_view segment = segments[index];
    for (size_t i = 0; i < segment.size(); ++i) {
      if (segment[i] != '%') continue;
      if (i + 2 >= segment.size() || !is_hex(segment[i + 1]) || !is_hex(segment[i + 2])) {
        return true;
      }
      const char decoded =
          static_cast<char>(hex_value(segment[i + 1]) * 16 + hex_value(segment[i + 2]));
      if (index != exempt &&
          (decoded == '/' || decoded == '.' || decoded == '\\' || decoded == '%')) {
        return true;
      }
      i += 2;
    }
    if (index == exempt) {
      const std::string decoded = percent_decode(segment);
      if (decoded.find('%') != std::string::npos || !clean_segments("/" + decoded)) return true;
    }
  }
  return false;
}

// Where a request on one of the grant's hosts goes, in the grant's terms.
struct Route {
  enum Kind { kNotCredentialHost, kGit, kGithubRest, kGraphql, kGitlabApi, kNotApi };
  Kind kind = kNotCredentialHost;
  std::string_view api_path;  // kGithubRest, kGitlabApi: the path after the API's prefix
};

// "/api/v4/x" with prefix "/api/v4" -> "/x"; "/api/v4" -> "/"; nullopt when not under it.
std::optional<std::string_view> under_prefix(std::string_view path, std::string_view prefix) {
  if (!path.starts_with(prefix)) return std::nullopt;
  const std::string_view rest = path.substr(prefix.size());
  if (rest.empty()) return "/";
  if (rest.front() != '/') return std::nullopt;
  return rest;
}

Route route_request(std::string_view path, const std::string& host, const CredentialGrant& grant) {
  const bool git = has_host(grant.git_hosts, host);
  const bool api = has_host(grant.api_hosts, host);
  if (!git && !api) return {};
  if (grant.provider == Provider::kGithub) {
    if (git && !api) return {Route::kGit, {}};
    if (!git) {
      if (path == "/graphql") return {Route::kGraphql, {}};
      return {Route::kGithubRest, path};
    }
    // Both: GHE Server serves git, /api/v3 and /api/graphql from one host.
    if (auto rest = under_prefix(path, "/api/v3")) return {Route::kGithubRest, *rest};
    if (path == "/api/graphql") return {Route::kGraphql, {}};
    return {Route::kGit, {}};
  }
  if (auto rest = under_prefix(path, "/api/v4")) return {Route::kGitlabApi, *rest};
  if (path == "/api/graphql") return {Route::kGraphql, {}};
  return {git ? Route::kGit : Route::kNotApi, {}};
}

// The index of GitLab's /api/v4/projects/{id} segment, the one that may encode '/'.
std::optional<size_t> project_id_segment(std::string_view path, const CredentialGrant& grant) {
  if (grant.provider != Provider::kGitlab || !path.starts_with("/api/v4/projects/")) {
    return std::nullopt;
  }
  return 3;
}

// A Bearer value goes out as is, so anything but visible ASCII could split the head.
bool sendable(std::string_view token) {
  return !token.empty() &&
         std::all_of(token.begin(), token.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool host_field_names(const HttpRequestHead& head, const std::string& host) {
  const std::optional<std::string_view> field = head.host();
  if (!field) return false;
  auto authority = split_authority(*field, 443);
  const auto* where = std::get_if<HostPort>(&authority);
  return where != nullptr && normal_host(where->host) == host;
}

bool listed(const CredentialGrant& grant, const std::string& repository) {
  if (grant.repositories.empty()) return true;
  return std::any_of(grant.repositories.begin(), grant.repositories.end(),
                     [&](const std::string& r) { return ascii_lower(r) == repository; });
}

CredentialVerdict refuse(std::string reason, std::string operation = "other",
                         std::string repository = "") {
  return {false, std::move(reason), std::move(operation), std::move(repository)};
}

CredentialVerdict allow(std::string operation, std::string repository = "") {
  std::string reason = repository.empty() ? operation : operation + " " + repository;
  return {true, std::move(reason), std::move(operation), std::move(repository)};
}

bool reads(std::string_view method) {
  return method == "GET" || method == "HEAD";
}

// The repository the segments before a git suffix name, or "" when they name none.
std::string git_repository(const std::vector<std::string_view>& segments, size_t count,
                           Provider provider) {
  if (provider == Provider::kGithub ? count != 2 : count < 2) return "";
  std::string repository;
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) repository += '/';
    repository += ascii_lower(segments[i]);
  }
  if (repository.ends_with(".git")) repository.resize(repository.size() - 4);
  if (repository.ends_with('/')) return "";  // the last segment was only ".git"
  return repository;
}

CredentialVerdict judge_git(const HttpRequestHead& head, const Target& target,
                            const CredentialGrant& grant) {
  const std::vector<std::string_view> segments = split_path(target.path);
  const size_t n = segments.size();
  std::string operation;
  size_t repo_segments = 0;
  bool writes = false;
  if (n >= 2 && segments[n - 2] == "info" && segments[n - 1] == "refs") {
    // Smart ref discovery only: without the service query it is the dumb protocol.
    if (head.method == "GET" && target.query == "service=git-upload-pack") {
      operation = "git-upload-pack";
    } else if (head.method == "GET" && target.query == "service=git-receive-pack") {
      operation = "git-receive-pack";
      writes = true;
    } else {
      return refuse("not-a-git-request");
    }
    repo_segments = n - 2;
  } else if (n >= 1 &&
             (segments[n - 1] == "git-upload-pack" || segments[n - 1] == "git-receive-pack")) {
    if (head.method != "POST" || target.query) return refuse("not-a-git-request");
    operation = segments[n - 1];
    writes = operation == "git-receive-pack";
    repo_segments = n - 1;
  } else {
    // LFS lives under "<repo>.git/info/lfs" (git-lfs adds the .git to a remote without one).
    size_t k = 2;
    while (k + 1 < n && !(segments[k] == "info" && segments[k + 1] == "lfs" &&
                          ascii_lower(segments[k - 1]).ends_with(".git"))) {
      ++k;
    }
    if (k + 1 >= n) return refuse("not-a-git-request");
    const size_t rest = n - (k + 2);
    if (rest == 2 && segments[k + 2] == "objects" && segments[k + 3] == "batch" &&
        head.method == "POST") {
      writes = false;  // download or upload is in the body; see the header
    } else if (rest >= 1 && segments[k + 2] == "locks" &&
               (reads(head.method) || head.method == "POST")) {
      writes = head.method == "POST";  // create, verify (before a push), unlock
    } else {
      return refuse("not-a-git-request");
    }
    operation = "git-lfs";
    repo_segments = k;
  }
  const std::string repository = git_repository(segments, repo_segments, grant.provider);
  if (repository.empty()) return refuse("not-a-git-request", operation);
  if (!listed(grant, repository)) {
    return refuse("repository-not-listed " + repository, operation, repository);
  }
  if (writes && !grant.allow_push) return refuse("push-not-allowed", operation, repository);
  return allow(operation, repository);
}

// Paths outside a repository that a scoped grant still answers: who the token is, limits.
bool read_only_outside_repositories(std::string_view method, std::string_view path,
                                    std::initializer_list<std::string_view> paths) {
  return reads(method) && std::find(paths.begin(), paths.end(), path) != paths.end();
}

CredentialVerdict judge_github_rest(const HttpRequestHead& head, std::string_view path,
                                    const CredentialGrant& grant) {
  const std::vector<std::string_view> segments = split_path(path);
  if (segments.size() >= 3 && segments[0] == "repos") {
    const std::string repository = ascii_lower(segments[1]) + "/" + ascii_lower(segments[2]);
    if (!listed(grant, repository)) {
      return refuse("repository-not-listed " + repository, "api", repository);
    }
    return allow("api", repository);
  }
  if (grant.repositories.empty() ||
      read_only_outside_repositories(head.method, path, {"/user", "/rate_limit", "/meta"})) {
    return allow("api");
  }
  return refuse("api-path-outside-listed-repositories", "api");
}

CredentialVerdict judge_gitlab_api(const HttpRequestHead& head, std::string_view path,
                                   const CredentialGrant& grant) {
  const std::vector<std::string_view> segments = split_path(path);
  if (segments.size() >= 2 && segments[0] == "projects") {
    const std::string_view id = segments[1];
    if (all_digits(id)) {
      if (grant.repositories.empty()) return allow("api");
      return refuse("project-id-not-matchable " + std::string(id), "api");
    }
    const std::string repository = ascii_lower(percent_decode(id));
    if (!listed(grant, repository)) {
      return refuse("repository-not-listed " + repository, "api", repository);
    }
    return allow("api", repository);
  }
  if (grant.repositories.empty() ||
      read_only_outside_repositories(head.method, path, {"/user", "/version", "/metadata"})) {
    return allow("api");
  }
  return refuse("api-path-outside-listed-repositories", "api");
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16 |
                       static_cast<uint8_t>(bytes[i + 1]) << 8 | static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    const bool two = i + 1 < bytes.size();
    const uint32_t v =
        static_cast<uint8_t>(bytes[i]) << 16 | (two ? static_cast<uint8_t>(bytes[i + 1]) << 8 : 0);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += two ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// The Authorization value for a request to `host`, or nullopt when the token must not go.
std::optional<std::string> authorization_for(const HttpRequestHead& head, std::string_view host,
                                             const CredentialGrant& grant) {
  if (!sendable(grant.token)) return std::nullopt;
  const Route route = route_request(split_target(head.target).path, normal_host(host), grant);
  switch (route.kind) {
    case Route::kNotCredentialHost:
      return std::nullopt;
    case Route::kGit: {
      const std::string_view user =
          grant.provider == Provider::kGithub ? "x-access-token:" : "oauth2:";
      return "Basic " + base64(std::string(user) + grant.token);
    }
    case Route::kGithubRest:
    case Route::kGitlabApi:
    case Route::kGraphql:
    case Route::kNotApi:
      break;
  }
  return "Bearer " + grant.token;
}

bool client_credential_field(std::string_view line) {
  const std::string_view name = line.substr(0, line.find(':'));
  return ascii_iequals(name, "authorization") || ascii_iequals(name, "proxy-authorization");
}

}  // namespace

CredentialVerdict judge_credential_request(const HttpRequestHead& head, std::string_view host,
                                           const CredentialGrant& grant) {
  const std::string name = normal_host(host);
  const Target target = split_target(head.target);
  const Route route = route_request(target.path, name, grant);
  if (route.kind == Route::kNotCredentialHost) return refuse("not-a-credential-host");
  if (!sendable(grant.token)) return refuse("token-not-sendable");
  if (!host_field_names(head, name)) return refuse("host-mismatch");
  if (head.form != TargetForm::kOrigin || head.target.find('#') != std::string::npos ||
      ambiguous_path(target.path, project_id_segment(target.path, grant))) {
    return refuse("ambiguous-path");
  }
  switch (route.kind) {
    case Route::kGit:
      return judge_git(head, target, grant);
    case Route::kGithubRest:
      return judge_github_rest(head, route.api_path, grant);
    case Route::kGitlabApi:
      return judge_gitlab_api(head, route.api_path, grant);
    case Route::kGraphql:
      if (!grant.repositories.empty()) return refuse("graphql-can-reach-any-repository", "api");
      return allow("api");
    case Route::kNotApi:
      return refuse("not-an-api-request");
    case Route::kNotCredentialHost:
      break;
  }
  return refuse("not-a-credential-host");
}

std::string rewrite_head_with_token(std::string_view raw_head, const HttpRequestHead& head,
                                    std::string_view host, const CredentialGrant& grant) {
  assert(head.length <= raw_head.size() && raw_head.substr(0, head.length).ends_with("\r\n\r\n"));
  const std::string_view text = raw_head.substr(0, head.length);
  const size_t request_line_end = text.find("\r\n") + 2;
  std::string out(text.substr(0, request_line_end));
  if (auto value = authorization_for(head, host, grant)) {
    out += "Authorization: ";
    out += *value;
    out += "\r\n";
  }
  // Field lines up to the blank line: the reader accepted the head, so each ends in CRLF and
  // its name runs up to the first ':' with no space before it.
  size_t pos = request_line_end;
  while (pos < text.size()) {
    const size_t end = text.find("\r\n", pos) + 2;
    const std::string_view line = text.substr(pos, end - pos);
    if (line == "\r\n" || !client_credential_field(line)) out += line;
    pos = end;
  }
  out += raw_head.substr(head.length);
  return out;
}

std::string what_would_allow_request(const CredentialVerdict& refused, std::string_view sandbox) {
  if (refused.allowed) return "";
  const std::string who = "Sandbox/" + std::string(sandbox);
  const std::string_view reason = refused.reason;
  if (reason == "push-not-allowed") return "set git.allowPush: true on " + who;
  if (reason.starts_with("repository-not-listed ")) {
    return "add " + std::string(reason.substr(22)) + " to " + who + " git.repositories";
  }
  if (reason == "graphql-can-reach-any-repository" ||
      reason == "api-path-outside-listed-repositories" ||
      reason.starts_with("project-id-not-matchable")) {
    return "git.repositories on " + who +
           " limits the API to those repositories; leave it empty to allow this";
  }
  return "";
}

}  // namespace acctl::gate
