// copy_images: the destination's layer chains, the source's save streamed through a filter that
// leaves out the layers the destination has, POST /images/load of what is left.
#include "images/image_copy.h"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "engine/deadline.h"

namespace acctl {

namespace fs = std::filesystem;

namespace {

// How much of the save may wait between the thread receiving it and the filter.
constexpr size_t kQueueBytes = 8 << 20;
// Files of a save other than layers (configs, manifest.json) are kept in memory up to this size
// to check, after the stream, what was left out against the images the tar really holds.
constexpr int64_t kMaxKeptFile = 16 << 20;

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    // A context that cannot be set up hashes to something no layer has: nothing is left out.
    if (ctx_) EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  }
  void update(const void* bytes, size_t size) {
    if (ctx_) EVP_DigestUpdate(ctx_.get(), bytes, size);
  }
  std::string digest() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!ctx_ || EVP_DigestFinal_ex(ctx_.get(), md, &n) != 1) return "sha256:?";
    static const char kHex[] = "0123456789abcdef";
    std::string out = "sha256:";
    for (unsigned int i = 0; i < n; ++i) {
      out += kHex[md[i] >> 4];
      out += kHex[md[i] & 15];
    }
    return out;
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

// The chunks of a download, handed from the thread that receives them to the filter that reads
// them, at most kQueueBytes in flight.
class ChunkQueue {
 public:
  // The source's side: waits while the queue is full; false once the reader gave up.
  bool push(std::string_view bytes) {
    if (bytes.empty()) return true;
    std::unique_lock lock(mutex_);
    space_.wait(lock, [&] { return abandoned_ || queued_ < kQueueBytes; });
    if (abandoned_) return false;
    chunks_.emplace_back(bytes);
    queued_ += bytes.size();
    ready_.notify_one();
    return true;
  }
  // The end of the download; `error` when it failed for a reason of the source's own.
  void finish(std::optional<Error> error) {
    std::lock_guard lock(mutex_);
    done_ = true;
    if (error && !abandoned_) error_ = std::move(error);
    ready_.notify_all();
  }
  // The reader's side: the next chunk; false at the end.
  bool pop(std::string& chunk) {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return !chunks_.empty() || done_; });
    if (chunks_.empty()) return false;
    chunk = std::move(chunks_.front());
    chunks_.pop_front();
    queued_ -= chunk.size();
    space_.notify_one();
    return true;
  }
  // The reader stops: the source's next push fails, which ends its download.
  void abandon() {
    std::lock_guard lock(mutex_);
    abandoned_ = true;
    chunks_.clear();
    queued_ = 0;
    space_.notify_all();
  }
  std::optional<Error> source_error() const {
    std::lock_guard lock(mutex_);
    return error_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable ready_, space_;
  std::deque<std::string> chunks_;
  size_t queued_ = 0;
  bool done_ = false;
  bool abandoned_ = false;
  std::optional<Error> error_;
};

struct StreamSource {
  ChunkQueue* queue;
  std::string chunk;  // what libarchive reads from until it asks for more
};

la_ssize_t read_chunk(struct archive* a, void* data, const void** buffer) {
  auto* s = static_cast<StreamSource*>(data);
  if (s->queue->pop(s->chunk)) {
    *buffer = s->chunk.data();
    return static_cast<la_ssize_t>(s->chunk.size());
  }
  *buffer = nullptr;
  if (auto e = s->queue->source_error()) {
    archive_set_error(a, EIO, "%s", e->message.c_str());
    return -1;
  }
  return 0;
}

