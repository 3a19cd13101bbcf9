// init-guard's duties in a sandbox whose credentials the gate delivers: acctl mounts the gate's
// CA certificate (never its key) and names it in ACCTL_GATE_CA; the gate terminates TLS for the
// credential hosts with leaves from that CA and adds the token itself, so the sandbox holds no
// secret. init-guard writes a trust bundle (the image's system store and that CA) where the agent
// can read it, points the TLS clients' variables at it, and gives gh and glab a placeholder login
// so they talk to the API at all (the gate replaces whatever Authorization they send).
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace acctl::guard {

class GuardSystem;

// Set by acctl in the container's environment (neither is secret).
inline constexpr const char* kGateCaVariable = "ACCTL_GATE_CA";
inline constexpr const char* kGateCredentialsVariable = "ACCTL_GATE_CREDENTIALS";
// The image's store (Debian's ca-certificates, with the Host's trust.caFiles built in), and the
// bundle written beside the mounted CA, in the tmpfs acctl gives the agent at /run/acctl.
inline constexpr const char* kSystemBundle = "/etc/ssl/certs/ca-certificates.crt";
inline constexpr const char* kTrustBundle = "/run/acctl/ca-bundle.pem";
// What gh and glab take for a token: a fixed word, never a secret.
inline constexpr const char* kPlaceholderToken = "acctl-gate-injects-this";
// The most a certificate file may hold (the system store is about 200 KiB).
inline constexpr size_t kMaxBundleBytes = 4 << 20;

// Whether `env` names the gate's CA (a sandbox with gate-delivered credentials).
bool wants_gate_trust(const std::vector<std::string>& env);

// The bundle: `system` (the image's store; may be empty), then the gate's CA, each ending in a
// newline. Errors: a CA that is not one PEM certificate or more.
Result<std::string> trust_bundle_text(const std::string& system, const std::string& ca);

// `env` for the agent: every token variable gone (their names to `replaced`), a placeholder in
// GH_TOKEN and GH_ENTERPRISE_TOKEN (github) and GITLAB_TOKEN (gitlab) as ACCTL_GATE_CREDENTIALS
// lists them, SSL_CERT_FILE, CURL_CA_BUNDLE, GIT_SSL_CAINFO, REQUESTS_CA_BUNDLE and
// NODE_EXTRA_CA_CERTS at the bundle (Node adds it to its own roots: the bundle rather than the
// CA alone keeps the Host's extra CAs the image's variable gave it), and GIT_TERMINAL_PROMPT=0
// (git asks nobody for a password: the gate answers for it, or the request fails).
std::vector<std::string> with_gate_trust(const std::vector<std::string>& env,
                                         std::vector<std::string>* replaced);

// Reads the mounted CA and the system store and writes the bundle (0644). An existing bundle
// with the same text is kept (a second start in the same tmpfs). Errors say which file failed;
// init-guard then runs nothing, since the agent's TLS to the credential hosts would fail.
Status write_trust_bundle(GuardSystem& sys, const std::vector<std::string>& env);

}  // namespace acctl::guard
