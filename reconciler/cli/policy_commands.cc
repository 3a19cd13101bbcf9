// acctl policy check: what a sandbox's gate would decide for a name and port, from the same
// compiled policy the gate loads, without sending traffic; acctl policy log: its decisions.
#include <algorithm>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/command_support.h"
#include "cli/instances.h"
#include "converge/gate_policy.h"
#include "gate/gate_config.h"
#include "gate/policy_check.h"
#include "manifest/names.h"
#include "netpolicy/address.h"

namespace acctl::cli {
namespace {

using nlohmann::json;

constexpr const char* kPolicyHelp =
    R"(Usage: acctl policy check SANDBOX NAME[:PORT]|URL [-o text|json]
       acctl policy log SANDBOX [-f]

Says whether the gate of SANDBOX's Host would let SANDBOX reach NAME on PORT (default 443; a
URL's scheme gives 80 or 443), and which rule decided: the gate's own compiled policy for
SANDBOX (its EgressPolicy with its own Blueprint's egress names, the deny lists, the ports, the
dns.records addresses; other sandboxes' policies play no part), built from the manifests ($ACCTL_MANIFESTS, else
manifests/quickstart.yaml, and every instance) without sending any traffic. A name without
dns.records is resolved by the gate when it connects; that address is checked then.

policy log prints the gate's audit lines (JSON, one decision each) of SANDBOX only; -f follows.

Exit status: 0 allowed (check) or printed (log), 1 refused, 2 usage, invalid manifests or an
engine that does not answer.
Example: acctl policy check dev registry.npmjs.org
         acctl policy check dev http://example.com:8080/x -o json
         acctl policy log dev -f | jq -r 'select(.allowed | not) | .name'
)";

// The gate's audit lines whose sandbox is `name`, whole lines only, as they arrive.
int policy_log(CliEnv& env, const Model& model, const Sandbox& sandbox, bool follow) {
  const Host* host = model.find_host(sandbox.spec.host);
  if (!host || host->spec.isolation != Isolation::kDind) {
    env.err << "acctl policy log: Sandbox/" << sandbox.meta.name
            << " has no gate (its Host is not a dind Host), so nothing is logged for it\n";
    return kExitUsage;
  }
  engine::EngineOptions o;
  o.host = host_paths(state_dir(env), host->meta.name).endpoint();
  auto api = connect(env, o);
  if (!api) {
    env.err << "acctl policy log: the nested engine of Host/" << host->meta.name
            << " does not answer: " << api.error().message << "\n";
    return kExitUsage;
  }
  const std::string needle = "\"sandbox\":" + json(sandbox.meta.name).dump() + ",";
  std::string partial;
  engine::LogOptions lo;
  lo.follow = follow;
  auto s = (*api)->logs(gate_container_name(host->meta.name), lo,
                        [&](engine::LogStream stream, std::string_view bytes) {
                          if (stream != engine::LogStream::kStdout) return true;
                          partial.append(bytes);
                          size_t start = 0;
                          for (size_t nl; (nl = partial.find('\n', start)) != std::string::npos;
                               start = nl + 1) {
                            const std::string_view line(partial.data() + start, nl + 1 - start);
                            if (line.find(needle) != std::string_view::npos) env.out << line;
                          }
                          partial.erase(0, start);
                          env.out.flush();
                          return true;
                        });
  if (!s) {
    env.err << "acctl policy log: " << s.error().message << "\n";
    return kExitUsage;
  }
  return kExitOk;
}

struct Target {
  std::string name;
  uint16_t port = 443;
};

// NAME, NAME:PORT, [v6]:PORT or a URL; nullopt for something else.
std::optional<Target> parse_target(std::string text) {
  Target t;
  if (auto scheme = text.find("://"); scheme != std::string::npos) {
    const std::string s = text.substr(0, scheme);
    if (s != "http" && s != "https") return std::nullopt;
    t.port = s == "http" ? 80 : 443;
    text = text.substr(scheme + 3);
    text = text.substr(0, text.find_first_of("/?#"));
    if (auto at = text.rfind('@'); at != std::string::npos) text = text.substr(at + 1);
  }
  std::string host = text;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return std::nullopt;
      port = text.substr(close + 2);
    }
  } else if (auto colon = text.rfind(':'); colon != std::string::npos && text.find(':') == colon) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) return std::nullopt;
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    const int p = std::stoi(port);
    if (p < 1 || p > 65535) return std::nullopt;
    t.port = static_cast<uint16_t>(p);
  }
  t.name = host;
  return t;
}

