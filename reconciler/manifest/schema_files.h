// The JSON Schema files compiled into the binary (see embed_schemas.cmake).
#pragma once

#include <string_view>
#include <vector>

namespace acctl {

struct EmbeddedSchema {
  std::string_view name;  // file name without extension: "document", "host", "sandbox", ...
  std::string_view text;
};

const std::vector<EmbeddedSchema>& embedded_schemas();

}  // namespace acctl
