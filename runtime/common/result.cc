// sys_error: the one place an errno becomes text.
#include "common/result.h"

#include <cstring>

namespace acctl {

Error sys_error(std::string_view what, int err) {
  Error e;
  e.sys_errno = err;
  e.message = std::string(what) + ": " + std::strerror(err);
  return e;
}

}  // namespace acctl
