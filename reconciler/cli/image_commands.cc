// The image commands: build.
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "cli/command_support.h"
#include "images/image_build.h"

namespace acctl::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kBuildHelp =
    R"(Usage: acctl build BLUEPRINT [--base] [--no-cache] [-f MANIFEST] [-o text|json]
                   [--blueprints DIR] [--engine ADDRESS]

Builds the image of a project Blueprint (DIR/BLUEPRINT/blueprint.yaml) on the engine without a
registry, in three layers of images:
  acctl/debian:bookworm      made when the engine lacks it: Debian is bootstrapped once into
                             /var/cache/acctl/rootfs (about a minute; needs root and
                             debootstrap) and imported
  acctl/agent-base:latest    git, gh, curl, build tools, python3, tmux, Node.js and npm (from the
                             npm registry), the user agent (uid 1000), the Host's CA files
  acctl/blueprint-BLUEPRINT  the Blueprint's install script, run as root with network access;
                             the user agent runs its run script
The Host is the first of -f MANIFEST (default: $ACCTL_MANIFESTS, else manifests/quickstart.yaml):
its baseImage and trust.caFiles. An image whose build context and base are unchanged is not
built again.

Options:
  --base              make the base image afresh too (bootstrap Debian again, re-import)
  -f, --filename PATH the manifests whose first Host gives the base image and CA files
  --no-cache          build even when the image is current, without the engine's layer cache
  -o, --output FMT    text (default: the build's steps) or json (progress lines, then a result)
  --blueprints DIR    the project's blueprints (default: the checkout's blueprints/)
  --engine ADDRESS    the engine (default: $DOCKER_HOST, else unix:///var/run/docker.sock)

Exit status: 0 built or already current, 2 error (unknown Blueprint, engine unreachable,
failed bootstrap or build step; the message carries what the step printed).
)";

int cmd_build(const std::vector<std::string>& args, CliEnv& env) {
  // --base and --no-cache are this command's own switches; the rest is the common parser's.
  bool refresh_base = false, no_cache = false;
  std::vector<std::string> rest;
  for (const std::string& a : args) {
    if (a == "--base") {
      refresh_base = true;
    } else if (a == "--no-cache") {
      no_cache = true;
    } else {
      rest.push_back(a);
    }
  }
  Flags f;
  if (auto e = parse_flags(rest, 1, f, {"--output", "--blueprints", "--engine", "--filename"});
      !e.empty()) {
    env.err << "acctl build: " << e << "\nRun 'acctl build --help' for usage.\n";
    return kExitUsage;
  }
  if (f.output.empty()) f.output = "text";
  if (f.output != "text" && f.output != "json") {
    env.err << "acctl build: --output must be text or json, not " << f.output << "\n";
    return kExitUsage;
  }
  if (f.positional.size() != 1) {
    env.err << "acctl build: name one Blueprint, e.g. acctl build pi\n";
    return kExitUsage;
  }
  const std::string name = f.positional[0];
  const std::string dir = f.blueprints.empty() ? default_blueprints_dir(env) : f.blueprints;
  const fs::path file = fs::path(dir) / name / "blueprint.yaml";
  std::error_code ec;
  if (name.find('/') != std::string::npos || name.starts_with(".") ||
      !fs::is_regular_file(file, ec)) {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (fs::is_regular_file(e.path() / "blueprint.yaml", ec)) names.insert(e.path().filename());
    }
    std::string have;
    for (const std::string& n : names) have += " " + n;
    env.err << "acctl build: no Blueprint " << name << " in " << dir
            << (have.empty() ? "" : " (there are:" + have + ")") << "\n";
    return kExitUsage;
  }
  ManifestOptions options;
  options.blueprints_dir = dir;
  ManifestSet set = load_manifests({file.string()}, env.in, options);
  if (!set.ok()) {
    for (const Diagnostic& d : set.diagnostics.sorted()) env.err << d.str() << "\n";
    return kExitUsage;
  }
  const Blueprint* bp = set.model.find_blueprint(name);
  if (!bp) {
    env.err << "acctl build: " << file.string() << " does not define Blueprint " << name << "\n";
    return kExitUsage;
  }

  // The Host decides the base image and the CAs the agent base image trusts: the first Host
  // of -f, else of the manifests start would use.
  std::string base_image = kDefaultBaseImage;
  std::vector<std::string> ca_files;
  {
    Flags hf;
    hf.files = f.files;
    if (hf.files.empty()) {
      if (auto m = system_of(env).env("ACCTL_MANIFESTS")) {
        hf.files = {*m};
      } else if (fs::exists(project_root(env) + "/manifests/quickstart.yaml", ec)) {
        hf.files = {project_root(env) + "/manifests/quickstart.yaml"};
      }
    }
    if (!hf.files.empty()) {
      int status = kExitOk;
      auto hosts = load_checked(hf, env, "build", status);
      if (!hosts) return kExitUsage;
      if (!hosts->model.hosts.empty()) {
        base_image = hosts->model.hosts.front().spec.base_image;
        ca_files = hosts->model.hosts.front().spec.ca_files;
      }
    }
  }

  engine::EngineOptions eo = engine_options(env, f.engine);
  auto api = connect(env, eo);
  if (!api) {
    env.err << "acctl build: " << api.error().message << "\n";
    return kExitUsage;
  }
  const bool json_out = f.output == "json";
  auto progress = [&](const engine::ProgressLine& line) {
    if (json_out) {
      env.out << (line.json.empty() ? json{{"status", line.text}}.dump() : line.json) << "\n";
    } else if (!line.text.empty()) {
      env.out << line.text << (line.text.back() == '\n' ? "" : "\n");
    }
    env.out.flush();
  };
  const auto start = std::chrono::steady_clock::now();
  // The project root holds images/rootfs.sh next to blueprints/.
  const std::string project = fs::absolute(dir).lexically_normal().parent_path().string();
  auto base = ensure_base_image(**api, base_image, rootfs_script(project), refresh_base, progress);
  if (!base) {
    env.err << "acctl build: " << base.error().message << "\n";
    return kExitUsage;
  }
  auto agent_base =
      build_context_image(**api, *agent_base_image_recipe(project, base->reference, ca_files),
                          base->reference, no_cache, progress);
  if (!agent_base) {
    env.err << "acctl build: " << agent_base.error().message << "\n";
    return kExitUsage;
  }
  auto image = build_blueprint_image(**api, *bp, kAgentBaseImage, {.no_cache = no_cache}, progress);
  if (!image) {
    env.err << "acctl build: " << image.error().message << "\n";
    return kExitUsage;
  }
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  if (json_out) {
    env.out << json{{"blueprint", name},
                    {"image", image->tag},
                    {"id", image->id},
                    {"specHash", image->spec_hash},
                    {"built", image->built},
                    {"baseImage", base->reference},
                    {"baseImported", base->imported},
                    {"seconds", took.count() / 1000.0}}
                   .dump()
            << "\n";
  } else {
    env.out << image->tag << (image->built ? " built" : " is current") << " in "
            << seconds_text(took) << " (" << image->id.substr(0, 19) << ", spec hash "
            << image->spec_hash << ")\n";
  }
  return kExitOk;
}

}  // namespace

const Command kBuild{cmd_build, kBuildHelp};

}  // namespace acctl::cli
