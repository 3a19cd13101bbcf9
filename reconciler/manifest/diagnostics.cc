// Formatting and ordering of manifest diagnostics.
#include "manifest/diagnostics.h"

#include <algorithm>
#include <tuple>

namespace acctl {

std::string Diagnostic::str() const {
  std::string out = file;
  if (pos.line > 0) out += ":" + std::to_string(pos.line) + ":" + std::to_string(pos.col);
  out += ": ";
  if (!subject.empty()) out += subject + ": ";
  out += message;
  return out;
}

void Diagnostics::add(std::string file, Position pos, std::string subject, std::string message) {
  items_.push_back({std::move(file), pos, std::move(subject), std::move(message)});
}

void Diagnostics::append(const Diagnostics& other) {
  items_.insert(items_.end(), other.items_.begin(), other.items_.end());
}

std::vector<Diagnostic> Diagnostics::sorted() const {
  std::vector<Diagnostic> out = items_;
  auto key = [](const Diagnostic& d) {
    return std::tie(d.file, d.pos.line, d.pos.col, d.subject, d.message);
  };
  std::stable_sort(out.begin(), out.end(),
                   [&](const Diagnostic& a, const Diagnostic& b) { return key(a) < key(b); });
  out.erase(std::unique(out.begin(), out.end(),
                        [&](const Diagnostic& a, const Diagnostic& b) { return key(a) == key(b); }),
            out.end());
  return out;
}

}  // namespace acctl
