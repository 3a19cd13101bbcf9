// Images without a registry: deterministic build contexts (libarchive), the imported base image,
// and Blueprint images built through the engine's build API.
#include "images/image_build.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "common/hash.h"

namespace acctl {

namespace fs = std::filesystem;
using engine::Error;
using engine::Result;

namespace {

// Every entry's mtime: a constant, so the bytes depend on content only (2000-01-01T00:00:00Z).
constexpr time_t kContextMtime = 946684800;

// Relative, '/'-separated, without empty, "." or ".." parts, and short enough for any engine.
bool valid_context_path(const std::string& p) {
  if (p.empty() || p.size() > 1024 || p.front() == '/' || p.back() == '/') return false;
  std::stringstream parts(p);
  std::string part;
  while (std::getline(parts, part, '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return p.find('\0') == std::string::npos;
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{0, "cannot read " + path};
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return Error{0, "error reading " + path};
  return bytes.str();
}

la_ssize_t append_to_string(struct archive*, void* client, const void* buffer, size_t length) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

struct ArchiveFree {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A JSON string literal (for the exec form of ENTRYPOINT).
std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

bool valid_env_name(const std::string& name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

// A double-quoted Dockerfile ENV value: no variable expansion, quotes and backslashes kept.
std::string env_value(const std::string& v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\' || c == '$') out += '\\';
    out += c;
  }
  return out + "\"";
}

// The path of a Blueprint's script inside the build context (and, under kBlueprintDirInImage,
// inside the image).
std::string context_path_of(const std::string& script) {
  return "blueprint/" + fs::path(script).lexically_normal().generic_string();
}

// Remembers the output of the build step that is running, for the error when it fails.
class StepOutput {
 public:
  void feed(const std::string& text) {
    std::stringstream lines(without_escapes(text));
    std::string line;
    while (std::getline(lines, line)) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (line.empty() || line.starts_with(" ---> ") ||
          line.starts_with("Removing intermediate container ")) {
        continue;
      }
      if (line.starts_with("Step ")) {
        step_ = line;
        lines_.clear();
        continue;
      }
      lines_.push_back(line);
      if (lines_.size() > kKeep) lines_.pop_front();
    }
  }
  // The failed step and what it printed; `error` (the engine's message, which the stream
  // repeats) is left out.
  std::string describe(const std::string& error) const {
    std::string out;
    if (!step_.empty()) out += "\n  failed step: " + step_;
    for (const std::string& l : lines_) {
      if (error.find(l) == std::string::npos) out += "\n    " + l;
    }
    return out;
  }

 private:
  // The engine colours a step's stderr (ESC [ 91 m … ESC [ 0 m); a message has no use for it.
  static std::string without_escapes(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
        i += 2;
        while (i < s.size() && !(s[i] >= '@' && s[i] <= '~')) ++i;
        continue;
      }
      out += s[i];
    }
    return out;
  }

  static constexpr size_t kKeep = 20;
  std::string step_;
  std::deque<std::string> lines_;
};

void say(const engine::ProgressFn& progress, const std::string& text) {
  if (progress) progress({text, ""});
}

}  // namespace

Result<std::string> build_context_tar(const std::vector<ContextFile>& files) {
  struct Item {
    const ContextFile* file = nullptr;  // null: a folder
  };
  std::map<std::string, Item> items;  // sorted by path: the tar's order
  for (const ContextFile& f : files) {
    if (!valid_context_path(f.path)) {
      return Error{0, "build context: invalid path \"" + f.path + "\" (relative, no . or ..)"};
    }
    if (items.count(f.path)) {
      return Error{0, "build context: \"" + f.path + "\" is given twice, or as file and folder"};
    }
    items[f.path] = {&f};
    for (size_t slash = f.path.find('/'); slash != std::string::npos;
         slash = f.path.find('/', slash + 1)) {
      auto [it, added] = items.try_emplace(f.path.substr(0, slash), Item{});
      if (!added && it->second.file) {
        return Error{0, "build context: \"" + it->first + "\" is a file and a folder"};
      }
    }
  }

  std::string out;
  std::unique_ptr<struct archive, ArchiveFree> a(archive_write_new());
  if (!a) return Error{0, "build context: libarchive: out of memory"};
  auto failed = [&](const std::string& what) {
    const char* e = archive_error_string(a.get());
    return Error{0, "build context: " + what + ": " + (e ? e : "libarchive error")};
  };
  // pax only where ustar cannot hold a name (long paths), and no padding to a 10 KiB block.
  if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
      archive_write_add_filter_none(a.get()) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a.get(), 1) != ARCHIVE_OK ||
      archive_write_open(a.get(), &out, nullptr, append_to_string, nullptr) != ARCHIVE_OK) {
    return failed("opening the tar");
  }
  for (const auto& [path, item] : items) {
    std::string content;
    if (item.file && !item.file->source.empty()) {
      auto bytes = read_file(item.file->source);
      if (!bytes) return Error{0, "build context: " + bytes.error().message};
      content = std::move(*bytes);
    } else if (item.file) {
      content = item.file->content;
    }
    std::unique_ptr<struct archive_entry, EntryFree> e(archive_entry_new());
    archive_entry_set_pathname_utf8(e.get(), path.c_str());
    archive_entry_set_filetype(e.get(), item.file ? AE_IFREG : AE_IFDIR);
    archive_entry_set_perm(e.get(), item.file ? (item.file->mode & 07777) : 0755);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(content.size()));
    archive_entry_set_mtime(e.get(), kContextMtime, 0);
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    archive_entry_set_uname(e.get(), "root");
    archive_entry_set_gname(e.get(), "root");
    if (archive_write_header(a.get(), e.get()) < ARCHIVE_WARN) return failed("adding " + path);
    if (!content.empty() && archive_write_data(a.get(), content.data(), content.size()) !=
                                static_cast<la_ssize_t>(content.size())) {
      return failed("writing " + path);
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return failed("closing the tar");
  return out;
}

