// The few HTTP responses the gate writes itself: refusals on the proxy listeners, the control port.
#pragma once

#include <string>
#include <string_view>

namespace acctl::gate {

// A complete "Connection: close" response.
std::string http_response(int status, std::string_view body, std::string_view extra_headers = {},
                          std::string_view content_type = "text/plain; charset=utf-8");

// Printable ASCII only, at most 200 characters: reasons can carry names a client wrote.
std::string header_safe(std::string_view text);

}  // namespace acctl::gate
