// Observation of managed engine objects by label, with container inspection in parallel.
#include "converge/observe.h"

#include <mutex>
#include <set>

#include "common/parallel.h"
#include "engine/deadline.h"

namespace acctl {
namespace {

constexpr std::chrono::milliseconds kInspectTimeout{5000};

}  // namespace

engine::Result<ObservedState> observe(engine::EngineApi& api, const DesiredState& desired,
                                      int parallel) {
  ObservedState out;
  const engine::Filters managed = {
      {"label", {std::string(kLabelManagedBy) + "=" + kManagedByValue}}};

  auto found_object = [&](ObjectType type, const std::string& id, const std::string& name,
                          const engine::Labels& labels) {
    ObservedObject o;
    o.type = type;
    o.id = id;
    o.name = name;
    o.labels = labels;
    out.objects.push_back(std::move(o));
  };
  auto networks = api.list_networks(managed);
  if (!networks) return networks.error();
  for (const engine::NetworkInfo& n : *networks)
    found_object(ObjectType::kNetwork, n.id, n.name, n.labels);
  auto volumes = api.list_volumes(managed);
  if (!volumes) return volumes.error();
  for (const engine::VolumeInfo& v : *volumes)
    found_object(ObjectType::kVolume, v.name, v.name, v.labels);
  auto containers = api.list_containers(managed, /*all=*/true);
  if (!containers) return containers.error();

  // Live limits and the image id only show in an inspect; one per container, in parallel.
  std::vector<ObservedObject> found(containers->size());
  std::vector<std::optional<engine::Error>> errors(containers->size());
  // Inspects are cheap for the engine; more of them at once bound the wait on stuck ones.
  const unsigned workers =
      std::max(1, std::min<int>(std::max(parallel, 16), static_cast<int>(containers->size())));
  parallel_for(containers->size(), workers, [&](unsigned, size_t i) {
    const engine::ContainerSummary& c = (*containers)[i];
    // A container dockerd holds (a sandbox whose start never returned) must not stall the
    // whole observation: it is reported, the others are read.
    engine::CallTimeout bound(kInspectTimeout);
    auto info = api.inspect_container(c.id);
    if (!info) {
      // Removed between the list and the inspect: it is simply gone.
      if (!info.not_found()) errors[i] = info.error();
      return;
    }
    ObservedObject& o = found[i];
    o.type = ObjectType::kContainer;
    o.id = info->id;
    o.name = info->name;
    o.labels = info->config.labels;
    o.state = info->state.status;
    o.live = {info->host_config.nano_cpus, info->host_config.memory, info->host_config.pids_limit};
    o.image_id = info->image;
    for (const auto& [net, ep] : info->networks) {
      if (!ep.ip_address.empty()) o.addresses[net] = ep.ip_address;
    }
  });
  for (size_t i = 0; i < found.size(); ++i) {
    if (errors[i] && errors[i]->timed_out) {
      // Listed but not inspected in time: report it, and go on with the others.
      const engine::ContainerSummary& c = (*containers)[i];
      ObservedObject o;
      o.type = ObjectType::kContainer;
      o.id = c.id;
      o.name = c.names.empty() ? c.id : c.names[0];
      o.labels = c.labels;
      o.state = c.state;
      o.stuck = "the engine did not answer an inspect of container " + o.name + " in time (" +
                errors[i]->message + "); it is listed as " + c.state +
                ", and dockerd may be holding it (see docker ps, and the engine's log)";
      out.objects.push_back(std::move(o));
      continue;
    }
    if (errors[i]) return *errors[i];
    if (!found[i].id.empty()) out.objects.push_back(std::move(found[i]));
  }

  // Names the manifests want that no managed object has: is something else sitting there?
  std::set<std::pair<ObjectType, std::string>> have;
  for (const ObservedObject& o : out.objects) have.insert({o.type, o.name});
  std::set<std::string> images;
  for (const DesiredObject& d : desired.objects) {
    if (d.type == ObjectType::kContainer) images.insert(d.container.image);
    if (d.type == ObjectType::kImage) {
      images.insert(d.name);
      if (d.image.source == ImageSource::kBuild) images.insert(d.image.base);
    }
    if (d.type == ObjectType::kContainer && d.address &&
        out.addresses_in_use.try_emplace(d.address->network).second) {
      // Every address on the network is taken, whoever holds it.
      auto n = api.inspect_network(d.address->network);
      if (!n && !n.not_found()) return n.error();
      if (n) {
        for (const auto& [id, cidr] : n->containers) {
          out.addresses_in_use[d.address->network].insert(cidr.substr(0, cidr.find('/')));
        }
      }
    }
    if (d.type != ObjectType::kNetwork && d.type != ObjectType::kVolume &&
        d.type != ObjectType::kContainer)
      continue;
    if (have.count({d.type, d.name})) continue;
    bool exists = false;
    if (d.type == ObjectType::kContainer) {
      auto r = api.inspect_container(d.name);
      if (!r && !r.not_found()) return r.error();
      exists = r.ok();
    } else if (d.type == ObjectType::kNetwork) {
      auto r = api.inspect_network(d.name);
      if (!r && !r.not_found()) return r.error();
      // Network lookups by name also match id prefixes; only an exact name is a conflict.
      exists = r.ok() && r->name == d.name;
    } else {
      auto r = api.inspect_volume(d.name);
      if (!r && !r.not_found()) return r.error();
      exists = r.ok();
    }
    if (exists) out.unmanaged_names.insert(d.name);
  }
  for (const std::string& image : images) {
    auto r = api.inspect_image(image);
    if (!r && !r.not_found()) return r.error();
    out.image_ids[image] = r.ok() ? r->id : "";
    if (r.ok()) out.image_labels[image] = r->labels;
  }
  return out;
}

}  // namespace acctl
