// The checks of cross_checks.h.
#include "manifest/cross_checks.h"

#include "manifest/names.h"

namespace acctl {

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
    // One gate per Host, so one EgressPolicy for all its Sandboxes.
    const Sandbox* first = nullptr;
    for (const Sandbox& s : model.sandboxes) {
      if (s.spec.host != name) continue;
      if (!first) {
        first = &s;
        continue;
      }
      if (s.spec.egress_policy != first->spec.egress_policy) {
        report("Sandbox", s.meta.name, "/spec/egressPolicy",
               "Host/" + name + " has one gate, so its Sandboxes must share one EgressPolicy: " +
                   "Sandbox/" + first->meta.name + " uses " + first->spec.egress_policy +
                   ", Sandbox/" + s.meta.name + " uses " + s.spec.egress_policy);
      }
    }
    if (!first && !model.find_policy("default") && model.policies.size() != 1) {
      report("Host", name, "/metadata/name",
             "Host/" + name + " needs an EgressPolicy for its gate: define one named \"default\"" +
                 (model.policies.empty() ? "" : " (there are several, and none is)"));
    }
  }
}

}  // namespace acctl
