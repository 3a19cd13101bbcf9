// libFuzzer target: arbitrary bytes through the whole manifest pipeline (load + validate).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "manifest/manifest.h"
#include "manifest/yaml_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  acctl::LoadResult loaded;
  acctl::LoadLimits limits;
  limits.max_nodes_per_document = 20000;
  acctl::load_yaml_text(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml",
                        loaded, limits);
  acctl::ManifestSet set;
  acctl::validate_documents(loaded.documents, acctl::ManifestOptions{}, set);
  for (const auto& d : set.diagnostics.sorted()) (void)d.str();
  return 0;
}
