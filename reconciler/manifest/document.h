// A manifest document as JSON, with the source position of every node kept beside it.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "manifest/diagnostics.h"

namespace acctl {

struct NodePosition {
  Position key;    // where the mapping key naming this node starts (unset for the root/items)
  Position value;  // where the node itself starts
};

struct Document {
  std::string file;  // as the user named it; "<stdin>" for standard input
  int index = 0;     // 1-based position of the document within its file
  Position start;
  nlohmann::json value;
  // JSON pointer ("/spec/resources/cpus") → positions. Ordered so a subtree is a key range.
  std::map<std::string, NodePosition> positions;

  // Position of the node at `pointer`, or of its closest ancestor that has one.
  Position value_pos(const std::string& pointer) const;
  // Position of the key naming the node at `pointer`; falls back to value_pos.
  Position key_pos(const std::string& pointer) const;
  // "Kind/name", "Kind/?" or "document N", for diagnostics.
  std::string subject() const;
};

// Appends one reference token to a JSON pointer, escaping '~' and '/' (RFC 6901).
std::string pointer_append(const std::string& pointer, const std::string& token);

}  // namespace acctl
