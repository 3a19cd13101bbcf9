// Planning: match desired and observed objects by name, decide create/update/replace/delete.
#include "converge/plan.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "manifest/quantity.h"

namespace acctl {
namespace {

std::string cpus_text(int64_t nano) {
  if (nano == 0) return "unlimited";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(nano) / 1e9);
  return buf;
}

std::string bytes_text(int64_t bytes) {
  return bytes == 0 ? "unlimited" : format_size(bytes);
}
std::string pids_text(int64_t pids) {
  return pids <= 0 ? "unlimited" : std::to_string(pids);
}

// Which parts of the spec differ, from the per-field hashes in the labels.
std::vector<std::string> changed_fields(const DesiredObject& want, const ObservedObject& have) {
  auto it = have.labels.find(kLabelSpecFields);
  std::map<std::string, std::string> old = it == have.labels.end()
                                               ? std::map<std::string, std::string>{}
                                               : parse_field_hashes(it->second);
  std::vector<std::string> out;
  for (const auto& [field, hash] : want.field_hashes) {
    auto o = old.find(field);
    if (o == old.end() || o->second != hash) out.push_back(field);
  }
  for (const auto& [field, hash] : old) {
    if (!want.field_hashes.count(field)) out.push_back(field);
  }
  if (out.empty()) out.push_back("spec");
  return out;
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

std::string owner_of(const ObservedObject& o) {
  auto kind = o.labels.find(kLabelKind);
  auto name = o.labels.find(kLabelName);
  if (kind == o.labels.end() || name == o.labels.end()) return "";
  return kind->second + "/" + name->second;
}

std::string host_of(const ObservedObject& o) {
  auto it = o.labels.find(kLabelHost);
  return it == o.labels.end() ? "" : it->second;
}

}  // namespace

const char* to_string(ActionType t) {
  switch (t) {
    case ActionType::kDelete:
      return "delete";
    case ActionType::kCreate:
      return "create";
    case ActionType::kUpdate:
      return "update";
    case ActionType::kStart:
      return "start";
  }
  return "?";
}

std::vector<std::string> describe_live_change(const LiveLimits& from, const LiveLimits& to) {
  std::vector<std::string> out;
  if (from.nano_cpus != to.nano_cpus)
    out.push_back("cpus " + cpus_text(from.nano_cpus) + " → " + cpus_text(to.nano_cpus));
  if (from.memory != to.memory)
    out.push_back("memory " + bytes_text(from.memory) + " → " + bytes_text(to.memory));
  if (from.pids != to.pids)
    out.push_back("pids " + pids_text(from.pids) + " → " + pids_text(to.pids));
  return out;
}

Plan plan_changes(const DesiredState& desired, const ObservedState& observed,
                  const PlanOptions& options) {
  Plan plan;
  std::map<std::pair<ObjectType, std::string>, const ObservedObject*> have;
  for (const ObservedObject& o : observed.objects) have[{o.type, o.name}] = &o;
  std::set<std::pair<ObjectType, std::string>> wanted;

  std::vector<Action> deletes, creates, changes;
  std::set<std::string> replaced_networks;
  auto replace = [&](const DesiredObject& d, const ObservedObject& o,
                     std::vector<std::string> reasons) {
    deletes.push_back({ActionType::kDelete,
                       d.type,
                       d.name,
                       d.owner,
                       d.host,
                       true,
                       reasons,
                       std::nullopt,
                       o.id,
                       {}});
    creates.push_back({ActionType::kCreate,
                       d.type,
                       d.name,
                       d.owner,
                       d.host,
                       true,
                       std::move(reasons),
                       d,
                       "",
                       {}});
    if (d.type == ObjectType::kNetwork) replaced_networks.insert(d.name);
  };
  // Networks and volumes first, so a replaced network can cascade to its containers.
  std::vector<const DesiredObject*> ordered;
  for (const DesiredObject& d : desired.objects) {
    if (d.type != ObjectType::kContainer) ordered.push_back(&d);
  }
  for (const DesiredObject& d : desired.objects) {
    if (d.type == ObjectType::kContainer) ordered.push_back(&d);
  }
  for (const DesiredObject* dp : ordered) {
    const DesiredObject& d = *dp;
    wanted.insert({d.type, d.name});
    auto it = have.find({d.type, d.name});
    if (it == have.end()) {
      if (observed.unmanaged_names.count(d.name)) {
        plan.errors.push_back(d.owner + ": a " + std::string(to_string(d.type)) + " named \"" +
                              d.name + "\" exists but acctl does not manage it (no " +
                              kLabelManagedBy + " label); rename or remove it yourself");
        continue;
      }
      creates.push_back(
          {ActionType::kCreate, d.type, d.name, d.owner, d.host, false, {}, d, "", {}});
      continue;
    }
    const ObservedObject& o = *it->second;
    auto hash = o.labels.find(kLabelSpecHash);
    std::vector<std::string> reasons;
    if (hash == o.labels.end() || hash->second != d.spec_hash) {
      reasons.push_back(join(changed_fields(d, o), ", ") + " changed");
    } else if (d.type == ObjectType::kContainer) {
      for (const std::string& dep : d.depends_on) {
        if (replaced_networks.count(dep)) reasons.push_back("network " + dep + " is replaced");
      }
      auto image = observed.image_ids.find(d.container.image);
      if (image != observed.image_ids.end() && !image->second.empty() && !o.image_id.empty() &&
          image->second != o.image_id) {
        reasons.push_back("image " + d.container.image + " was rebuilt");
      }
    }
    if (!reasons.empty()) {
      replace(d, o, std::move(reasons));
      continue;
    }
    if (d.type == ObjectType::kContainer) {
      auto live = describe_live_change(o.live, d.live);
      if (!live.empty()) {
        if (d.container.host_config.runtime == "runsc" && o.state == "running") {
          live.push_back("restarts it if runsc cannot change limits live");
        }
        changes.push_back(
            {ActionType::kUpdate, d.type, d.name, d.owner, d.host, false, live, d, o.id, {}});
        continue;
      }
      // A container left "created" by an interrupted apply, or stopped by hand while it
      // should run, is started again; a finished headless run is left alone.
      if (o.state == "created" ||
          (d.keep_running && o.state != "running" && o.state != "restarting")) {
        changes.push_back({ActionType::kStart,
                           d.type,
                           d.name,
                           d.owner,
                           d.host,
                           false,
                           {"found " + o.state},
                           d,
                           o.id,
                           {}});
        continue;
      }
    }
    ++plan.in_sync;
  }
  if (options.prune) {
    for (const ObservedObject& o : observed.objects) {
      if (wanted.count({o.type, o.name}) || !options.prune_hosts.count(host_of(o))) continue;
      deletes.push_back({ActionType::kDelete,
                         o.type,
                         o.name,
                         owner_of(o),
                         host_of(o),
                         false,
                         {"not in the manifests"},
                         std::nullopt,
                         o.id,
                         {}});
    }
  }

  std::set<std::string> missing;
  for (const Action& a : creates) {
    if (a.object != ObjectType::kContainer) continue;
    auto it = observed.image_ids.find(a.desired->container.image);
    if (it != observed.image_ids.end() && it->second.empty()) {
      missing.insert(a.owner + ": image \"" + a.desired->container.image +
                     "\" is not on the engine (build or import it first; no registry is used)");
    }
  }
  plan.errors.insert(plan.errors.end(), missing.begin(), missing.end());

  // Order: deletes (containers before networks and volumes), then creates (networks and
  // volumes before containers), then in-place changes; within a group by type and name, so
  // the text is the same on every run.
  auto rank = [](const Action& a, bool creating) {
    int r = a.object == ObjectType::kContainer ? 0 : a.object == ObjectType::kVolume ? 1 : 2;
    return std::make_pair(creating ? 2 - r : r, a.name);
  };
  std::sort(deletes.begin(), deletes.end(),
            [&](const Action& a, const Action& b) { return rank(a, false) < rank(b, false); });
  std::sort(creates.begin(), creates.end(),
            [&](const Action& a, const Action& b) { return rank(a, true) < rank(b, true); });
  std::sort(changes.begin(), changes.end(),
            [&](const Action& a, const Action& b) { return rank(a, true) < rank(b, true); });
  for (auto* group : {&deletes, &creates, &changes}) {
    for (Action& a : *group) plan.actions.push_back(std::move(a));
  }

  // Dependencies: networks and volumes are deleted after the container deletions of their
  // host; anything is created after the deletion of its old self and after what it depends on.
  std::map<std::string, size_t> created_at, deleted_at;
  for (size_t i = 0; i < plan.actions.size(); ++i) {
    const Action& a = plan.actions[i];
    if (a.type == ActionType::kCreate) created_at[a.name] = i;
    if (a.type == ActionType::kDelete) deleted_at[a.name] = i;
  }
  for (size_t i = 0; i < plan.actions.size(); ++i) {
    Action& a = plan.actions[i];
    if (a.type == ActionType::kDelete && a.object != ObjectType::kContainer) {
      for (size_t j = 0; j < i; ++j) {
        const Action& b = plan.actions[j];
        if (b.type == ActionType::kDelete && b.object == ObjectType::kContainer && b.host == a.host)
          a.after.push_back(j);
      }
    }
    if (a.type == ActionType::kCreate) {
      if (auto d = deleted_at.find(a.name); d != deleted_at.end()) a.after.push_back(d->second);
      for (const std::string& dep : a.desired->depends_on) {
        if (auto c = created_at.find(dep); c != created_at.end()) a.after.push_back(c->second);
      }
    }
  }
  return plan;
}

std::string Plan::text() const {
  std::string out;
  size_t created = 0, updated = 0, replaced = 0, deleted = 0, started = 0;
  for (const Action& a : actions) {
    // A replacement shows once, at its creation half.
    if (a.type == ActionType::kDelete && a.replacing) continue;
    const char* sign = "";
    const char* verb = to_string(a.type);
    switch (a.type) {
      case ActionType::kCreate:
        sign = a.replacing ? "-/+" : "+  ";
        verb = a.replacing ? "replace" : "create";
        ++(a.replacing ? replaced : created);
        break;
      case ActionType::kDelete:
        sign = "-  ";
        ++deleted;
        break;
      case ActionType::kUpdate:
        sign = "~  ";
        ++updated;
        break;
      case ActionType::kStart:
        sign = ">  ";
        ++started;
        break;
    }
    char head[160];
    std::snprintf(head, sizeof head, "%s %-7s %-9s %s", sign, verb, to_string(a.object),
                  a.name.c_str());
    out += head;
    if (!a.owner.empty()) out += " (" + a.owner + ")";
    if (!a.reasons.empty()) {
      out += a.replacing ? " because " : ": ";
      out += join(a.reasons, ", ");
    }
    out += "\n";
  }
  for (const std::string& e : errors) out += "error: " + e + "\n";
  char summary[200];
  std::snprintf(summary, sizeof summary,
                "Plan: %zu to create, %zu to update in place, %zu to replace, %zu to delete, %zu "
                "to start; %zu in sync.\n",
                created, updated, replaced, deleted, started, in_sync);
  out += summary;
  return out;
}

}  // namespace acctl
