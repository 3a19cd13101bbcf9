// Images without a registry: the imported Debian base image and one built image per Blueprint.
//
// The base image (Host.spec.baseImage, default acctl/debian:bookworm) is imported from a
// debootstrap root filesystem that images/rootfs.sh bootstraps once and caches. A Blueprint's
// image is built FROM it through the engine's build API, with a build context acctl writes
// itself (a deterministic tar), so the context's hash says whether the image is current.
//
// Scope of this step: for both hardening levels the image is the base image plus the
// Blueprint's install step, the `agent` user (uid 1000) and run.sh as entrypoint. The layers only
// paranoid Blueprints get (init-guard as entrypoint, the vault, the connect() hook) are added by
// the runtime work that builds those binaries; until then paranoid and standard images are alike.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine_api.h"
#include "manifest/model.h"
#include "manifest/names.h"

namespace acctl {

// Where a Blueprint's files live inside its image.
inline constexpr const char* kBlueprintDirInImage = "/opt/acctl/blueprint";

// One file of a build context: read from `source`, or `content` when source is empty.
struct ContextFile {
  std::string path;  // inside the tar: relative, '/'-separated, no "." or ".." parts
  std::string source;
  std::string content;
  int mode = 0644;  // permission bits only
};

// Writes the files as a tar (pax where a name needs it, ustar otherwise) that depends only on
// the paths, contents and modes: entries sorted by path, parent folders added, fixed mtime,
// owner root. The same files give the same bytes, so context_hash can tell whether an image is
// current. Errors: bad or duplicate paths, unreadable sources.
engine::Result<std::string> build_context_tar(const std::vector<ContextFile>& files);

// 16 hex digits (the project's 64-bit FNV-1a, short_hash): change detection, not security.
std::string context_hash(const std::string& tar);

// --- Base image --------------------------------------------------------------------------------

// Makes (or finds cached) a rootfs tarball for a Debian suite and returns its path; `refresh`
// bootstraps again even when cached. Progress gets what it does.
using RootfsBootstrap = std::function<engine::Result<std::string>(
    const std::string& suite, bool refresh, const engine::ProgressFn& progress)>;

// Runs <project_root>/images/rootfs.sh --suite SUITE [--cache cache_dir] [--refresh].
RootfsBootstrap rootfs_script(const std::string& project_root, const std::string& cache_dir = "");

struct BaseImage {
  std::string reference;
  std::string id;
  bool imported = false;  // false: the engine had it already
};

// The Debian suite an acctl base image reference stands for ("acctl/debian:bookworm" →
// "bookworm"); "" for any other reference, which acctl cannot make (it never pulls).
std::string suite_of_base_image(const std::string& reference);

// Ensures the engine has `reference`: if not, bootstraps the rootfs and imports it with labels
// ac.managed-by=acctl, ac.kind=Image, ac.name=debian-<suite> and CMD ["/bin/bash"]. A missing image
// that is not acctl/debian:<suite> is an error naming the reference (no registry to pull from).
// `refresh` bootstraps and imports again even when the image is there (acctl's own only).
engine::Result<BaseImage> ensure_base_image(engine::EngineApi& engine, const std::string& reference,
                                            const RootfsBootstrap& bootstrap, bool refresh,
                                            const engine::ProgressFn& progress);

// --- Blueprint images --------------------------------------------------------------------------

// The generated Dockerfile: FROM base (the agent base image, which has the user agent, uid
// 1000, home /home/agent); the install and run scripts in /opt/acctl/blueprint; the install
// script run as root with the build's network (so it may apt-get or npm-install its own
// packages); setuid and setgid bits stripped from whatever it installed; ENV from the
// Blueprint; WORKDIR /workspace; USER agent; ENTRYPOINT run.sh (a Sandbox's args are its CMD).
// Errors: env names or values a Dockerfile cannot carry.
engine::Result<std::string> blueprint_dockerfile(const Blueprint& blueprint,
                                                 const std::string& base_image);

// The whole build context: the Dockerfile plus the install and run scripts, as ContextFiles.
engine::Result<std::vector<ContextFile>> blueprint_context(const Blueprint& blueprint,
                                                           const std::string& base_image);

// An image acctl builds from files it gathers: the build context and how to label it.
struct ImageRecipe {
  std::string tag;
  std::string kind;  // ac.kind label: "Blueprint", "Image"
  std::string name;  // ac.name label
  std::vector<ContextFile> files;
  std::map<std::string, std::string> build_args;
};

// A recipe with its build context written out: the tar bytes and their hash, made once so that
// planning (is the image current?) and building use the same bytes.
struct PreparedImage {
  ImageRecipe recipe;
  std::shared_ptr<const std::string> context;  // the tar
  std::string context_hash;
};
engine::Result<PreparedImage> prepare_image(ImageRecipe recipe);

// The ac.spec-hash of an image built from `prepared` FROM the image with id `base_id`.
std::string image_spec_hash(const PreparedImage& prepared, const std::string& base_id);

// Builds `prepared` with the labels ac.managed-by, ac.kind, ac.name and ac.spec-hash, without
// asking whether it is current; -> the image id. The image the tag named before (`previous_id`, may
// be empty) is removed unless something uses it.
engine::Result<std::string> build_prepared_image(engine::EngineApi& engine,
                                                 const PreparedImage& prepared,
                                                 const std::string& base_id, bool no_cache,
                                                 const std::string& previous_id,
                                                 const engine::ProgressFn& progress);

struct BuiltImage {
  std::string tag;
  std::string id;
  std::string spec_hash;  // the ac.spec-hash label: context hash + base image id + build args
  bool built = false;     // false: an image with this spec hash was there already
};

// Builds the recipe FROM base_image unless the tag already carries the same ac.spec-hash.
// Labels: ac.managed-by=acctl, ac.kind, ac.name, ac.spec-hash. The base image must exist.
engine::Result<BuiltImage> build_context_image(engine::EngineApi& engine, const ImageRecipe& recipe,
                                               const std::string& base_image, bool no_cache,
                                               const engine::ProgressFn& progress);

// The images of a sandbox host (images/README.md): the host container's (Debian + docker.io +
// runsc + nftables + the entrypoint; context images/host/) and the gate's (ac-gate compiled in
// a build stage from the project's CMakeLists.txt and runtime/; Dockerfile images/gate/).
engine::Result<ImageRecipe> host_image_recipe(const std::string& project_root,
                                              const std::string& base_image);
// The image every Blueprint's is built FROM (images/agent-base/ FROM base_image), with the
// Host's extra CA certificates as ca/NN-<name>.crt.
engine::Result<ImageRecipe> agent_base_image_recipe(const std::string& project_root,
                                                    const std::string& base_image,
                                                    const std::vector<std::string>& ca_files);
engine::Result<ImageRecipe> gate_image_recipe(const std::string& project_root,
                                              const std::string& base_image);
// A Blueprint's image (blueprint_context, tagged blueprint_image_tag).
engine::Result<ImageRecipe> blueprint_image_recipe(const Blueprint& blueprint,
                                                   const std::string& base_image);

struct BlueprintBuildOptions {
  bool no_cache = false;  // build even when the image is current, without the engine's cache
};

using BlueprintImage = BuiltImage;

// Builds the Blueprint's image unless the tag already carries the same ac.spec-hash (the hash
// of the build context and the base image's id). Labels: ac.managed-by=acctl,
// ac.kind=Blueprint, ac.name=<name>, ac.spec-hash. The base image must exist (ensure_base_image).
// A failing step's error carries the engine's message and the last lines the step printed.
// The image the tag pointed to before is removed when nothing uses it.
engine::Result<BlueprintImage> build_blueprint_image(engine::EngineApi& engine,
                                                     const Blueprint& blueprint,
                                                     const std::string& base_image,
                                                     const BlueprintBuildOptions& options,
                                                     const engine::ProgressFn& progress);

}  // namespace acctl
