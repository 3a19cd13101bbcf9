/* A test program for ac_path_hook.so: makes one call on a path and says how it went.
 * Usage: path_hook_probe CALL ARGS…, CALL one of: open PATH, openat DIR NAME, fopen PATH (these
 * print the file's bytes), stat|lstat|statx|access|opendir|chdir|readlink|unlink PATH,
 * rename|link|symlink FROM TO, execve|execl|spawn PATH, execvp|execlp|spawnp NAME, errno PATH.
 * Prints the bytes read, "ok" or "error ERRNO"; "errno PATH" stats PATH with errno set to EXDEV
 * and prints errno afterwards. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

static int report(int ok) {
  if (!ok) {
    printf("error %d\n", errno);
    return 1;
  }
  printf("ok\n");
  return 0;
}

static int copy_out(int fd) {
  if (fd < 0) return report(0);
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)n, stdout);
  close(fd);
  return 0;
}

static int spawned(int rc, pid_t pid) {
  if (rc != 0) {
    printf("error %d\n", rc);
    return 1;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: path_hook_probe CALL ARGS...\n");
    return 2;
  }
  const char* call = argv[1];
  const char* path = argv[2];
  const char* other = argc > 3 ? argv[3] : NULL;
  struct stat st;
  if (!strcmp(call, "open")) return copy_out(open(path, O_RDONLY));
  if (!strcmp(call, "openat") && other) {
    int dir = open(path, O_RDONLY | O_DIRECTORY);
    if (dir < 0) return report(0);
    return copy_out(openat(dir, other, O_RDONLY));
  }
  if (!strcmp(call, "fopen")) {
    FILE* f = fopen(path, "r");
    if (!f) return report(0);
    return copy_out(dup(fileno(f)));
  }
  if (!strcmp(call, "stat")) return report(stat(path, &st) == 0);
  if (!strcmp(call, "lstat")) return report(lstat(path, &st) == 0);
  if (!strcmp(call, "statx")) {
    struct statx sx;
    return report(statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, &sx) == 0);
  }
  if (!strcmp(call, "access")) return report(access(path, R_OK) == 0);
  if (!strcmp(call, "opendir")) return report(opendir(path) != NULL);
  if (!strcmp(call, "chdir")) return report(chdir(path) == 0);
  if (!strcmp(call, "readlink")) {
    char buf[256];
    return report(readlink(path, buf, sizeof buf) >= 0);
  }
  if (!strcmp(call, "unlink")) return report(unlink(path) == 0);
  if (!strcmp(call, "rename") && other) return report(rename(path, other) == 0);
  if (!strcmp(call, "link") && other) return report(link(path, other) == 0);
  if (!strcmp(call, "symlink") && other) return report(symlink(path, other) == 0);
  char* args[] = {(char*)path, NULL};
  if (!strcmp(call, "execve")) return report(execve(path, args, environ) == 0);
  if (!strcmp(call, "execl")) return report(execl(path, path, (char*)NULL) == 0);
  if (!strcmp(call, "execvp")) return report(execvp(path, args) == 0);
  if (!strcmp(call, "execlp")) return report(execlp(path, path, (char*)NULL) == 0);
  pid_t pid = 0;
  if (!strcmp(call, "spawn"))
    return spawned(posix_spawn(&pid, path, NULL, NULL, args, environ), pid);
  if (!strcmp(call, "spawnp"))
    return spawned(posix_spawnp(&pid, path, NULL, NULL, args, environ), pid);
  if (!strcmp(call, "errno")) {
    errno = EXDEV;
    const int rc = stat(path, &st);
    printf("errno %d rc %d\n", errno, rc);
    return 0;
  }
  fprintf(stderr, "path_hook_probe: unknown call %s\n", call);
  return 2;
}
