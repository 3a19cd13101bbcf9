// Reads manifest files, folders and stdin into JSON documents that remember source positions.
#pragma once

#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "manifest/diagnostics.h"
#include "manifest/document.h"

namespace acctl {

struct LoadResult {
  std::vector<Document> documents;
  Diagnostics diagnostics;
  std::vector<std::string> files;  // every file read, in order
};

struct LoadLimits {
  size_t max_file_bytes = 32u << 20;
  size_t max_nodes_per_document = 100000;  // counts alias expansions: stops "billion laughs"
};

// Parses YAML text holding one or more documents. `file` names it in diagnostics.
// Never throws and never hangs: every problem becomes a diagnostic.
void load_yaml_text(std::string_view text, const std::string& file, LoadResult& out,
                    const LoadLimits& limits = {});

// Loads a path given with -f: a file, a folder (recursively, *.yaml and *.yml, hidden entries
// skipped, sorted by path) or "-" for `stdin`.
void load_path(const std::string& path, std::istream& stdin_stream, LoadResult& out,
               const LoadLimits& limits = {});

}  // namespace acctl
