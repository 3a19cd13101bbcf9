// YAML → JSON conversion driven event by event, so positions survive and bad input cannot hang us.
#include "manifest/yaml_loader.h"

#include "common/parallel.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>

namespace acctl {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

Position to_position(const YAML::Mark& mark) {
  if (mark.line < 0) return {};
  return {mark.line + 1, mark.column + 1};
}

constexpr const char* kTagStr = "tag:yaml.org,2002:str";
constexpr const char* kTagInt = "tag:yaml.org,2002:int";
constexpr const char* kTagFloat = "tag:yaml.org,2002:float";
constexpr const char* kTagBool = "tag:yaml.org,2002:bool";
constexpr const char* kTagNull = "tag:yaml.org,2002:null";

std::optional<json> parse_int(std::string_view s) {
  bool negative = false;
  std::string_view digits = s;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  int base = 10;
  if (digits.starts_with("0x")) {
    base = 16;
    digits.remove_prefix(2);
  } else if (digits.starts_with("0o")) {
    base = 8;
    digits.remove_prefix(2);
  }
  if (digits.empty()) return std::nullopt;
  if (base != 10 && s[0] != '0') return std::nullopt;  // YAML 1.2: no sign on 0x / 0o forms
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (end != digits.data() + digits.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {
    double d = 0;
    auto r = std::from_chars(s.data() + (s[0] == '+'), s.data() + s.size(), d);
    if (r.ec != std::errc()) return std::nullopt;
    return json(d);
  }
  if (ec != std::errc()) return std::nullopt;
  if (!negative) return json(value);
  if (value > static_cast<uint64_t>(INT64_MAX) + 1) return json(-static_cast<double>(value));
  return json(static_cast<int64_t>(0 - value));
}

std::optional<json> parse_float(std::string_view s) {
  std::string_view body = s;
  bool negative = false;
  if (!body.empty() && (body[0] == '-' || body[0] == '+')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == ".inf" || body == ".Inf" || body == ".INF") {
    return json(negative ? -INFINITY : INFINITY);
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return json(NAN);
  // [0-9]*(\.[0-9]*)?([eE][-+]?[0-9]+)? with at least one digit before the exponent
  size_t i = 0, digits = 0;
  while (i < body.size() && body[i] >= '0' && body[i] <= '9') ++i, ++digits;
  if (i < body.size() && body[i] == '.') {
    ++i;
    while (i < body.size() && body[i] >= '0' && body[i] <= '9') ++i, ++digits;
  }
  if (digits == 0) return std::nullopt;
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    if (i < body.size() && (body[i] == '+' || body[i] == '-')) ++i;
    size_t exp_start = i;
    while (i < body.size() && body[i] >= '0' && body[i] <= '9') ++i;
    if (i == exp_start) return std::nullopt;
  }
  if (i != body.size()) return std::nullopt;
  std::string copy(s[0] == '+' ? s.substr(1) : s);
  double d = 0;
  auto r = std::from_chars(copy.data(), copy.data() + copy.size(), d);
  if (r.ec != std::errc() && r.ec != std::errc::result_out_of_range) return std::nullopt;
  return json(d);
}

std::optional<json> parse_bool(std::string_view s) {
  if (s == "true" || s == "True" || s == "TRUE") return json(true);
  if (s == "false" || s == "False" || s == "FALSE") return json(false);
  return std::nullopt;
}

bool is_null_text(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

// Plain scalars resolve by the YAML 1.2 core schema: "yes", "on" and "0755" stay what they look
// like in 1.2 (a string and a decimal), not what YAML 1.1 made of them.
json resolve_plain(std::string_view s) {
  if (is_null_text(s)) return nullptr;
  if (auto b = parse_bool(s)) return *b;
  if (auto i = parse_int(s)) return *i;
  if (auto f = parse_float(s)) return *f;
  return std::string(s);
}

size_t count_nodes(const json& v) {
  size_t n = 1;
  if (v.is_structured()) {
    for (const auto& child : v) n += count_nodes(child);
  }
  return n;
}

// Builds one document's JSON from yaml-cpp parser events. After the first error it ignores the
// rest of the document, so the parser can still be driven to the next one.
class DocumentBuilder : public YAML::EventHandler {
 public:
  DocumentBuilder(Document& doc, std::string& error, Position& error_pos, const LoadLimits& limits,
                  std::string_view text, int line_offset)
      : doc_(doc),
        error_(error),
        error_pos_(error_pos),
        limits_(limits),
        text_(text),
        line_offset_(line_offset) {}

  bool saw_content() const { return saw_content_; }

  void OnDocumentStart(const YAML::Mark& mark) override { doc_.start = to_pos(mark); }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (failed()) return;
    if (expecting_key()) return fail(mark, "a mapping key cannot be empty or null");
    complete(nullptr, to_pos(mark), anchor);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (failed()) return;
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) return fail(mark, "alias to an unknown anchor");
    if (expecting_key()) return fail(mark, "an alias cannot be used as a mapping key");
    nodes_ += count_nodes(it->second.value);
    if (nodes_ > limits_.max_nodes_per_document) return fail(mark, too_large_message());
    std::string pointer = child_pointer();
    copy_positions(it->second.pointer, pointer);
    complete(it->second.value, to_pos(mark), YAML::NullAnchor, /*positions_done=*/true);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    if (failed()) return;
    Position pos = to_pos(mark);
    if (tag == "!" && !quote_is_closed(mark)) {
      return fail(mark, "YAML syntax error: quoted string is never closed");
    }
    if (expecting_key()) {
      Frame& f = stack_.back();
      if (tag != "?" && tag != "!" && tag != kTagStr) {
        return fail(mark, "unsupported tag \"" + tag + "\" on a mapping key");
      }
      f.key_is_merge = tag == "?" && value == "<<";
      if (!f.key_is_merge && f.value.contains(value) && f.merged.erase(value) == 0) {
        std::string message = "duplicate key \"" + value + "\"";
        Position first = doc_.key_pos(pointer_append(f.pointer, value));
        if (first.line > 0) message += " (first at line " + std::to_string(first.line) + ")";
        return fail(mark, message);
      }
      f.key = value;
      f.key_pos = pos;
      f.has_key = true;
      if (anchor != YAML::NullAnchor) {
        anchors_[anchor] = {json(value), ""};
      }
      return;
    }
    json v;
    if (tag == "?") {
      v = resolve_plain(value);
    } else if (tag == "!" || tag == kTagStr) {
      v = value;
    } else if (tag == kTagInt) {
      auto i = parse_int(value);
      if (!i) return fail(mark, "\"" + value + "\" is not an integer (!!int)");
      v = *i;
    } else if (tag == kTagFloat) {
      auto f = parse_float(value);
      if (!f) f = parse_int(value);
      if (!f) return fail(mark, "\"" + value + "\" is not a number (!!float)");
      v = *f;
    } else if (tag == kTagBool) {
      auto b = parse_bool(value);
      if (!b) return fail(mark, "\"" + value + "\" is not a boolean (!!bool)");
      v = *b;
    } else if (tag == kTagNull) {
      if (!is_null_text(value)) return fail(mark, "\"" + value + "\" is not null (!!null)");
      v = nullptr;
    } else {
      return fail(mark, "unsupported tag \"" + tag + "\"");
    }
    complete(std::move(v), pos, anchor);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    if (failed()) return;
    open(mark, tag, anchor, json::array());
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    if (failed()) return;
    open(mark, tag, anchor, json::object());
  }
  void OnMapEnd() override { close(); }

 private:
  // yaml-cpp 0.7 accepts a quoted scalar left open at the end of the input; find its close.
  bool quote_is_closed(const YAML::Mark& mark) const {
    if (mark.pos < 0 || static_cast<size_t>(mark.pos) >= text_.size()) return true;
    const char quote = text_[mark.pos];
    if (quote != '"' && quote != '\'') return true;
    for (size_t i = mark.pos + 1; i < text_.size(); ++i) {
      if (quote == '"' && text_[i] == '\\') {
        ++i;
      } else if (text_[i] == quote) {
        if (quote == '\'' && i + 1 < text_.size() && text_[i + 1] == '\'') {
          ++i;  // '' is an escaped quote inside single quotes
          continue;
        }
        return true;
      }
    }
    return false;
  }

  Position to_pos(const YAML::Mark& mark) const {
    Position p = to_position(mark);
    if (p.line > 0) p.line += line_offset_;
    return p;
  }

  struct Frame {
    json value;
    std::string pointer;
    Position pos;
    YAML::anchor_t anchor = YAML::NullAnchor;
    // mapping state
    bool has_key = false;
    bool key_is_merge = false;
    std::string key;
    Position key_pos;
    std::set<std::string> merged;  // keys that came from "<<" and may still be overridden
  };
  struct Anchored {
    json value;
    std::string pointer;  // where it was defined, to copy positions from
  };

  bool failed() const { return !error_.empty(); }

  void fail(const YAML::Mark& mark, std::string message) {
    if (failed()) return;
    error_ = std::move(message);
    error_pos_ = to_pos(mark);
    // Keep what was built so far: it usually names the document ("Sandbox/dev") in the error.
    if (!stack_.empty()) doc_.value = stack_.front().value;
  }

  std::string too_large_message() const {
    return "document too large: more than " + std::to_string(limits_.max_nodes_per_document) +
           " nodes after expanding aliases";
  }

  bool expecting_key() const {
    return !stack_.empty() && stack_.back().value.is_object() && !stack_.back().has_key;
  }

  std::string child_pointer() const {
    if (stack_.empty()) return "";
    const Frame& f = stack_.back();
    if (f.value.is_array()) return pointer_append(f.pointer, std::to_string(f.value.size()));
    return pointer_append(f.pointer, f.key);
  }

  void copy_positions(const std::string& from, const std::string& to) {
    if (from == to) return;
    std::vector<std::pair<std::string, NodePosition>> copies;
    for (auto it = doc_.positions.lower_bound(from); it != doc_.positions.end(); ++it) {
      const std::string& p = it->first;
      if (p.compare(0, from.size(), from) != 0) break;
      if (p.size() > from.size() && p[from.size()] != '/') continue;
      copies.emplace_back(to + p.substr(from.size()), it->second);
    }
    for (auto& [p, np] : copies) {
      NodePosition& dst = doc_.positions[p];
      // The root of the copy keeps the key position the current mapping gives it.
      Position key = dst.key;
      dst = np;
      if (p == to) dst.key = key;
    }
  }

  void open(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor, json empty) {
    saw_content_ = true;
    if (expecting_key()) return fail(mark, "mapping keys must be plain strings, not collections");
    if (tag != "?" && tag != "!" && tag != "tag:yaml.org,2002:map" &&
        tag != "tag:yaml.org,2002:seq") {
      return fail(mark, "unsupported tag \"" + tag + "\"");
    }
    if (++nodes_ > limits_.max_nodes_per_document) return fail(mark, too_large_message());
    Frame f;
    f.pointer = child_pointer();
    f.pos = to_pos(mark);
    f.anchor = anchor;
    f.value = std::move(empty);
    record_position(f.pointer, f.pos);
    stack_.push_back(std::move(f));
  }

  void close() {
    if (failed()) return;
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    complete(std::move(f.value), f.pos, f.anchor, /*positions_done=*/true, f.pointer);
  }

  void record_position(const std::string& pointer, Position pos) {
    NodePosition& np = doc_.positions[pointer];
    np.value = pos;
    if (!stack_.empty() && stack_.back().value.is_object()) np.key = stack_.back().key_pos;
  }

  // Attaches a finished node to its parent (or makes it the root).
  void complete(json v, Position pos, YAML::anchor_t anchor, bool positions_done = false,
                std::string pointer = {}) {
    saw_content_ = true;
    if (!positions_done) {
      if (++nodes_ > limits_.max_nodes_per_document) {
        error_ = too_large_message();
        error_pos_ = pos;
        return;
      }
      pointer = child_pointer();
      record_position(pointer, pos);
    } else if (pointer.empty() && !stack_.empty()) {
      pointer = child_pointer();
      record_position(pointer, pos);
    }
    if (anchor != YAML::NullAnchor) anchors_[anchor] = {v, pointer};

    if (stack_.empty()) {
      doc_.value = std::move(v);
      return;
    }
    Frame& parent = stack_.back();
    if (parent.value.is_array()) {
      parent.value.push_back(std::move(v));
      return;
    }
    parent.has_key = false;
    if (parent.key_is_merge) return merge_into(parent, v, pointer, pos);
    parent.value[parent.key] = std::move(v);
  }

  // "<<: *base" or "<<: [*a, *b]": keys already present win, earlier sources win over later ones.
  void merge_into(Frame& parent, const json& v, const std::string& from_pointer, Position pos) {
    parent.key_is_merge = false;
    std::vector<std::pair<const json*, std::string>> sources;
    if (v.is_object()) {
      sources.emplace_back(&v, from_pointer);
    } else if (v.is_array()) {
      for (size_t i = 0; i < v.size(); ++i) {
        if (!v[i].is_object()) break;
        sources.emplace_back(&v[i], pointer_append(from_pointer, std::to_string(i)));
      }
      if (sources.size() != v.size()) sources.clear();
    }
    if (sources.empty()) {
      error_ = "\"<<\" (merge key) needs a mapping or a list of mappings";
      error_pos_ = pos;
      return;
    }
    for (const auto& [src, src_pointer] : sources) {
      for (auto it = src->begin(); it != src->end(); ++it) {
        if (parent.value.contains(it.key())) continue;
        parent.value[it.key()] = it.value();
        parent.merged.insert(it.key());
        copy_positions(pointer_append(src_pointer, it.key()),
                       pointer_append(parent.pointer, it.key()));
      }
    }
  }

  Document& doc_;
  std::string& error_;
  Position& error_pos_;
  const LoadLimits& limits_;
  std::string_view text_;  // the chunk of text this parser sees
  const int line_offset_;  // lines of the file before that chunk
  std::vector<Frame> stack_;
  std::unordered_map<YAML::anchor_t, Anchored> anchors_;
  size_t nodes_ = 0;
  bool saw_content_ = false;
};

// Returns the byte offset of the first invalid UTF-8 sequence (or a NUL), or npos.
size_t find_invalid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0) return i;
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > s.size()) return i;
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return std::string_view::npos;
}

