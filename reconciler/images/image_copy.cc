// copy_images: GET /images/get on one engine into a file, POST /images/load of it on the other.
#include "images/image_copy.h"

#include <cerrno>
#include <cstdio>
#include <filesystem>

namespace acctl {

namespace fs = std::filesystem;

Result<CopiedImages> copy_images(engine::EngineApi& from, engine::EngineApi& to,
                                 const std::vector<std::string>& tags, const std::string& scratch) {
  CopiedImages out;
  for (const std::string& tag : tags) {
    auto src = from.inspect_image(tag);
    if (!src) return src.error().within("copying " + tag);
    auto dst = to.inspect_image(tag);
    if (!dst && !dst.not_found()) return dst.error().within("copying " + tag);
    if (!dst || dst->id != src->id) out.tags.push_back(tag);
  }
  if (out.tags.empty()) return out;
  std::error_code ec;
  fs::create_directories(fs::path(scratch).parent_path(), ec);
  FILE* file = std::fopen(scratch.c_str(), "wb");
  if (!file) return sys_error("cannot write " + scratch, errno);
  auto saved = from.save_images(out.tags, [&](std::string_view chunk) {
    out.bytes += static_cast<int64_t>(chunk.size());
    return std::fwrite(chunk.data(), 1, chunk.size(), file) == chunk.size();
  });
  const bool closed = std::fclose(file) == 0;
  engine::Status loaded = saved;
  if (saved && closed) loaded = to.load_images(engine::source_from_file(scratch), {});
  fs::remove(scratch, ec);
  if (!saved) return saved.error().within("saving images");
  if (!closed) return Error{0, "cannot write " + scratch};
  if (!loaded) return loaded.error().within("loading images");
  return out;
}

}  // namespace acctl
