// Planning: match desired and observed objects by name, decide create/update/replace/delete.
#include "converge/plan.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <tuple>

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
    case ActionType::kImport:
      return "import";
    case ActionType::kBuild:
      return "build";
    case ActionType::kCopy:
      return "copy";
    case ActionType::kWait:
      return "wait";
    case ActionType::kWrite:
      return "write";
    case ActionType::kReload:
      return "reload";
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

namespace {

// What the plan does to images: an action per import or build, and one copy per source engine.
struct ImagePlan {
  std::vector<Action> actions;
  std::set<std::string> made;  // tags imported or built here: a new id, not known yet
  std::map<std::string, std::string> copied;  // tag → the id it will have ("" = not known yet)
};

std::string base_note(const std::string& base) {
  return "base image " + base + " is made first";
}

ImagePlan plan_images(const DesiredState& desired, const ObservedState& observed,
                      const PlanOptions& options, std::vector<std::string>& errors,
                      size_t& in_sync) {
  ImagePlan out;
  auto id_of = [&](const std::string& tag) {
    auto it = observed.image_ids.find(tag);
    return it == observed.image_ids.end() ? std::string() : it->second;
  };
  std::map<std::string, Action> copies;  // by source engine
  for (const DesiredObject& d : desired.objects) {
    if (d.type != ObjectType::kImage) continue;
    const DesiredImage& img = d.image;
    Action a;
    a.object = ObjectType::kImage;
    a.name = d.name;
    a.owner = d.owner;
    a.host = d.host;
    a.desired = d;
    a.observed_id = id_of(d.name);
    switch (img.source) {
      case ImageSource::kImport:
        if (!a.observed_id.empty()) {
          ++in_sync;
          continue;
        }
        a.type = ActionType::kImport;
        a.reasons = {"not on the engine (from the Debian " + img.suite + " rootfs)"};
        out.made.insert(d.name);
        break;
      case ImageSource::kBuild: {
        const std::string base_id = id_of(img.base);
        if (out.made.count(img.base) || observed.pending_images.count(img.base)) {
          a.reasons = {base_note(img.base)};
        } else if (base_id.empty()) {
          errors.push_back(d.owner + ": image " + d.name + " is built FROM " + img.base +
                           ", which is not on the engine and acctl cannot pull it (no registry): "
                           "load it into the engine yourself, or use acctl/debian:<suite>");
          continue;
        } else if (a.observed_id.empty()) {
          a.reasons = {"not on the engine"};
        } else {
          auto labels = observed.image_labels.find(d.name);
          std::string have;
          if (labels != observed.image_labels.end()) {
            auto h = labels->second.find(kLabelSpecHash);
            if (h != labels->second.end()) have = h->second;
          }
          if (have == image_spec_hash(*img.prepared, base_id)) {
            if (!options.rebuild.count(d.name)) {
              ++in_sync;
              continue;
            }
            a.reasons = {"asked for (--build: without the layer cache)"};
            a.no_cache = true;
          } else {
            a.reasons = {"build context or base image changed"};
          }
        }
        a.type = ActionType::kBuild;
        out.made.insert(d.name);
        break;
      }
      case ImageSource::kCopy: {
        auto src = observed.source_image_ids.find(d.name);
        const std::string source_id = src == observed.source_image_ids.end() ? "" : src->second;
        std::string reason;
        if (observed.pending_images.count(d.name) || source_id.empty()) {
          reason = "made first on the Host's engine";
        } else if (a.observed_id.empty()) {
          reason = "not here yet";
        } else if (a.observed_id != source_id) {
          reason = "differs from the Host's engine's";
        } else {
          ++in_sync;
          continue;
        }
        out.copied[d.name] = observed.pending_images.count(d.name) ? "" : source_id;
        auto [it, fresh] = copies.try_emplace(img.from_engine, a);
        Action& c = it->second;
        if (fresh) {
          c.type = ActionType::kCopy;
          c.from_engine = img.from_engine;
          c.observed_id.clear();
          c.reasons.clear();
        }
        c.images.push_back(d.name);
        c.reasons.push_back(d.name + ": " + reason);
        continue;
      }
    }
    out.actions.push_back(std::move(a));
  }
  for (auto& [from, c] : copies) {
    std::string names;
    for (const std::string& t : c.images) names += (names.empty() ? "" : ", ") + t;
    c.name = names;
    // One reason for all of them when they share it: "made first on the Host's engine".
    std::set<std::string> why;
    for (size_t i = 0; i < c.images.size(); ++i)
      why.insert(c.reasons[i].substr(c.images[i].size() + 2));
    if (why.size() == 1) c.reasons = {*why.begin()};
    out.actions.push_back(std::move(c));
  }
  return out;
}

}  // namespace