int cmd_policy(const std::vector<std::string>& args, CliEnv& env) {
  Flags f;
  if (!parse_command_flags("policy", args, {"--output", "--follow"}, {"text", "json"}, f, env))
    return kExitUsage;
  const bool check =
      !f.positional.empty() && f.positional[0] == "check" && f.positional.size() == 3;
  const bool log = !f.positional.empty() && f.positional[0] == "log" && f.positional.size() == 2;
  if (!check && !log) {
    env.err << "acctl policy: usage: acctl policy check SANDBOX NAME[:PORT]|URL, or acctl "
               "policy log SANDBOX [-f]\n"
            << "Run 'acctl policy --help' for usage.\n";
    return kExitUsage;
  }
  if (log) {
    int status = kExitOk;
    auto set = load_instances(env, "policy log", status);
    if (!set) return kExitUsage;
    const Sandbox* s = set->model.find_sandbox(f.positional[1]);
    if (!s) {
      env.err << "acctl policy log: no Sandbox " << f.positional[1] << " in the manifests\n";
      return kExitUsage;
    }
    return policy_log(env, set->model, *s, f.follow);
  }
  const std::string& sandbox_name = f.positional[1];
  auto target = parse_target(f.positional[2]);
  if (!target) {
    env.err << "acctl policy check: \"" << f.positional[2]
            << "\" is not NAME, NAME:PORT or an http(s) URL\n";
    return kExitUsage;
  }
  int status = kExitOk;
  auto set = load_instances(env, "policy check", status);
  if (!set) return kExitUsage;
  const Model& model = set->model;
  const Sandbox* sandbox = model.find_sandbox(sandbox_name);
  if (!sandbox) {
    env.err << "acctl policy check: no Sandbox " << sandbox_name << " in the manifests\n";
    return kExitUsage;
  }
  const Host* host = model.find_host(sandbox->spec.host);
  if (!host) {
    env.err << "acctl policy check: Sandbox/" << sandbox_name << "'s Host " << sandbox->spec.host
            << " is not in the manifests\n";
    return kExitUsage;
  }

  json out = {{"sandbox", sandbox_name},
              {"host", host->meta.name},
              {"name", target->name},
              {"port", target->port}};
  std::vector<std::string> rules;  // what decided, in order
  std::string hint;
  bool allowed = false;
  if (host->spec.isolation != Isolation::kDind) {
    rules.push_back("Host/" + host->meta.name +
                    " is direct: its sandboxes have no gate and reach nothing outside their "
                    "internal network");
    hint = "run the Sandbox on a dind Host for egress through a gate";
  } else {
    auto gp = gate_policy_for(model, *host);
    if (!gp) {
      env.err << "acctl policy check: " << gp.error().message << "\n";
      return kExitUsage;
    }
    // The sandbox is compiled at a stand-in address: only its policy matters here.
    const std::string address = "192.0.2.1";
    auto compiled =
        gate::parse_gate_config(gate_config_text(*host, *gp, {{address, sandbox_name}}));
    if (auto* problems = std::get_if<std::vector<std::string>>(&compiled)) {
      env.err << "acctl policy check: the gate's config does not compile:";
      for (const std::string& p : *problems) env.err << " " << p << ";";
      env.err << "\n";
      return kExitUsage;
    }
    const gate::GateConfig& config = std::get<gate::GateConfig>(compiled);
    const gate::SandboxEntry* entry = config.sandbox(address);
    const gate::PolicySource source{entry->egress_policy, entry->blueprint};
    out["policy"] = source.egress_policy;
    if (!source.blueprint.empty()) out["blueprint"] = source.blueprint;
    const gate::EgressCheck check = gate::check_egress(config, address, target->name, target->port);
    allowed = check.allowed;
    rules = check.rules;
    hint = check.to_allow;
  }
  out["allowed"] = allowed;
  out["rules"] = rules;
  if (!hint.empty()) out["toAllow"] = hint;
  if (f.output == "json") {
    env.out << out.dump(2) << "\n";
  } else {
    env.out << (allowed ? "allow " : "deny ") << target->name << ":" << target->port
            << " for Sandbox/" << sandbox_name;
    if (out.contains("policy")) {
      env.out << " (EgressPolicy/" << out["policy"].get<std::string>();
      if (out.contains("blueprint"))
        env.out << " with Blueprint/" << out["blueprint"].get<std::string>() << "'s egress";
      env.out << ")";
    }
    env.out << "\n";
    for (const std::string& r : rules) env.out << "  " << r << "\n";
    if (!hint.empty()) env.out << "  to allow it: " << hint << "\n";
  }
  return allowed ? kExitOk : kExitInvalid;
}

}  // namespace

const Command kPolicy{cmd_policy, kPolicyHelp};

}  // namespace acctl::cli