std::string context_hash(const std::string& tar) {
  return short_hash(tar);
}

// --- Base image --------------------------------------------------------------------------------

RootfsBootstrap rootfs_script(const std::string& project_root, const std::string& cache_dir) {
  std::string script = (fs::path(project_root) / "images" / "rootfs.sh").string();
  return [script, cache_dir](const std::string& suite, bool refresh,
                             const engine::ProgressFn& progress) -> Result<std::string> {
    std::error_code ec;
    if (!fs::is_regular_file(script, ec))
      return Error{0, "rootfs bootstrap " + script + " not found"};
    std::string cmd = "bash " + shell_quote(script) + " --suite " + shell_quote(suite);
    if (!cache_dir.empty()) cmd += " --cache " + shell_quote(cache_dir);
    if (refresh) cmd += " --refresh";
    cmd += " 2>&1 </dev/null";
    FILE* pipe = ::popen(cmd.c_str(), "r");
    if (!pipe) return Error{0, "cannot run " + script};
    // "rootfs: …" lines are progress; the last other line is the tarball (or, on failure, part
    // of the reason).
    std::vector<std::string> other;
    std::string line;
    char buf[4096];
    while (std::fgets(buf, sizeof buf, pipe)) {
      line += buf;
      if (line.empty() || line.back() != '\n') continue;
      line.pop_back();
      if (line.starts_with("rootfs: ")) {
        say(progress, line);
      } else if (!line.empty()) {
        other.push_back(line);
      }
      line.clear();
    }
    if (!line.empty()) other.push_back(line);
    int status = ::pclose(pipe);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || other.empty()) {
      std::string why;
      for (size_t i = other.size() > 20 ? other.size() - 20 : 0; i < other.size(); ++i)
        why += "\n  " + other[i];
      return Error{
          0, script + " failed" +
                 (WIFEXITED(status) ? " (exit " + std::to_string(WEXITSTATUS(status)) + ")" : "") +
                 why};
    }
    if (!fs::is_regular_file(other.back(), ec)) {
      return Error{0, script + " printed \"" + other.back() + "\", which is not a file"};
    }
    return other.back();
  };
}

std::string suite_of_base_image(const std::string& reference) {
  constexpr std::string_view kRepo = "acctl/debian:";
  if (!reference.starts_with(kRepo)) return "";
  std::string suite = reference.substr(kRepo.size());
  if (suite.empty() || suite == "latest" || !(suite[0] >= 'a' && suite[0] <= 'z')) return "";
  for (char c : suite) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return "";
  }
  return suite;
}

