#include "data/problem_log.h"

#include <algorithm>

namespace lica::data {

ProblemLog::ProblemLog(int64_t listed_per_rule) : listed_per_rule_(std::max<int64_t>(listed_per_rule, 1)) {}

bool ProblemLog::listing(const std::string& rule) const {
  auto it = rules_.find(rule);
  return it == rules_.end() || it->second.listed < listed_per_rule_;
}

void ProblemLog::add(const std::string& rule, const std::string& message) {
  const bool listed = listing(rule);
  count(rule, 1);
  if (listed) {
    messages_.push_back(message);
    ++rules_[rule].listed;
  }
}

void ProblemLog::count(const std::string& rule, int64_t n) {
  if (n <= 0) return;
  auto [it, inserted] = rules_.try_emplace(rule);
  if (inserted) rule_order_.push_back(rule);
  it->second.found += n;
  total_ += n;
}

std::vector<std::string> ProblemLog::lines() const {
  std::vector<std::string> out = messages_;
  for (const std::string& rule : rule_order_) {
    const RuleCount& c = rules_.at(rule);
    if (c.found > c.listed) {
      out.push_back("... and " + std::to_string(c.found - c.listed) + " more of rule " + rule +
                    " (not listed)");
    }
  }
  return out;
}

}  // namespace lica::data