bool prunes(const ObservedObject& o, bool wanted, const PlanOptions& options) {
  return options.prune && !wanted && options.prune_hosts.count(host_of(o)) &&
         (options.prune_only.empty() || options.prune_only.count(o.name));
}

Plan plan_changes(const DesiredState& desired, const ObservedState& observed,
                  const PlanOptions& options) {
  Plan plan;
  std::map<std::pair<ObjectType, std::string>, const ObservedObject*> have;
  for (const ObservedObject& o : observed.objects) have[{o.type, o.name}] = &o;
  std::set<std::pair<ObjectType, std::string>> wanted;

  ImagePlan images = plan_images(desired, observed, options, plan.errors, plan.in_sync);
  std::vector<Action> deletes, creates, changes, writes, reloads, waits;
  std::set<std::string> replaced_networks;
  std::set<std::string> recreated;  // containers created or replaced by this plan
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
    if (d.type == ObjectType::kContainer) recreated.insert(d.name);
  };
  // Networks and volumes first, so a replaced network can cascade to its containers.
  std::vector<const DesiredObject*> ordered;
  for (const DesiredObject& d : desired.objects) {
    if (d.type == ObjectType::kNetwork || d.type == ObjectType::kVolume) ordered.push_back(&d);
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
      if (d.type == ObjectType::kContainer) recreated.insert(d.name);
      continue;
    }
    const ObservedObject& o = *it->second;
    if (!o.stuck.empty()) {
      plan.errors.push_back(d.owner + ": " + o.stuck);
      continue;
    }
    auto hash = o.labels.find(kLabelSpecHash);
    std::vector<std::string> reasons;
    if (hash == o.labels.end() || hash->second != d.spec_hash) {
      reasons.push_back(join(changed_fields(d, o), ", ") + " changed");
    } else if (d.type == ObjectType::kContainer) {
      for (const std::string& dep : d.depends_on) {
        if (replaced_networks.count(dep)) reasons.push_back("network " + dep + " is replaced");
      }
      const std::string& tag = d.container.image;
      auto copied = images.copied.find(tag);
      if (images.made.count(tag) || (copied != images.copied.end() && copied->second.empty())) {
        reasons.push_back("image " + tag + " is rebuilt");
      } else {
        std::string want_id;
        if (copied != images.copied.end()) {
          want_id = copied->second;
        } else if (auto image = observed.image_ids.find(tag); image != observed.image_ids.end()) {
          want_id = image->second;
        }
        if (!want_id.empty() && !o.image_id.empty() && want_id != o.image_id)
          reasons.push_back("image " + tag + " was rebuilt");
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
        // A run of a finished instance with new limits: the limits, then the run.
        if ((o.state == "exited" || o.state == "dead") && options.start_again.count(d.name)) {
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
        }
        continue;
      }
      // A container left "created" by an interrupted apply, or stopped by hand while it
      // should run, is started again; a finished headless run is left alone.
      const bool finished = o.state == "exited" || o.state == "dead";
      if (o.state == "created" ||
          (d.keep_running && o.state != "running" && o.state != "restarting") ||
          (finished && options.start_again.count(d.name))) {
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
  for (const ObservedObject& o : observed.objects) {
    if (prunes(o, wanted.count({o.type, o.name}) > 0, options)) {
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

  // Files acctl writes, and the gates that re-read them.
  for (const DesiredObject& d : desired.objects) {
    if (d.type != ObjectType::kFile) continue;
    auto f = observed.files.find(d.file.path);
    const bool missing = f == observed.files.end() || !f->second;
    if (!missing && *f->second == d.file.content) {
      ++plan.in_sync;
      continue;
    }
    std::vector<std::string> why = {"not written yet"};
    if (!missing && d.file.explain) why = d.file.explain(*f->second);
    Action w{ActionType::kWrite, ObjectType::kFile, d.name, d.owner, d.host, false, why, d, "", {}};
    writes.push_back(w);
    if (d.file.reload_container.empty() || recreated.count(d.file.reload_container)) continue;
    auto gate = have.find({ObjectType::kContainer, d.file.reload_container});
    // A gate that is not running reads the file when it starts.
    if (gate == have.end() || gate->second->state != "running") continue;
    // One reload per gate, after every file it re-reads (its config, a sandbox's token).
    auto same = std::find_if(reloads.begin(), reloads.end(),
                             [&](const Action& r) { return r.name == d.file.reload_container; });
    if (same != reloads.end()) {
      for (const std::string& reason : why) {
        if (std::find(same->reasons.begin(), same->reasons.end(), reason) == same->reasons.end())
          same->reasons.push_back(reason);
      }
      continue;
    }
    Action r{ActionType::kReload,
             ObjectType::kGate,
             d.file.reload_container,
             d.owner,
             d.host,
             false,
             why,
             d,
             gate->second->id,
             {}};
    reloads.push_back(r);
  }
  // Nested engines that do not answer yet, or whose host container this plan makes or starts
  // again (the engine that answered is going away): their stage waits for them.
  std::set<std::string> restarted = recreated;
  for (const Action& a : changes)
    if (a.type == ActionType::kStart) restarted.insert(a.name);
  for (const DesiredObject& d : desired.objects) {
    if (d.type != ObjectType::kEngine) continue;
    auto ready = observed.engines_ready.find(d.nested.endpoint);
    const bool host_restarts =
        std::any_of(d.depends_on.begin(), d.depends_on.end(),
                    [&](const std::string& c) { return restarted.count(c); });
    const bool answered = ready != observed.engines_ready.end() && ready->second;
    if (answered && !host_restarts) {
      ++plan.in_sync;
      continue;
    }
    waits.push_back({ActionType::kWait,
                     ObjectType::kEngine,
                     d.name,
                     d.owner,
                     d.host,
                     false,
                     {answered ? "restarting with its host container" : "not answering yet"},
                     d,
                     "",
                     {}});
  }

  std::set<std::string> missing;
  for (const Action& a : creates) {
    if (a.object != ObjectType::kContainer) continue;
    const std::string& tag = a.desired->container.image;
    if (images.made.count(tag) || images.copied.count(tag)) continue;
    auto it = observed.image_ids.find(tag);
    if (it != observed.image_ids.end() && it->second.empty()) {
      missing.insert(a.owner + ": image \"" + tag +
                     "\" is not on the engine (build or import it first; no registry is used)");
    }
  }
  plan.errors.insert(plan.errors.end(), missing.begin(), missing.end());

  // Order: images, files and the reloads they cause, deletes (containers before networks and
  // volumes), creates (networks and volumes before containers), in-place changes, waits; within
  // a group by type and name, so the text is the same on every run.
  auto rank = [](const Action& a, bool creating) {
    int r = a.object == ObjectType::kContainer ? 0 : a.object == ObjectType::kVolume ? 1 : 2;
    return std::make_pair(creating ? 2 - r : r, a.name);
  };
  auto by_name = [](const Action& a, const Action& b) {
    return std::tie(a.type, a.name) < std::tie(b.type, b.name);
  };
  std::sort(images.actions.begin(), images.actions.end(), by_name);
  std::sort(deletes.begin(), deletes.end(),
            [&](const Action& a, const Action& b) { return rank(a, false) < rank(b, false); });
  std::sort(creates.begin(), creates.end(),
            [&](const Action& a, const Action& b) { return rank(a, true) < rank(b, true); });
  std::sort(changes.begin(), changes.end(),
            [&](const Action& a, const Action& b) { return rank(a, true) < rank(b, true); });
  std::sort(writes.begin(), writes.end(), by_name);
  std::sort(reloads.begin(), reloads.end(), by_name);
  std::sort(waits.begin(), waits.end(), by_name);
  for (auto* group : {&images.actions, &writes, &reloads, &deletes, &creates, &changes, &waits}) {
    for (Action& a : *group) plan.actions.push_back(std::move(a));
  }

  // Dependencies: networks and volumes are deleted after the container deletions of their
  // host; anything is made after the deletion of its old self and after what it depends on (an
  // image, a file, a network); a build after its base; a reload after its file; a wait after
  // its host container is created or started.
  std::map<std::string, size_t> made_at, deleted_at, reloaded_at, updated_at;
  for (size_t i = 0; i < plan.actions.size(); ++i) {
    const Action& a = plan.actions[i];
    switch (a.type) {
      case ActionType::kReload:
        reloaded_at[a.name] = i;
        break;
      case ActionType::kUpdate:
        updated_at[a.name] = i;
        break;
      case ActionType::kCreate:
      case ActionType::kImport:
      case ActionType::kBuild:
      case ActionType::kWrite:
        made_at[a.name] = i;
        break;
      case ActionType::kCopy:
        for (const std::string& tag : a.images) made_at[tag] = i;
        break;
      case ActionType::kDelete:
        deleted_at[a.name] = i;
        break;
      default:
        break;
    }
  }
  auto after_made = [&](Action& a, const std::string& name) {
    if (auto c = made_at.find(name); c != made_at.end()) a.after.push_back(c->second);
  };
  for (size_t i = 0; i < plan.actions.size(); ++i) {
    Action& a = plan.actions[i];
    switch (a.type) {
      case ActionType::kDelete:
        if (a.object == ObjectType::kContainer) break;
        for (size_t j = 0; j < i; ++j) {
          const Action& b = plan.actions[j];
          if (b.type == ActionType::kDelete && b.object == ObjectType::kContainer &&
              b.host == a.host)
            a.after.push_back(j);
        }
        break;
      case ActionType::kCreate:
        if (auto d = deleted_at.find(a.name); d != deleted_at.end()) a.after.push_back(d->second);
        for (const std::string& dep : a.desired->depends_on) {
          after_made(a, dep);
          // A gate that re-reads its config knows a new sandbox before the sandbox starts.
          if (auto r = reloaded_at.find(dep); r != reloaded_at.end()) a.after.push_back(r->second);
        }
        if (a.object == ObjectType::kContainer) after_made(a, a.desired->container.image);
        break;
      case ActionType::kBuild:
        after_made(a, a.desired->image.base);
        break;
      case ActionType::kReload:
        for (size_t j = 0; j < plan.actions.size(); ++j) {
          const Action& w = plan.actions[j];
          if (w.type == ActionType::kWrite && w.desired->file.reload_container == a.name)
            a.after.push_back(j);
        }
        break;
      case ActionType::kStart:
        if (auto u = updated_at.find(a.name); u != updated_at.end()) a.after.push_back(u->second);
        break;
      case ActionType::kWait:
        for (size_t j = 0; j < i; ++j) {
          const Action& b = plan.actions[j];
          if (b.object == ObjectType::kContainer && b.name == a.desired->nested.host_container &&
              b.type != ActionType::kDelete)
            a.after.push_back(j);
        }
        break;
      default:
        break;
    }
    std::sort(a.after.begin(), a.after.end());
    a.after.erase(std::unique(a.after.begin(), a.after.end()), a.after.end());
  }
  return plan;
}

std::set<std::string> Plan::images_made() const {
  std::set<std::string> out;
  for (const Action& a : actions) {
    if (a.type == ActionType::kImport || a.type == ActionType::kBuild) out.insert(a.name);
    if (a.type == ActionType::kCopy) out.insert(a.images.begin(), a.images.end());
  }
  return out;
}

std::string Plan::text() const {
  std::string out;
  size_t created = 0, updated = 0, replaced = 0, deleted = 0, started = 0;
  size_t built = 0, copied = 0, written = 0, reloaded = 0, waited = 0;
  for (const Action& a : actions) {
    // A replacement shows once, at its creation half.
    if (a.type == ActionType::kDelete && a.replacing) continue;
    const char* sign = "";
    const char* verb = to_string(a.type);
    std::string name = a.name;
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
      case ActionType::kImport:
      case ActionType::kBuild:
        sign = "+  ";
        ++built;
        break;
      case ActionType::kCopy:
        sign = "+  ";
        copied += a.images.size();
        break;
      case ActionType::kWrite:
        sign = a.reasons == std::vector<std::string>{"not written yet"} ? "+  " : "~  ";
        name = a.desired->file.label;
        ++written;
        break;
      case ActionType::kReload:
        sign = "~  ";
        ++reloaded;
        break;
      case ActionType::kWait:
        sign = ">  ";
        name = a.desired->nested.host_container;
        ++waited;
        break;
    }
    char head[160];
    std::snprintf(head, sizeof head, "%s %-7s %-9s %s", sign, verb, to_string(a.object),
                  name.c_str());
    out += head;
    if (!a.owner.empty()) out += " (" + a.owner + ")";
    if (!a.reasons.empty()) {
      out += a.replacing ? " because " : ": ";
      out += a.type == ActionType::kWait ? "its nested engine is " + join(a.reasons, ", ")
                                         : join(a.reasons, ", ");
    }
    out += "\n";
  }
  for (const std::string& e : errors) out += "error: " + e + "\n";
  char summary[200];
  std::snprintf(summary, sizeof summary,
                "Plan: %zu to create, %zu to update in place, %zu to replace, %zu to delete, %zu "
                "to start",
                created, updated, replaced, deleted, started);
  out += summary;
  // Steps beyond engine objects are named only when there are some, so a plan of engine
  // objects alone reads as it always has.
  auto extra = [&](size_t n, const char* one, const char* many) {
    if (n) out += ", " + std::to_string(n) + " " + (n == 1 ? one : many);
  };
  extra(built, "image to build", "images to build");
  extra(copied, "image to copy", "images to copy");
  extra(written, "file to write", "files to write");
  extra(reloaded, "gate to reload", "gates to reload");
  extra(waited, "engine to wait for", "engines to wait for");
  out += "; " + std::to_string(in_sync) + " in sync.\n";
  return out;
}

}  // namespace acctl
