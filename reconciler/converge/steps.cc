// The steps: engine objects (create, update, replace, start, delete), images, files, reloads
// and waits, each one engine call or a short sequence of them.
#include "converge/steps.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/files.h"
#include "common/private_dir.h"
#include "images/image_copy.h"
#include "manifest/quantity.h"

namespace acctl {
namespace {

namespace fs = std::filesystem;

// The uid and gid the agent runs as inside every sandbox image (the image's "agent" user).
constexpr uid_t kAgentUid = 1000;
constexpr gid_t kAgentGid = 1000;

// Creates the workspace folder and makes it private (0700) to the agent. Everything from the
// state folder's instances/ down is created and opened without following symlinks: an agent
// that owns an instance folder could otherwise plant a symlink that hands a folder of the
// machine's to its uid. Only root can give the folder to the agent's uid; another user keeps it
// as their own.
engine::Status make_workspace(const std::string& dir) {
  const fs::path path = fs::path(dir).lexically_normal();
  fs::path base, relative;
  bool below = false;
  for (const fs::path& part : path) {
    if (!below && part == "instances") below = true;
    (below ? relative : base) /= part;
  }
  if (!below) {  // not in an instances/ folder: only the last part is the agent's
    base = path.parent_path();
    relative = path.filename();
  }
  std::error_code ec;
  fs::create_directories(base, ec);
  if (ec) return engine::Error{0, "cannot create " + base.string() + ": " + ec.message()};
  std::optional<PrivateDirOwner> owner;
  if (::geteuid() == 0) owner = PrivateDirOwner{kAgentUid, kAgentGid};
  auto fd = make_private_dir(base.string(), relative.string(), owner);
  if (!fd) return fd.error().within("workspace");
  return engine::ok_status();
}

// Whether an engine object's labels say acctl made it from exactly this desired spec.
bool is_same_managed(const engine::Labels& labels, const DesiredObject& d) {
  auto managed = labels.find(kLabelManagedBy);
  auto hash = labels.find(kLabelSpecHash);
  return managed != labels.end() && managed->second == kManagedByValue && hash != labels.end() &&
         hash->second == d.spec_hash;
}

// Joins the networks beyond the one the container was created on. An endpoint that is already
// there (a previous, interrupted apply got this far) is what we want.
engine::Status join_extra_networks(engine::EngineApi& api, const std::string& id,
                                   const engine::ContainerSpec& spec) {
  for (const std::string& network : spec.extra_networks) {
    auto r = api.connect_network(network, id, "", {});
    if (!r && !(r.error().status == 403 &&
                r.error().message.find("already exists") != std::string::npos)) {
      return r;
    }
  }
  return engine::ok_status();
}

engine::Status run_engine_action(engine::EngineApi& api, const Action& a,
                                 int stop_timeout_seconds) {
  switch (a.type) {
    case ActionType::kDelete:
      if (a.object == ObjectType::kContainer) {
        auto stop = api.stop_container(a.observed_id, stop_timeout_seconds);
        if (!stop && !stop.not_found() && stop.error().status != 304) return stop;
        auto r = api.remove_container(a.observed_id, /*force=*/true, /*volumes=*/false);
        return r || r.not_found() ? engine::ok_status() : r;
      }
      if (a.object == ObjectType::kNetwork) {
        auto r = api.remove_network(a.observed_id);
        return r || r.not_found() ? engine::ok_status() : r;
      }
      {
        auto r = api.remove_volume(a.observed_id, /*force=*/false);
        return r || r.not_found() ? engine::ok_status() : r;
      }
    case ActionType::kCreate:
      if (a.object == ObjectType::kNetwork) {
        auto r = api.create_network(a.desired->network);
        if (r || !r.error().conflict()) return r ? engine::ok_status() : engine::Status(r.error());
        // Created meanwhile (a killed acctl's request the engine finished late): same spec is fine.
        auto n = api.inspect_network(a.name);
        return n && is_same_managed(n->labels, *a.desired) ? engine::ok_status()
                                                           : engine::Status(r.error());
      }
      if (a.object == ObjectType::kVolume) {
        auto r = api.create_volume(a.desired->volume);
        return r ? engine::ok_status() : engine::Status(r.error());
      }
      {
        for (const std::string* dir : {&a.desired->workspace_dir, &a.desired->home_dir}) {
          if (dir->empty()) continue;
          if (auto w = make_workspace(*dir); !w) return w;
        }
        auto id = api.create_container(a.desired->container);
        if (!id && id.error().conflict()) {
          // The name was taken after we looked: by a request of a killed acctl that the engine
          // completed late, or by someone else. Adopt our own identical container, replace our
          // own stale one, and never touch anything we do not manage.
          auto existing = api.inspect_container(a.name);
          if (existing && is_same_managed(existing->config.labels, *a.desired)) {
            if (auto j = join_extra_networks(api, existing->id, a.desired->container); !j) return j;
            auto start = api.start_container(existing->id);
            return start || start.error().status == 304 ? engine::ok_status() : start;
          }
          if (existing && existing->config.labels.count(kLabelManagedBy) &&
              existing->config.labels.at(kLabelManagedBy) == kManagedByValue) {
            if (auto rm = api.remove_container(existing->id, true, false); !rm && !rm.not_found())
              return rm;
            id = api.create_container(a.desired->container);
          }
        }
        if (!id) return id.error();
        if (auto j = join_extra_networks(api, *id, a.desired->container); !j) return j;
        auto start = api.start_container(*id);
        return start || start.error().status == 304 ? engine::ok_status() : start;
      }
    case ActionType::kUpdate: {
      engine::ResourceUpdate u;
      u.nano_cpus = a.desired->live.nano_cpus;
      u.memory = a.desired->live.memory;
      // Swap follows memory (no swap beyond the limit); the engine wants both when memory changes.
      u.memory_swap = a.desired->live.memory > 0 ? a.desired->live.memory : -1;
      u.pids_limit = a.desired->live.pids > 0 ? a.desired->live.pids : -1;
      auto live = api.update_resources(a.observed_id, u);
      if (live || a.desired->container.host_config.runtime != "runsc") return live;
      // runsc (Debian's 20221219; gVisor issue 9554) has no "update" command, so the engine
      // cannot change a running sandbox's limits and rolls the change back. A stopped container
      // takes the update: stop, update, start keeps the container (same id) and its workspace.
      auto info = api.inspect_container(a.observed_id);
      if (!info) return live;
      // It stopped meanwhile (a short headless run): a stopped container takes the update.
      if (!info->state.running) return api.update_resources(a.observed_id, u);
      if (auto stop = api.stop_container(a.observed_id, stop_timeout_seconds); !stop) return stop;
      if (auto again = api.update_resources(a.observed_id, u); !again) return again;
      return api.start_container(a.observed_id);
    }
    case ActionType::kStart: {
      if (a.desired) {
        if (auto j = join_extra_networks(api, a.observed_id, a.desired->container); !j) return j;
      }
      auto r = api.start_container(a.observed_id);
      return r || r.error().status == 304 ? engine::ok_status() : r;  // 304: already running
    }
    default:
      break;
  }
  return engine::Error{0, std::string("not an engine object action: ") + to_string(a.type)};
}

std::string seconds_text(std::chrono::milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms.count()) / 1000.0);
  return buf;
}

}  // namespace