Position offset_to_position(std::string_view text, size_t offset) {
  Position p{1, 1};
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++p.line;
      p.col = 1;
    } else {
      ++p.col;
    }
  }
  return p;
}

// Whether line `line` (1-based) or the one before it starts with a tab in its indentation.
bool indented_with_tab(std::string_view text, int line) {
  int current = 1;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    if (current == line || current == line - 1) {
      std::string_view l = text.substr(start, end - start);
      size_t indent_end = l.find_first_not_of(" \t");
      if (l.substr(0, indent_end).find('\t') != std::string_view::npos) return true;
    }
    if (current >= line) break;
    ++current;
    start = end + 1;
  }
  return false;
}

}  // namespace

namespace {

// A run of whole documents cut out of a file, parsed on its own.
struct Chunk {
  std::string_view text;
  int line_offset = 0;   // lines of the file before this chunk
  int index_offset = 0;  // documents of the file before this chunk
};

struct ChunkResult {
  std::vector<Document> documents;
  Diagnostics diagnostics;
  int content_documents = 0;
};

bool is_marker_line(std::string_view text, size_t at, std::string_view marker) {
  if (text.compare(at, marker.size(), marker) != 0) return false;
  size_t next = at + marker.size();
  return next == text.size() || text[next] == ' ' || text[next] == '\t' || text[next] == '\n' ||
         text[next] == '\r';
}

// Whether the text before the first "---" holds anything but blanks and comments.
bool has_content(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    size_t end = text.find('\n', i);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(i, end - i);
    size_t first = line.find_first_not_of(" \t\r");
    if (first != std::string_view::npos && line[first] != '#') return true;
    i = end + 1;
  }
  return false;
}

