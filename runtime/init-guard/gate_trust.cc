// init-guard's duties for gate-delivered credentials: see gate_trust.h.
#include "init-guard/gate_trust.h"

#include "init-guard/guard.h"
#include "init-guard/vault_setup.h"

namespace acctl::guard {

namespace {

constexpr const char* kBundleVariables[] = {"SSL_CERT_FILE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO",
                                            "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"};
constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
constexpr std::string_view kEnd = "-----END CERTIFICATE-----";

// `env` with NAME=VALUE in place of every NAME entry, or appended.
std::vector<std::string> with_value(const std::vector<std::string>& env, const std::string& name,
                                    const std::string& value) {
  std::vector<std::string> out;
  const std::string prefix = name + "=";
  for (const std::string& e : env) {
    if (e.compare(0, prefix.size(), prefix) != 0) out.push_back(e);
  }
  out.push_back(prefix + value);
  return out;
}

bool listed(const std::string& list, const std::string& item) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    if (list.compare(start, end - start, item) == 0) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

bool wants_gate_trust(const std::vector<std::string>& env) {
  return !env_value(env, kGateCaVariable).empty();
}

Result<std::string> trust_bundle_text(const std::string& system, const std::string& ca) {
  // Only certificates: a key (or anything else) mounted by mistake never reaches the agent's
  // readable bundle.
  std::string certs;
  size_t at = 0;
  while ((at = ca.find(kBegin, at)) != std::string::npos) {
    const size_t end = ca.find(kEnd, at);
    if (end == std::string::npos) break;
    certs.append(ca, at, end + kEnd.size() - at);
    certs += "\n";
    at = end + kEnd.size();
  }
  if (certs.empty()) return Error{0, "it holds no PEM certificate"};
  std::string out = system;
  if (!out.empty() && out.back() != '\n') out += "\n";
  return out + certs;
}

std::vector<std::string> with_gate_trust(const std::vector<std::string>& given,
                                         std::vector<std::string>* replaced) {
  const std::string providers = env_value(given, kGateCredentialsVariable);
  std::vector<std::string> env = without_tokens(given, replaced);
  if (listed(providers, "github")) {
    env = with_value(env, "GH_TOKEN", kPlaceholderToken);
    env = with_value(env, "GH_ENTERPRISE_TOKEN", kPlaceholderToken);
  }
  if (listed(providers, "gitlab")) env = with_value(env, "GITLAB_TOKEN", kPlaceholderToken);
  for (const char* name : kBundleVariables) env = with_value(env, name, kTrustBundle);
  return with_value(env, "GIT_TERMINAL_PROMPT", "0");
}

Status write_trust_bundle(GuardSystem& sys, const std::vector<std::string>& env) {
  const std::string ca_path = env_value(env, kGateCaVariable);
  auto ca = sys.read_file(ca_path, kMaxBundleBytes);
  if (!ca) return ca.error().within("reading the gate's CA " + ca_path);
  std::string system;
  if (sys.is_file(kSystemBundle)) {
    auto s = sys.read_file(kSystemBundle, kMaxBundleBytes);
    if (!s) return s.error().within("reading the system store");
    system = std::move(*s);
  } else {
    sys.say(std::string("init-guard: the image has no ") + kSystemBundle +
            ": the agent trusts the gate's CA only");
  }
  auto bundle = trust_bundle_text(system, *ca);
  if (!bundle) return bundle.error().within("the gate's CA " + ca_path);
  if (sys.is_file(kTrustBundle)) {
    auto existing = sys.read_file(kTrustBundle, kMaxBundleBytes * 2 + 4096);
    if (existing && *existing == *bundle) return ok_status();
    return Error{0, std::string(kTrustBundle) + " is there already, with other certificates"};
  }
  if (auto w = sys.write_new_file(kTrustBundle, *bundle, 0644); !w)
    return w.error().within("writing the trust bundle");
  return ok_status();
}

}  // namespace acctl::guard
