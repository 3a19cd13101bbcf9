// make_private_dir: mkdirat + openat(O_NOFOLLOW | O_DIRECTORY) down the path, fchown + fchmod.
#include "common/private_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>
#include <vector>

namespace acctl {

Result<UniqueFd> make_private_dir(const std::string& base, const std::string& relative,
                                  std::optional<PrivateDirOwner> owner) {
  std::vector<std::string> parts;
  std::stringstream ss(relative);
  for (std::string part; std::getline(ss, part, '/');) {
    if (part.empty()) continue;
    if (part == "." || part == "..")
      return Error{0,
                   "refused " + base + "/" + relative + ": the path has a \"" + part + "\" part"};
    parts.push_back(part);
  }
  if (parts.empty()) return Error{0, "refused " + base + ": no folder below it was named"};
  UniqueFd dir(::open(base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return sys_error("cannot open " + base, errno);
  std::string path = base;
  for (const std::string& part : parts) {
    path += "/" + part;
    if (::mkdirat(dir.get(), part.c_str(), 0700) != 0 && errno != EEXIST)
      return sys_error("cannot create " + path, errno);
    UniqueFd next(
        ::openat(dir.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) {
      const int err = errno;
      struct stat st {};
      if (::fstatat(dir.get(), part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        return Error{0, "refused " + path + ": it is a symlink, and acctl does not follow one",
                     err};
      if (err == ENOTDIR) return Error{0, "refused " + path + ": it is not a folder", err};
      return sys_error("cannot open " + path, err);
    }
    dir = std::move(next);
  }
  if (owner && ::fchown(dir.get(), owner->uid, owner->gid) != 0)
    return sys_error("cannot give " + path + " to uid " + std::to_string(owner->uid), errno);
  if (::fchmod(dir.get(), 0700) != 0) return sys_error("cannot set mode 0700 on " + path, errno);
  return dir;
}

}  // namespace acctl
