#include "trainer/micro_batch.h"

#include <ATen/Context.h>

#include <mutex>

#include "common/error.h"
#include "model/autocast_guard.h"
#include "model/module_device.h"

namespace lica::trainer {
namespace {

// This rank's rows [r0, r1) through one tower, in the step's precision, as fp32 (the losses
// never see bf16); the embedding only. `local` may be in host memory (trainer.host_inputs).
torch::Tensor embed_rows(model::DualEncoder& model, const data::Batch& local, bool video,
                         int64_t r0, int64_t r1, const LossOptions& opt,
                         const torch::Device& device) {
  torch::Tensor e;
  {
    // A copy of this tower's rows only, from host inputs.
    const auto rows =
        data::rows_to(video ? data::video_part(local) : data::text_part(local), r0, r1, device);
    model::AutocastGuard autocast(device, opt.precision);
    e = video ? model->encode_video_sequence(rows.video, rows.video_mask).embedding
              : model->encode_text_sequence(rows.text, rows.text_mask).embedding;
  }
  return model::widened(e);
}

torch::Tensor state_of(at::Generator& generator) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}
void restore(at::Generator& generator, const torch::Tensor& state) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

// Row ranges of `chunk` rows covering [0, n).
std::vector<std::pair<int64_t, int64_t>> ranges(int64_t n, int64_t chunk) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t r0 = 0; r0 < n; r0 += chunk) out.emplace_back(r0, std::min(n, r0 + chunk));
  return out;
}

}  // namespace

StepLosses micro_batched_step(model::DualEncoder& model, const model::Momentum& momentum,
                              dist::Communicator& comm, const data::Batch& local,
                              int64_t offset, const LossOptions& opt, uint64_t sample_seed) {
  if (opt.micro_batch <= 0) throw Error("micro_batched_step: micro_batch must be positive");
  if (opt.needs_local_heads() || opt.itm_weight > 0.0) {
    throw Error("micro_batched_step: LMIM and ITM need the sequences with gradient");
  }
  const torch::Device device = model::module_device(*model);
  at::Generator generator = at::globalContext().defaultGenerator(device);
  const auto parts = ranges(local.size(), opt.micro_batch);

  // 1. Embeddings without autograd; each pass's generator state is kept for its replay.
  std::vector<torch::Tensor> states[2];  // [video, text][part]
  torch::Tensor cached[2];
  {
    torch::NoGradGuard no_grad;
    for (int tower = 0; tower < 2; ++tower) {
      std::vector<torch::Tensor> rows;
      for (const auto& [r0, r1] : parts) {
        states[tower].push_back(state_of(generator));
        rows.push_back(embed_rows(model, local, tower == 0, r0, r1, opt, device));
      }
      cached[tower] = torch::cat(rows).detach().requires_grad_(true);
    }
  }
  const auto after_forward = state_of(generator);

  // 2. The losses on the cached embeddings, back to them (and into the logit scale's .grad).
  auto out = step_losses_from(model, momentum, comm, local, offset, opt, sample_seed,
                              model::Encoded{cached[0], {}}, model::Encoded{cached[1], {}});
  out.total.backward();
  out.total = out.total.detach();

  // 3. Each micro-batch again, with autograd, from the generator state of its first pass.
  for (int tower = 0; tower < 2; ++tower) {
    const auto grad = cached[tower].grad();
    if (!grad.defined()) continue;  // no term used this tower's embeddings
    for (size_t k = 0; k < parts.size(); ++k) {
      const auto [r0, r1] = parts[k];
      restore(generator, states[tower][k]);
      embed_rows(model, local, tower == 0, r0, r1, opt, device).backward(grad.slice(0, r0, r1));
    }
  }
  restore(generator, after_forward);
  return out;
}

StepLosses losses_and_gradients(model::DualEncoder& model, const model::Momentum& momentum,
                                dist::Communicator& comm, const data::Batch& local,
                                int64_t offset, const LossOptions& opt,
                                dist::GradientReducer& reducer, uint64_t sample_seed) {
  if (opt.micro_batch > 0) {
    auto out = micro_batched_step(model, momentum, comm, local, offset, opt, sample_seed);
    reducer.reduce_accumulated();
    return out;
  }
  auto out = step_losses(model, momentum, comm, local, offset, opt, sample_seed);
  reducer.prepare();
  out.total.backward();
  reducer.finish();
  return out;
}

}  // namespace lica::trainer
