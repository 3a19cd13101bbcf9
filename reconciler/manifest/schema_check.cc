// The only translation unit that includes valijson: keeps its heavy headers out of the rest.
#include "manifest/schema_check.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "manifest/schema.h"

namespace acctl {
namespace {

using nlohmann::json;
using Path = std::vector<std::string>;

// std::regex (valijson's engine) recurses once per character; longer strings under a pattern
// could exhaust the stack, so they are refused before validation.
constexpr size_t kMaxPatternedLength = 1024;

std::string pointer_of(const Path& path) {
  std::string p;
  for (const std::string& t : path) p = pointer_append(p, t);
  return p;
}

std::string quote(const std::string& s) {
  return "\"" + s + "\"";
}

std::string short_value(const json& v) {
  std::string text = v.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string format_number(const json& n) {
  if (n.is_number_integer() || n.is_number_unsigned()) return n.dump();
  double d = n.get<double>();
  if (d == static_cast<double>(static_cast<long long>(d)))
    return std::to_string(static_cast<long long>(d));
  return n.dump();
}

std::string expected_types(const json& schema) {
  auto t = schema.find("type");
  if (t == schema.end()) return "";
  if (t->is_string()) return t->get<std::string>();
  std::vector<std::string> names;
  for (const json& n : *t) names.push_back(n.get<std::string>());
  return join(names, " or ");
}

// Describes what a oneOf/anyOf node accepts, for when no branch matched.
std::string describe_alternatives(const json& root, const json& node) {
  if (auto m = node.find("errorMessage"); m != node.end() && m->is_string()) return *m;
  const json& branches = node.contains("oneOf") ? node["oneOf"] : node["anyOf"];
  std::vector<std::string> forms;
  for (const json& b : branches) {
    const json* r = resolve_schema_ref(root, &b);
    if (!r) continue;
    if (r->contains("const")) {
      forms.push_back((*r)["const"].dump());
    } else if (r->contains("type")) {
      forms.push_back(expected_types(*r));
    }
  }
  std::sort(forms.begin(), forms.end());
  forms.erase(std::unique(forms.begin(), forms.end()), forms.end());
  if (forms.empty()) return "does not match any allowed form";
  return "expected " + join(forms, " or ");
}

struct RawError {
  Path path;
  std::string description;
};

bool starts_with(const std::string& s, std::string_view p) {
  return s.rfind(p, 0) == 0;
}

bool is_prefix(const Path& prefix, const Path& path) {
  return prefix.size() <= path.size() && std::equal(prefix.begin(), prefix.end(), path.begin());
}

// Finds strings longer than kMaxPatternedLength wherever the schema applies a pattern.
void find_long_patterned(const json& root, const json& instance, Path& path,
                         std::vector<Path>& found) {
  if (instance.is_string()) {
    if (instance.get_ref<const std::string&>().size() <= kMaxPatternedLength) return;
    const json* s = schema_at(root, path);
    if (!s) return;
    bool patterned = s->contains("pattern");
    for (const char* alt : {"oneOf", "anyOf"}) {
      if (!s->contains(alt)) continue;
      for (const json& b : (*s)[alt])
        patterned = patterned || b.contains("pattern") || b.contains("$ref");
    }
    if (patterned) found.push_back(path);
    return;
  }
  if (instance.is_object()) {
    for (auto it = instance.begin(); it != instance.end(); ++it) {
      path.push_back(it.key());
      find_long_patterned(root, it.value(), path, found);
      path.pop_back();
    }
  } else if (instance.is_array()) {
    for (size_t i = 0; i < instance.size(); ++i) {
      path.push_back(std::to_string(i));
      find_long_patterned(root, instance[i], path, found);
      path.pop_back();
    }
  }
}

}  // namespace

std::string json_type_name(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    default:
      return "value";
  }
}

struct SchemaChecker::Impl {
  struct Compiled {
    const json* source;
    valijson::Schema schema;
  };
  std::map<std::string, std::unique_ptr<Compiled>, std::less<>> compiled;
  valijson::Validator validator{valijson::Validator::kStrongTypes};

