/* ac_net_hook.so — the connect() hook of paranoid sandboxes (LD_PRELOAD; C, no libstdc++).
 *
 * A TCP connect to any address but the gate's and loopback goes to the gate instead, on the same
 * port when that port is 80 or 443; the gate then judges it by its Host header or TLS SNI like
 * any other connection. Any other port fails with ECONNREFUSED and one line on stderr naming it:
 * nothing is mapped to a port the program did not ask for. IPv4 and IPv6 (an IPv6 socket reaches
 * the gate at its IPv4-mapped address, or through an IPv4 socket put in its place).
 *
 * A convenience, not the boundary: it turns "No route to host" into the gate's answer. A program
 * that clears LD_PRELOAD or makes system calls itself gains nothing, since the sandbox network
 * routes nowhere but the gate. The gate's address comes from ACCTL_GATE_ADDR (an IPv4 address,
 * set by acctl); without it the hook does nothing.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hooks/net_decision.h"

typedef int (*connect_fn)(int, const struct sockaddr*, socklen_t);

static connect_fn real_connect(void) {
  static connect_fn fn;
  if (!fn) fn = (connect_fn)dlsym(RTLD_NEXT, "connect");
  return fn;
}

/* One line on stderr; write(2) only, so it is safe wherever connect() is. */
static void say_refused(const char* target, unsigned port) {
  char line[256];
  int n = snprintf(line, sizeof line,
                   "acctl: connect to %s port %u refused: from this sandbox only ports 80 and "
                   "443 go out, through the gate\n",
                   target, port);
  if (n > 0) {
    ssize_t w = write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    (void)w;
  }
}

/* Puts a new IPv4 TCP socket in place of `fd` (same descriptor number, blocking mode and
 * close-on-exec flag), for an IPv6 socket that cannot reach an IPv4-mapped address. */
static int replace_with_ipv4_socket(int fd) {
  int fl = fcntl(fd, F_GETFL);
  int fdfl = fcntl(fd, F_GETFD);
  if (fl < 0 || fdfl < 0) return -1;
  int s = socket(AF_INET, SOCK_STREAM | ((fl & O_NONBLOCK) ? SOCK_NONBLOCK : 0), 0);
  if (s < 0) return -1;
  int rc = dup3(s, fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0);
  int saved = errno;
  close(s);
  errno = saved;
  return rc < 0 ? -1 : 0;
}

int connect(int fd, const struct sockaddr* addr, socklen_t len) {
  connect_fn next = real_connect();
  if (!next) {
    errno = ENOSYS;
    return -1;
  }
  int type = 0;
  socklen_t tl = sizeof type;
  const int stream = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM;

  const char* gate_text = getenv("ACCTL_GATE_ADDR");
  struct in_addr gate;
  if (!stream || !addr || !gate_text || inet_pton(AF_INET, gate_text, &gate) != 1)
    return next(fd, addr, len);
  struct ac_net_target t;
  switch (ac_net_decide(addr, len, gate.s_addr, &t)) {
    case AC_NET_UNTOUCHED:
      return next(fd, addr, len);
    case AC_NET_REFUSE:
      say_refused(t.text, t.port);
      errno = ECONNREFUSED;
      return -1;
    case AC_NET_TO_GATE:
      break;
  }
  /* To the gate, on the same port. */
  if (addr->sa_family == AF_INET) {
    struct sockaddr_in to = *(const struct sockaddr_in*)addr;
    to.sin_addr = gate;
    return next(fd, (const struct sockaddr*)&to, sizeof to);
  }
  struct sockaddr_in6 to6;
  memset(&to6, 0, sizeof to6);
  to6.sin6_family = AF_INET6;
  to6.sin6_port = htons(t.port);
  to6.sin6_addr.s6_addr[10] = 0xff;
  to6.sin6_addr.s6_addr[11] = 0xff;
  memcpy(&to6.sin6_addr.s6_addr[12], &gate.s_addr, 4);
  int v6only = 0;
  socklen_t vl = sizeof v6only;
  if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &vl) == 0 && !v6only)
    return next(fd, (const struct sockaddr*)&to6, sizeof to6);
  if (replace_with_ipv4_socket(fd) != 0) return -1;
  struct sockaddr_in to;
  memset(&to, 0, sizeof to);
  to.sin_family = AF_INET;
  to.sin_port = htons(t.port);
  to.sin_addr = gate;
  return next(fd, (const struct sockaddr*)&to, sizeof to);
}
