// ac-vault's logic: see wrapper.h.
#include "vault-wrapper/wrapper.h"

#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <initializer_list>

#include "common/ascii.h"

namespace acctl::wrapper {

namespace {

constexpr std::string_view kPrefix = "acctl vault: ";
constexpr const char* kUsage =
    "usage: ac-vault git-credential get|store|erase | ac-vault ping | ac-vault gh|glab ARG... "
    "(or run as gh or glab)";

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool one_of(std::string_view s, std::initializer_list<std::string_view> words) {
  return std::find(words.begin(), words.end(), s) != words.end();
}

// Every value `name` has in `env` (a variable can appear twice; which one a program reads is
// its own business, so all of them count).
std::vector<std::string_view> values_of(const std::vector<std::string>& env,
                                        std::string_view name) {
  std::vector<std::string_view> out;
  for (const std::string& e : env) {
    std::string_view v = e;
    if (v.size() > name.size() && starts_with(v, name) && v[name.size()] == '=')
      out.push_back(v.substr(name.size() + 1));
  }
  return out;
}

std::optional<std::string> env_value(const std::vector<std::string>& env, std::string_view name) {
  auto values = values_of(env, name);
  if (values.empty()) return std::nullopt;
  return std::string(values.front());
}

std::string_view name_of(std::string_view entry) {
  return entry.substr(0, entry.find('='));
}

// What the daemon says is shown to the agent: printable ASCII only, and short.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 300)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

int refuse(WrapperSystem& sys, std::string_view why, int status = kExitRefused) {
  sys.say(std::string(kPrefix) + std::string(why));
  return status;
}

const char* cli_name(Cli cli) {
  return cli == Cli::kGh ? "gh" : "glab";
}

int exit_status_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return kExitRefused;
}

// --- the daemon ---------------------------------------------------------------------------

Result<std::string> socket_path(const std::vector<std::string>& env) {
  auto s = env_value(env, kSocketVariable);
  if (!s || s->empty()) return std::string(vault::kDefaultSocket);
  if ((*s)[0] != '/')
    return Error{0,
                 std::string(kSocketVariable) + " must be an absolute path, not " + printable(*s)};
  return *s;
}

// The daemon's status=ok reply to `request`; otherwise an Error whose message is the sentence
// to tell the agent.
Result<vault::Message> ask(WrapperSystem& sys, const std::vector<std::string>& env,
                           const vault::Message& request) {
  auto socket = socket_path(env);
  if (!socket) return socket.error();
  if (auto c = sys.connect(*socket); !c) {
    const int e = c.error().sys_errno;
    const bool absent = e == ENOENT || e == ECONNREFUSED || e == ENOTDIR;
    return Error{0,
                 std::string(absent ? "the vault is not running (" : "cannot reach the vault (") +
                     c.error().message + ")"};
  }
  auto reply = sys.exchange(request, kTimeoutMs);
  if (!reply) {
    if (reply.error().timed_out)
      return Error{0, "the vault at " + *socket + " did not answer within " +
                          std::to_string(kTimeoutMs / 1000) + " s"};
    return Error{0, "no answer from the vault at " + *socket + " (" + reply.error().message + ")"};
  }
  const std::optional<std::string> status = reply->get(vault::key::kStatus);
  if (status == vault::kStatusOk) return std::move(*reply);
  if (status == vault::kStatusRefused) {
    const std::string reason = printable(reply->get(vault::key::kReason).value_or(""));
    return Error{0, reason.empty() ? "the vault refused (it gave no reason)" : reason};
  }
  return Error{0, "the vault at " + *socket + " answered something unexpected (status=" +
                      printable(status.value_or("")) + ")"};
}

// --- git ----------------------------------------------------------------------------------

// Reads and drops what git sends to store and erase (and actions git may add later), so git
// never writes into a closed pipe.
int drain_stdin(WrapperSystem& sys) {
  size_t total = 0;
  while (total < 16 * kMaxGitInput) {
    auto chunk = sys.read_stdin(kMaxGitInput);
    if (!chunk || chunk->empty()) break;
    total += chunk->size();
  }
  return 0;
}

bool request_complete(const std::string& input) {
  return starts_with(input, "\n") || input.find("\n\n") != std::string::npos;
}

int git_credential(WrapperSystem& sys, const std::vector<std::string>& args,
                   const std::vector<std::string>& env) {
  if (args.size() != 1) return refuse(sys, kUsage, kExitUsage);
  // git-credential(1): a helper ignores the actions it does not know.
  if (args[0] != "get") return drain_stdin(sys);

  if (auto why = git_trace_refusal(env)) return refuse(sys, *why);
  std::string input;
  while (!request_complete(input)) {
    auto chunk = sys.read_stdin(kMaxGitInput + 1 - input.size());
    if (!chunk) return refuse(sys, "reading git's request: " + chunk.error().message);
    if (chunk->empty()) break;
    input += *chunk;
    if (input.size() > kMaxGitInput)
      return refuse(
          sys, "refusing git's request: larger than " + std::to_string(kMaxGitInput) + " bytes");
  }
  auto request = parse_git_request(input);
  if (!request) return refuse(sys, "refusing git's request: " + request.error().message);

  vault::Message m;
  m.set(vault::key::kOp, vault::op::kGitCredential);
  m.set(vault::key::kProtocol, request->protocol);
  m.set(vault::key::kHost, request->host);
  if (request->path) m.set(vault::key::kPath, *request->path);
  auto reply = ask(sys, env, m);
  if (!reply) return refuse(sys, reply.error().message);

  const std::string username = reply->get(vault::key::kUsername).value_or("");
  const std::string password = reply->get(vault::key::kPassword).value_or("");
  if (!plausible_secret(username) || !plausible_secret(password))
    return refuse(sys, "the vault answered a malformed credential; not passing it to git");
  if (auto w = sys.write_stdout("username=" + username + "\npassword=" + password + "\n"); !w)
    return refuse(sys, "writing the credential to git: " + w.error().message);
  return 0;
}

// --- gh and glab --------------------------------------------------------------------------

// Ends the CLI's config folder: the files acctl wrote, then whatever plain files the CLI added
// (a rewritten hosts.yml, a lock), then the folder. A folder inside is left and reported rather
// than recursed into. -> whether everything is gone.
bool remove_config_dir(WrapperSystem& sys, const std::string& dir,
                       const std::vector<ConfigFile>& files) {
  bool clean = true;
  for (const ConfigFile& f : files) {
    const std::string path = dir + "/" + f.name;
    if (auto u = sys.unlink(path); !u && u.error().sys_errno != ENOENT) {
      refuse(sys, "could not remove " + path + ": " + u.error().message);
      clean = false;
    }
  }
  auto entries = sys.list_dir(dir);
  if (!entries) {
    refuse(sys, "could not list " + dir + " to remove it: " + entries.error().message);
    return false;
  }
  for (const DirEntry& e : *entries) {
    const std::string path = dir + "/" + e.name;
    const bool tried = std::any_of(files.begin(), files.end(),
                                   [&](const ConfigFile& f) { return f.name == e.name; });
    if (tried && !e.is_dir) continue;  // said above
    if (e.is_dir) {
      refuse(sys, "left " + path + " in place: a folder inside the CLI's config folder");
      clean = false;
    } else if (auto u = sys.unlink(path); !u) {
      refuse(sys, "could not remove " + path + ": " + u.error().message);
      clean = false;
    }
  }
  if (auto r = sys.rmdir(dir); !r) {
    refuse(sys, "could not remove " + dir + ": " + r.error().message);
    clean = false;
  }
  return clean;
}

bool forwarded(int sig) {
  switch (sig) {
    case SIGINT:
    case SIGTERM:
    case SIGHUP:
    case SIGQUIT:
    case SIGWINCH:
      return true;
    default:
      return false;
  }
}

// Waits for the CLI, passing signals on. -> its wait status; nullopt when waiting failed (the
// CLI is then killed).
std::optional<int> supervise(WrapperSystem& sys, pid_t child, const std::string& name) {
  for (;;) {
    auto sig = sys.wait_signal();
    if (!sig) {
      refuse(sys, "waiting for " + name + ": " + sig.error().message + "; killing it");
      sys.send(child, SIGKILL);
      return std::nullopt;
    }
    if (sig->number == SIGCHLD) {
      auto status = sys.reap(child);
      if (!status) {
        refuse(sys, "waiting for " + name + ": " + status.error().message);
        return std::nullopt;
      }
      if (*status) return **status;
      continue;
    }
    // The terminal already sent it to the CLI, which is in our process group.
    if (forwarded(sig->number) && !sig->from_terminal) sys.send(child, sig->number);
  }
}

int run_cli(WrapperSystem& sys, Cli cli, const std::vector<std::string>& args,
            const std::vector<std::string>& env) {
  const std::string name = cli_name(cli);
  if (auto why = cli_debug_refusal(env)) return refuse(sys, *why);
  if (auto why = cli_args_refusal(cli, args)) return refuse(sys, *why);
  const std::string real = cli == Cli::kGh ? kRealGh : kRealGlab;
  if (!sys.is_executable(real))
    return refuse(sys, name + " is not installed in this image", kExitNotInstalled);

  std::optional<std::string> token;
  if (cli_needs_token(args)) {
    vault::Message m;
    m.set(vault::key::kOp, vault::op::kToken);
    m.set(vault::key::kProvider, cli == Cli::kGh ? "github" : "gitlab");
    m.set(vault::key::kHost, cli == Cli::kGh ? "github.com" : "gitlab.com");
    m.set(vault::key::kTool, name);
    m.set(vault::key::kArgs, vault::args_field(args));
    auto reply = ask(sys, env, m);
    if (!reply) return refuse(sys, reply.error().message);
    token = reply->get(vault::key::kToken).value_or("");
    if (!plausible_secret(*token))
      return refuse(sys, "the vault answered a malformed token; not passing it to " + name);
  }

  // Blocked from here on, so no signal can end ac-vault between writing the token and
  // removing it; they wait for supervise().
  if (auto b = sys.block_signals(); !b) return refuse(sys, b.error().message);
  std::string base = "/tmp";
  if (auto t = env_value(env, "TMPDIR"); t && starts_with(*t, "/")) base = *t;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  auto dir = sys.make_private_dir(base, "ac-vault-" + name + "-");
  if (!dir) return refuse(sys, "making " + name + "'s config folder: " + dir.error().message);

  const std::vector<ConfigFile> files = cli_config_files(cli, token);
  std::vector<ConfigFile> written;
  for (const ConfigFile& f : files) {
    if (auto w = sys.write_new_file(*dir + "/" + f.name, f.content); !w) {
      refuse(sys, "writing " + name + "'s config: " + w.error().message);
      remove_config_dir(sys, *dir, written);
      return kExitRefused;
    }
    written.push_back(f);
  }

  std::vector<std::string> argv{real};
  argv.insert(argv.end(), args.begin(), args.end());
  auto child = sys.spawn(argv, cli_environment(cli, env, *dir));
  if (!child) {
    refuse(sys, "cannot start " + real + ": " + child.error().message);
    remove_config_dir(sys, *dir, written);
    return kExitRefused;
  }
  const std::optional<int> status = supervise(sys, *child, name);
  remove_config_dir(sys, *dir, written);
  return status ? exit_status_of(*status) : kExitRefused;
}

// --- ping ---------------------------------------------------------------------------------

int ping(WrapperSystem& sys, const std::vector<std::string>& args,
         const std::vector<std::string>& env) {
  if (!args.empty()) return refuse(sys, kUsage, kExitUsage);
  auto socket = socket_path(env);
  if (!socket) return refuse(sys, "not answering (" + socket.error().message + ")");
  if (auto c = sys.connect(*socket); !c)
    return refuse(sys, "not answering (" + c.error().message + ")");
  vault::Message m;
  m.set(vault::key::kOp, vault::op::kPing);
  auto reply = sys.exchange(m, kTimeoutMs);
  if (!reply) {
    if (reply.error().timed_out)
      return refuse(sys, "not answering (no reply from " + *socket + " within " +
                             std::to_string(kTimeoutMs / 1000) + " s)");
    return refuse(sys, "not answering (" + reply.error().message + ")");
  }
  const std::string status = reply->get(vault::key::kStatus).value_or("");
  if (status != vault::kStatusOk) {
    return refuse(sys, "not answering (" + printable(status) + ": " +
                           printable(reply->get(vault::key::kReason).value_or("")) + ")");
  }
  if (auto w = sys.write_stdout("vault: answering\n"); !w)
    return refuse(sys, "writing the answer: " + w.error().message);
  return 0;
}

// --- argument guards ----------------------------------------------------------------------

std::string quoted(Cli cli, const std::vector<std::string>& words) {
  std::string out = std::string("`") + cli_name(cli);
  for (const std::string& w : words) out += " " + printable(w);
  return out + "`";
}

// `auth status` with only the flags that print no token.
std::optional<std::string> auth_status_refusal(Cli cli, const std::vector<std::string>& args) {
  for (size_t i = 2; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (one_of(a, {"-a", "--active", "--help"}) || starts_with(a, "--hostname=")) continue;
    if (one_of(a, {"-h", "--hostname"}) && i + 1 < args.size() && !starts_with(args[i + 1], "-")) {
      ++i;
      continue;
    }
    if (a == "-t" || (starts_with(a, "-") && !starts_with(a, "--") && a.find('t') != a.npos))
      return "refusing " + quoted(cli, {"auth", "status", a}) + ": it prints the token";
    return "refusing " + quoted(cli, {"auth", "status", a}) +
           ": only -h/--hostname and -a/--active are allowed there";
  }
  return std::nullopt;
}

}  // namespace

