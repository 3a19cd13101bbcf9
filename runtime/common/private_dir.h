// Folders made for someone else without following symlinks: what acctl (root) creates and hands
// to the agent's uid must never be a symlink an agent planted to a folder of the machine's.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "common/fd.h"
#include "common/result.h"

namespace acctl {

struct PrivateDirOwner {
  uid_t uid;
  gid_t gid;
};

// Creates `relative` (a '/'-separated path without "." or "..") under the folder `base`, one
// component at a time: each component is created if missing (mode 0700) and opened with
// O_NOFOLLOW | O_DIRECTORY relative to its parent, so a symlink anywhere below `base` is refused
// rather than followed. The last component then gets mode 0700 and, when `owner` is given, that
// owner (fchown/fchmod on the open folder, not on a path). `base` itself is trusted. -> the open
// last folder. Errors name the component that is a symlink or not a folder.
Result<UniqueFd> make_private_dir(const std::string& base, const std::string& relative,
                                  std::optional<PrivateDirOwner> owner);

}  // namespace acctl