// Cuts a file at its "---" lines so documents can be parsed in parallel. YAML forbids a
// document marker at the start of a line inside any content, so the cut never splits a node.
// Files using directives ("%YAML") or explicit document ends ("...") stay whole.
std::vector<Chunk> split_documents(std::string_view text) {
  std::vector<size_t> starts;  // offsets of "---" lines
  std::vector<int> lines;
  int line = 0;
  for (size_t i = 0; i < text.size();) {
    if (text[i] == '%' || is_marker_line(text, i, "...")) return {{text, 0, 0}};
    if (i > 0 && is_marker_line(text, i, "---")) {
      starts.push_back(i);
      lines.push_back(line);
    }
    size_t nl = text.find('\n', i);
    if (nl == std::string_view::npos) break;
    i = nl + 1;
    ++line;
  }
  std::vector<Chunk> chunks;
  size_t begin = 0;
  int begin_line = 0;
  int index = 0;
  for (size_t k = 0; k <= starts.size(); ++k) {
    size_t end = k < starts.size() ? starts[k] : text.size();
    Chunk c{text.substr(begin, end - begin), begin_line, index};
    // The first chunk is a document only if it has content or starts with "---"; every later
    // chunk starts with "---" and is exactly one document.
    index += (k > 0 || is_marker_line(text, 0, "---") || has_content(c.text)) ? 1 : 0;
    chunks.push_back(c);
    if (k < starts.size()) {
      begin = starts[k];
      begin_line = lines[k];
    }
  }
  return chunks;
}

