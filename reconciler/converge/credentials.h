// The tokens of Sandboxes' credentials, read from acctl's environment or from files when a
// command converges, so that render can write them where their delivery needs them: the
// instance's secrets/ folder (the vault's), or the Host's gate folder (the gate's). A token is
// never printed, logged, put in a label or in a container's environment: the plan names the
// file it goes to. A vault sandbox's spec carries a keyed digest of it (a changed token replaces
// the sandbox without the plan showing it); with the gate, a changed token is a write of the
// gate's file and a reload of the gate.
#pragma once

#include <map>
#include <string>

#include "common/result.h"
#include "manifest/model.h"

namespace acctl {

class System;

// Sandbox name -> provider ("github", "gitlab") -> token.
using CredentialTokens = std::map<std::string, std::map<std::string, std::string>>;

// Every Sandbox's tokens. A source that is not there (an unset variable, a missing file) falls
// back to the copy stored under `state_dir`, if any: the instance's secrets/ for the vault, its
// Host's gate/secrets/SANDBOX/ for the gate. Errors name the
// Sandbox, the provider and the source, never a value: a source that is not there and no stored
// copy, a file that cannot be read, a token that is empty, spans several lines or holds control
// characters.
Result<CredentialTokens> read_credentials(const Model& model, const System& system,
                                          const std::string& state_dir);

// What a container's spec holds of a token: SHA-256 over a fixed prefix, the Sandbox, the
// provider and the token, in hex. It changes with the token and does not give it back (a token
// is a long random string; the digest only confirms a guess of all of it).
std::string credential_digest(const std::string& sandbox, const std::string& provider,
                              const std::string& token);

}  // namespace acctl