Result<Invocation> parse_invocation(const std::vector<std::string>& argv) {
  if (argv.empty()) return Error{0, kUsage};
  const std::string& zero = argv[0];
  const std::string base =
      zero.substr(zero.rfind('/') == std::string::npos ? 0 : zero.rfind('/') + 1);
  std::vector<std::string> rest(argv.begin() + 1, argv.end());
  if (base == "gh") return Invocation{Mode::kGh, rest};
  if (base == "glab") return Invocation{Mode::kGlab, rest};
  if (base != "ac-vault") return Error{0, "run as ac-vault, gh or glab, not " + printable(base)};
  if (rest.empty()) return Error{0, kUsage};
  const std::string word = rest[0];
  rest.erase(rest.begin());
  if (word == "git-credential") return Invocation{Mode::kGitCredential, rest};
  if (word == "gh") return Invocation{Mode::kGh, rest};
  if (word == "glab") return Invocation{Mode::kGlab, rest};
  if (word == "ping") return Invocation{Mode::kPing, rest};
  return Error{0, "unknown mode " + printable(word) + " (" + kUsage + ")"};
}

Result<GitRequest> parse_git_request(std::string_view input) {
  if (input.find('\0') != std::string_view::npos) return Error{0, "it has a NUL byte"};
  const size_t end = starts_with(input, "\n") ? 0 : input.find("\n\n");
  if (end != std::string_view::npos) input = input.substr(0, end + 1);

  std::optional<std::string> protocol, host, path;
  size_t start = 0;
  while (start < input.size()) {
    size_t nl = input.find('\n', start);
    if (nl == std::string_view::npos) nl = input.size();
    const std::string_view line = input.substr(start, nl - start);
    start = nl + 1;
    if (line.empty()) continue;
    const size_t eq = line.find('=');
    const std::string_view k = line.substr(0, eq);
    if (eq == std::string_view::npos || k.empty() || k.size() > 64 ||
        !std::all_of(k.begin(), k.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-' || c == '[' || c == ']' || c == '.';
        }))
      return Error{0, "a line is not key=value"};
    const std::string_view v = line.substr(eq + 1);
    if (v.size() > kMaxGitValue)
      return Error{0, "the value of " + std::string(k) + " is longer than " +
                          std::to_string(kMaxGitValue) + " bytes"};
    std::optional<std::string>* slot = k == "protocol" ? &protocol
                                       : k == "host"   ? &host
                                       : k == "path"   ? &path
                                                       : nullptr;
    if (!slot) continue;  // username, capability[], wwwauth[]...: the vault decides alone
    if (*slot) return Error{0, std::string(k) + " is given twice"};
    if (!std::all_of(v.begin(), v.end(), [](char c) { return c >= 0x20 && c != 0x7f; }))
      return Error{0, std::string(k) + " has a control character"};
    *slot = std::string(v);
  }
  if (!protocol || protocol->empty()) return Error{0, "it names no protocol"};
  if (!host || host->empty()) return Error{0, "it names no host"};
  auto simple = [](std::string_view s, std::string_view extra) {
    return std::all_of(s.begin(), s.end(), [&](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             extra.find(c) != std::string_view::npos;
    });
  };
  if (protocol->size() > 32 || !simple(*protocol, "+.-"))
    return Error{0, "the protocol is not a URL scheme"};
  if (host->size() > 300 || !simple(*host, ".-:[]_"))
    return Error{0, "the host is not a host name"};
  return GitRequest{*protocol, *host, path};
}