  Compiled& get(const std::string& kind) {
    auto it = compiled.find(kind);
    if (it != compiled.end()) return *it->second;
    auto c = std::make_unique<Compiled>();
    c->source = document_schema(kind);
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(*c->source);
    parser.populateSchema(adapter, c->schema);
    return *compiled.emplace(kind, std::move(c)).first->second;
  }
};

SchemaChecker::SchemaChecker() : impl_(std::make_unique<Impl>()) {}
SchemaChecker::~SchemaChecker() = default;

bool SchemaChecker::check(const Document& doc, Diagnostics& out) {
  const std::string subject = doc.subject();
  auto report = [&](Position pos, std::string message) {
    out.add(doc.file, pos, subject, std::move(message));
  };
  const json& v = doc.value;
  if (!v.is_object()) {
    report(doc.value_pos(""),
           "expected object (a mapping with apiVersion, kind, metadata and spec), got " +
               json_type_name(v));
    return false;
  }
  bool ok = true;
  auto api = v.find("apiVersion");
  if (api == v.end()) {
    report(doc.value_pos(""),
           "missing required field \"apiVersion\" (use " + std::string(kApiVersion) + ")");
    ok = false;
  } else if (!api->is_string() || *api != kApiVersion) {
    report(doc.value_pos("/apiVersion"), "unsupported apiVersion " + short_value(*api) +
                                             " (expected " + std::string(kApiVersion) + ")");
    ok = false;
  }
  auto kind = v.find("kind");
  std::string kinds_list;
  for (std::string_view k : kKinds) kinds_list += (kinds_list.empty() ? "" : ", ") + std::string(k);
  if (kind == v.end()) {
    report(doc.value_pos(""), "missing required field \"kind\" (one of " + kinds_list + ")");
    return false;
  }
  if (!kind->is_string() || !document_schema(kind->get<std::string>())) {
    report(doc.value_pos("/kind"),
           "unknown kind " + short_value(*kind) + " (expected one of " + kinds_list + ")");
    return false;
  }
  Impl::Compiled& c = impl_->get(kind->get<std::string>());
  const json& root = *c.source;

  std::vector<Path> long_strings;
  Path scratch;
  find_long_patterned(root, v, scratch, long_strings);
  for (const Path& p : long_strings) {
    report(doc.value_pos(pointer_of(p)),
           "too long (more than " + std::to_string(kMaxPatternedLength) + " characters)");
  }
  if (!long_strings.empty()) return false;

  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(v);
  if (impl_->validator.validate(c.schema, target, &results)) return ok;

  std::vector<RawError> errors;
  valijson::ValidationResults::Error e;
  while (results.popError(e)) {
    RawError r;
    for (size_t i = 1; i < e.context.size(); ++i) {  // [0] is "<root>"
      const std::string& t = e.context[i];
      r.path.push_back(
          t.size() >= 2 && t.front() == '[' && t.back() == ']' ? t.substr(1, t.size() - 2) : t);
    }
    r.description = e.description;
    errors.push_back(std::move(r));
  }
  // Where no alternative of a oneOf/anyOf matched, one message about the node says more than
  // the failures of every branch.
  std::vector<Path> alternatives;
  for (const RawError& r : errors) {
    if (starts_with(r.description,
                    "Failed to validate against any child schemas allowed by oneOf") ||
        starts_with(r.description, "Failed to validate against exactly one child schema") ||
        starts_with(r.description, "Failed to validate against any schemas allowed by anyOf")) {
      alternatives.push_back(r.path);
    }
  }
  std::set<std::pair<std::string, std::string>> seen;
  for (const RawError& r : errors) {
    const std::string& d = r.description;
    if (starts_with(d, "Failed to validate against schema associated with property name") ||
        starts_with(d, "Failed to validate item #") ||
        starts_with(d, "Failed to validate against additional properties schema") ||
        starts_with(d, "Failed to validate against child schema #") ||
        starts_with(d, "Failed to validate against a conditional schema")) {
      continue;
    }
    const bool is_alternative =
        std::find(alternatives.begin(), alternatives.end(), r.path) != alternatives.end() &&
        (starts_with(d, "Failed to validate against any") ||
         starts_with(d, "Failed to validate against exactly"));
    bool hidden = false;
    for (const Path& a : alternatives) hidden = hidden || (is_prefix(a, r.path) && !is_alternative);
    if (hidden) continue;
    if (!r.path.empty() && r.path[0] == "apiVersion") continue;  // reported above
    if (r.path.empty() && d == "Missing required property 'apiVersion'.") continue;

    const std::string pointer = pointer_of(r.path);
    const json* node_schema = schema_at(root, r.path);
    const json* value = nullptr;
    try {
      value = &v.at(json::json_pointer(pointer));
    } catch (const json::exception&) {
    }
    Position pos = doc.value_pos(pointer);
    std::string message = d;
    if (is_alternative && node_schema) {
      message = describe_alternatives(root, *node_schema);
      if (value && !value->is_structured()) message += ", got " + short_value(*value);
    } else if (starts_with(d, "Value type not permitted")) {
      std::string want = node_schema ? expected_types(*node_schema) : "";
      message = "expected " + (want.empty() ? std::string("another type") : want) + ", got " +
                (value ? json_type_name(*value) : "another type");
      if (value && !value->is_structured() && !value->is_null())
        message += " " + short_value(*value);
    } else if (starts_with(d, "Missing required property '")) {
      std::string name = d.substr(27, d.size() - 29);
      message = "missing required field " + quote(name);
    } else if (starts_with(d, "Object contains a property that could not be validated")) {
      size_t q = d.find(": '");
      std::string name = q == std::string::npos ? "?" : d.substr(q + 3, d.size() - q - 5);
      message = "unknown field " + quote(name);
      pos = doc.key_pos(pointer_append(pointer, name));
      if (node_schema && node_schema->contains("properties")) {
        std::string best;
        size_t best_d = 3;
        std::vector<std::string> known;
        for (auto& [k, unused] : (*node_schema)["properties"].items()) {
          known.push_back(k);
          size_t dist = edit_distance(name, k);
          if (dist < best_d && !v.at(json::json_pointer(pointer)).contains(k))
            best_d = dist, best = k;
        }
        if (!best.empty()) {
          message += " (did you mean " + quote(best) + "?)";
        } else {
          message += " (known: " + join(known, ", ") + ")";
        }
      }
    } else if (starts_with(d, "Failed to match against any enum values") && node_schema &&
               node_schema->contains("enum")) {
      std::vector<std::string> names;
      for (const json& e2 : (*node_schema)["enum"])
        names.push_back(e2.is_string() ? e2.get<std::string>() : e2.dump());
      message = "must be one of: " + join(names, ", ");
      if (value) message += " (got " + short_value(*value) + ")";
    } else if (starts_with(d, "Failed to match expected value set by 'const'") && node_schema &&
               node_schema->contains("const")) {
      message = "must be " + (*node_schema)["const"].dump();
    } else if (starts_with(d, "Failed to match regex") && node_schema) {
      if (auto m = node_schema->find("errorMessage"); m != node_schema->end() && m->is_string()) {
        message = m->get<std::string>();
      } else {
        message = "does not match the pattern " + node_schema->value("pattern", std::string("?"));
      }
      if (value) message += " (got " + short_value(*value) + ")";
    } else if (starts_with(d, "Expected number greater than or equal to") && node_schema) {
      message = "must be >= " + format_number(node_schema->value("minimum", json(0)));
      if (value) message += " (got " + short_value(*value) + ")";
    } else if (starts_with(d, "Expected number greater than") && node_schema) {
      json limit = node_schema->contains("exclusiveMinimum")
                       ? (*node_schema)["exclusiveMinimum"]
                       : node_schema->value("minimum", json(0));
      message = "must be > " + format_number(limit);
      if (value) message += " (got " + short_value(*value) + ")";
    } else if (starts_with(d, "Expected number less than or equal to") && node_schema) {
      message = "must be <= " + format_number(node_schema->value("maximum", json(0)));
      if (value) message += " (got " + short_value(*value) + ")";
    } else if (starts_with(d, "Expected number less than") && node_schema) {
      json limit = node_schema->contains("exclusiveMaximum")
                       ? (*node_schema)["exclusiveMaximum"]
                       : node_schema->value("maximum", json(0));
      message = "must be < " + format_number(limit);
    } else if (starts_with(d, "Array should contain no fewer than") && node_schema) {
      message = "must have at least " + format_number(node_schema->value("minItems", json(1))) +
                " item(s)";
    } else if (starts_with(d, "Array should contain no more than") && node_schema) {
      message = "must have at most " + format_number(node_schema->value("maxItems", json(0))) +
                " item(s)";
    } else if (starts_with(d, "String should be no fewer than") && node_schema) {
      message = "must be at least " + format_number(node_schema->value("minLength", json(1))) +
                " character(s)";
    } else if (starts_with(d, "String should be no more than") && node_schema) {
      message = "must be at most " + format_number(node_schema->value("maxLength", json(0))) +
                " characters";
    } else if (starts_with(d, "Elements at indexes #")) {
      message = "items must be unique: " + d.substr(12, d.find(" violate") - 12) + " are equal";
    }
    if (!seen.emplace(pointer, message).second) continue;
    report(pos, message);
  }
  return false;
}

}  // namespace acctl
