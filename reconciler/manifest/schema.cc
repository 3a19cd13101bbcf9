// Composition of the embedded schema files into document schemas, and schema-driven defaults.
#include "manifest/schema.h"

#include <cassert>
#include <map>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "common/ascii.h"
#include "manifest/schema_files.h"

namespace acctl {
namespace {

using nlohmann::json;

json parse_embedded(std::string_view name) {
  for (const EmbeddedSchema& s : embedded_schemas()) {
    if (s.name == name) return json::parse(s.text);
  }
  // The build embeds every schema file; a missing one is a packaging bug, not user input.
  throw std::logic_error("schema file missing from the build: " + std::string(name));
}

// Prefixes local "#/definitions/X" references with the kind, so kinds can share one root.
void namespace_refs(json& node, const std::string& kind) {
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (it.key() == "$ref" && it->is_string()) {
        std::string ref = it->get<std::string>();
        const std::string prefix = "#/definitions/";
        if (ref.starts_with(prefix)) *it = prefix + kind + "." + ref.substr(prefix.size());
      } else {
        namespace_refs(*it, kind);
      }
    }
  } else if (node.is_array()) {
    for (json& child : node) namespace_refs(child, kind);
  }
}

struct KindSpec {
  json spec;         // the kind's spec schema, refs namespaced, own definitions removed
  json definitions;  // "Kind.X" → definition
};

KindSpec load_kind(std::string_view kind) {
  KindSpec out;
  out.spec = parse_embedded(ascii_lower(kind));
  namespace_refs(out.spec, std::string(kind));
  out.definitions = json::object();
  if (out.spec.contains("definitions")) {
    for (auto& [k, v] : out.spec["definitions"].items())
      out.definitions[std::string(kind) + "." + k] = v;
    out.spec.erase("definitions");
  }
  out.spec.erase("$schema");
  return out;
}

struct Schemas {
  std::map<std::string, json, std::less<>> per_kind;
  json combined;
};

const Schemas& schemas() {
  static const Schemas all = [] {
    Schemas s;
    json envelope = parse_embedded("document");
    json all_definitions = json::object();
    json dispatch = json::array();
    for (std::string_view kind : kKinds) {
      KindSpec ks = load_kind(kind);
      json doc = envelope;
      doc["title"] = std::string(kind);
      if (ks.spec.contains("description")) doc["description"] = ks.spec["description"];
      doc["properties"]["kind"] = {{"const", std::string(kind)},
                                   {"description", envelope["properties"]["kind"].value(
                                                       "description", "The kind of object.")}};
      doc["properties"]["spec"] = ks.spec;
      doc["definitions"] = ks.definitions;
      s.per_kind.emplace(std::string(kind), std::move(doc));

      for (auto& [k, v] : ks.definitions.items()) all_definitions[k] = v;
      all_definitions[std::string(kind) + ".spec"] = ks.spec;
      dispatch.push_back(
          {{"if",
            {{"properties", {{"kind", {{"const", std::string(kind)}}}}}, {"required", {"kind"}}}},
           {"then",
            {{"properties",
              {{"spec", {{"$ref", "#/definitions/" + std::string(kind) + ".spec"}}}}}}}});
    }
    s.combined = envelope;
    s.combined["title"] = "acctl manifest document";
    s.combined["definitions"] = all_definitions;
    s.combined["allOf"] = dispatch;
    return s;
  }();
  return all;
}

const json* resolve_ref(const json& root, const json* node) {
  for (int hops = 0; node && node->is_object() && node->contains("$ref") && hops < 16; ++hops) {
    const json& ref = (*node)["$ref"];
    if (!ref.is_string()) return nullptr;
    std::string target = ref.get<std::string>();
    if (!target.starts_with("#")) return nullptr;
    try {
      node = &root.at(json::json_pointer(target.substr(1)));
    } catch (const json::exception&) {
      return nullptr;
    }
  }
  return node;
}

void defaults_at(const json& root, const json* schema, json& instance) {
  schema = resolve_ref(root, schema);
  if (!schema || !schema->is_object()) return;
  if (instance.is_object()) {
    auto props = schema->find("properties");
    if (props != schema->end() && props->is_object()) {
      for (auto& [name, sub_schema] : props->items()) {
        const json* sub = resolve_ref(root, &sub_schema);
        if (!sub || !sub->is_object()) continue;
        if (!instance.contains(name)) {
          auto def = sub->find("default");
          if (def == sub->end()) continue;
          instance[name] = *def;
        }
        defaults_at(root, sub, instance[name]);
      }
    }
    auto extra = schema->find("additionalProperties");
    if (extra != schema->end() && extra->is_object()) {
      for (auto& [name, value] : instance.items()) {
        if (props != schema->end() && props->contains(name)) continue;
        defaults_at(root, &*extra, value);
      }
    }
  } else if (instance.is_array()) {
    auto items = schema->find("items");
    if (items != schema->end() && items->is_object()) {
      for (json& item : instance) defaults_at(root, &*items, item);
    }
  }
}

}  // namespace

std::string canonical_kind(std::string_view typed) {
  std::string t = ascii_lower(typed);
  for (std::string_view kind : kKinds) {
    std::string k = ascii_lower(kind);
    if (t == k || t == k + "s" || t == k + "es" || (k == "egresspolicy" && t == "egresspolicies")) {
      return std::string(kind);
    }
  }
  return "";
}

const json* document_schema(std::string_view kind) {
  const auto& per_kind = schemas().per_kind;
  auto it = per_kind.find(kind);
  return it == per_kind.end() ? nullptr : &it->second;
}

const json& combined_schema() {
  return schemas().combined;
}

const json* schema_at(const json& root, const std::vector<std::string>& path) {
  const json* node = resolve_ref(root, &root);
  for (const std::string& token : path) {
    if (!node || !node->is_object()) return nullptr;
    auto props = node->find("properties");
    // Alternatives decide the node, unless they only say which of its own properties are
    // required (credentialSource: one of env or file): then a property has its own schema.
    const bool own_property = props != node->end() && props->contains(token);
    if ((node->contains("oneOf") || node->contains("anyOf")) && !own_property) return node;
    const json* next = nullptr;
    if (props != node->end() && props->contains(token)) {
      next = &(*props)[token];
    } else if (auto extra = node->find("additionalProperties");
               extra != node->end() && extra->is_object()) {
      next = &*extra;
    } else if (auto items = node->find("items"); items != node->end() && items->is_object()) {
      next = &*items;
    }
    node = resolve_ref(root, next);
  }
  return node;
}

const json* resolve_schema_ref(const json& root, const json* node) {
  return resolve_ref(root, node);
}

void apply_defaults(const json& root, json& instance) {
  defaults_at(root, &root, instance);
}

}  // namespace acctl
