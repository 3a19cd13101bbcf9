// Whole-file reads and atomic writes, with errors as values.
#pragma once

#include <optional>
#include <string>

#include "common/result.h"

namespace acctl {

// The file's bytes; nullopt when it does not exist. Other failures are errors.
Result<std::optional<std::string>> read_file_if_exists(const std::string& path);

// Writes `content` to `path` through a temporary file in the same folder, fsync and rename, so
// a reader (the gate on SIGHUP) never sees half a file; creates missing parent folders. -> true
// when the file changed, false when it already held exactly that.
Result<bool> write_file_atomically(const std::string& path, const std::string& content,
                                   int mode = 0644);

}  // namespace acctl
