// An interactive session with a process in a sandbox: this process's stdin, stdout and stderr
// joined to an engine stream. With a terminal: raw mode while it lasts, the window size sent at
// the start and on every SIGWINCH; with pipes: bytes as they come, EOF passed on.
#pragma once

#include "common/result.h"
#include "engine/engine_api.h"

namespace acctl::cli {

struct SessionFds {
  int in = 0, out = 1, err = 2;
};

// Pumps until the stream ends. A TTY stream's input end is the terminal's (^D, `exit`); a
// plain one half-closes the process's stdin when ours ends. The caller then asks the engine for
// the exit status.
Status run_session(engine::AttachedStream& stream, const SessionFds& fds = {});

}  // namespace acctl::cli
