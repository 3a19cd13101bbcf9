// Errors found in manifests, each tied to a file position and the document it belongs to.
#pragma once

#include <string>
#include <vector>

namespace acctl {

struct Position {
  int line = 0;  // 1-based; 0 means unknown
  int col = 0;   // 1-based
};

struct Diagnostic {
  std::string file;
  Position pos;
  std::string subject;  // "Sandbox/dev", "Sandbox/?" or "document 2"
  std::string message;

  // FILE:LINE:COL: SUBJECT: MESSAGE
  std::string str() const;
};

// Collects every problem from every document; nothing is planned while it is non-empty.
class Diagnostics {
 public:
  void add(std::string file, Position pos, std::string subject, std::string message);
  // Adds every diagnostic of `other` (one worker's, one file's) to this collection.
  void append(const Diagnostics& other);
  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }
  // Sorted by file, line and column, duplicates removed: the order users read them in.
  std::vector<Diagnostic> sorted() const;
  const std::vector<Diagnostic>& items() const { return items_; }

 private:
  std::vector<Diagnostic> items_;
};

}  // namespace acctl