void parse_chunk(const Chunk& chunk, const std::string& file, const LoadLimits& limits,
                 ChunkResult& out) {
  std::istringstream stream{std::string(chunk.text)};
  YAML::Parser parser(stream);
  int index = chunk.index_offset;
  std::optional<Position> last_start;
  while (true) {
    Document doc;
    doc.file = file;
    doc.index = index + 1;
    std::string error;
    Position error_pos;
    DocumentBuilder builder(doc, error, error_pos, limits, chunk.text, chunk.line_offset);
    bool more = false;
    try {
      more = parser.HandleNextDocument(builder);
    } catch (const YAML::Exception& e) {
      Position pos = to_position(e.mark);
      std::string hint;
      if (pos.line > 0 && indented_with_tab(chunk.text, pos.line)) {
        hint = " (tabs cannot indent YAML: use spaces)";
      }
      if (pos.line > 0) pos.line += chunk.line_offset;
      out.diagnostics.add(file, pos.line > 0 ? pos : doc.start,
                          "document " + std::to_string(index + 1),
                          "YAML syntax error: " + e.msg + hint);
      ++out.content_documents;
      return;  // the parser cannot resynchronise after a syntax error
    }
    if (!more) break;
    ++index;
    // yaml-cpp 0.7 can report the same document forever (e.g. a stray ','): stop when the
    // parser did not move.
    if (last_start && last_start->line == doc.start.line && last_start->col == doc.start.col) {
      size_t offset = 0;
      for (int line = chunk.line_offset + 1; line < doc.start.line && offset < chunk.text.size();
           ++offset) {
        if (chunk.text[offset] == '\n') ++line;
      }
      offset += doc.start.col - 1;
      std::string near =
          offset < chunk.text.size() ? std::string(1, chunk.text[offset]) : "end of input";
      out.diagnostics.add(file, doc.start, "document " + std::to_string(index - 1),
                          "YAML syntax error: unexpected '" + near + "' (the parser cannot go on)");
      ++out.content_documents;
      return;
    }
    last_start = doc.start;
    if (!error.empty()) {
      out.diagnostics.add(file, error_pos.line > 0 ? error_pos : doc.start, doc.subject(), error);
      ++out.content_documents;
      continue;
    }
    // Empty documents (a trailing "---", a file of comments) carry nothing and are skipped.
    if (!builder.saw_content() || doc.value.is_null()) continue;
    ++out.content_documents;
    out.documents.push_back(std::move(doc));
  }
}

