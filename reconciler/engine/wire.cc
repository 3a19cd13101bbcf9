// Encodings and stream decoders of the Docker Engine API wire format.
#include "engine/wire.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <nlohmann/json.hpp>

#include "common/ascii.h"

namespace acctl::engine {

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string path_encode(std::string_view text) {
  std::string out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '/' || text[i] == ':' || text[i] == '@') {
      out += url_encode(text.substr(start, i - start));
      if (i < text.size()) out += text[i];
      start = i + 1;
    }
  }
  return out;
}

std::string query_string(const QueryParams& params) {
  std::string out;
  for (const auto& [key, value] : params) {
    out += out.empty() ? '?' : '&';
    out += url_encode(key);
    out += '=';
    out += url_encode(value);
  }
  return out;
}

std::string filters_json(const Filters& filters) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [key, values] : filters) {
    nlohmann::json set = nlohmann::json::object();
    for (const auto& v : values) set[v] = true;
    j[key] = std::move(set);
  }
  return j.dump();
}

namespace {
// Parses "1.41" into {1, 41}; missing or non-numeric parts count as 0.
std::vector<long> version_parts(std::string_view v) {
  std::vector<long> parts;
  while (true) {
    auto dot = v.find('.');
    auto piece = v.substr(0, dot);
    long n = 0;
    std::from_chars(piece.data(), piece.data() + piece.size(), n);
    parts.push_back(n);
    if (dot == std::string_view::npos) break;
    v.remove_prefix(dot + 1);
  }
  return parts;
}
}  // namespace

int compare_api_versions(std::string_view a, std::string_view b) {
  auto pa = version_parts(a), pb = version_parts(b);
  for (std::size_t i = 0; i < std::max(pa.size(), pb.size()); ++i) {
    long x = i < pa.size() ? pa[i] : 0, y = i < pb.size() ? pb[i] : 0;
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

Result<std::string> negotiate_api_version(std::string_view server_api) {
  if (server_api.empty()) {
    return Error{0, "the Docker engine did not report its API version"};
  }
  if (compare_api_versions(server_api, kMinApiVersion) < 0) {
    return Error{0, "the Docker engine speaks API " + std::string(server_api) +
                        ", but acctl needs at least " + std::string(kMinApiVersion) +
                        " (Docker 19.03 or newer); upgrade the engine"};
  }
  return std::string(compare_api_versions(server_api, kMaxApiVersion) < 0 ? server_api
                                                                          : kMaxApiVersion);
}

bool FrameDecoder::feed(std::string_view bytes, const Sink& sink) {
  if (raw_) return bytes.empty() || sink(LogStream::kRaw, bytes);
  while (!bytes.empty()) {
    if (remaining_ == 0) {
      std::size_t take = std::min(bytes.size(), sizeof header_ - header_len_);
      std::copy_n(bytes.data(), take, header_ + header_len_);
      header_len_ += take;
      bytes.remove_prefix(take);
      if (header_len_ < sizeof header_) return true;
      header_len_ = 0;
      if (header_[0] > 3 || header_[1] || header_[2] || header_[3]) {
        // Not a multiplexed stream after all: pass the rest on untouched rather than lose it.
        error_ = "malformed log frame header";
        raw_ = true;
        std::string_view header(reinterpret_cast<const char*>(header_), sizeof header_);
        if (!sink(LogStream::kRaw, header)) return false;
        if (!bytes.empty() && !sink(LogStream::kRaw, bytes)) return false;
        return true;
      }
      // Stream 3 is the engine's own error channel (API >= 1.42); treat it as stderr.
      stream_ = header_[0] == 3 ? LogStream::kStderr : static_cast<LogStream>(header_[0]);
      remaining_ = uint32_t{header_[4]} << 24 | uint32_t{header_[5]} << 16 |
                   uint32_t{header_[6]} << 8 | uint32_t{header_[7]};
      continue;
    }
    std::size_t take = std::min<std::size_t>(bytes.size(), remaining_);
    remaining_ -= static_cast<uint32_t>(take);
    if (!sink(stream_, bytes.substr(0, take))) return false;
    bytes.remove_prefix(take);
  }
  return true;
}

bool LineSplitter::feed(std::string_view bytes, const Sink& sink) {
  while (!bytes.empty()) {
    auto nl = bytes.find('\n');
    if (nl == std::string_view::npos) {
      pending_.append(bytes);
      return true;
    }
    pending_.append(bytes.substr(0, nl));
    bytes.remove_prefix(nl + 1);
    std::string line = std::move(pending_);
    pending_.clear();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && !sink(line)) return false;
  }
  return true;
}

bool LineSplitter::finish(const Sink& sink) {
  std::string line = std::move(pending_);
  pending_.clear();
  return line.empty() || sink(line);
}

ResponseHeadReader::State ResponseHeadReader::feed(std::string_view bytes) {
  if (state_ != State::kIncomplete) return state_;
  std::size_t scanned = buffer_.size();
  buffer_.append(bytes);
  for (std::size_t i = scanned; i < buffer_.size(); ++i) {
    if (buffer_[i] != '\n') continue;
    std::size_t len = i - line_start_;
    if (len > 0 && buffer_[i - 1] == '\r') --len;
    if (len == 0) {
      rest_ = buffer_.substr(i + 1);
      buffer_.resize(line_start_);
      return state_ = parse(buffer_);
    }
    line_start_ = i + 1;
  }
  if (buffer_.size() > kMaxHeadBytes) {
    error_ = "response head longer than " + std::to_string(kMaxHeadBytes) + " bytes";
    return state_ = State::kMalformed;
  }
  return state_;
}

ResponseHeadReader::State ResponseHeadReader::parse(std::string_view text) {
  auto fail = [&](std::string why) {
    error_ = std::move(why);
    return State::kMalformed;
  };
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  };
  bool first = true;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (first) {
      first = false;
      // "HTTP/1.1 101 UPGRADED": a version, three digits, an optional reason.
      if (line.substr(0, 5) != "HTTP/") return fail("not an HTTP response: " + std::string(line));
      auto sp = line.find(' ');
      std::string_view code = sp == std::string_view::npos ? "" : line.substr(sp + 1, 3);
      if (code.size() != 3 ||
          !std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return fail("malformed status line: " + std::string(line));
      }
      std::string_view after = line.substr(sp + 4);
      if (!after.empty() && after.front() != ' ') {
        return fail("malformed status line: " + std::string(line));
      }
      std::from_chars(code.data(), code.data() + 3, head_.status);
      head_.reason = std::string(trim(after));
      continue;
    }
    // A name is a token: no whitespace anywhere (a leading one would be obsolete line folding).
    auto colon = line.find(':');
    std::string name(line.substr(0, colon));
    if (colon == std::string_view::npos || name.empty() ||
        name.find_first_of(" \t") != std::string::npos) {
      return fail("malformed header line: " + std::string(line));
    }
    name = ascii_lower(name);
    std::string_view value = trim(line.substr(colon + 1));
    auto [it, fresh] = head_.headers.try_emplace(name, value);
    if (!fresh) it->second.append(", ").append(value);
  }
  if (first) return fail("empty response head");
  return State::kComplete;
}

}  // namespace acctl::engine