Result<BaseImage> ensure_base_image(engine::EngineApi& engine, const std::string& reference,
                                    const RootfsBootstrap& bootstrap, bool refresh,
                                    const engine::ProgressFn& progress) {
  auto have = engine.inspect_image(reference);
  if (have.ok() && !refresh) return BaseImage{reference, have->id, false};
  if (!have.ok() && !have.not_found()) return have.error();
  std::string suite = suite_of_base_image(reference);
  if (suite.empty()) {
    if (have.ok()) return BaseImage{reference, have->id, false};  // not acctl's to refresh
    return Error{404, "base image " + reference +
                          " is not on the engine and acctl cannot pull it (no registry): load it "
                          "into the engine yourself, or use acctl/debian:<suite> (made from a "
                          "local debootstrap)"};
  }
  say(progress, refresh
                    ? "base image " + reference + ": bootstrapping Debian " + suite + " afresh"
                    : "base image " + reference + " is missing: making it from Debian " + suite);
  auto tarball = bootstrap(suite, refresh, progress);
  if (!tarball) return Error{0, "base image " + reference + ": " + tarball.error().message};
  say(progress, "importing " + *tarball + " as " + reference);
  engine::ImportSpec spec;
  spec.reference = reference;
  spec.labels = {
      {kLabelManagedBy, kManagedByValue}, {kLabelKind, "Image"}, {kLabelName, "debian-" + suite}};
  spec.changes = {R"(CMD ["/bin/bash"])",
                  "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                  "ENV LANG=C.UTF-8"};
  spec.message = "acctl: debootstrap --variant=minbase " + suite;
  auto id = engine.import_image(spec, engine::source_from_file(*tarball));
  if (!id) return id.error();
  say(progress, "imported " + reference + " (" + id->substr(0, 19) + ")");
  return BaseImage{reference, *id, true};
}

// --- Blueprint images --------------------------------------------------------------------------

Result<std::string> blueprint_dockerfile(const Blueprint& bp, const std::string& base_image) {
  const std::string dir = kBlueprintDirInImage;
  std::string install = dir + "/" + context_path_of(bp.spec.install).substr(10);
  std::string run = dir + "/" + context_path_of(bp.spec.run).substr(10);
  std::string env;
  for (const auto& [k, v] : bp.spec.env) {
    if (!valid_env_name(k)) {
      return Error{0, "Blueprint/" + bp.meta.name + ": env name \"" + k +
                          "\" cannot be set in an image (letters, digits, _)"};
    }
    if (v.find('\n') != std::string::npos || v.find('\r') != std::string::npos) {
      return Error{0, "Blueprint/" + bp.meta.name + ": env " + k +
                          " spans lines, which an image's ENV cannot carry"};
    }
    env += "ENV " + k + "=" + env_value(v) + "\n";
  }
  std::string out;
  out += "# Generated by acctl for Blueprint/" + bp.meta.name +
         " (hardening: " + to_string(bp.spec.hardening) + "); rebuilt when this context changes.\n";
  // The agent base image: the agent user, Node.js, git, the Host's CAs (images/agent-base/).
  out += "FROM " + base_image + "\n";
  out += "COPY blueprint/ " + dir + "/\n";
  // As root, with the build's network: the script may apt-get or npm-install what it needs.
  out += "RUN cd " + dir + " && DEBIAN_FRONTEND=noninteractive bash " + shell_quote(install) + "\n";
  // Whatever the script installed: no setuid or setgid file stays (the vault's wrapper, added
  // by acctl itself, is to be the only one).
  out += "RUN find / -xdev -type f -perm /6000 -exec chmod ug-s {} +\n";
  out += env;
  out += "WORKDIR /workspace\n";
  out += "USER agent\n";
  // A Sandbox's args become the CMD, so they reach run.sh; idle Sandboxes replace it. Paranoid:
  // init-guard is PID 1 (images/agent-base/ builds it).
  const std::string guard = bp.spec.hardening == Hardening::kParanoid
                                ? json_quote(kInitGuard) + ", \"--\", "
                                : std::string();
  out += "ENTRYPOINT [" + guard + "\"/bin/bash\", " + json_quote(run) + "]\n";
  out += "CMD []\n";
  return out;
}

Result<std::vector<ContextFile>> blueprint_context(const Blueprint& bp,
                                                   const std::string& base_image) {
  auto dockerfile = blueprint_dockerfile(bp, base_image);
  if (!dockerfile) return dockerfile.error();
  std::vector<ContextFile> files = {{"Dockerfile", "", *dockerfile, 0644}};
  // Only the two scripts: a Blueprint defined in a manifest has that manifest's folder as its
  // folder, which holds unrelated files.
  for (const std::string& script : {bp.spec.install, bp.spec.run}) {
    std::string path = context_path_of(script);
    if (std::any_of(files.begin(), files.end(),
                    [&](const ContextFile& f) { return f.path == path; }))
      continue;
    fs::path source = fs::path(bp.spec.folder.empty() ? "." : bp.spec.folder) / script;
    std::error_code ec;
    auto st = fs::status(source, ec);
    if (ec || !fs::is_regular_file(st)) {
      return Error{0, "Blueprint/" + bp.meta.name + ": " + source.string() + " is not a file"};
    }
    bool exec = (st.permissions() & fs::perms::owner_exec) != fs::perms::none;
    files.push_back({path, source.string(), "", exec ? 0755 : 0644});
  }
  return files;
}

Result<PreparedImage> prepare_image(ImageRecipe recipe) {
  auto tar = build_context_tar(recipe.files);
  if (!tar) return Error{0, recipe.kind + "/" + recipe.name + ": " + tar.error().message};
  PreparedImage out;
  out.context_hash = context_hash(*tar);
  out.context = std::make_shared<const std::string>(std::move(*tar));
  out.recipe = std::move(recipe);
  return out;
}

namespace {
std::string build_args_text(const ImageRecipe& recipe) {
  std::string args;
  for (const auto& [k, v] : recipe.build_args) args += k + "=" + v + "\n";
  return args;
}
}  // namespace

std::string image_spec_hash(const PreparedImage& prepared, const std::string& base_id) {
  // The base image's id is part of it: a re-imported base rebuilds every image made from it.
  return short_hash(prepared.context_hash + "\n" + base_id + "\n" +
                    build_args_text(prepared.recipe));
}

Result<std::string> build_prepared_image(engine::EngineApi& engine, const PreparedImage& prepared,
                                         const std::string& base_id, bool no_cache,
                                         const std::string& previous_id,
                                         const engine::ProgressFn& progress) {
  const ImageRecipe& recipe = prepared.recipe;
  engine::BuildSpec spec;
  spec.tag = recipe.tag;
  spec.labels = {{kLabelManagedBy, kManagedByValue},
                 {kLabelKind, recipe.kind},
                 {kLabelName, recipe.name},
                 {kLabelSpecHash, image_spec_hash(prepared, base_id)}};
  spec.build_args = recipe.build_args;
  spec.no_cache = no_cache;
  StepOutput step;
  auto id = engine.build_image(spec, engine::source_from_string(*prepared.context),
                               [&](const engine::ProgressLine& line) {
                                 step.feed(line.text);
                                 if (progress) progress(line);
                               });
  if (!id) {
    // The engine's error already names the tag ("build image acctl/…: …").
    return Error{id.error().status, recipe.kind + "/" + recipe.name + ": " + id.error().message +
                                        step.describe(id.error().message)};
  }
  // The image the tag used to name would linger untagged; drop it unless a container uses it.
  if (!previous_id.empty() && previous_id != *id) (void)engine.remove_image(previous_id, false);
  return *id;
}

Result<BuiltImage> build_context_image(engine::EngineApi& engine, const ImageRecipe& recipe,
                                       const std::string& base_image, bool no_cache,
                                       const engine::ProgressFn& progress) {
  const std::string who = recipe.kind + "/" + recipe.name;
  auto base = engine.inspect_image(base_image);
  if (!base) {
    return Error{base.error().status, who + ": base image " + base_image +
                                          " is not on the engine: " + base.error().message};
  }
  auto prepared = prepare_image(recipe);
  if (!prepared) return prepared.error();
  BuiltImage out;
  out.tag = recipe.tag;
  out.spec_hash = image_spec_hash(*prepared, base->id);

  auto current = engine.inspect_image(out.tag);
  if (!current && !current.not_found()) return current.error();
  if (current && !no_cache) {
    auto h = current->labels.find(kLabelSpecHash);
    if (h != current->labels.end() && h->second == out.spec_hash) {
      out.id = current->id;
      say(progress, out.tag + " is current (spec hash " + out.spec_hash + ")");
      return out;
    }
  }
  auto id = build_prepared_image(engine, *prepared, base->id, no_cache, current ? current->id : "",
                                 progress);
  if (!id) return id.error();
  out.id = *id;
  out.built = true;
  return out;
}

Result<BlueprintImage> build_blueprint_image(engine::EngineApi& engine, const Blueprint& bp,
                                             const std::string& base_image,
                                             const BlueprintBuildOptions& options,
                                             const engine::ProgressFn& progress) {
  const std::string who = "Blueprint/" + bp.meta.name;
  if (!bp.spec.image.empty()) {
    return Error{0,
                 who + " runs the prebuilt image " + bp.spec.image + "; there is nothing to build"};
  }
  auto recipe = blueprint_image_recipe(bp, base_image);
  if (!recipe) return recipe.error();
  return build_context_image(engine, *recipe, base_image, options.no_cache, progress);
}

Result<ImageRecipe> blueprint_image_recipe(const Blueprint& bp, const std::string& base_image) {
  auto files = blueprint_context(bp, base_image);
  if (!files) return files.error();
  return ImageRecipe{
      blueprint_image_tag(bp.meta.name), "Blueprint", bp.meta.name, std::move(*files), {}};
}

// Every regular file under `dir` (relative to `root`), for a build context; skips build
// outputs and version-control folders that may sit in a checkout.
static engine::Status add_tree(const std::string& root, const std::string& dir,
                               std::vector<ContextFile>& out) {
  std::error_code ec;
  const fs::path base = fs::path(root);
  for (auto it = fs::recursive_directory_iterator(base / dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->is_directory() && (name.starts_with(".") || name.starts_with("build"))) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    const auto perms = fs::status(it->path()).permissions();
    const bool exec = (perms & fs::perms::owner_exec) != fs::perms::none;
    out.push_back({fs::relative(it->path(), base).generic_string(), it->path().string(), "",
                   exec ? 0755 : 0644});
  }
  if (ec) return Error{0, "cannot read " + (base / dir).string() + ": " + ec.message()};
  return engine::ok_status();
}

// The runtime/ folders ac-gate is built from (its Dockerfile sets ACCTL_RUNTIME_COMPONENTS=gate):
// a change to another runtime component, or to the reconciler, leaves the gate image as it is.
static constexpr const char* kGateRuntimeFolders[] = {"runtime/common", "runtime/netpolicy",
                                                      "runtime/gate"};

Result<ImageRecipe> gate_image_recipe(const std::string& project_root,
                                      const std::string& base_image) {
  ImageRecipe r{kGateImage, "Image", "gate", {}, {{"BASE", base_image}}};
  const fs::path root(project_root);
  r.files.push_back({"Dockerfile", (root / "images/gate/Dockerfile").string(), "", 0644});
  for (const char* cmake_list : {"CMakeLists.txt", "runtime/CMakeLists.txt"})
    r.files.push_back({cmake_list, (root / cmake_list).string(), "", 0644});
  for (const char* folder : kGateRuntimeFolders) {
    if (auto s = add_tree(project_root, folder, r.files); !s) return s.error();
  }
  return r;
}

// The runtime/ folders init-guard and the hooks are built from (agent-base's first stage).
static constexpr const char* kInsideRuntimeFolders[] = {
    "runtime/common", "runtime/netpolicy", "runtime/init-guard",
    "runtime/hooks",  "runtime/vault",     "runtime/vault-wrapper"};

Result<ImageRecipe> agent_base_image_recipe(const std::string& project_root,
                                            const std::string& base_image,
                                            const std::vector<std::string>& ca_files) {
  ImageRecipe r{kAgentBaseImage, "Image", "agent-base", {}, {{"BASE", base_image}}};
  if (auto s = add_tree(project_root + "/images", "agent-base", r.files); !s) return s.error();
  for (ContextFile& f : r.files) f.path = f.path.substr(std::string("agent-base/").size());
  // ca/ always exists (the Dockerfile copies it); update-ca-certificates takes *.crt only, and
  // two files of the same name from different folders must both arrive.
  // inside/: the sources of what paranoid sandboxes carry, built in the Dockerfile's first
  // stage. Only those folders, so a change to the gate or the reconciler rebuilds nothing here.
  const fs::path root(project_root);
  for (const char* cmake_list : {"CMakeLists.txt", "runtime/CMakeLists.txt"})
    r.files.push_back(
        {std::string("inside/") + cmake_list, (root / cmake_list).string(), "", 0644});
  for (const char* folder : kInsideRuntimeFolders) {
    std::vector<ContextFile> tree;
    if (auto s = add_tree(project_root, folder, tree); !s) return s.error();
    for (ContextFile& f : tree) {
      f.path = "inside/" + f.path;
      r.files.push_back(std::move(f));
    }
  }
  r.files.push_back({"ca/README", "", "The Host's trust.caFiles, as acctl found them.\n", 0644});
  for (size_t i = 0; i < ca_files.size(); ++i) {
    std::string name = fs::path(ca_files[i]).stem().string();
    for (char& c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
    }
    char prefix[24];
    std::snprintf(prefix, sizeof prefix, "%02zu-", i);
    r.files.push_back({"ca/" + std::string(prefix) + name + ".crt", ca_files[i], "", 0644});
  }
  return r;
}

Result<ImageRecipe> host_image_recipe(const std::string& project_root,
                                      const std::string& base_image) {
  ImageRecipe r{kHostImage, "Image", "host", {}, {{"BASE", base_image}}};
  if (auto s = add_tree(project_root + "/images", "host", r.files); !s) return s.error();
  // The folder is the context: strip the "host/" prefix.
  for (ContextFile& f : r.files) f.path = f.path.substr(5);
  return r;
}

}  // namespace acctl
