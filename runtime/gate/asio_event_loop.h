// The gate's event loop: standalone Asio on one thread.
#pragma once

#include <memory>

#include "gate/event_loop.h"

namespace acctl::gate {

std::unique_ptr<EventLoop> make_asio_event_loop();

}  // namespace acctl::gate
