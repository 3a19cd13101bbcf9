/* ac_path_hook.so — the blocked-paths hook of paranoid sandboxes (LD_PRELOAD; C, no libstdc++).
 *
 * A program of the agent (any caller whose effective uid is not 0; root is never refused) that
 * opens, stats, lists, executes, enters, links, renames or deletes a blocked path gets EACCES and
 * one line on stderr naming it. Blocked: each absolute entry of ACCTL_BLOCKED_PATHS (':'-separated,
 * set by acctl from the Sandbox's blockedPaths), and always the vault's secrets mount
 * /run/acctl/secrets (its socket folder stays reachable: the daemon decides who gets what); a path
 * is blocked when it is one of them or lies under one, judged twice: made absolute (against the
 * cwd, or the dirfd of an *at() call) and normalised lexically, and as the kernel resolves it,
 * symlinks included (an O_PATH open read back through /proc/self/fd; for a final component that
 * does not exist yet, its folder's), so a symlink to a blocked file is caught.
 *
 * A convenience, not the boundary: it turns a puzzling empty file or "Permission denied" into a
 * line saying why. acctl mounts an empty root-only file or folder over each blocked path, and
 * the vault's files are root's; a program that clears LD_PRELOAD, is linked statically or makes
 * its own system calls (Go, io_uring) gains nothing. Where it cannot judge (no /proc, a path too
 * long to normalise) it lets the call through to the kernel and those mounts.
 *
 * Not interposed: calls on descriptors (fstat, fchdir, fexecve: the descriptor was opened through
 * a judged path), metadata changes that reveal nothing (chmod, chown, utimes, mkdir, mknod),
 * listing through glibc's own internal calls (nftw, glob, scandir open folders without the PLT;
 * the files they find are judged when opened), name_to_handle_at (open_by_handle_at needs
 * CAP_DAC_READ_SEARCH). Deleting a blocked path (unlink, unlinkat, rmdir) is refused like the mount
 * refuses it (EBUSY): the file is not the agent's to remove or replace.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hooks/path_decision.h"

/* glibc's fortified and old stat entry points, which its headers no longer declare. */
int __open_2(const char* path, int flags);
int __open64_2(const char* path, int flags);
int __openat_2(int dirfd, const char* path, int flags);
int __openat64_2(int dirfd, const char* path, int flags);
int __xstat(int ver, const char* path, struct stat* buf);
int __xstat64(int ver, const char* path, struct stat64* buf);
int __lxstat(int ver, const char* path, struct stat* buf);
int __lxstat64(int ver, const char* path, struct stat64* buf);
int __fxstatat(int ver, int dirfd, const char* path, struct stat* buf, int flags);
int __fxstatat64(int ver, int dirfd, const char* path, struct stat64* buf, int flags);
int eaccess(const char* path, int mode);

extern char** environ;

/* ---- The blocked list, read once per process. */

static struct ac_path_list blocked;
static pthread_once_t blocked_once = PTHREAD_ONCE_INIT;
static void read_blocked(void) {
  ac_path_list_parse(getenv("ACCTL_BLOCKED_PATHS"), &blocked);
}

/* ---- The real functions: dlsym(RTLD_NEXT), once each; a missing one fails its call. */