std::optional<std::string> git_trace_refusal(const std::vector<std::string>& env) {
  // git's trace_want(): "", "0" and "false" (any case) are off; anything else traces.
  for (const char* name :
       {"GIT_TRACE", "GIT_TRACE_CURL", "GIT_TRACE_PACKET", "GIT_TRACE2", "GIT_TRACE2_EVENT",
        "GIT_TRACE2_PERF", "GIT_TRACE_SETUP", "GIT_TRACE_PACK_ACCESS"}) {
    for (std::string_view v : values_of(env, name)) {
      if (!v.empty() && v != "0" && ascii_lower(v) != "false")
        return std::string("refusing to hand git a credential while ") + name +
               " is set (git would trace it)";
    }
  }
  // http.c turns curl's tracing on when GIT_CURL_VERBOSE is set at all, even to 0.
  if (!values_of(env, "GIT_CURL_VERBOSE").empty())
    return std::string(
        "refusing to hand git a credential while GIT_CURL_VERBOSE is set (git "
        "would trace it)");
  // git_env_bool(): only a true value keeps redaction on; "" and 0/false/no/off turn it off.
  for (std::string_view v : values_of(env, "GIT_TRACE_REDACT")) {
    if (!one_of(ascii_lower(v), {"1", "true", "yes", "on"}))
      return std::string("refusing to hand git a credential while GIT_TRACE_REDACT=") +
             printable(v) + " (git would trace it unredacted)";
  }
  return std::nullopt;
}

