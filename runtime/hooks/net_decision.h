/* What the connect() hook does with one destination: the hook's whole policy, as a pure function
 * (no system calls), so it is unit-tested without a sandbox. C, for the LD_PRELOAD library. */
#ifndef ACCTL_HOOKS_NET_DECISION_H
#define ACCTL_HOOKS_NET_DECISION_H

#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

enum ac_net_decision {
  AC_NET_UNTOUCHED, /* not TCP to a remote address: loopback, the gate itself, other families */
  AC_NET_TO_GATE,   /* port 80 or 443: to the gate on the same port */
  AC_NET_REFUSE     /* any other port: ECONNREFUSED, said on stderr */
};

struct ac_net_target {
  enum ac_net_decision decision;
  unsigned port; /* the port asked for */
  char text[64]; /* the address asked for, as text (an IPv4-mapped one as IPv4) */
};

/* Decides for a connect() to `addr` (`len` bytes) when the gate is `gate_be` (IPv4, network
 * byte order). An address too short for its family is left untouched (connect fails on it). */
enum ac_net_decision ac_net_decide(const struct sockaddr* addr, socklen_t len, uint32_t gate_be,
                                   struct ac_net_target* out);

#ifdef __cplusplus
}
#endif

#endif