// Below this size a file is parsed on the calling thread: threads would cost more than they save.
constexpr size_t kParallelThreshold = 256 * 1024;

}  // namespace

void load_yaml_text(std::string_view text, const std::string& file, LoadResult& out,
                    const LoadLimits& limits) {
  out.files.push_back(file);
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  if (size_t bad = find_invalid_utf8(text); bad != std::string_view::npos) {
    out.diagnostics.add(file, offset_to_position(text, bad), "document 1",
                        text[bad] == 0 ? "NUL byte: manifests are UTF-8 text"
                                       : "not valid UTF-8: manifests are UTF-8 text");
    return;
  }
  std::vector<Chunk> chunks = split_documents(text);
  std::vector<ChunkResult> results(chunks.size());
  unsigned workers = text.size() < kParallelThreshold ? 1 : workers_for(chunks.size(), 16);
  parallel_for(chunks.size(), workers,
               [&](unsigned, size_t i) { parse_chunk(chunks[i], file, limits, results[i]); });
  int content_documents = 0;
  for (ChunkResult& r : results) {
    content_documents += r.content_documents;
    for (Document& d : r.documents) out.documents.push_back(std::move(d));
    out.diagnostics.append(r.diagnostics);
  }
  if (content_documents == 0) {
    out.diagnostics.add(file, {1, 1}, "document 1", "empty document: the file holds no manifest");
  }
}

