#include "model/momentum.h"

#include "model/module_device.h"

namespace lica::model {

void ema_update(torch::nn::Module& target, torch::nn::Module& source, double m) {
  torch::NoGradGuard no_grad;
  const auto from = source.named_parameters();
  for (auto& p : target.named_parameters()) {
    const auto* s = from.find(p.key());
    TORCH_CHECK(s, "ema_update: the source has no parameter ", p.key());
    // mul_ then add_ rather than lerp_, so m = 0 copies exactly.
    p.value().mul_(m).add_(*s, 1.0 - m);
  }
  const auto from_buffers = source.named_buffers();
  for (auto& b : target.named_buffers()) {
    const auto* s = from_buffers.find(b.key());
    TORCH_CHECK(s, "ema_update: the source has no buffer ", b.key());
    b.value().copy_(*s);
  }
}

MomentumImpl::MomentumImpl(const DualEncoderOptions& opt, DualEncoder& online, double m,
                           int64_t queue_size)
    : m_(m) {
  // Only the towers: the targets need neither LMIM's heads nor a fusion encoder.
  DualEncoderOptions towers = opt;
  towers.local_heads = false;
  towers.fusion.layers = 0;
  encoder_ = register_module("encoder", DualEncoder(towers));
  for (auto& p : encoder_->parameters()) p.set_requires_grad(false);
  // The towers and queues live where the online model does (the EMA mixes the two).
  const torch::Device device = module_device(*online);
  encoder_->to(device);
  ema_update(*encoder_, *online, 0.0);
  const int64_t dim = opt.video.embed_dim;
  const auto on_device = torch::TensorOptions().device(device);
  video_queue_ = register_buffer("video_queue", torch::zeros({queue_size, dim}, on_device));
  text_queue_ = register_buffer("text_queue", torch::zeros({queue_size, dim}, on_device));
  // The fill counters stay in host memory: enqueue() and the queues' readers use them every
  // step, and on a GPU each read would wait for the device.
  queue_fill_ = register_buffer("queue_fill", torch::zeros({2}, torch::kLong));
}

torch::Tensor MomentumImpl::encode_video(const torch::Tensor& frames, const torch::Tensor& mask) {
  torch::NoGradGuard no_grad;
  encoder_->eval();
  return encoder_->encode_video(frames, mask);
}

torch::Tensor MomentumImpl::encode_text(const torch::Tensor& tokens, const torch::Tensor& mask) {
  torch::NoGradGuard no_grad;
  encoder_->eval();
  return encoder_->encode_text(tokens, mask);
}

void MomentumImpl::enqueue(const torch::Tensor& videos, const torch::Tensor& texts) {
  TORCH_CHECK(videos.sizes() == texts.sizes(), "enqueue: videos ", videos.sizes(), " and texts ",
              texts.sizes(), " differ");
  const int64_t capacity = queue_size();
  if (capacity == 0) return;
  torch::NoGradGuard no_grad;
  const int64_t filled = queue_fill_[0].item<int64_t>(), next = queue_fill_[1].item<int64_t>();
  // Only the newest `capacity` rows can stay; they go into at most two runs of slots.
  const int64_t skip = std::max<int64_t>(0, videos.size(0) - capacity);
  const int64_t n = videos.size(0) - skip;
  const int64_t first = std::min(n, capacity - next);
  const auto put = [&](int64_t slot, int64_t from, int64_t count) {
    video_queue_.slice(0, slot, slot + count).copy_(videos.slice(0, skip + from, skip + from + count));
    text_queue_.slice(0, slot, slot + count).copy_(texts.slice(0, skip + from, skip + from + count));
  };
  put(next, 0, first);
  put(0, first, n - first);
  queue_fill_[0] = std::min(capacity, filled + n);
  queue_fill_[1] = (next + n) % capacity;
}

}  // namespace lica::model
