// Checks documents against their kind's JSON Schema and turns failures into positioned messages.
#pragma once

#include <memory>

#include "manifest/diagnostics.h"
#include "manifest/document.h"

namespace acctl {

class SchemaChecker {
 public:
  SchemaChecker();
  ~SchemaChecker();
  SchemaChecker(const SchemaChecker&) = delete;
  SchemaChecker& operator=(const SchemaChecker&) = delete;

  // Checks apiVersion, kind and the kind's schema; adds one diagnostic per problem.
  // Returns true when the document is valid. Not thread-safe (it caches compiled regexes).
  bool check(const Document& doc, Diagnostics& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "integer", "string", ... as JSON Schema names the type of a value.
std::string json_type_name(const nlohmann::json& value);

}  // namespace acctl
