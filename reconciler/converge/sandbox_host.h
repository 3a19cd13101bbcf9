// The sandbox host of a `dind` Host: a host container on the user's engine running a nested
// engine, and inside that engine the sandbox network, the egress network and the gate.
//
//   outer engine:  volume ac-dind-data-<host>        the nested engine's /var/lib/docker
//                  container ac-dind-host-<host>      runc, every capability the kernel grants,
//                                                     entrypoint images/host/entrypoint.sh
//   nested engine: network ac-net-<host>              internal, bridge acsb0, Host.spec.subnet
//                  network ac-egress-<host>           the gate's way out
//                  container ac-gate-<host>           at Host.spec.gateIP, policy from a file
//                  containers ac-sb-<sandbox>         runsc, DNS pointing at the gate, at an
//                                                     address acctl assigns (addresses.h)
//
// acctl reaches the nested engine through a unix socket in a machine folder bind-mounted into
// the host container (HostPaths). The gate's policy is a file in that folder too: a change is
// written and the gate reloads it on SIGHUP, without a restart.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "converge/desired.h"
#include "manifest/model.h"

namespace acctl {

// What the machine lets a container have. --privileged fails where the kernel's bounding set
// lacks a capability (DESIGN.md: CAP_SYS_RESOURCE here), so the host container then gets every
// capability the bounding set holds instead.
struct HostPrivileges {
  bool privileged = false;
  std::vector<std::string> capabilities;  // "SYS_ADMIN", … when not privileged
  std::vector<std::string> missing;       // what the bounding set lacks
};
// From a CapBnd hex mask (as in /proc/self/status) and the kernel's last capability number.
HostPrivileges privileges_from_mask(uint64_t bounding, int last_cap);
// Reads this process's bounding set: acctl runs on the machine whose engine it drives.
HostPrivileges detect_privileges();

// The outer engine's objects of a dind Host: its base image (when acctl makes it), the host
// image, the volume, the host container, the gate's and the Blueprints' images (built here and
// copied in), and the nested engine that must answer before the rest is converged. A rebuilt
// host image replaces the host container. `gpus`: a Sandbox of the Host asks for GPUs, so the
// host container gets them all to hand on. Errors: a build context that cannot be read.
Result<std::vector<DesiredObject>> render_host_outer(
    const Host& host, const HostPrivileges& privileges, const std::string& state_dir,
    const std::string& project_root, const std::vector<const Blueprint*>& blueprints, bool gpus);

// The CA of a dind Host's gate, which mints the leaves of the credential hosts whose TLS the
// gate terminates, and which those sandboxes trust.
struct GateCa {
  std::string cert_pem;
  std::string key_pem;
};
// The pair in the Host's gate/tls/ when both files are there, byte for byte (a CA is never made
// again: sandboxes trust it, and diff stays in sync); otherwise a new one, "acctl gate CA for
// Host/NAME", valid 10 years. A Host that goes down loses it with its run folder, and its next
// start makes another. Errors: a file that cannot be read, OpenSSL failing.
Result<GateCa> gate_ca_for(const Host& host, const std::string& state_dir);

// The nested engine's own objects of a dind Host: the images copied in, the two networks, the
// resolver file, the gate's config file (filled in by finish_render), its CA (`ca`: the key
// 0600, the certificate 0644) and copies of the Host's trust.caFiles in gate/trust/, and the
// gate; their `engine` is the nested engine's endpoint. Errors: a trust file that cannot be
// read.
Result<std::vector<DesiredObject>> render_host_nested(const Host& host,
                                                      const std::string& state_dir,
                                                      const std::vector<std::string>& images,
                                                      const GateCa& ca);

// What the host container's entrypoint reports in host.json once the nested engine is ready.
struct HostReport {
  bool ready = false;
  std::string runsc_network;  // "sandbox" or "host"
  std::string reason;         // why that network mode
  std::string platform;
  bool debug = false;
  std::string runsc_version;
  std::string docker_version;
  std::string started;
};
std::optional<HostReport> read_host_report(const HostPaths& paths);

}  // namespace acctl
