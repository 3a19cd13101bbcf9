/* A test program for ac_net_hook.so: connects a TCP socket and says where it got.
 * Usage: net_hook_probe 4|6|6only ADDRESS PORT
 * Prints "connected ADDRESS PORT" (the peer, as the kernel reports it) or "error ERRNO". */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: net_hook_probe 4|6|6only ADDRESS PORT\n");
    return 2;
  }
  const int v6 = argv[1][0] == '6';
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 2;
  if (v6) {
    int only = strcmp(argv[1], "6only") == 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof only);
  }
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  if (v6) {
    struct sockaddr_in6* a = (struct sockaddr_in6*)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((unsigned short)atoi(argv[3]));
    if (inet_pton(AF_INET6, argv[2], &a->sin6_addr) != 1) return 2;
    len = sizeof *a;
  } else {
    struct sockaddr_in* a = (struct sockaddr_in*)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((unsigned short)atoi(argv[3]));
    if (inet_pton(AF_INET, argv[2], &a->sin_addr) != 1) return 2;
    len = sizeof *a;
  }
  if (connect(fd, (struct sockaddr*)&ss, len) != 0) {
    printf("error %d\n", errno);
    return 1;
  }
  struct sockaddr_storage peer;
  socklen_t pl = sizeof peer;
  char text[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (getpeername(fd, (struct sockaddr*)&peer, &pl) == 0) {
    if (peer.ss_family == AF_INET) {
      struct sockaddr_in* p = (struct sockaddr_in*)&peer;
      inet_ntop(AF_INET, &p->sin_addr, text, sizeof text);
      port = ntohs(p->sin_port);
    } else {
      struct sockaddr_in6* p = (struct sockaddr_in6*)&peer;
      inet_ntop(AF_INET6, &p->sin6_addr, text, sizeof text);
      port = ntohs(p->sin6_port);
    }
  }
  printf("connected %s %u\n", text, port);
  return 0;
}
