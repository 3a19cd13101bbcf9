/* The connect() hook's policy: see net_decision.h. */
#include "hooks/net_decision.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static enum ac_net_decision by_port(struct ac_net_target* out) {
  out->decision = (out->port == 80 || out->port == 443) ? AC_NET_TO_GATE : AC_NET_REFUSE;
  return out->decision;
}

static enum ac_net_decision ipv4(uint32_t ip_be, unsigned port, uint32_t gate_be,
                                 struct ac_net_target* out) {
  const uint32_t ip = ntohl(ip_be);
  out->port = port;
  struct in_addr a = {ip_be};
  inet_ntop(AF_INET, &a, out->text, sizeof out->text);
  /* Loopback, "this host" (0.0.0.0 connects locally) and the gate itself stay as they are. */
  if ((ip >> 24) == 127 || ip == 0 || ip_be == gate_be) return out->decision = AC_NET_UNTOUCHED;
  return by_port(out);
}

enum ac_net_decision ac_net_decide(const struct sockaddr* addr, socklen_t len, uint32_t gate_be,
                                   struct ac_net_target* out) {
  memset(out, 0, sizeof *out);
  out->decision = AC_NET_UNTOUCHED;
  if (!addr || len < (socklen_t)sizeof(sa_family_t)) return AC_NET_UNTOUCHED;
  if (addr->sa_family == AF_INET) {
    if (len < (socklen_t)sizeof(struct sockaddr_in)) return AC_NET_UNTOUCHED;
    struct sockaddr_in in;
    memcpy(&in, addr, sizeof in);
    return ipv4(in.sin_addr.s_addr, ntohs(in.sin_port), gate_be, out);
  }
  if (addr->sa_family != AF_INET6 || len < (socklen_t)sizeof(struct sockaddr_in6))
    return AC_NET_UNTOUCHED;
  struct sockaddr_in6 in6;
  memcpy(&in6, addr, sizeof in6);
  const unsigned port = ntohs(in6.sin6_port);
  if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {
    uint32_t ip_be;
    memcpy(&ip_be, &in6.sin6_addr.s6_addr[12], 4);
    return ipv4(ip_be, port, gate_be, out);
  }
  out->port = port;
  inet_ntop(AF_INET6, &in6.sin6_addr, out->text, sizeof out->text);
  if (IN6_IS_ADDR_LOOPBACK(&in6.sin6_addr) || IN6_IS_ADDR_UNSPECIFIED(&in6.sin6_addr))
    return out->decision = AC_NET_UNTOUCHED;
  return by_port(out);
}
