// Position lookups and naming for manifest documents.
#include "manifest/document.h"

namespace acctl {

std::string pointer_append(const std::string& pointer, const std::string& token) {
  std::string out = pointer;
  out.reserve(pointer.size() + token.size() + 1);
  out += '/';
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

Position Document::value_pos(const std::string& pointer) const {
  std::string p = pointer;
  while (true) {
    auto it = positions.find(p);
    if (it != positions.end() && it->second.value.line > 0) return it->second.value;
    if (p.empty()) return start;
    p.erase(p.rfind('/'));
  }
}

Position Document::key_pos(const std::string& pointer) const {
  auto it = positions.find(pointer);
  if (it != positions.end() && it->second.key.line > 0) return it->second.key;
  return value_pos(pointer);
}

std::string Document::subject() const {
  const nlohmann::json* kind = nullptr;
  if (value.is_object()) {
    auto it = value.find("kind");
    if (it != value.end() && it->is_string()) kind = &*it;
  }
  static const char* kKinds[] = {"Host", "EgressPolicy", "Blueprint", "Sandbox"};
  bool known = false;
  if (kind) {
    for (const char* k : kKinds) known = known || kind->get_ref<const std::string&>() == k;
  }
  if (!known) return "document " + std::to_string(index);
  std::string out = kind->get<std::string>() + "/";
  auto meta = value.find("metadata");
  if (meta != value.end() && meta->is_object()) {
    auto name = meta->find("name");
    if (name != meta->end() && name->is_string() && !name->get_ref<const std::string&>().empty()) {
      return out + name->get<std::string>();
    }
  }
  return out + "?";
}

}  // namespace acctl
