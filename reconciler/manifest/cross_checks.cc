// The checks of cross_checks.h.
#include "manifest/cross_checks.h"

#include <functional>
#include <set>
#include <vector>

#include "manifest/names.h"

namespace acctl {

namespace {

// Whether one folder is, contains or sits inside the other (relative, normalised paths).
bool overlaps(const std::string& a, const std::string& b) {
  auto inside = [](const std::string& x, const std::string& y) {
    return x.size() > y.size() && x.starts_with(y) && x[y.size()] == '/';
  };
  return a == b || inside(a, b) || inside(b, a);
}

// The host part of a githubHosts / gitlabHosts entry ("ghe.example.com:8443" → its name).
std::string host_name(const std::string& entry) {
  const size_t colon = entry.rfind(':');
  return colon == std::string::npos ? entry : entry.substr(0, colon);
}

using Report = std::function<void(const std::string& kind, const std::string& name,
                                  const std::string& pointer, std::string message)>;

// How a Sandbox's credentials reach git: each delivery needs what carries it out, and the
// fields that only one of them enforces are refused with the other.
void check_credentials(const Model& model, const Sandbox& s, const Report& report) {
  const std::string& name = s.meta.name;
  const std::string repositories = "/spec/git/repositories";
  struct Given {
    const char* provider;
    const CredentialSource* source;
  };
  std::vector<Given> given;
  if (s.spec.github) given.push_back({"github", &*s.spec.github});
  if (s.spec.gitlab) given.push_back({"gitlab", &*s.spec.gitlab});
  if (given.empty()) {
    if (!s.spec.git_repositories.empty())
      report("Sandbox", name, repositories,
             "git.repositories limits what the credentials reach, and this Sandbox has none "
             "(add credentials, or leave repositories out)");
    return;
  }
  // One delivery per Sandbox: its container is either the vault's (root start, secrets mount)
  // or the gate's client (the CA, placeholders), and gh cannot be both the vault's client and
  // the gate's.
  if (given.size() == 2 && given[0].source->delivery != given[1].source->delivery) {
    report("Sandbox", name, "/spec/credentials/gitlab/delivery",
           std::string("credentials.github is delivery: ") + to_string(given[0].source->delivery) +
               " and credentials.gitlab delivery: " + to_string(given[1].source->delivery) +
               "; the credentials of one Sandbox share one delivery (set the same on both)");
    return;
  }
  const CredentialDelivery delivery = given[0].source->delivery;
  const bool gate = delivery == CredentialDelivery::kGate;
  // Only a paranoid Blueprint's sandbox has init-guard (in the images acctl builds): the vault
  // needs it for its daemon, the gate for its CA in the sandbox's trust store and the
  // placeholders gh and glab take for a login; elsewhere a token could only be a variable the
  // agent reads.
  const Blueprint* b = model.find_blueprint(s.spec.blueprint);
  if (b && (b->spec.hardening != Hardening::kParanoid || !b->spec.image.empty())) {
    const std::string why = b->spec.hardening != Hardening::kParanoid
                                ? std::string(" is hardening: standard")
                                : " runs the prebuilt image " + b->spec.image;
    report("Sandbox", name, "/spec/credentials",
           gate ? "credentials delivered by the gate need a paranoid Blueprint, whose init-guard "
                  "puts the gate's CA in the sandbox's trust store, and Blueprint/" +
                      b->meta.name + why +
                      ", which has none (use a paranoid Blueprint, or leave credentials out)"
                : "credentials need the vault of a paranoid Blueprint, and Blueprint/" +
                      b->meta.name + why +
                      ", which has none; acctl never hands a token over as a plain variable (use "
                      "a paranoid Blueprint, or leave credentials out)");
  }
  if (!gate) {
    if (!s.spec.git_repositories.empty())
      report("Sandbox", name, repositories,
             std::string("git.repositories is enforced by the gate: use delivery: gate "
                         "(credentials.") +
                 given[0].provider +
                 " is delivery: vault, and the vault cannot tell "
                 "repositories apart)");
    return;
  }
  const Host* h = model.find_host(s.spec.host);
  if (h && h->spec.isolation != Isolation::kDind) {
    for (const Given& g : given) {
      report("Sandbox", name, std::string("/spec/credentials/") + g.provider + "/delivery",
             std::string("credentials.") + g.provider +
                 " is delivered by the gate (delivery: gate, the default), and Host/" +
                 h->meta.name +
                 " is isolation: direct, which has no gate: use delivery: vault, or a dind Host");
    }
  }
  // The gate terminates TLS for these hosts and gives each one credential.
  std::map<std::string, std::string> credential_of;  // host name → provider
  for (const Given& g : given) {
    const bool github = std::string(g.provider) == "github";
    const std::vector<std::string>& hosts = github ? s.spec.github_hosts : s.spec.gitlab_hosts;
    const std::string list = github ? "githubHosts" : "gitlabHosts";
    if (hosts.empty()) {
      report("Sandbox", name, "/spec/git/" + list,
             std::string("credentials.") + g.provider + " goes through the gate to git." + list +
                 ", and that list is empty: name its hosts, or leave the credential out");
    }
    for (size_t i = 0; i < hosts.size(); ++i) {
      auto [it, inserted] = credential_of.emplace(host_name(hosts[i]), g.provider);
      if (!inserted && it->second != g.provider) {
        report("Sandbox", name, "/spec/git/" + list + "/" + std::to_string(i),
               host_name(hosts[i]) +
                   " is in git.githubHosts too: the gate gives each host one "
                   "credential; name it in one list");
      }
    }
  }
}

}  // namespace

void check_across_documents(
    const Model& model,
    const std::map<std::pair<std::string, std::string>, const Document*>& documents,
    const ManifestOptions& options, Diagnostics& out) {
  auto report = [&](const std::string& kind, const std::string& name, const std::string& pointer,
                    std::string message) {
    auto it = documents.find({kind, name});
    if (it == documents.end()) return;
    const Document& d = *it->second;
    out.add(d.file, d.value_pos(pointer), d.subject(), std::move(message));
  };
  // A workspace is its Sandbox's alone: one inside another's (or around it, or another
  // instance's private folders) would let that agent swap the folder for a symlink before the
  // next apply hands it to uid 1000.
  for (const Sandbox& s : model.sandboxes) {
    for (const Sandbox& t : model.sandboxes) {
      const std::string instance = "instances/" + t.meta.name;
      std::string clash;
      if (&s != &t && overlaps(s.spec.workspace, t.spec.workspace)) {
        clash = "Sandbox/" + t.meta.name + "'s workspace " + t.spec.workspace;
      } else {
        for (const char* part : {"/home", "/secrets"}) {
          if (overlaps(s.spec.workspace, instance + part))
            clash = "Sandbox/" + t.meta.name + "'s " + (part + 1) + " folder " + instance + part;
        }
        if (clash.empty() && &s != &t && s.spec.workspace.starts_with(instance + "/"))
          clash = "the instance folder of Sandbox/" + t.meta.name;
      }
      if (clash.empty()) continue;
      report("Sandbox", s.meta.name, "/spec/workspace/path",
             "workspace " + s.spec.workspace + " overlaps " + clash +
                 ": each Sandbox needs a folder of its own");
      break;
    }
  }
  for (const Sandbox& s : model.sandboxes) check_credentials(model, s, report);
  for (const Host& h : model.hosts) {
    if (h.spec.isolation != Isolation::kDind) continue;
    const std::string& name = h.meta.name;
    const std::string engine = h.spec.engine.empty() ? options.default_engine : h.spec.engine;
    if (!engine.empty() && !engine.starts_with("unix://")) {
      report("Host", name, h.spec.engine.empty() ? "/spec/isolation" : "/spec/engine",
             "a dind Host's engine must be on this machine (a unix:// address), because acctl "
             "reaches the nested engine through a socket folder it bind-mounts into the host "
             "container; " +
                 engine + (h.spec.engine.empty() ? " comes from $DOCKER_HOST" : "") +
                 " (use isolation: direct for a remote engine)");
    }
    if (!options.state_dir.empty()) {
      const std::string socket = host_paths(options.state_dir, name).socket();
      if (socket.size() > kMaxSocketPath) {
        report(
            "Host", name, "/metadata/name",
            "the nested engine's socket " + socket + " would be " + std::to_string(socket.size()) +
                " bytes, longer than a unix socket path may be (" + std::to_string(kMaxSocketPath) +
                "); set ACCTL_HOME to a shorter folder or give the Host a shorter name");
      }
    }
    // The gate never dials the sandbox network: an allowCIDRs entry that reaches into it would
    // be a promise the gate does not keep (it denies those addresses whatever the policy says).
    {
      std::set<std::string> used;
      for (const Sandbox& s : model.sandboxes)
        if (s.spec.host == name) used.insert(s.spec.egress_policy);
      if (used.empty()) used.insert("default");
      for (const std::string& pname : used) {
        const EgressPolicy* p = model.find_policy(pname);
        if (!p) continue;
        for (size_t i = 0; i < p->spec.allow_cidrs.size(); ++i) {
          const netpolicy::Cidr& c = p->spec.allow_cidrs[i];
          if (!c.covers(h.spec.subnet) && !h.spec.subnet.covers(c)) continue;
          report("EgressPolicy", pname, "/spec/allowCIDRs/" + std::to_string(i),
                 "allowCIDRs " + c.str() + " overlaps the sandbox network " + h.spec.subnet.str() +
                     " of Host/" + name + ": the gate never dials sandboxes or itself; remove it");
        }
      }
    }
    // Each Sandbox has its own policy at the gate, but the gate has one resolver: the
    // EgressPolicies of one Host's Sandboxes must agree on dns.upstreams.
    const Sandbox* first = nullptr;
    std::vector<std::string> first_upstreams;
    auto upstreams_of = [&](const Sandbox& s) {
      std::vector<std::string> out;
      if (const EgressPolicy* p = model.find_policy(s.spec.egress_policy))
        for (const Endpoint& e : p->spec.dns_upstreams)
          out.push_back(e.ip.str() + "#" + std::to_string(e.port));
      return out;
    };
    for (const Sandbox& s : model.sandboxes) {
      if (s.spec.host != name || !model.find_policy(s.spec.egress_policy)) continue;
      if (!first) {
        first = &s;
        first_upstreams = upstreams_of(s);
        continue;
      }
      if (upstreams_of(s) != first_upstreams) {
        report("Sandbox", s.meta.name, "/spec/egressPolicy",
               "Host/" + name + "'s gate has one resolver, so its Sandboxes' EgressPolicies " +
                   "must agree on dns.upstreams: Sandbox/" + first->meta.name + " uses " +
                   first->spec.egress_policy + ", Sandbox/" + s.meta.name + " uses " +
                   s.spec.egress_policy + " (give them the same dns.upstreams)");
      }
    }
  }
}

}  // namespace acctl
