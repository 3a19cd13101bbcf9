// The /proc parsers and RealProcReader (see proc_reader.h).
#include "vault/proc_reader.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "common/syscall.h"

namespace acctl::vault {

namespace {

template <typename T>
bool parse_number(std::string_view s, T& out) {
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

std::vector<std::string_view> split_spaces(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    const size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '\n') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

Result<std::string> read_proc_file(const std::string& path) {
  auto fd = open_file(path, O_RDONLY);
  if (!fd) return fd.error();
  auto text = read_all(fd->get());
  if (!text) return text.error().within(path);
  return text;
}

}  // namespace

std::optional<std::string> ProcessInfo::getenv(std::string_view name) const {
  for (const auto& [k, v] : env)
    if (k == name) return v;
  return std::nullopt;
}

Result<StatFields> parse_stat(std::string_view text) {
  const size_t paren = text.rfind(')');
  if (paren == std::string_view::npos) return Error{0, "no ')' in the stat line"};
  // After the name: field 3 (state) is words[0], so field N is words[N - 3].
  const auto words = split_spaces(text.substr(paren + 1));
  StatFields f;
  if (words.size() < 20 || !parse_number(words[1], f.ppid) || !parse_number(words[19], f.starttime))
    return Error{0, "malformed stat line"};
  return f;
}

Result<std::pair<uid_t, uid_t>> parse_status_uids(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.substr(0, 4) != "Uid:") continue;
    const auto words = split_spaces(line.substr(4));
    uid_t real, effective;
    if (words.size() < 2 || !parse_number(words[0], real) || !parse_number(words[1], effective))
      return Error{0, "malformed Uid: line"};
    return std::pair(real, effective);
  }
  return Error{0, "no Uid: line"};
}

std::vector<std::string> split_nul(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const size_t end = text.find('\0');
    out.emplace_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_environ(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& entry : split_nul(text)) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos)
      out.emplace_back(entry, "");
    else
      out.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return out;
}

Result<ProcessInfo> RealProcReader::read(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  auto stat_before = read_proc_file(dir + "/stat");
  if (!stat_before) return stat_before.error();
  auto first = parse_stat(*stat_before);
  if (!first) return first.error().within(dir + "/stat");

  ProcessInfo info;
  info.pid = pid;
  info.ppid = first->ppid;
  info.starttime = first->starttime;

  char target[4096];
  const ssize_t n = ::readlink((dir + "/exe").c_str(), target, sizeof target);
  if (n < 0) return sys_error("readlink " + dir + "/exe", errno);
  if (static_cast<size_t>(n) == sizeof target) return Error{0, dir + "/exe: target too long"};
  info.exe.assign(target, static_cast<size_t>(n));

  auto status = read_proc_file(dir + "/status");
  if (!status) return status.error();
  auto uids = parse_status_uids(*status);
  if (!uids) return uids.error().within(dir + "/status");
  info.real_uid = uids->first;
  info.effective_uid = uids->second;

  auto cmdline = read_proc_file(dir + "/cmdline");
  if (!cmdline) return cmdline.error();
  info.argv = split_nul(*cmdline);
  auto environ = read_proc_file(dir + "/environ");
  if (!environ) return environ.error();
  info.env = parse_environ(*environ);

  // The same starttime and parent afterwards: every file above was of this one process.
  auto stat_after = read_proc_file(dir + "/stat");
  if (!stat_after) return stat_after.error();
  auto second = parse_stat(*stat_after);
  if (!second) return second.error().within(dir + "/stat");
  if (second->starttime != first->starttime || second->ppid != first->ppid)
    return Error{0, "process " + std::to_string(pid) + " changed while it was read"};
  return info;
}

uint64_t RealProcReader::boot_ticks_now() {
  timespec ts;
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  const auto hz = static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
  return static_cast<uint64_t>(ts.tv_sec) * hz +
         static_cast<uint64_t>(ts.tv_nsec) * hz / 1000000000u;
}

}  // namespace acctl::vault