Result<std::string> EngineObjectSteps::run(const Action& action,
                                           const std::function<void(const std::string&)>&) {
  auto r = run_engine_action(engine_, action, stop_timeout_seconds_);
  if (!r) return r.error();
  return std::string();
}

Result<std::string> ConvergeSteps::run(const Action& a,
                                       const std::function<void(const std::string&)>& progress) {
  engine::EngineApi& api = *context_.engine;
  auto lines = [&](const engine::ProgressLine& line) {
    if (!line.text.empty()) progress(line.text);
  };
  switch (a.type) {
    case ActionType::kImport: {
      auto base = ensure_base_image(api, a.name, context_.bootstrap, false, lines);
      if (!base) return base.error();
      return base->imported ? "imported " + base->id.substr(0, 19) : std::string("was there");
    }
    case ActionType::kBuild: {
      const DesiredImage& img = a.desired->image;
      auto base = api.inspect_image(img.base);
      if (!base) return base.error().within("base image " + img.base);
      auto id =
          build_prepared_image(api, *img.prepared, base->id, a.no_cache, a.observed_id, lines);
      if (!id) return id.error();
      return id->substr(0, 19);
    }
    case ActionType::kCopy: {
      engine::EngineApi* from = context_.host_engine ? context_.host_engine(a.host) : nullptr;
      if (!from) return Error{0, "the engine of Host/" + a.host + " is not connected"};
      const auto start = context_.system->now();
      auto copied =
          copy_images(*from, api, a.images, host_paths(context_.state_dir, a.host).image_scratch());
      if (!copied) return copied.error();
      if (copied->tags.empty()) return std::string("already there");
      const std::string took = seconds_text(
          std::chrono::duration_cast<std::chrono::milliseconds>(context_.system->now() - start));
      if (copied->layers_left_out == 0) return human_size(copied->bytes) + " in " + took;
      // Shared layers (the agent base image's) cross once: say what moved, and what did not.
      return "moved " + human_size(copied->bytes) + " of " + human_size(copied->bytes_read) +
             " in " + took + ", " + std::to_string(copied->layers_left_out) +
             " shared layers left out";
    }
    case ActionType::kWrite: {
      const DesiredFile& file = a.desired->file;
      if (!file.private_base.empty()) {
        // The base is acctl's own (the state folder, a Host's gate/ folder): made as any of
        // acctl's folders when missing; below it nothing is followed.
        std::error_code ec;
        fs::create_directories(file.private_base, ec);
        if (ec) return Error{0, "cannot create " + file.private_base + ": " + ec.message()};
        auto dir = make_private_dir(file.private_base, file.private_folder, PrivateDirOwner{0, 0});
        if (!dir) return dir.error();
      }
      auto w = write_file_atomically(file.path, file.content, file.mode);
      if (!w) return w.error();
      return std::string();
    }
    case ActionType::kReload: {
      auto k = api.kill_container(a.observed_id, "HUP");
      if (!k) return k.error().within("reloading the gate");
      return std::string("re-read its config");
    }
    case ActionType::kWait:
      return wait_for_engine(a, progress);
    default:
      return objects_.run(a, progress);
  }
}

