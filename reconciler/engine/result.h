// Errors as values for the engine client: a message plus the HTTP status the engine answered.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace acctl::engine {

struct Error {
  // 0 when no HTTP answer came back (connection refused, timeout, malformed reply).
  int status = 0;
  std::string message;

  bool not_found() const { return status == 404; }
  bool conflict() const { return status == 409; }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}
  Result(Error error) : error_(std::move(error)) {}

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  bool not_found() const { return !ok() && error_.not_found(); }

  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T& value() & {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  const Error& error() const {
    assert(!ok());
    return error_;
  }

 private:
  std::optional<T> value_;
  Error error_;
};

// For calls that return nothing but can fail.
struct Unit {};
using Status = Result<Unit>;
inline Status ok_status() {
  return Unit{};
}

}  // namespace acctl::engine
