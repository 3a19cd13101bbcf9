// The manifest pipeline: load → schema → defaults → semantic checks → typed model.
#pragma once

#include <istream>
#include <string>
#include <vector>

#include "manifest/diagnostics.h"
#include "manifest/document.h"
#include "manifest/model.h"

namespace acctl {

struct ManifestOptions {
  // Folder with <name>/blueprint.yaml for blueprints a Sandbox names but the manifests lack.
  std::string blueprints_dir;
  // Where acctl keeps instances/ and run/ (a dind Host's socket path is checked against it);
  // "" skips that check.
  std::string state_dir{};
  // The engine a Host without spec.engine lives on ($DOCKER_HOST, else the local socket).
  std::string default_engine{};
};

struct ManifestSet {
  Model model;
  std::vector<std::string> files;               // manifest files read
  size_t documents = 0;                         // documents in them
  std::vector<std::string> project_blueprints;  // names taken from blueprints_dir
  Diagnostics diagnostics;                      // non-empty: the model must not be used

  bool ok() const { return diagnostics.empty(); }
};

// Loads every path (files, folders, "-" for `in`) and validates the lot. All problems of all
// documents end up in `diagnostics`; nothing stops at the first one.
ManifestSet load_manifests(const std::vector<std::string>& paths, std::istream& in,
                           const ManifestOptions& options);

// Validates documents already loaded (used by the loader above and by tests).
void validate_documents(std::vector<Document>& docs, const ManifestOptions& options,
                        ManifestSet& out);

}  // namespace acctl
