// The names of the retrieval metrics (the keys of metrics.jsonl's eval records and the
// values checkpoint.best_metric takes), shared by config validation and evaluation.
#pragma once

#include <string>
#include <vector>

namespace lica {

// "t2v_r1", ..., "v2t_mnr", in the order metrics are printed.
const std::vector<std::string>& retrieval_metric_names();

// Whether a larger value of `metric` is better (recalls) or worse (median and mean rank).
bool larger_is_better(const std::string& metric);

}  // namespace lica
