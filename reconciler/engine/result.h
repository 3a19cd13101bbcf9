// The engine client speaks the project's one error type (common/result.h).
#pragma once

#include "common/result.h"

namespace acctl::engine {

using acctl::Error;
using acctl::ok_status;
using acctl::Result;
using acctl::Status;
using acctl::Unit;

}  // namespace acctl::engine
