// c-ares glue: one channel, getaddrinfo for A and AAAA, TTLs passed on to the cache.
#include "gate/ares_resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace acctl::gate {

struct AresResolver::State {
  SocketWatcher* watcher = nullptr;
  ares_channel channel = nullptr;
  bool destroying = false;
  size_t active = 0;  // queries in flight: no timer is needed when there are none
};

namespace {

struct Query {
  Resolver::Done done;
  size_t* active;
  bool* destroying;
};

ResolveResult convert(int status, ares_addrinfo* info) {
  ResolveResult result;
  if (status != ARES_SUCCESS || info == nullptr) {
    result.error = std::string("resolve: ") + ares_strerror(status);
    return result;
  }
  uint32_t ttl = std::numeric_limits<uint32_t>::max();
  for (ares_addrinfo_node* node = info->nodes; node != nullptr; node = node->ai_next) {
    netpolicy::IpAddress ip;
    if (node->ai_family == AF_INET && node->ai_addr != nullptr) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(node->ai_addr);
      ip.is_v4 = true;
      ip.bytes[10] = ip.bytes[11] = 0xff;
      std::memcpy(ip.bytes.data() + 12, &v4->sin_addr, 4);
    } else if (node->ai_family == AF_INET6 && node->ai_addr != nullptr) {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(node->ai_addr);
      std::memcpy(ip.bytes.data(), &v6->sin6_addr, 16);
      // An AAAA answer ::ffff:a.b.c.d is the IPv4 address a.b.c.d (one form, as parse_ip's).
      ip.is_v4 = IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr);
    } else {
      continue;
    }
    if (std::find(result.addresses.begin(), result.addresses.end(), ip) == result.addresses.end()) {
      result.addresses.push_back(ip);
    }
    ttl = std::min<uint32_t>(ttl, static_cast<uint32_t>(std::max(node->ai_ttl, 0)));
  }
  result.ttl_seconds = result.addresses.empty() ? 0 : ttl;
  if (result.addresses.empty()) result.error = "resolve: no A or AAAA records";
  return result;
}

std::optional<std::string> apply_servers(ares_channel channel,
                                         const std::vector<SocketAddress>& upstreams) {
  if (upstreams.empty()) return std::nullopt;
  std::vector<ares_addr_port_node> nodes(upstreams.size());
  for (size_t i = 0; i < upstreams.size(); ++i) {
    ares_addr_port_node& node = nodes[i];
    std::memset(&node, 0, sizeof node);
    node.next = i + 1 < nodes.size() ? &nodes[i + 1] : nullptr;
    node.udp_port = node.tcp_port = upstreams[i].port;
    if (upstreams[i].ip.is_v4) {
      node.family = AF_INET;
      std::memcpy(&node.addr.addr4, upstreams[i].ip.bytes.data() + 12, 4);
    } else {
      node.family = AF_INET6;
      std::memcpy(&node.addr.addr6, upstreams[i].ip.bytes.data(), 16);
    }
  }
  const int status = ares_set_servers_ports(channel, nodes.data());
  if (status != ARES_SUCCESS) return std::string("dns.upstreams: ") + ares_strerror(status);
  return std::nullopt;
}

}  // namespace

std::optional<std::string> ares_global_init() {
  const int status = ares_library_init(ARES_LIB_INIT_ALL);
  if (status != ARES_SUCCESS) return std::string("c-ares: ") + ares_strerror(status);
  return std::nullopt;
}

AresResolver::AresResolver(std::unique_ptr<State> state) : state_(std::move(state)) {}

std::variant<std::unique_ptr<AresResolver>, std::string> AresResolver::create(
    SocketWatcher& watcher, const std::vector<SocketAddress>& upstreams) {
  auto state = std::make_unique<State>();
  state->watcher = &watcher;
  ares_options options;
  std::memset(&options, 0, sizeof options);
  options.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
  options.sock_state_cb = [](void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<SocketWatcher*>(data)->watch(fd, readable != 0, writable != 0);
  };
  options.sock_state_cb_data = &watcher;
  char lookups[] = "b";  // DNS only: /etc/hosts of the gate's container is not the policy's
  options.lookups = lookups;
  options.timeout = 2000;  // ms per try with ARES_OPT_TIMEOUTMS
  options.tries = 2;
  const int mask = ARES_OPT_FLAGS | ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS | ARES_OPT_TIMEOUTMS |
                   ARES_OPT_TRIES;
  const int status = ares_init_options(&state->channel, &options, mask);
  if (status != ARES_SUCCESS) return std::string("c-ares init: ") + ares_strerror(status);
  if (auto error = apply_servers(state->channel, upstreams)) {
    ares_destroy(state->channel);
    return *error;
  }
  return std::unique_ptr<AresResolver>(new AresResolver(std::move(state)));
}

AresResolver::~AresResolver() {
  // ares_destroy completes every query with ARES_EDESTRUCTION; those callbacks must not reach
  // connections that are being torn down too.
  state_->destroying = true;
  ares_destroy(state_->channel);
}

void AresResolver::resolve(const std::string& name, Done done) {
  ares_addrinfo_hints hints;
  std::memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  // No sorting: it opens a UDP socket per address to guess routes, and the gate checks every
  // address anyway.
  hints.ai_flags = ARES_AI_NOSORT;
  auto* query = new Query{std::move(done), &state_->active, &state_->destroying};
  ++state_->active;
  ares_getaddrinfo(
      state_->channel, name.c_str(), nullptr, &hints,
      [](void* arg, int status, int /*timeouts*/, ares_addrinfo* info) {
        std::unique_ptr<Query> query(static_cast<Query*>(arg));
        ResolveResult result = convert(status, info);
        if (info != nullptr) ares_freeaddrinfo(info);
        --*query->active;
        if (status == ARES_EDESTRUCTION || *query->destroying) return;
        query->done(std::move(result));
      },
      query);
  reschedule();
}

std::optional<std::string> AresResolver::set_upstreams(
    const std::vector<SocketAddress>& upstreams) {
  return apply_servers(state_->channel, upstreams);
}

void AresResolver::process(int readable_fd, int writable_fd) {
  ares_process_fd(state_->channel, readable_fd < 0 ? ARES_SOCKET_BAD : readable_fd,
                  writable_fd < 0 ? ARES_SOCKET_BAD : writable_fd);
  reschedule();
}

void AresResolver::process_timeouts() {
  ares_process_fd(state_->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  reschedule();
}

void AresResolver::reschedule() {
  if (state_->active == 0) return;
  timeval limit{1, 0};
  timeval next{};
  timeval* when = ares_timeout(state_->channel, &limit, &next);
  const auto delay = std::chrono::milliseconds(when->tv_sec * 1000 + when->tv_usec / 1000);
  state_->watcher->schedule_timeout(std::max(delay, std::chrono::milliseconds(1)));
}

}  // namespace acctl::gate