void load_path(const std::string& path, std::istream& stdin_stream, LoadResult& out,
               const LoadLimits& limits) {
  auto read_stream = [&](std::istream& in, const std::string& name) {
    std::string text;
    char buf[65536];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      text.append(buf, static_cast<size_t>(in.gcount()));
      if (text.size() > limits.max_file_bytes) {
        out.diagnostics.add(
            name, {}, "",
            "larger than " + std::to_string(limits.max_file_bytes >> 20) + " MiB: not a manifest");
        return;
      }
    }
    if (in.bad()) {
      out.diagnostics.add(name, {}, "", "read error");
      return;
    }
    load_yaml_text(text, name, out, limits);
  };
  if (path == "-") {
    read_stream(stdin_stream, "<stdin>");
    return;
  }
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    out.diagnostics.add(path, {}, "", "no such file or folder");
    return;
  }
  std::vector<std::string> files;
  if (fs::is_directory(st)) {
    fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const fs::path& p = it->path();
      std::string name = p.filename().string();
      if (!name.empty() && name[0] == '.') {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      std::string ext = p.extension().string();
      if ((ext == ".yaml" || ext == ".yml") && it->is_regular_file()) files.push_back(p.string());
    }
    if (ec) out.diagnostics.add(path, {}, "", "cannot read folder: " + ec.message());
    std::sort(files.begin(), files.end());
    if (files.empty() && !ec)
      out.diagnostics.add(path, {}, "", "folder holds no *.yaml or *.yml file");
  } else {
    files.push_back(path);
  }
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      out.diagnostics.add(f, {}, "", "cannot open: " + std::string(std::strerror(errno)));
      continue;
    }
    read_stream(in, f);
  }
}

}  // namespace acctl
