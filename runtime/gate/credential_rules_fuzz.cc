// libFuzzer target: the credential hosts' rules on any head the reader accepts; the rewritten head
// parses again, carries exactly one Authorization (ours) on a credential host and none elsewhere,
// and keeps every other field as sent.
#include <cctype>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/ascii.h"
#include "gate/credential_rules.h"

namespace {

using acctl::gate::CredentialGrant;
using acctl::gate::CredentialVerdict;
using acctl::gate::HttpHeaderField;
using acctl::gate::HttpHeadParse;
using acctl::gate::HttpHeadStatus;
using acctl::gate::HttpRequestHead;
using acctl::gate::Provider;

void check(bool condition) {
  if (!condition) std::abort();
}

bool credential_field(const HttpHeaderField& field) {
  return acctl::ascii_iequals(field.name, "authorization") ||
         acctl::ascii_iequals(field.name, "proxy-authorization");
}

struct Case {
  CredentialGrant grant;
  std::string basic;  // the Authorization a git request gets
};

Case make_case(uint8_t selector) {
  Case c;
  if (selector & 1) {
    c.grant.provider = Provider::kGitlab;
    c.grant.token = "glpat-FUZZtoken0Secret";
    c.grant.git_hosts = {"gitlab.com"};
    c.grant.api_hosts = {"gitlab-api.example.com"};
    c.grant.repositories = {"group/sub/repo"};
    c.basic = "Basic b2F1dGgyOmdscGF0LUZVWlp0b2tlbjBTZWNyZXQ=";
  } else {
    c.grant.provider = Provider::kGithub;
    c.grant.token = "ghp_FUZZtoken0Secret";
    c.grant.git_hosts = {"github.com", "ghe.example.com"};
    c.grant.api_hosts = {"api.github.com", "ghe.example.com"};
    c.grant.repositories = {"octo/repo"};
    c.basic = "Basic eC1hY2Nlc3MtdG9rZW46Z2hwX0ZVWlp0b2tlbjBTZWNyZXQ=";
  }
  if (selector & 2) c.grant.repositories.clear();
  c.grant.allow_push = (selector & 4) != 0;
  return c;
}

// The name the gate terminated TLS for: a fixed one, or the Host field's own name.
std::string pick_host(uint8_t selector, const HttpRequestHead& head) {
  static const char* const kHosts[] = {"github.com", "API.GitHub.com.",        "ghe.example.com",
                                       "gitlab.com", "gitlab-api.example.com", "other.example"};
  const unsigned pick = (selector >> 3) % 8;
  if (pick < 6) return kHosts[pick];
  if (!head.host()) return "";
  auto authority = acctl::gate::split_authority(*head.host(), 443);
  auto* where = std::get_if<acctl::gate::HostPort>(&authority);
  return where ? where->host : "";
}

bool is_credential_host(const CredentialGrant& grant, std::string host) {
  if (!host.empty() && host.back() == '.') host.pop_back();
  host = acctl::ascii_lower(host);
  for (const auto* hosts : {&grant.git_hosts, &grant.api_hosts}) {
    for (const std::string& h : *hosts) {
      if (h == host) return true;
    }
  }
  return false;
}

}  // namespace

// The first byte picks the grant (provider, repositories, allow_push) and the host; the rest is
// what the sandbox sent.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  const HttpHeadParse parse = acctl::gate::parse_http_head(stream);
  if (parse.status != HttpHeadStatus::kComplete) return 0;
  const HttpRequestHead& head = parse.head;
  // A head at the reader's field limit has no room for ours: the gate's limit, not a rule.
  if (head.fields.size() >= acctl::gate::kMaxHeaderFields) return 0;
  const Case c = make_case(data[0]);
  const std::string host = pick_host(data[0], head);

  const CredentialVerdict verdict = acctl::gate::judge_credential_request(head, host, c.grant);
  for (const std::string* part : {&verdict.reason, &verdict.operation, &verdict.repository}) {
    check(part->find(c.grant.token) == std::string::npos);
  }
  check(!verdict.reason.empty());
  if (verdict.allowed) {
    check(is_credential_host(c.grant, host));
    check(verdict.reason.starts_with(verdict.operation));
    check(verdict.repository.empty() || verdict.reason.ends_with(" " + verdict.repository));
  }

  const std::string_view head_bytes = stream.substr(0, head.length);
  const std::string out = acctl::gate::rewrite_head_with_token(head_bytes, head, host, c.grant);
  // Bytes after the head follow unchanged.
  check(acctl::gate::rewrite_head_with_token(stream, head, host, c.grant) ==
        out + std::string(stream.substr(head.length)));

  const HttpHeadParse again = acctl::gate::parse_http_head(out, out.size());
  check(again.status == HttpHeadStatus::kComplete && again.head.length == out.size());
  check(again.head.method == head.method && again.head.target == head.target);
  check(again.head.minor_version == head.minor_version);

  std::vector<const HttpHeaderField*> kept;
  for (const HttpHeaderField& field : head.fields) {
    if (!credential_field(field)) kept.push_back(&field);
  }
  size_t authorizations = 0;
  size_t first_other = 0;
  for (const HttpHeaderField& field : again.head.fields) {
    if (acctl::ascii_iequals(field.name, "proxy-authorization")) std::abort();
    if (acctl::ascii_iequals(field.name, "authorization")) ++authorizations;
  }
  if (is_credential_host(c.grant, host)) {
    check(authorizations == 1);
    const HttpHeaderField& ours = again.head.fields.at(0);
    check(ours.name == "Authorization");
    check(ours.value == c.basic || ours.value == "Bearer " + c.grant.token);
    first_other = 1;
  } else {
    check(authorizations == 0);
  }
  check(again.head.fields.size() - first_other == kept.size());
  for (size_t i = 0; i < kept.size(); ++i) {
    const HttpHeaderField& field = again.head.fields[first_other + i];
    check(field.name == kept[i]->name && field.value == kept[i]->value);
  }
  return 0;
}
