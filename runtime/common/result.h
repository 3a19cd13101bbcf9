// Errors as values, for acctl and for the runtime binaries: one Error type and Result<T> over it.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace acctl {

struct Error {
  // The HTTP status an engine answered with; 0 when no answer came back or no engine was asked.
  int status = 0;
  std::string message;
  // The errno of a failed system call, 0 otherwise.
  int sys_errno = 0;
  // Nothing answered within the deadline (the call may still complete on the other side).
  bool timed_out = false;

  bool not_found() const { return status == 404; }
  bool conflict() const { return status == 409; }

  // The same error, said where it happened: "reading /x: permission denied".
  Error within(std::string_view context) const& {
    Error e = *this;
    e.message = std::string(context) + ": " + message;
    return e;
  }
  Error within(std::string_view context) && {
    message = std::string(context) + ": " + message;
    return std::move(*this);
  }
};

// An Error for a failed system call: "what: strerror(errno)", with the errno kept.
Error sys_error(std::string_view what, int err);

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
  T&& operator*() && { return std::move(*value_); }
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

}  // namespace acctl
