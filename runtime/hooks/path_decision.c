/* The blocked-paths hook's policy: see path_decision.h. */
#include "hooks/path_decision.h"

#include <string.h>

/* Appends the components of `path` to the normal absolute path out[0..*len). */
static int add_components(const char* path, char* out, size_t cap, size_t* len) {
  const char* p = path;
  while (*p) {
    while (*p == '/') ++p;
    const char* end = p;
    while (*end && *end != '/') ++end;
    const size_t n = (size_t)(end - p);
    if (n == 0 || (n == 1 && p[0] == '.')) {
      /* nothing to add */
    } else if (n == 2 && p[0] == '.' && p[1] == '.') {
      while (*len > 0 && out[*len - 1] != '/') --*len;
      if (*len > 0) --*len; /* the '/' before the dropped component */
    } else {
      if (*len + 1 + n + 1 > cap) return -1;
      out[(*len)++] = '/';
      memcpy(out + *len, p, n);
      *len += n;
    }
    p = end;
  }
  return 0;
}

int ac_path_normalise(const char* base, const char* path, char* out, size_t cap) {
  if (!path || !out || cap < 2) return -1;
  size_t len = 0;
  if (path[0] != '/') {
    if (!base || base[0] != '/' || add_components(base, out, cap, &len) != 0) return -1;
  }
  if (add_components(path, out, cap, &len) != 0) return -1;
  if (len == 0) out[len++] = '/';
  out[len] = '\0';
  return 0;
}

static void add_entry(struct ac_path_list* list, const char* path, size_t n, int vault) {
  char raw[AC_PATH_LEN_MAX];
  memcpy(raw, path, n);
  raw[n] = '\0';
  struct ac_path_entry* e = &list->entries[list->count];
  if (ac_path_normalise(NULL, raw, e->path, sizeof e->path) != 0) return;
  e->vault = vault;
  ++list->count;
}

unsigned ac_path_list_parse(const char* value, struct ac_path_list* list) {
  list->count = 0;
  add_entry(list, AC_PATH_SECRETS, strlen(AC_PATH_SECRETS), 1);
  unsigned skipped = 0;
  for (const char* p = value; p && *p;) {
    const char* end = strchr(p, ':');
    if (!end) end = p + strlen(p);
    const size_t n = (size_t)(end - p);
    if (n > 0) {
      if (p[0] != '/' || n >= AC_PATH_LEN_MAX || list->count >= AC_PATH_ENTRIES_MAX + 1)
        ++skipped;
      else
        add_entry(list, p, n, 0);
    }
    p = *end ? end + 1 : end;
  }
  return skipped;
}

const struct ac_path_entry* ac_path_match(const struct ac_path_list* list, const char* abs) {
  if (!abs) return NULL;
  for (unsigned i = 0; i < list->count; ++i) {
    const struct ac_path_entry* e = &list->entries[i];
    const size_t n = strlen(e->path);
    if (n == 1) return e; /* "/": everything */
    if (strncmp(abs, e->path, n) == 0 && (abs[n] == '\0' || abs[n] == '/')) return e;
  }
  return NULL;
}

/* Appends `s` to out[0..*len), keeping room for `reserve` more bytes; 0 when it had to stop. */
static int put(char* out, size_t cap, size_t* len, const char* s, size_t reserve) {
  const size_t n = strlen(s);
  if (*len + n + reserve >= cap) {
    const size_t room = *len + reserve + 1 < cap ? cap - reserve - 1 - *len : 0;
    memcpy(out + *len, s, room);
    *len += room;
    return 0;
  }
  memcpy(out + *len, s, n);
  *len += n;
  return 1;
}

size_t ac_path_message(const struct ac_path_entry* entry, const char* shown, char* out,
                       size_t cap) {
  static const char kEllipsis[] = "...";
  const char* why = entry->vault ? " is the vault's (credentials are not files an agent reads)"
                                 : " is blocked in this sandbox (blockedPaths)";
  /* The path gives way first, so the reason always fits when `cap` holds it. */
  const size_t tail = strlen(why) + 1;
  size_t len = 0;
  put(out, cap, &len, "acctl: ", tail);
  if (!put(out, cap, &len, shown, tail + sizeof kEllipsis - 1))
    put(out, cap, &len, kEllipsis, tail);
  put(out, cap, &len, why, 1);
  out[len++] = '\n';
  out[len] = '\0';
  return len;
}
