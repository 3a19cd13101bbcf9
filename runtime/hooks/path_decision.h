/* What the blocked-paths hook does with one path: the list it refuses (ACCTL_BLOCKED_PATHS and
 * the vault's paths), lexical normalisation and the match, as pure functions (no system calls),
 * so they are unit-tested without a sandbox. C, for the LD_PRELOAD library. */
#ifndef ACCTL_HOOKS_PATH_DECISION_H
#define ACCTL_HOOKS_PATH_DECISION_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ACCTL_BLOCKED_PATHS holds at most this many entries, each shorter than AC_PATH_LEN_MAX; the
 * rest are ignored (acctl's validate keeps a Blueprint's list well inside both). */
#define AC_PATH_ENTRIES_MAX 64
#define AC_PATH_LEN_MAX 4096

/* Always refused, with or without ACCTL_BLOCKED_PATHS: the vault's own files. */
#define AC_PATH_SECRETS "/run/acctl/secrets"

struct ac_path_entry {
  char path[AC_PATH_LEN_MAX]; /* absolute, normalised */
  int vault;                  /* one of the vault's paths, not from blockedPaths */
};

struct ac_path_list {
  unsigned count;
  struct ac_path_entry entries[AC_PATH_ENTRIES_MAX + 2];
};

/* Fills `list` with the vault's paths and each absolute entry of `value` (ACCTL_BLOCKED_PATHS:
 * ':'-separated; NULL when unset), normalised. Empty, relative and too long entries, and those
 * past the cap, are skipped; returns how many were, empty ones not counted. */
unsigned ac_path_list_parse(const char* value, struct ac_path_list* list);

/* Writes `path` made absolute (against `base`, an absolute folder, when `path` is relative) and
 * lexically normal (no "//", "/./", "/../" or trailing '/'; ".." of "/" is "/") into `out`, `cap`
 * bytes. Symlinks are not looked at. 0, or -1 when it does not fit or a relative `path` has no
 * absolute `base` (NULL or relative). */
int ac_path_normalise(const char* base, const char* path, char* out, size_t cap);

/* The entry that `abs` (absolute, normalised) equals or lies under, or NULL: "/workspace/.env"
 * holds "/workspace/.env/x" but not "/workspace/.envrc". */
const struct ac_path_entry* ac_path_match(const struct ac_path_list* list, const char* abs);

/* Writes the line the hook says on refusing `shown` (a path under `entry`), '\n' included, into
 * `out` (`cap` bytes, at least 2), shortening a long path; returns its length. */
size_t ac_path_message(const struct ac_path_entry* entry, const char* shown, char* out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
