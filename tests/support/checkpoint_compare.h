// Compares the training state of two checkpoints: every parameter and buffer, and every AdamW
// state (step count, both moments), loaded into fresh models built from `cfg`. Shared by the
// single-process and the mpirun resume tests.
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <type_traits>

#include "model/momentum.h"
#include "run/checkpoint.h"
#include "run/model_options.h"
#include "trainer/loss_options.h"
#include "trainer/schedule.h"

namespace lica::testing {

struct StateDifference {
  double params = 0;     // max |a - b| over parameters and buffers
  double momentum = 0;   // max |a - b| over the momentum towers and queues (when the run has them)
  double moments = 0;    // max |a - b| over AdamW exp_avg and exp_avg_sq
  int64_t steps = 0;     // max |a - b| of the AdamW step counts
  int64_t tensors = 0;   // tensors compared
};

// The AdamW state of parameter p, whatever key type this LibTorch uses (1.13: the impl
// pointer printed as a string; 2.x: the pointer itself).
template <typename Map>
const torch::optim::AdamWParamState& adamw_state(const Map& states, const torch::Tensor& p) {
  using Key = typename Map::key_type;
  void* impl = p.unsafeGetTensorImpl();
  const auto find = [&](const Key& key) -> const torch::optim::AdamWParamState& {
    return static_cast<const torch::optim::AdamWParamState&>(*states.at(key));
  };
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream key;
    key << impl;
    return find(key.str());
  } else {
    return find(impl);
  }
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes()) return std::numeric_limits<double>::infinity();
  if (a.numel() == 0) return 0;
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

inline StateDifference compare_checkpoints(const std::filesystem::path& a,
                                           const std::filesystem::path& b,
                                           const run::Config& cfg) {
  const auto file = run::open_features(cfg);
  const auto options = run::dual_encoder_options(cfg, file);
  model::DualEncoder ma(options), mb(options);
  auto oa = trainer::make_adamw(*ma, cfg.trainer.lr, cfg.trainer.weight_decay);
  auto ob = trainer::make_adamw(*mb, cfg.trainer.lr, cfg.trainer.weight_decay);
  run::load_model(a, *ma);
  run::load_model(b, *mb);
  run::load_optimizer(a, *oa);
  run::load_optimizer(b, *ob);
  StateDifference d;
  const auto pa = ma->named_parameters(), pb = mb->named_parameters();
  for (const auto& item : pa) {
    d.params = std::max(d.params, max_abs_diff(item.value(), pb[item.key()]));
    ++d.tensors;
  }
  const auto ba = ma->named_buffers(), bb = mb->named_buffers();
  for (const auto& item : ba) {
    d.params = std::max(d.params, max_abs_diff(item.value(), bb[item.key()]));
    ++d.tensors;
  }
  if (trainer::loss_options(cfg).needs_momentum()) {
    const auto m = cfg.model.momentum;
    model::Momentum qa(options, ma, m.m, m.queue_size), qb(options, mb, m.m, m.queue_size);
    run::load_momentum(a, *qa);
    run::load_momentum(b, *qb);
    const auto ta = qa->named_buffers(), tb = qb->named_buffers();
    for (const auto& item : ta) d.momentum = std::max(d.momentum, max_abs_diff(item.value(), tb[item.key()]));
    const auto wa = qa->named_parameters(), wb = qb->named_parameters();
    for (const auto& item : wa) d.momentum = std::max(d.momentum, max_abs_diff(item.value(), wb[item.key()]));
    d.tensors += static_cast<int64_t>(ta.size() + wa.size());
  }
  const auto params_a = ma->parameters(), params_b = mb->parameters();
  for (size_t i = 0; i < params_a.size(); ++i) {
    const auto& sa = adamw_state(oa->state(), params_a[i]);
    const auto& sb = adamw_state(ob->state(), params_b[i]);
    d.steps = std::max(d.steps, std::abs(sa.step() - sb.step()));
    d.moments = std::max({d.moments, max_abs_diff(sa.exp_avg(), sb.exp_avg()),
                          max_abs_diff(sa.exp_avg_sq(), sb.exp_avg_sq())});
    d.tensors += 2;
  }
  return d;
}

}  // namespace lica::testing