std::optional<std::string> cli_debug_refusal(const std::vector<std::string>& env) {
  for (const char* name : {"GH_DEBUG", "DEBUG", "GH_TRACE", "GLAB_DEBUG"}) {
    for (std::string_view v : values_of(env, name)) {
      if (!v.empty())
        return std::string("refusing to run with ") + name +
               " set (its debug output can show the token)";
    }
  }
  return std::nullopt;
}

std::optional<std::string> cli_args_refusal(Cli cli, const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--show-token" || starts_with(a, "--show-token="))
      return "refusing " + quoted(cli, {a}) + ": the token stays in the vault";
  }
  if (args.empty()) return std::nullopt;  // the CLI's own help
  const std::string& first = args[0];
  if (starts_with(first, "-")) {
    if (args.size() == 1 && one_of(first, {"--version", "--help", "-h"})) return std::nullopt;
    return "refusing " + quoted(cli, {first}) + ": put options after the command";
  }
  if (first == "auth") {
    if (args.size() >= 2 && args[1] == "status") return auth_status_refusal(cli, args);
    return "refusing " + quoted(cli, {"auth", args.size() >= 2 ? args[1] : ""}) +
           ": only `auth status` is allowed (the token stays in the vault)";
  }
  if (first == "config")
    return "refusing " + quoted(cli, {first}) + ": it can print and change the token";
  if (one_of(first, {"extension", "extensions", "ext"}))
    return "refusing " + quoted(cli, {first}) + ": extensions run arbitrary code with the token";
  if (first == "alias")
    return "refusing " + quoted(cli, {first}) + ": aliases run shell commands with the token";
  if (first == "browse") return "refusing " + quoted(cli, {first}) + ": it opens a browser";

  const bool listed =
      cli == Cli::kGh ? one_of(first, {"api", "issue", "pr", "repo", "release", "run", "workflow",
                                       "search", "gist", "label", "status", "cache", "ruleset",
                                       "project", "variable", "secret", "org", "version", "help"})
                      : one_of(first, {"api", "issue", "mr", "repo", "release", "ci", "label",
                                       "variable", "version", "help"});
  if (!listed)
    return "refusing " + quoted(cli, {first}) + ": not on acctl's list of " + cli_name(cli) +
           " commands";
  if (first == "api") {
    for (const std::string& a : args) {
      if (a == "--verbose" || starts_with(a, "--verbose="))
        return "refusing " + quoted(cli, {"api", a}) + ": it prints the request's headers";
    }
  }
  return std::nullopt;
}