Result<std::string> ConvergeSteps::wait_for_engine(
    const Action& a, const std::function<void(const std::string&)>& progress) {
  const DesiredEngine& nested = a.desired->nested;
  const HostPaths paths = host_paths(context_.state_dir, nested.host);
  const System& sys = *context_.system;
  engine::EngineApi& outer = *context_.engine;
  while (true) {
    auto report = read_host_report(paths);
    if (report && report->ready && context_.connect(nested.endpoint)) {
      // How gVisor's network was set up, and why: worth saying on a first start.
      return "Docker " + report->docker_version + ", runsc network " + report->runsc_network +
             (report->reason.empty() ? "" : " (" + report->reason + ")");
    }
    auto info = outer.inspect_container(nested.host_container);
    if (info && !info->state.running) {
      std::string tail;
      engine::LogOptions lo;
      lo.tail = "15";
      (void)outer.logs(info->id, lo, [&](engine::LogStream, std::string_view b) {
        tail.append(b);
        return true;
      });
      return Error{0, "the host container " + nested.host_container + " is " + info->state.status +
                          " (exit code " + std::to_string(info->state.exit_code) +
                          "); its last lines:\n" + tail};
    }
    if (sys.now() >= context_.deadline) {
      return Error{0, "the nested engine of Host/" + nested.host + " was not ready after " +
                          seconds_text(context_.wait_timeout) + " (see: acctl logs host)"};
    }
    sys.sleep_for(std::chrono::milliseconds(250));
  }
}

}  // namespace acctl
