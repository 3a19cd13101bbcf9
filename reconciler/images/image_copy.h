// Moving images between engines without a registry: save on one, load on the other.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "engine/engine_api.h"

namespace acctl {

struct CopiedImages {
  std::vector<std::string> tags;  // the ones that had to move (their ids differed)
  int64_t bytes = 0;              // the size of the tar that moved them
};

// Copies the tags whose image id on `to` differs from the one on `from`, in one tar written to
// `scratch` (removed afterwards). Errors name the image or the file.
Result<CopiedImages> copy_images(engine::EngineApi& from, engine::EngineApi& to,
                                 const std::vector<std::string>& tags, const std::string& scratch);

}  // namespace acctl