bool cli_needs_token(const std::vector<std::string>& args) {
  return !args.empty() && !one_of(args[0], {"help", "version", "--version", "--help", "-h"});
}

std::vector<std::string> cli_environment(Cli cli, const std::vector<std::string>& env,
                                         const std::string& config_dir) {
  std::vector<std::string> out;
  for (const std::string& e : env) {
    // Another token, config folder or default host: the CLI acts with the vault's token, on the
    // one host it is for, and reads no config but the one written for it.
    if (one_of(name_of(e),
               {"GH_TOKEN", "GITHUB_TOKEN", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN",
                "GITLAB_TOKEN", "GL_TOKEN", "GITLAB_ACCESS_TOKEN", "OAUTH_TOKEN", "GH_CONFIG_DIR",
                "GLAB_CONFIG_DIR", "GH_HOST", "GITLAB_HOST", "GL_HOST", "GITLAB_URI",
                "GH_NO_UPDATE_NOTIFIER", kSocketVariable}))
      continue;
    out.push_back(e);
  }
  if (cli == Cli::kGh) {
    out.push_back("GH_CONFIG_DIR=" + config_dir);
    out.push_back("GH_NO_UPDATE_NOTIFIER=1");  // no release check through the gate
  } else {
    out.push_back("GLAB_CONFIG_DIR=" + config_dir);
  }
  return out;
}

