// The table of config keys behind parsing, validation, dumping and --help: per key its
// path, value type, range or choices, the Config member it sets, and a line of help.
// Internal to src/run (config.cpp and config_fields.cpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "common/json_line.h"
#include "run/config.h"

namespace lica::run::config_table {

// The shortest decimal that reads back as exactly `v` (YAML spellings for non-finite values).
std::string format_double(double v);
std::string quote(const std::string& s);  // 'like this'
std::string join(const std::vector<std::string>& items, const std::string& sep);

// ---- the field table -----------------------------------------------------------------------
// One spec per value type. Each knows how to decode a YAML scalar, format a value for YAML,
// check its range or choices, and describe that range for comments.

struct IntSpec {
  using Value = int64_t;
  Value* (*member)(Config&);
  int64_t lo, hi;
  static constexpr const char* kExpected = "an integer";
  std::string format(Value v) const { return std::to_string(v); }
  std::string range() const { return "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]"; }
  std::string check(Value v) const {
    if (v >= lo && v <= hi) return "";
    return "value " + format(v) + " is out of range, expected " + range();
  }
};

struct Bound {
  double value;
  bool open;
};

struct DoubleSpec {
  using Value = double;
  Value* (*member)(Config&);
  Bound lo, hi;
  static constexpr const char* kExpected = "a number";
  std::string format(Value v) const { return format_double(v); }
  std::string range() const {
    return (lo.open ? "(" : "[") + format_double(lo.value) + ", " + format_double(hi.value) +
           (hi.open ? ")" : "]");
  }
  std::string check(Value v) const {
    const bool above = lo.open ? v > lo.value : v >= lo.value;  // false for NaN
    const bool below = hi.open ? v < hi.value : v <= hi.value;
    if (above && below) return "";
    return "value " + format(v) + " is out of range, expected " + range();
  }
};

struct StringSpec {
  using Value = std::string;
  Value* (*member)(Config&);
  std::vector<std::string> choices;  // empty = any string
  bool allow_empty;
  static constexpr const char* kExpected = "a string";
  // A JSON string literal is a valid YAML double-quoted scalar.
  std::string format(const Value& v) const { return json_quote(v); }
  std::string range() const {
    if (!choices.empty()) return "one of: " + join(choices, ", ");
    return allow_empty ? "" : "non-empty";
  }
  std::string check(const Value& v) const {
    if (!choices.empty()) {
      if (std::find(choices.begin(), choices.end(), v) != choices.end()) return "";
      return "value " + quote(v) + " is not one of: " + join(choices, ", ");
    }
    if (v.empty() && !allow_empty) return "must not be empty";
    return "";
  }
};

struct BoolSpec {
  using Value = bool;
  Value* (*member)(Config&);
  static constexpr const char* kExpected = "a boolean";
  std::string format(Value v) const { return v ? "true" : "false"; }
  std::string range() const { return ""; }
  std::string check(Value) const { return ""; }
};

struct Field {
  std::string key;  // full path, "trainer.lr"
  std::variant<IntSpec, DoubleSpec, StringSpec, BoolSpec> spec;
  std::string help;
};

// Every field, grouped by section (dump_config() relies on sections being contiguous).
const std::vector<Field>& fields();

// The field of `key` ("trainer.lr"), nullptr if there is none.
const Field* find_field(const std::string& key);

}  // namespace lica::run::config_table
