// Reading the Sandboxes' tokens: see credentials.h.
#include "converge/credentials.h"

#include <openssl/evp.h>

#include <cstdio>

#include "common/files.h"
#include "converge/system.h"
#include "manifest/names.h"

namespace acctl {

namespace {

// A token as git, gh and glab take it: one line of printable characters. One trailing newline
// (as `echo … > file` leaves) is dropped.
Result<std::string> checked_token(std::string token, const std::string& where) {
  if (!token.empty() && token.back() == '\n') token.pop_back();
  if (!token.empty() && token.back() == '\r') token.pop_back();
  if (token.empty()) return Error{0, where + " is empty"};
  if (token.size() > 4096) return Error{0, where + " is longer than 4096 bytes"};
  for (unsigned char c : token) {
    if (c == '\n') return Error{0, where + " holds more than one line"};
    if (c < 0x20 || c == 0x7f) return Error{0, where + " holds a control character"};
  }
  return token;
}

std::string expand_home(const std::string& path, const System& system) {
  if (path == "~" || path.starts_with("~/")) {
    if (auto home = system.env("HOME")) return *home + path.substr(1);
  }
  return path;
}

// The token from its source; nullopt when the source is not there (an unset variable, a
// missing file).
Result<std::optional<std::string>> read_source(const CredentialSource& source,
                                               const System& system) {
  if (!source.env.empty()) {
    auto value = system.env(source.env);
    if (!value) return std::optional<std::string>();
    auto t = checked_token(*value, "$" + source.env);
    if (!t) return t.error();
    return std::optional<std::string>(std::move(*t));
  }
  const std::string path = expand_home(source.file, system);
  auto text = read_file_if_exists(path);
  if (!text) return text.error();
  if (!*text) return std::optional<std::string>();
  auto t = checked_token(**text, "the file " + path);
  if (!t) return t.error();
  return std::optional<std::string>(std::move(*t));
}

std::string missing_text(const CredentialSource& source, const System& system) {
  if (!source.env.empty()) return "$" + source.env + " is not set in acctl's environment";
  return "the file " + expand_home(source.file, system) + " does not exist";
}

}  // namespace

Result<CredentialTokens> read_credentials(const Model& model, const System& system,
                                          const std::string& state_dir) {
  CredentialTokens out;
  for (const Sandbox& s : model.sandboxes) {
    for (const auto& [provider, source] :
         {std::pair{"github", &s.spec.github}, std::pair{"gitlab", &s.spec.gitlab}}) {
      if (!*source) continue;
      const std::string where = "Sandbox/" + s.meta.name + ": credentials." + provider;
      auto token = read_source(**source, system);
      if (!token) return token.error().within(where);
      if (!*token && !state_dir.empty()) {
        // The stored copy, so that commands run without the variable (clean, shell, another
        // instance's run) do not fail on this Sandbox; it is replaced when the source is back.
        // The vault's is in the instance's secrets/, the gate's in its Host's gate folder.
        const std::string folder =
            (*source)->delivery == CredentialDelivery::kGate
                ? host_paths(state_dir, s.spec.host).gate_secrets(s.meta.name)
                : instance_paths(state_dir, s.meta.name).secrets();
        auto stored = read_file_if_exists(folder + "/" + provider);
        if (!stored) return stored.error().within(where);
        if (*stored) *token = **stored;
      }
      if (!*token) return Error{0, where + ": " + missing_text(**source, system)};
      out[s.meta.name][provider] = std::move(**token);
    }
  }
  return out;
}

std::string credential_digest(const std::string& sandbox, const std::string& provider,
                              const std::string& token) {
  std::string input = "acctl credential v1";
  for (const std::string* part : {&sandbox, &provider, &token}) {
    input.push_back('\0');
    input += *part;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    // Fail closed: a digest that never matches replaces the sandbox on every apply.
    return "unavailable";
  }
  std::string hex;
  char buf[3];
  for (unsigned i = 0; i < size; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", digest[i]);
    hex += buf;
  }
  return hex;
}

}  // namespace acctl
