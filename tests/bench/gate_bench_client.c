/* gate_bench_client — the two loopback clients tests/bench/gate.sh needs that curl and wrk are not:
 *   hold PORT N HOST SECONDS   open N connections to 127.0.0.1:PORT; with HOST other than "-",
 *                              send one keep-alive GET for HOST on each and read its response
 *                              head (so the gate has decided and is relaying); print "ready N",
 *                              then keep them open until stdin closes or SECONDS pass.
 *   latency PORT N HOST        N sequential connections, each: connect, GET for HOST with
 *                              "Connection: close", read to EOF; print "p50_us p99_us failures".
 *   ports N                    print N distinct loopback ports below the ephemeral range that
 *                              are free for TCP and UDP.
 * Plain C and libc only, so the benchmark does not depend on python. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int connect_loopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons((unsigned short)port);
  if (connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timeval timeout = {10, 0};  // no read below waits longer than this
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

static int send_all(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    if (n <= 0) return -1;
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Reads until the end of a response head (0) or until EOF (1 with to_eof); -1 on error. */
static int read_response(int fd, int to_eof) {
  char buffer[4096];
  char tail[4] = {0};
  int seen_head = 0;
  for (;;) {
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n == 0) return seen_head ? 1 : -1;
    if (n < 0) return -1;
    for (ssize_t i = 0; i < n && !seen_head; ++i) {
      memmove(tail, tail + 1, 3);
      tail[3] = buffer[i];
      seen_head = memcmp(tail, "\r\n\r\n", 4) == 0;
    }
    if (seen_head && !to_eof) return 0;
  }
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int compare_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static int hold(int port, int n, const char* host, int seconds) {
  struct rlimit limit = {(rlim_t)n + 64, (rlim_t)n + 64};
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    fprintf(stderr, "hold: setrlimit(%d): %s\n", n + 64, strerror(errno));
    return 1;
  }
  int* fds = calloc((size_t)n, sizeof *fds);
  char request[512];
  snprintf(request, sizeof request, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host);
  for (int i = 0; i < n; ++i) {
    fds[i] = connect_loopback(port);
    if (fds[i] < 0) {
      fprintf(stderr, "hold: connection %d: %s\n", i, strerror(errno));
      return 1;
    }
    if (strcmp(host, "-") != 0 && send_all(fds[i], request, strlen(request)) != 0) {
      fprintf(stderr, "hold: send %d: %s\n", i, strerror(errno));
      return 1;
    }
  }
  if (strcmp(host, "-") != 0) {
    for (int i = 0; i < n; ++i) {
      if (read_response(fds[i], 0) != 0) {
        fprintf(stderr, "hold: no response on connection %d\n", i);
        return 1;
      }
    }
  }
  printf("ready %d\n", n);
  fflush(stdout);
  struct pollfd in = {0, POLLIN, 0};
  poll(&in, 1, seconds * 1000);  // stdin readable means EOF or a line: either way, done
  for (int i = 0; i < n; ++i) close(fds[i]);
  free(fds);
  return 0;
}

static int latency(int port, int n, const char* host) {
  double* samples = calloc((size_t)n, sizeof *samples);
  int count = 0, failures = 0;
  char request[512];
  snprintf(request, sizeof request, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
           host);
  for (int i = 0; i < n; ++i) {
    const double start = now_us();
    int fd = connect_loopback(port);
    int ok = fd >= 0 && send_all(fd, request, strlen(request)) == 0 && read_response(fd, 1) == 1;
    if (fd >= 0) close(fd);
    if (ok) {
      samples[count++] = now_us() - start;
    } else {
      ++failures;
    }
  }
  if (count == 0) {
    printf("0 0 %d\n", failures);
    return 1;
  }
  qsort(samples, (size_t)count, sizeof *samples, compare_double);
  printf("%.0f %.0f %d\n", samples[count / 2], samples[(count * 99) / 100], failures);
  free(samples);
  return 0;
}

/* The first port of the kernel's ephemeral range (32768 when it cannot be read). */
static int ephemeral_low(void) {
  int low = 32768;
  FILE* range = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
  if (range) {
    if (fscanf(range, "%d", &low) != 1) low = 32768;
    fclose(range);
  }
  return low;
}

/* Ports for the benchmark's listeners, chosen below the ephemeral range. A port the kernel hands
 * out for bind(0) and the benchmark lets go can become any client's source port in the minutes
 * of load that follow (wrk, dnsperf and curl open hundreds of thousands of connections), and a
 * listener started later then finds it taken. */
static int ports(int n) {
  int* held = calloc((size_t)n * 2, sizeof *held);
  int top = ephemeral_low();
  if (top < 12000) top = 12000;
  srand((unsigned)time(NULL) ^ (unsigned)getpid());
  int found = 0;
  for (int attempt = 0; found < n && attempt < 100 * n; ++attempt) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((unsigned short)(10000 + rand() % (top - 10000)));
    int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (tcp < 0 || bind(tcp, (struct sockaddr*)&addr, sizeof addr) != 0) {
      if (tcp >= 0) close(tcp);
      continue;
    }
    int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);  // DNS listens on both
    if (udp < 0 || bind(udp, (struct sockaddr*)&addr, sizeof addr) != 0) {
      if (udp >= 0) close(udp);
      close(tcp);
      continue;
    }
    held[2 * found] = tcp;  // held until all are chosen, so they are distinct
    held[2 * found + 1] = udp;
    printf("%d\n", ntohs(addr.sin_port));
    ++found;
  }
  for (int i = 0; i < 2 * found; ++i) close(held[i]);
  free(held);
  return found == n ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "ports") == 0) return ports(atoi(argv[2]));
  if (argc == 6 && strcmp(argv[1], "hold") == 0)
    return hold(atoi(argv[2]), atoi(argv[3]), argv[4], atoi(argv[5]));
  if (argc == 5 && strcmp(argv[1], "latency") == 0)
    return latency(atoi(argv[2]), atoi(argv[3]), argv[4]);
  fprintf(stderr, "usage: %s hold PORT N HOST|- SECONDS | latency PORT N HOST | ports N\n",
          argv[0]);
  return 2;
}
