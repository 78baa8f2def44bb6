#include "common/metric_keys.h"

namespace lica {

const std::vector<std::string>& retrieval_metric_names() {
  static const std::vector<std::string> names{"t2v_r1", "t2v_r5", "t2v_r10", "t2v_mdr", "t2v_mnr",
                                              "v2t_r1", "v2t_r5", "v2t_r10", "v2t_mdr", "v2t_mnr"};
  return names;
}

bool larger_is_better(const std::string& metric) {
  return metric.find("_mdr") == std::string::npos && metric.find("_mnr") == std::string::npos;
}

}  // namespace lica