std::vector<ConfigFile> cli_config_files(Cli cli, const std::optional<std::string>& token) {
  if (cli == Cli::kGh) {
    // config.yml's version "1" tells gh 2.40+ the hosts file already has its multi-account
    // layout (users:), so it migrates nothing; older gh reads the host's own oauth_token.
    std::vector<ConfigFile> files{{"config.yml", "version: \"1\"\ngit_protocol: https\n"}};
    if (token) {
      files.push_back({"hosts.yml",
                       "github.com:\n"
                       "    users:\n"
                       "        x-access-token:\n"
                       "            oauth_token: \"" +
                           *token +
                           "\"\n"
                           "    oauth_token: \"" +
                           *token +
                           "\"\n"
                           "    git_protocol: https\n"
                           "    user: x-access-token\n"});
    }
    return files;
  }
  std::string config = "check_update: false\ngit_protocol: https\n";
  if (token) {
    config +=
        "hosts:\n"
        "    gitlab.com:\n"
        "        token: \"" +
        *token +
        "\"\n"
        "        api_host: gitlab.com\n"
        "        api_protocol: https\n"
        "        git_protocol: https\n";
  }
  return {{"config.yml", config}};
}

bool plausible_secret(std::string_view s) {
  return !s.empty() && s.size() <= 1024 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("._~+/=-").find(c) != std::string_view::npos;
  });
}

int run(WrapperSystem& sys, const Invocation& invocation, const std::vector<std::string>& env) {
  switch (invocation.mode) {
    case Mode::kGitCredential:
      return git_credential(sys, invocation.args, env);
    case Mode::kGh:
      return run_cli(sys, Cli::kGh, invocation.args, env);
    case Mode::kGlab:
      return run_cli(sys, Cli::kGlab, invocation.args, env);
    case Mode::kPing:
      return ping(sys, invocation.args, env);
  }
  return kExitUsage;
}

}  // namespace acctl::wrapper
