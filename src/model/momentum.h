// Momentum (EMA) copies of both towers and queues of their past embeddings (AAI; docs/design.md §3).
// The queues hold the momentum embeddings of past global batches and serve ITC and IMS as
// extra negatives. Every rank pushes the same gathered global batch after the same optimiser
// step, so every rank holds the same queues; they and the EMA weights are checkpointed as one
// module (buffers "video_queue", "text_queue", "queue_fill").
#pragma once

#include <torch/torch.h>

#include "model/dual_encoder.h"

namespace lica::model {

// theta' <- m theta' + (1 - m) theta for every parameter of `target`, matched by name in
// `source` (which may have more); buffers are copied. m = 0 copies.
void ema_update(torch::nn::Module& target, torch::nn::Module& source, double m);

class MomentumImpl : public torch::nn::Module {
 public:
  // `online` is copied: the momentum towers start equal to it. queue_size may be 0.
  MomentumImpl(const DualEncoderOptions& opt, DualEncoder& online, double m, int64_t queue_size);

  // Momentum embeddings of a batch, without gradient, the towers in eval mode (no dropout:
  // the targets do not consume the online model's random numbers).
  torch::Tensor encode_video(const torch::Tensor& frames, const torch::Tensor& mask);
  torch::Tensor encode_text(const torch::Tensor& tokens, const torch::Tensor& mask);

  // After the optimiser step: the EMA of `online`'s weights.
  void update(DualEncoder& online) { ema_update(*encoder_, *online, m_); }

  // Pushes a global batch of momentum embeddings ([B, D] each); the oldest rows are
  // overwritten once the queues are full. Rows past the queue size keep only the newest.
  void enqueue(const torch::Tensor& videos, const torch::Tensor& texts);

  // [n, D], n = the rows filled so far (at most queue_size), in slot order.
  torch::Tensor video_queue() const { return video_queue_.slice(0, 0, filled()); }
  torch::Tensor text_queue() const { return text_queue_.slice(0, 0, filled()); }
  int64_t filled() const { return queue_fill_[0].item<int64_t>(); }
  int64_t queue_size() const { return video_queue_.size(0); }

 private:
  DualEncoder encoder_{nullptr};
  double m_;
  torch::Tensor video_queue_, text_queue_;  // [Q, D]
  torch::Tensor queue_fill_;                // [2] int64 on the host: rows filled, next slot
};
TORCH_MODULE(Momentum);

}  // namespace lica::model
