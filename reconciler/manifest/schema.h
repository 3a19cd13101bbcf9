// The manifest schemas: per-kind document schemas composed from schema/*.json, and defaults.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace acctl {

inline constexpr std::string_view kApiVersion = "acctl/v1alpha1";
inline constexpr std::array<std::string_view, 4> kKinds = {"Host", "EgressPolicy", "Blueprint",
                                                           "Sandbox"};

// Canonical kind name for a user-typed one ("sandbox", "Sandbox", "sandboxes"), or "".
std::string canonical_kind(std::string_view typed);

// The schema of a whole document of `kind` (envelope + the kind's spec), or nullptr.
const nlohmann::json* document_schema(std::string_view kind);

// One schema for any document: dispatches on `kind` (for editors via yaml-language-server).
const nlohmann::json& combined_schema();

// The sub-schema that governs the node at `path` (object keys and array indexes), following
// properties, additionalProperties, items and local $refs. Stops at (and returns) a
// oneOf/anyOf node when the path goes below one. Returns nullptr when there is none.
const nlohmann::json* schema_at(const nlohmann::json& root, const std::vector<std::string>& path);

// Follows local "$ref"s from `node` (a part of `root`); nullptr when one does not resolve.
const nlohmann::json* resolve_schema_ref(const nlohmann::json& root, const nlohmann::json* node);

// Fills in every "default" the schema declares for properties missing from `instance`.
void apply_defaults(const nlohmann::json& root, nlohmann::json& instance);

}  // namespace acctl
