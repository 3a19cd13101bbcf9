// Helpers for the manifest tests: validate YAML text and get the diagnostics as text lines.
#pragma once

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "manifest/manifest.h"
#include "manifest/yaml_loader.h"

namespace acctl::testing {

// The checkout's root: $ACCTL_SOURCE_DIR, else the tree the test was built from.
inline std::string source_dir() {
  const char* d = std::getenv("ACCTL_SOURCE_DIR");
  return d ? d : ACCTL_TEST_SOURCE_DIR;
}

inline ManifestOptions project_options() {
  return {source_dir() + "/blueprints"};
}

// Loads and validates `yaml` as if it were the file `file`; returns the sorted diagnostics.
inline std::vector<std::string> check_text(const std::string& yaml,
                                           const std::string& file = "t.yaml",
                                           ManifestSet* out = nullptr,
                                           const ManifestOptions& options = project_options()) {
  LoadResult loaded;
  load_yaml_text(yaml, file, loaded);
  ManifestSet set;
  set.diagnostics.append(loaded.diagnostics);
  validate_documents(loaded.documents, options, set);
  std::vector<std::string> lines;
  for (const Diagnostic& d : set.diagnostics.sorted()) lines.push_back(d.str());
  if (out) *out = std::move(set);
  return lines;
}

inline std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const std::string& l : lines) s += l + "\n";
  return s;
}

// A Host and the default EgressPolicy, so Sandbox tests only state what they are about.
inline const char* kBase = R"(apiVersion: acctl/v1alpha1
kind: Host
metadata: {name: local}
spec: {}
---
apiVersion: acctl/v1alpha1
kind: EgressPolicy
metadata: {name: default}
spec: {allow: [github.com]}
---
)";

}  // namespace acctl::testing
