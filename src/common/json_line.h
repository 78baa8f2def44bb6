// A JSON object written on one line: the record format of metrics.jsonl and of the
// programs' JSON output. Values are numbers, strings, booleans or JSON the caller encoded
// (add_json: an array of records); non-finite numbers are written as null (JSON has no NaN).
// Readers (tests, tools) parse it with any JSON parser.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lica {

class JsonLine {
 public:
  JsonLine& add(const std::string& key, double value);
  JsonLine& add(const std::string& key, int64_t value);
  JsonLine& add(const std::string& key, int value) { return add(key, static_cast<int64_t>(value)); }
  JsonLine& add(const std::string& key, bool value);
  JsonLine& add(const std::string& key, const std::string& value);
  JsonLine& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  // A value already encoded as JSON (an array, an object), inserted as it is.
  JsonLine& add_json(const std::string& key, std::string encoded);
  // `{"k": v, ...}` without a trailing newline.
  std::string str() const;

 private:
  std::vector<std::pair<std::string, std::string>> fields_;  // key, encoded value
};

// `s` as a JSON string literal, quotes included.
std::string json_quote(const std::string& s);

}  // namespace lica
