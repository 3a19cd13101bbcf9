// Tests of the embedded schemas: composition, documentation completeness, and defaults.
#include "manifest/schema.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace acctl {
namespace {

using nlohmann::json;

// Every property of every object in the schema has a description; lists the ones that lack it.
void undocumented(const json& node, const std::string& path, std::vector<std::string>& out) {
  if (!node.is_object()) return;
  if (auto props = node.find("properties"); props != node.end()) {
    for (auto& [name, sub] : props->items()) {
      if (!sub.contains("description") && !sub.contains("$ref")) out.push_back(path + "/" + name);
      undocumented(sub, path + "/" + name, out);
    }
  }
  for (const char* key : {"items", "additionalProperties"}) {
    if (auto it = node.find(key); it != node.end()) undocumented(*it, path + "/" + key, out);
  }
  for (const char* key : {"oneOf", "anyOf"}) {
    if (auto it = node.find(key); it != node.end()) {
      for (const json& b : *it) undocumented(b, path + "/" + key, out);
    }
  }
  if (auto defs = node.find("definitions"); defs != node.end()) {
    for (auto& [name, sub] : defs->items()) undocumented(sub, path + "/definitions/" + name, out);
  }
}

// Every object with fixed properties forbids unknown ones.
void open_objects(const json& node, const std::string& path, std::vector<std::string>& out) {
  if (!node.is_object()) return;
  if (node.contains("properties") &&
      node.value("additionalProperties", json(true)) != json(false)) {
    out.push_back(path);
  }
  for (auto& [key, sub] : node.items()) {
    if (key == "if" || key == "then") continue;  // a dispatch condition, not a document shape
    if (sub.is_object()) open_objects(sub, path + "/" + key, out);
    if (sub.is_array()) {
      for (const json& b : sub) open_objects(b, path + "/" + key, out);
    }
  }
}

TEST(Schema, EveryKindHasADocumentSchema) {
  for (std::string_view kind : kKinds) {
    const json* s = document_schema(kind);
    ASSERT_NE(s, nullptr) << kind;
    EXPECT_EQ((*s)["properties"]["kind"]["const"], std::string(kind));
    EXPECT_TRUE((*s)["properties"]["spec"].contains("properties")) << kind;
  }
  EXPECT_EQ(document_schema("Pod"), nullptr);
}

TEST(Schema, EveryFieldIsDocumentedAndClosed) {
  std::vector<std::string> missing, open;
  undocumented(combined_schema(), "", missing);
  open_objects(combined_schema(), "", open);
  EXPECT_TRUE(missing.empty()) << "no description: " << missing.front();
  EXPECT_TRUE(open.empty()) << "additionalProperties not false: " << open.front();
}

TEST(Schema, RefsResolveInsideEachDocumentSchema) {
  for (std::string_view kind : kKinds) {
    const json& root = *document_schema(kind);
    std::function<void(const json&)> walk = [&](const json& n) {
      if (n.is_object()) {
        if (n.contains("$ref")) {
          EXPECT_NE(resolve_schema_ref(root, &n), nullptr) << n["$ref"];
        }
        for (auto& [k, v] : n.items()) walk(v);
      } else if (n.is_array()) {
        for (const json& v : n) walk(v);
      }
    };
    walk(root);
  }
}

TEST(Schema, CanonicalKindAcceptsCaseAndPlurals) {
  EXPECT_EQ(canonical_kind("sandbox"), "Sandbox");
  EXPECT_EQ(canonical_kind("Sandboxes"), "Sandbox");
  EXPECT_EQ(canonical_kind("egresspolicies"), "EgressPolicy");
  EXPECT_EQ(canonical_kind("HOST"), "Host");
  EXPECT_EQ(canonical_kind("pod"), "");
}

TEST(Schema, DefaultsFillNestedObjectsButKeepGivenValues) {
  json doc = {{"apiVersion", "acctl/v1alpha1"},
              {"kind", "Sandbox"},
              {"metadata", {{"name", "x"}}},
              {"spec",
               {{"blueprint", "base"},
                {"mode", "idle"},
                {"resources", {{"cpus", 2}}},
                {"credentials", {{"github", {{"env", "T"}}}}}}}};
  apply_defaults(*document_schema("Sandbox"), doc);
  const json& spec = doc["spec"];
  EXPECT_EQ(spec["mode"], "idle");
  EXPECT_EQ(spec["restart"], "never");
  EXPECT_EQ(spec["egressPolicy"], "default");
  EXPECT_EQ(spec["resources"]["cpus"], 2);
  EXPECT_EQ(spec["resources"]["pids"], 1024);
  EXPECT_EQ(spec["git"]["allowPush"], false);
  EXPECT_EQ(spec["git"]["githubHosts"], json({"github.com", "api.github.com"}));
  EXPECT_EQ(spec["git"]["repositories"], json::array());
  EXPECT_EQ(spec["credentials"]["github"]["delivery"], "gate");
  EXPECT_FALSE(spec.contains("host"));  // "the only Host" is decided by the semantic pass
}

TEST(Schema, HostDefaultsMatchTheDesign) {
  json doc = {{"spec", json::object()}};
  apply_defaults(*document_schema("Host"), doc);
  EXPECT_EQ(doc["spec"]["isolation"], "dind");
  EXPECT_EQ(doc["spec"]["network"]["subnet"], "172.20.0.0/16");
  EXPECT_EQ(doc["spec"]["network"]["gateIP"], "172.20.0.53");
  EXPECT_EQ(doc["spec"]["runtime"]["runsc"]["network"], "auto");
}

TEST(Schema, SchemaAtFollowsPropertiesItemsAndStopsAtAlternatives) {
  const json& root = *document_schema("Sandbox");
  const json* pids = schema_at(root, {"spec", "resources", "pids"});
  ASSERT_NE(pids, nullptr);
  EXPECT_EQ((*pids)["type"], "integer");
  const json* gpus = schema_at(root, {"spec", "resources", "gpus", "0"});
  ASSERT_NE(gpus, nullptr);
  EXPECT_TRUE(gpus->contains("oneOf"));
  const json* env_value = schema_at(root, {"spec", "env", "ANYTHING"});
  ASSERT_NE(env_value, nullptr);
  EXPECT_EQ((*env_value)["type"], "string");
  // Alternatives that only say which of the node's own properties are required leave each
  // property its schema (credentialSource: exactly one of env or file).
  const json* delivery = schema_at(root, {"spec", "credentials", "github", "delivery"});
  ASSERT_NE(delivery, nullptr);
  EXPECT_EQ((*delivery)["enum"], json({"gate", "vault"}));
}

}  // namespace
}  // namespace acctl
