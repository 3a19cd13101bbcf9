// Small helpers declared beside the EngineApi interface.
#include "engine/engine_api.h"

#include <cstring>
#include <fstream>
#include <memory>

namespace acctl::engine {

Filters label_filters(const Labels& labels) {
  Filters f;
  auto& list = f["label"];
  for (const auto& [k, v] : labels) list.push_back(k + "=" + v);
  return f;
}

Status AttachedStream::read_to_end(const LogFn& on_bytes) {
  while (true) {
    auto r = read(on_bytes, std::chrono::milliseconds(-1));
    if (!r) return r.error();
    if (*r == ReadResult::kEnded || *r == ReadResult::kStopped) return ok_status();
  }
}

ByteSource source_from_string(std::string bytes) {
  auto data = std::make_shared<std::string>(std::move(bytes));
  auto offset = std::make_shared<std::size_t>(0);
  return [data, offset](char* buffer, std::size_t size) -> std::ptrdiff_t {
    std::size_t n = std::min(size, data->size() - *offset);
    std::memcpy(buffer, data->data() + *offset, n);
    *offset += n;
    return static_cast<std::ptrdiff_t>(n);
  };
}

ByteSource source_from_file(std::string path) {
  // Opened on first read so that building a source never fails by itself.
  auto in = std::make_shared<std::ifstream>();
  auto opened = std::make_shared<bool>(false);
  return [in, opened, path](char* buffer, std::size_t size) -> std::ptrdiff_t {
    if (!*opened) {
      in->open(path, std::ios::binary);
      *opened = true;
    }
    if (!*in) return in->eof() ? 0 : -1;
    in->read(buffer, static_cast<std::streamsize>(size));
    if (in->bad()) return -1;
    return static_cast<std::ptrdiff_t>(in->gcount());
  };
}

}  // namespace acctl::engine