struct ReadFree {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
struct WriteFree {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct FileClose {
  void operator()(FILE* f) const { std::fclose(f); }
};

Error archive_failure(struct archive* a, const std::string& what) {
  const char* e = archive_error_string(a);
  return Error{0, what + ": " + (e ? e : "libarchive failed"), archive_errno(a)};
}

std::string entry_path(struct archive_entry* e) {
  const char* p = archive_entry_pathname_utf8(e);
  if (!p) p = archive_entry_pathname(e);
  std::string path = p ? p : "";
  if (path.starts_with("./")) path.erase(0, 2);
  return path;
}

// A layer of a docker-save tar: <v1 id>/layer.tar in Docker 20.10's layout.
bool is_layer_file(const std::string& path) {
  return path == "layer.tar" || path.ends_with("/layer.tar");
}

// What the filter did to a save.
struct Filtered {
  int layers_left_out = 0;
  int64_t bytes_left_out = 0;
  std::set<std::string> left_out;            // their diff ids
  std::map<std::string, std::string> files;  // the small files that passed, by path
};

// Copies the save tar `queue` carries into `scratch`, entry by entry, each layer file first into
// `layer_file` while it is hashed; one whose diff id is in `drop` stays out. Everything else
// passes with its data unchanged.
Result<Filtered> filter_save(ChunkQueue& queue, const std::set<std::string>& drop,
                             const std::string& scratch, const std::string& layer_file) {
  StreamSource source{&queue, {}};
  std::unique_ptr<struct archive, ReadFree> in(archive_read_new());
  std::unique_ptr<struct archive, WriteFree> out(archive_write_new());
  if (!in || !out) return Error{0, "libarchive: out of memory"};
  archive_read_support_format_tar(in.get());
  if (archive_read_open(in.get(), &source, nullptr, read_chunk, nullptr) != ARCHIVE_OK)
    return archive_failure(in.get(), "reading the saved images");
  if (archive_write_set_format_pax_restricted(out.get()) != ARCHIVE_OK ||
      archive_write_add_filter_none(out.get()) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(out.get(), 1) != ARCHIVE_OK ||
      archive_write_open_filename(out.get(), scratch.c_str()) != ARCHIVE_OK)
    return archive_failure(out.get(), "writing " + scratch);

  Filtered result;
  std::set<std::string> left_out_paths;
  std::vector<char> buffer(1 << 20);
  auto write = [&](const char* bytes, size_t n, const std::string& path) -> Status {
    if (archive_write_data(out.get(), bytes, n) != static_cast<la_ssize_t>(n))
      return archive_failure(out.get(), "writing " + path + " to " + scratch);
    return ok_status();
  };
  auto write_header = [&](struct archive_entry* entry, const std::string& path) -> Status {
    archive_entry_sparse_clear(entry);  // the data is written whole
    if (archive_write_header(out.get(), entry) < ARCHIVE_WARN)
      return archive_failure(out.get(), "writing " + path + " to " + scratch);
    return ok_status();
  };
  while (true) {
    struct archive_entry* entry = nullptr;
    const int r = archive_read_next_header(in.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return archive_failure(in.get(), "reading the saved images");
    const std::string path = entry_path(entry);
    const bool file = archive_entry_filetype(entry) == AE_IFREG;
    if (const char* target = archive_entry_hardlink(entry)) {
      std::string t = target;
      if (t.starts_with("./")) t.erase(0, 2);
      if (left_out_paths.count(t))
        return Error{0, "the saved images link " + path + " to " + t + ", which was left out"};
    }
    if (!file || !is_layer_file(path)) {
      if (auto w = write_header(entry, path); !w) return w.error();
      const bool keep = file && archive_entry_size(entry) <= kMaxKeptFile;
      std::string kept;
      la_ssize_t n;
      while ((n = archive_read_data(in.get(), buffer.data(), buffer.size())) > 0) {
        if (auto w = write(buffer.data(), static_cast<size_t>(n), path); !w) return w.error();
        if (keep) kept.append(buffer.data(), static_cast<size_t>(n));
      }
      if (n < 0) return archive_failure(in.get(), "reading " + path + " of the saved images");
      if (keep) result.files[path] = std::move(kept);
      continue;
    }
    // A layer: its diff id is known only once it has passed whole.
    std::unique_ptr<FILE, FileClose> held(std::fopen(layer_file.c_str(), "w+b"));
    if (!held) return sys_error("cannot write " + layer_file, errno);
    Sha256 hash;
    int64_t size = 0;
    la_ssize_t n;
    while ((n = archive_read_data(in.get(), buffer.data(), buffer.size())) > 0) {
      hash.update(buffer.data(), static_cast<size_t>(n));
      if (std::fwrite(buffer.data(), 1, static_cast<size_t>(n), held.get()) !=
          static_cast<size_t>(n))
        return sys_error("cannot write " + layer_file, errno);
      size += n;
    }
    if (n < 0) return archive_failure(in.get(), "reading " + path + " of the saved images");
    const std::string diff_id = hash.digest();
    if (drop.count(diff_id)) {
      ++result.layers_left_out;
      result.bytes_left_out += size;
      result.left_out.insert(diff_id);
      left_out_paths.insert(path);
      continue;
    }
    if (auto w = write_header(entry, path); !w) return w.error();
    std::rewind(held.get());
    size_t got;
    while ((got = std::fread(buffer.data(), 1, buffer.size(), held.get())) > 0) {
      if (auto w = write(buffer.data(), got, path); !w) return w.error();
    }
    if (std::ferror(held.get())) return sys_error("cannot read " + layer_file, errno);
  }
  if (archive_write_close(out.get()) != ARCHIVE_OK)
    return archive_failure(out.get(), "writing " + scratch);
  // What follows the tar's end (its padding) still has to be received for the save to end well.
  std::string rest;
  while (queue.pop(rest)) {
  }
  return result;
}

// The images the tar says it holds, checked against what was left out: each position of a
// left-out diff id must find its chain on the destination, or the load would miss the layer (a
// tag that moved between the inspection and the save).
Status check_left_out(const Filtered& f, const std::set<std::string>& destination_chains) {
  if (f.left_out.empty()) return ok_status();
  auto manifest_file = f.files.find("manifest.json");
  if (manifest_file == f.files.end())
    return Error{0, "the saved images have no manifest.json, yet layers were left out"};
  auto manifest = nlohmann::json::parse(manifest_file->second, nullptr, false);
  if (!manifest.is_array()) return Error{0, "the saved images' manifest.json is not a list"};
  for (const auto& m : manifest) {
    const auto config_path = m.is_object() ? m.value("Config", std::string()) : std::string();
    std::string name = config_path;
    if (m.is_object() && m.contains("RepoTags") && m["RepoTags"].is_array() &&
        !m["RepoTags"].empty() && m["RepoTags"][0].is_string())
      name = m["RepoTags"][0].get<std::string>();
    auto config_file = f.files.find(config_path);
    if (config_file == f.files.end())
      return Error{0, "the saved images lack the config of " + name};
    auto config = nlohmann::json::parse(config_file->second, nullptr, false);
    std::vector<std::string> diff_ids;
    if (config.is_object() && config.contains("rootfs") && config["rootfs"].is_object()) {
      const auto& ids = config["rootfs"].value("diff_ids", nlohmann::json::array());
      for (const auto& d : ids) diff_ids.push_back(d.is_string() ? d.get<std::string>() : "");
    }
    const std::vector<std::string> chains = layer_chain_ids(diff_ids);
    for (size_t i = 0; i < diff_ids.size(); ++i) {
      if (f.left_out.count(diff_ids[i]) && !destination_chains.count(chains[i]))
        return Error{0, "layer " + std::to_string(i) + " (" + diff_ids[i] + ") of " + name +
                            " was left out, but the destination lacks its chain: the image "
                            "changed while it was copied"};
    }
  }
  return ok_status();
}

// Every chain the destination's images hold (a listing has no layers: each is inspected).
Result<std::set<std::string>> destination_chains(engine::EngineApi& to) {
  auto images = to.list_images({});
  if (!images) return images.error().within("listing the destination's images");
  std::set<std::string> chains;
  for (const auto& listed : *images) {
    auto image = to.inspect_image(listed.id);
    if (image.not_found()) continue;  // removed since the listing
    if (!image) return image.error().within("inspecting " + listed.id + " on the destination");
    for (const auto& c : layer_chain_ids(image->layers)) chains.insert(c);
  }
  return chains;
}

// The save written to `scratch` as it comes: nothing to leave out.
Status save_whole(engine::EngineApi& from, const std::vector<std::string>& tags,
                  const std::string& scratch, CopiedImages& out) {
  std::unique_ptr<FILE, FileClose> file(std::fopen(scratch.c_str(), "wb"));
  if (!file) return sys_error("cannot write " + scratch, errno);
  int write_errno = 0;
  auto saved = from.save_images(tags, [&](std::string_view chunk) {
    out.bytes_read += static_cast<int64_t>(chunk.size());
    if (std::fwrite(chunk.data(), 1, chunk.size(), file.get()) == chunk.size()) return true;
    write_errno = errno;
    return false;
  });
  if (write_errno != 0) return sys_error("cannot write " + scratch, write_errno);
  if (!saved) return saved.error().within("saving from the source");
  if (std::fclose(file.release()) != 0) return sys_error("cannot write " + scratch, errno);
  return ok_status();
}

// The save streamed from a thread of its own through filter_save into `scratch`.
Status save_filtered(engine::EngineApi& from, const std::vector<std::string>& tags,
                     const std::set<std::string>& drop, const std::set<std::string>& chains,
                     const std::string& scratch, const std::string& layer_file, CopiedImages& out) {
  ChunkQueue queue;
  // The calls of this thread are bounded; so is the save made for it on another.
  const auto bound = engine::CallTimeout::current();
  const bool beyond_deadline = engine::CallTimeout::beyond_deadline();
  int64_t read = 0;
  std::thread pump([&] {
    std::optional<engine::CallTimeout> timeout;
    if (bound) timeout.emplace(*bound, beyond_deadline);
    auto saved = from.save_images(tags, [&](std::string_view chunk) {
      read += static_cast<int64_t>(chunk.size());
      return queue.push(chunk);
    });
    queue.finish(saved ? std::nullopt : std::optional<Error>(saved.error()));
  });
  struct Join {
    ChunkQueue& queue;
    std::thread& thread;
    ~Join() {
      queue.abandon();  // nothing waits for a reader that is gone
      thread.join();
    }
  };
  Result<Filtered> filtered = Error{};
  {
    Join join{queue, pump};
    filtered = filter_save(queue, drop, scratch, layer_file);
  }
  out.bytes_read = read;
  // A save that failed first explains the filter's failure (a tar cut short).
  if (auto e = queue.source_error()) return e->within("saving from the source");
  if (!filtered) return filtered.error().within("leaving out the layers the destination has");
  if (auto c = check_left_out(*filtered, chains); !c) return c;
  out.layers_left_out = filtered->layers_left_out;
  out.bytes_left_out = filtered->bytes_left_out;
  return ok_status();
}

std::string joined(const std::vector<std::string>& tags) {
  std::string out;
  for (const auto& t : tags) out += (out.empty() ? "" : ", ") + t;
  return out;
}

}  // namespace

std::string sha256_digest(std::string_view bytes) {
  Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.digest();
}

std::vector<std::string> layer_chain_ids(const std::vector<std::string>& diff_ids) {
  std::vector<std::string> out;
  out.reserve(diff_ids.size());
  for (const std::string& d : diff_ids)
    out.push_back(out.empty() ? d : sha256_digest(out.back() + " " + d));
  return out;
}

std::set<std::string> layers_the_destination_has(const std::vector<engine::ImageInfo>& sources,
                                                 const std::set<std::string>& destination_chains) {
  std::map<std::string, bool> everywhere;  // diff id -> each of its positions has its chain
  for (const auto& image : sources) {
    const std::vector<std::string> chains = layer_chain_ids(image.layers);
    for (size_t i = 0; i < image.layers.size(); ++i) {
      auto [it, first] = everywhere.try_emplace(image.layers[i], true);
      it->second = it->second && destination_chains.count(chains[i]) > 0;
    }
  }
  std::set<std::string> out;
  for (const auto& [diff_id, present] : everywhere)
    if (present) out.insert(diff_id);
  return out;
}

Result<CopiedImages> copy_images(engine::EngineApi& from, engine::EngineApi& to,
                                 const std::vector<std::string>& tags, const std::string& scratch) {
  CopiedImages out;
  std::vector<engine::ImageInfo> sources;
  for (const std::string& tag : tags) {
    auto src = from.inspect_image(tag);
    if (!src) return src.error().within("copying " + tag);
    auto dst = to.inspect_image(tag);
    if (!dst && !dst.not_found()) return dst.error().within("copying " + tag);
    if (!dst || dst->id != src->id) {
      out.tags.push_back(tag);
      sources.push_back(*src);
    }
  }
  if (out.tags.empty()) return out;
  const std::string what = "copying " + joined(out.tags);
  auto chains = destination_chains(to);
  if (!chains) return chains.error().within(what);
  const std::set<std::string> drop = layers_the_destination_has(sources, *chains);

  std::error_code ec;
  fs::create_directories(fs::path(scratch).parent_path(), ec);
  const std::string layer_file = scratch + ".layer";
  Status saved = drop.empty()
                     ? save_whole(from, out.tags, scratch, out)
                     : save_filtered(from, out.tags, drop, *chains, scratch, layer_file, out);
  fs::remove(layer_file, ec);
  Status loaded = saved;
  if (saved) {
    out.bytes = static_cast<int64_t>(fs::file_size(scratch, ec));
    if (ec)
      loaded = Error{0, "cannot read " + scratch + ": " + ec.message()};
    else
      loaded = to.load_images(engine::source_from_file(scratch), {});
  }
  fs::remove(scratch, ec);
  if (!saved) return saved.error().within(what);
  if (!loaded) return loaded.error().within(what + ": loading into the destination");
  return out;
}

}  // namespace acctl
