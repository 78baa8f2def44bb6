// The problems found in a feature file when every one is wanted, not just the first
// (lica_inspect; FeatureFile::open with a log). Each problem belongs to a rule; at most
// `listed_per_rule` messages of a rule are kept and the rest only counted, so memory and
// output stay bounded when every row of a 200k-row dataset breaks the same rule.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lica::data {

class ProblemLog {
 public:
  explicit ProblemLog(int64_t listed_per_rule = 20);

  // Whether a problem of `rule` would still be listed: callers that find many (a scan of
  // every row) build the message only then and call count() otherwise.
  bool listing(const std::string& rule) const;
  // A problem of `rule` ("<dataset>: <rule in a few words>"); `message` is the full text that
  // names the file, dataset, row, value and rule.
  void add(const std::string& rule, const std::string& message);
  // `n` more problems of `rule` that are not listed.
  void count(const std::string& rule, int64_t n = 1);

  int64_t total() const { return total_; }  // problems found, listed or not
  bool empty() const { return total_ == 0; }
  // The listed messages in the order found, then one line per rule with problems not listed:
  // "... and 1234 more of rule <rule>".
  std::vector<std::string> lines() const;

 private:
  struct RuleCount {
    int64_t listed = 0;
    int64_t found = 0;
  };
  int64_t listed_per_rule_;
  int64_t total_ = 0;
  std::vector<std::string> messages_;
  std::vector<std::string> rule_order_;  // rules in the order first found
  std::map<std::string, RuleCount> rules_;
};

}  // namespace lica::data