static void* next_symbol(void** slot, const char* name) {
  void* fn = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
  if (!fn) {
    const int saved = errno;
    fn = dlsym(RTLD_NEXT, name);
    errno = saved;
    __atomic_store_n(slot, fn, __ATOMIC_RELEASE);
  }
  return fn;
}
#define SLOT(name) static void* slot_##name;
#define NEXT(name, fail)                                                        \
  __typeof__(name)* next = (__typeof__(name)*)next_symbol(&slot_##name, #name); \
  if (!next) {                                                                  \
    errno = ENOSYS;                                                             \
    return fail;                                                                \
  }

/* Every function this file interposes. (Laid out by hand: clang-format does not settle on it.) */
// clang-format off
#define HOOKED(X)                                                                                 \
  X(open) X(open64) X(openat) X(openat64) X(__open_2) X(__open64_2) X(__openat_2)                 \
  X(__openat64_2) X(creat) X(creat64) X(fopen) X(fopen64) X(freopen) X(freopen64)                 \
  X(stat) X(stat64) X(lstat) X(lstat64) X(fstatat) X(fstatat64) X(__xstat) X(__xstat64)           \
  X(__lxstat) X(__lxstat64) X(__fxstatat) X(__fxstatat64) X(statx)                                \
  X(access) X(faccessat) X(euidaccess) X(eaccess)                                                 \
  X(opendir) X(chdir) X(readlink) X(readlinkat) X(truncate) X(truncate64)                         \
  X(link) X(linkat) X(symlink) X(symlinkat) X(rename) X(renameat) X(renameat2)                    \
  X(unlink) X(unlinkat) X(rmdir)                                                                  \
  X(execve) X(execveat) X(execv) X(execvp) X(execvpe)                                             \
  X(posix_spawn) X(posix_spawnp) X(posix_spawn_file_actions_addopen)
// clang-format on
HOOKED(SLOT)

/* Resolves every real function before main, so none is first looked up in a vfork child. */
#define RESOLVE(name) next_symbol(&slot_##name, #name);
__attribute__((constructor)) static void resolve_all(void) {
  HOOKED(RESOLVE)
  pthread_once(&blocked_once, read_blocked);
}

/* ---- Judging a path. No call here goes through the functions this file interposes. */

/* The text of the symlink /proc/self/fd/FD: where the kernel has that descriptor. */
static int fd_path(int fd, char* out, size_t cap) {
  char link[32] = "/proc/self/fd/";
  char digits[12];
  int n = 0;
  unsigned v = (unsigned)fd;
  do digits[n++] = (char)('0' + v % 10);
  while ((v /= 10) && n < (int)sizeof digits);
  size_t len = strlen(link);
  while (n > 0) link[len++] = digits[--n];
  link[len] = '\0';
  const long r = syscall(SYS_readlinkat, AT_FDCWD, link, out, cap - 1);
  if (r <= 0 || (size_t)r >= cap - 1) return -1;
  out[r] = '\0';
  return out[0] == '/' ? 0 : -1; /* "socket:[…]", "anon_inode:…" are no folder */
}

/* The absolute path the kernel reaches for `path` at `dirfd`, into `out`; `scratch` (cap bytes
 * too) is spare room. A final component that does not exist yet is its resolved folder's. */
static int kernel_path(int dirfd, const char* path, int nofollow, char* out, char* scratch,
                       size_t cap) {
  int fd = (int)syscall(SYS_openat, dirfd, path, O_PATH | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
  if (fd >= 0) {
    const int rc = fd_path(fd, out, cap);
    close(fd);
    return rc;
  }
  size_t len = strlen(path);
  while (len > 1 && path[len - 1] == '/') --len;
  size_t slash = len;
  while (slash > 0 && path[slash - 1] != '/') --slash;
  const char* last = path + slash;
  const size_t last_len = len - slash;
  if (last_len == 0 || (last_len == 1 && last[0] == '.') ||
      (last_len == 2 && last[0] == '.' && last[1] == '.') || len >= cap)
    return -1;
  if (slash == 0) {
    scratch[0] = '.';
    scratch[1] = '\0';
  } else {
    memcpy(scratch, path, slash);
    scratch[slash] = '\0';
  }
  fd = (int)syscall(SYS_openat, dirfd, scratch, O_PATH | O_CLOEXEC | O_DIRECTORY);
  if (fd < 0) return -1;
  const int rc = fd_path(fd, scratch, cap);
  close(fd);
  if (rc != 0) return -1;
  char name[NAME_MAX + 1];
  if (last_len > NAME_MAX) return -1;
  memcpy(name, last, last_len);
  name[last_len] = '\0';
  return ac_path_normalise(scratch, name, out, cap);
}

static void say_blocked(const struct ac_path_entry* entry, const char* shown) {
  char line[640];
  const size_t n = ac_path_message(entry, shown, line, sizeof line);
  ssize_t w = write(2, line, n);
  (void)w;
}

/* Whether the call on `path` at `dirfd` is refused: then the line is said and errno is EACCES;
 * otherwise errno is as the caller left it. `nofollow`: the call does not follow a final
 * symlink (lstat, readlink, O_NOFOLLOW, unlink). */
static int refused_at(int dirfd, const char* path, int nofollow) {
  if (!path || !*path || geteuid() == 0) return 0;
  const int saved = errno;
  pthread_once(&blocked_once, read_blocked);
  char a[AC_PATH_LEN_MAX], b[AC_PATH_LEN_MAX];
  int have_base = 1;
  if (path[0] != '/')
    have_base = dirfd == AT_FDCWD ? getcwd(b, sizeof b) != NULL : fd_path(dirfd, b, sizeof b) == 0;
  const struct ac_path_entry* hit = NULL;
  if (have_base && ac_path_normalise(path[0] == '/' ? NULL : b, path, a, sizeof a) == 0)
    hit = ac_path_match(&blocked, a);
  if (!hit && kernel_path(dirfd, path, nofollow, a, b, sizeof a) == 0)
    hit = ac_path_match(&blocked, a);
  if (hit) {
    say_blocked(hit, a);
    errno = EACCES;
    return 1;
  }
  errno = saved;
  return 0;
}
static int refused(const char* path, int nofollow) {
  return refused_at(AT_FDCWD, path, nofollow);
}

/* What execvp, execlp and posix_spawnp would run for `file`: judged on the first executable
 * file of the PATH search, as glibc does it (a name with a '/' is taken as it is). */
static int refused_search(const char* file) {
  if (!file || !*file || geteuid() == 0) return 0;
  if (strchr(file, '/')) return refused(file, 0);
  const int saved = errno;
  const char* search = getenv("PATH");
  if (!search) search = "/bin:/usr/bin";
  const size_t flen = strlen(file);
  char candidate[AC_PATH_LEN_MAX];
  for (const char* p = search;;) {
    const char* end = strchrnul(p, ':');
    const size_t dlen = (size_t)(end - p);
    if (dlen + 1 + flen < sizeof candidate) {
      size_t len = 0;
      if (dlen > 0) {
        memcpy(candidate, p, dlen);
        len = dlen;
        candidate[len++] = '/';
      }
      memcpy(candidate + len, file, flen + 1);
      if (syscall(SYS_faccessat, AT_FDCWD, candidate, X_OK) == 0) {
        errno = saved;
        return refused(candidate, 0);
      }
    }
    if (!*end) break;
    p = end + 1;
  }
  errno = saved;
  return 0;
}

/* ---- open */

static int open_nofollow(int flags) {
  return (flags & O_NOFOLLOW) || ((flags & O_CREAT) && (flags & O_EXCL));
}
static mode_t open_mode(int flags, va_list ap) {
  return __OPEN_NEEDS_MODE(flags) ? (mode_t)va_arg(ap, int) : 0;
}

#define OPEN_HOOK(name)                                 \
  int name(const char* path, int flags, ...) {          \
    va_list ap;                                         \
    va_start(ap, flags);                                \
    const mode_t mode = open_mode(flags, ap);           \
    va_end(ap);                                         \
    NEXT(name, -1)                                      \
    if (refused(path, open_nofollow(flags))) return -1; \
    return next(path, flags, mode);                     \
  }
OPEN_HOOK(open)
OPEN_HOOK(open64)

#define OPENAT_HOOK(name)                                         \
  int name(int dirfd, const char* path, int flags, ...) {         \
    va_list ap;                                                   \
    va_start(ap, flags);                                          \
    const mode_t mode = open_mode(flags, ap);                     \
    va_end(ap);                                                   \
    NEXT(name, -1)                                                \
    if (refused_at(dirfd, path, open_nofollow(flags))) return -1; \
    return next(dirfd, path, flags, mode);                        \
  }
OPENAT_HOOK(openat)
OPENAT_HOOK(openat64)

#define OPEN2_HOOK(name)                                \
  int name(const char* path, int flags) {               \
    NEXT(name, -1)                                      \
    if (refused(path, open_nofollow(flags))) return -1; \
    return next(path, flags);                           \
  }
OPEN2_HOOK(__open_2)
OPEN2_HOOK(__open64_2)

#define OPENAT2_HOOK(name)                                        \
  int name(int dirfd, const char* path, int flags) {              \
    NEXT(name, -1)                                                \
    if (refused_at(dirfd, path, open_nofollow(flags))) return -1; \
    return next(dirfd, path, flags);                              \
  }
OPENAT2_HOOK(__openat_2)
OPENAT2_HOOK(__openat64_2)

#define CREAT_HOOK(name)                    \
  int name(const char* path, mode_t mode) { \
    NEXT(name, -1)                          \
    if (refused(path, 0)) return -1;        \
    return next(path, mode);                \
  }
CREAT_HOOK(creat)
CREAT_HOOK(creat64)

#define FOPEN_HOOK(name)                           \
  FILE* name(const char* path, const char* mode) { \
    NEXT(name, NULL)                               \
    if (refused(path, 0)) return NULL;             \
    return next(path, mode);                       \
  }
FOPEN_HOOK(fopen)
FOPEN_HOOK(fopen64)

/* freopen(NULL, …) reopens the stream's own file: nothing new to judge. */
#define FREOPEN_HOOK(name)                                       \
  FILE* name(const char* path, const char* mode, FILE* stream) { \
    NEXT(name, NULL)                                             \
    if (refused(path, 0)) return NULL;                           \
    return next(path, mode, stream);                             \
  }
FREOPEN_HOOK(freopen)
FREOPEN_HOOK(freopen64)

/* ---- stat */

#define STAT_HOOK(name, type, nofollow)     \
  int name(const char* path, type* buf) {   \
    NEXT(name, -1)                          \
    if (refused(path, nofollow)) return -1; \
    return next(path, buf);                 \
  }
STAT_HOOK(stat, struct stat, 0)
STAT_HOOK(stat64, struct stat64, 0)
STAT_HOOK(lstat, struct stat, 1)
STAT_HOOK(lstat64, struct stat64, 1)

#define XSTAT_HOOK(name, type, nofollow)           \
  int name(int ver, const char* path, type* buf) { \
    NEXT(name, -1)                                 \
    if (refused(path, nofollow)) return -1;        \
    return next(ver, path, buf);                   \
  }
XSTAT_HOOK(__xstat, struct stat, 0)
XSTAT_HOOK(__xstat64, struct stat64, 0)
XSTAT_HOOK(__lxstat, struct stat, 1)
XSTAT_HOOK(__lxstat64, struct stat64, 1)

/* An empty path with AT_EMPTY_PATH is the descriptor itself, opened through a judged path. */
static int at_refused(int dirfd, const char* path, int flags) {
  if ((flags & AT_EMPTY_PATH) && path && !*path) return 0;
  return refused_at(dirfd, path, (flags & AT_SYMLINK_NOFOLLOW) != 0);
}

#define FSTATAT_HOOK(name, type)                                \
  int name(int dirfd, const char* path, type* buf, int flags) { \
    NEXT(name, -1)                                              \
    if (at_refused(dirfd, path, flags)) return -1;              \
    return next(dirfd, path, buf, flags);                       \
  }
FSTATAT_HOOK(fstatat, struct stat)
FSTATAT_HOOK(fstatat64, struct stat64)

#define FXSTATAT_HOOK(name, type)                                        \
  int name(int ver, int dirfd, const char* path, type* buf, int flags) { \
    NEXT(name, -1)                                                       \
    if (at_refused(dirfd, path, flags)) return -1;                       \
    return next(ver, dirfd, path, buf, flags);                           \
  }
FXSTATAT_HOOK(__fxstatat, struct stat)
FXSTATAT_HOOK(__fxstatat64, struct stat64)

int statx(int dirfd, const char* path, int flags, unsigned mask, struct statx* buf) {
  NEXT(statx, -1)
  if (at_refused(dirfd, path, flags)) return -1;
  return next(dirfd, path, flags, mask, buf);
}

int access(const char* path, int mode) {
  NEXT(access, -1)
  if (refused(path, 0)) return -1;
  return next(path, mode);
}
int faccessat(int dirfd, const char* path, int mode, int flags) {
  NEXT(faccessat, -1)
  if (at_refused(dirfd, path, flags)) return -1;
  return next(dirfd, path, mode, flags);
}
int euidaccess(const char* path, int mode) {
  NEXT(euidaccess, -1)
  if (refused(path, 0)) return -1;
  return next(path, mode);
}
int eaccess(const char* path, int mode) {
  NEXT(eaccess, -1)
  if (refused(path, 0)) return -1;
  return next(path, mode);
}

/* ---- folders, links, sizes */

DIR* opendir(const char* path) {
  NEXT(opendir, NULL)
  if (refused(path, 0)) return NULL;
  return next(path);
}
int chdir(const char* path) {
  NEXT(chdir, -1)
  if (refused(path, 0)) return -1;
  return next(path);
}
ssize_t readlink(const char* path, char* buf, size_t size) {
  NEXT(readlink, -1)
  if (refused(path, 1)) return -1;
  return next(path, buf, size);
}
ssize_t readlinkat(int dirfd, const char* path, char* buf, size_t size) {
  NEXT(readlinkat, -1)
  if (refused_at(dirfd, path, 1)) return -1;
  return next(dirfd, path, buf, size);
}
int truncate(const char* path, off_t length) {
  NEXT(truncate, -1)
  if (refused(path, 0)) return -1;
  return next(path, length);
}
int truncate64(const char* path, off64_t length) {
  NEXT(truncate64, -1)
  if (refused(path, 0)) return -1;
  return next(path, length);
}

/* A new name for a blocked file (a hard link, a rename away) would be a way round the list, and
 * a rename onto a blocked path would replace it: refused on either side. */
int link(const char* from, const char* to) {
  NEXT(link, -1)
  if (refused(from, 1) || refused(to, 1)) return -1;
  return next(from, to);
}
int linkat(int fromfd, const char* from, int tofd, const char* to, int flags) {
  NEXT(linkat, -1)
  if (((flags & AT_EMPTY_PATH) == 0 || *from) &&
      refused_at(fromfd, from, !(flags & AT_SYMLINK_FOLLOW)))
    return -1;
  if (refused_at(tofd, to, 1)) return -1;
  return next(fromfd, from, tofd, to, flags);
}
int rename(const char* from, const char* to) {
  NEXT(rename, -1)
  if (refused(from, 1) || refused(to, 1)) return -1;
  return next(from, to);
}
int renameat(int fromfd, const char* from, int tofd, const char* to) {
  NEXT(renameat, -1)
  if (refused_at(fromfd, from, 1) || refused_at(tofd, to, 1)) return -1;
  return next(fromfd, from, tofd, to);
}
int renameat2(int fromfd, const char* from, int tofd, const char* to, unsigned flags) {
  NEXT(renameat2, -1)
  if (refused_at(fromfd, from, 1) || refused_at(tofd, to, 1)) return -1;
  return next(fromfd, from, tofd, to, flags);
}

/* A symlink's target is judged where it will point: a relative one from the link's folder. */
static int symlink_refused(const char* target, int dirfd, const char* linkpath) {
  if (refused_at(dirfd, linkpath, 1)) return 1;
  if (!target || !*target || target[0] == '/' || !strchr(linkpath, '/'))
    return refused_at(target && target[0] == '/' ? AT_FDCWD : dirfd, target, 0);
  char joined[AC_PATH_LEN_MAX];
  size_t slash = strlen(linkpath);
  while (slash > 0 && linkpath[slash - 1] != '/') --slash;
  const size_t tlen = strlen(target);
  if (slash + tlen >= sizeof joined) return 0; /* too long to judge: left to the mounts */
  memcpy(joined, linkpath, slash);
  memcpy(joined + slash, target, tlen + 1);
  return refused_at(dirfd, joined, 0);
}
int symlink(const char* target, const char* linkpath) {
  NEXT(symlink, -1)
  if (symlink_refused(target, AT_FDCWD, linkpath)) return -1;
  return next(target, linkpath);
}
int symlinkat(const char* target, int dirfd, const char* linkpath) {
  NEXT(symlinkat, -1)
  if (symlink_refused(target, dirfd, linkpath)) return -1;
  return next(target, dirfd, linkpath);
}

int unlink(const char* path) {
  NEXT(unlink, -1)
  if (refused(path, 1)) return -1;
  return next(path);
}
int unlinkat(int dirfd, const char* path, int flags) {
  NEXT(unlinkat, -1)
  if (refused_at(dirfd, path, 1)) return -1;
  return next(dirfd, path, flags);
}
int rmdir(const char* path) {
  NEXT(rmdir, -1)
  if (refused(path, 1)) return -1;
  return next(path);
}

/* ---- exec and spawn. glibc's execvp, execl* and posix_spawn* reach execve without the PLT, so
 * each is judged itself. */

int execve(const char* path, char* const argv[], char* const envp[]) {
  NEXT(execve, -1)
  if (refused(path, 0)) return -1;
  return next(path, argv, envp);
}
int execveat(int dirfd, const char* path, char* const argv[], char* const envp[], int flags) {
  NEXT(execveat, -1)
  if (at_refused(dirfd, path, flags)) return -1;
  return next(dirfd, path, argv, envp, flags);
}
int execv(const char* path, char* const argv[]) {
  NEXT(execv, -1)
  if (refused(path, 0)) return -1;
  return next(path, argv);
}
int execvp(const char* file, char* const argv[]) {
  NEXT(execvp, -1)
  if (refused_search(file)) return -1;
  return next(file, argv);
}
int execvpe(const char* file, char* const argv[], char* const envp[]) {
  NEXT(execvpe, -1)
  if (refused_search(file)) return -1;
  return next(file, argv, envp);
}

/* The arguments of execl, execle and execlp after `arg`, up to the NULL. */
static size_t count_args(const char* arg, va_list ap) {
  size_t n = 1;
  if (!arg) return 0;
  while (va_arg(ap, const char*)) ++n;
  return n;
}
#define COLLECT_ARGS(argv, arg, ap, n) \
  char* argv[n + 1];                   \
  argv[0] = (char*)(arg);              \
  for (size_t i = 1; i <= n; ++i) argv[i] = va_arg(ap, char*);

int execl(const char* path, const char* arg, ...) {
  va_list ap, count;
  va_start(ap, arg);
  va_copy(count, ap);
  const size_t n = count_args(arg, count);
  va_end(count);
  COLLECT_ARGS(argv, arg, ap, n)
  va_end(ap);
  return execve(path, argv, environ);
}
int execle(const char* path, const char* arg, ...) {
  va_list ap, count;
  va_start(ap, arg);
  va_copy(count, ap);
  const size_t n = count_args(arg, count);
  va_end(count);
  COLLECT_ARGS(argv, arg, ap, n)
  char* const* envp = va_arg(ap, char* const*); /* after the NULL that ends the arguments */
  va_end(ap);
  return execve(path, argv, envp);
}
int execlp(const char* file, const char* arg, ...) {
  va_list ap, count;
  va_start(ap, arg);
  va_copy(count, ap);
  const size_t n = count_args(arg, count);
  va_end(count);
  COLLECT_ARGS(argv, arg, ap, n)
  va_end(ap);
  return execvp(file, argv);
}

/* posix_spawn reports its error as the result, errno untouched. */
int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  NEXT(posix_spawn, ENOSYS)
  const int saved = errno;
  if (refused(path, 0)) {
    errno = saved;
    return EACCES;
  }
  return next(pid, path, actions, attr, argv, envp);
}
int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                 const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  NEXT(posix_spawnp, ENOSYS)
  const int saved = errno;
  if (refused_search(file)) {
    errno = saved;
    return EACCES;
  }
  return next(pid, file, actions, attr, argv, envp);
}
/* The child opens it with glibc's internal open: judged when the action is added. */
int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t* actions, int fd, const char* path,
                                     int flags, mode_t mode) {
  NEXT(posix_spawn_file_actions_addopen, ENOSYS)
  const int saved = errno;
  if (refused(path, open_nofollow(flags))) {
    errno = saved;
    return EACCES;
  }
  return next(actions, fd, path, flags, mode);
}
