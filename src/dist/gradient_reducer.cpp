#include "dist/gradient_reducer.h"

#include <chrono>

namespace lica::dist {

GradientReducer::GradientReducer(Communicator& comm, std::vector<torch::Tensor> params,
                                 double bucket_mb)
    : comm_(comm), params_(std::move(params)) {
  if (comm_.world_size() == 1) return;  // .grad is the sum already
  slots_.resize(params_.size());
  seen_.assign(params_.size(), false);
  const double capacity_bytes = bucket_mb * 1024.0 * 1024.0;
  double bytes = 0.0;
  for (int64_t i = static_cast<int64_t>(params_.size()) - 1; i >= 0; --i) {
    const auto& p = params_[static_cast<size_t>(i)];
    const double size = static_cast<double>(p.numel() * p.element_size());
    if (buckets_.empty() || (bytes > 0 && bytes + size > capacity_bytes)) {
      buckets_.emplace_back();
      bytes = 0.0;
    }
    auto& bucket = buckets_.back();
    int64_t offset = 0;
    for (int64_t q : bucket.params) offset += params_[static_cast<size_t>(q)].numel();
    slots_[static_cast<size_t>(i)] = Slot{static_cast<int64_t>(buckets_.size()) - 1, offset};
    bucket.params.push_back(i);
    bytes += size;
  }
  for (auto& bucket : buckets_) {
    int64_t elements = 0;
    for (int64_t q : bucket.params) elements += params_[static_cast<size_t>(q)].numel();
    const auto& first = params_[static_cast<size_t>(bucket.params.front())];
    bucket.flat = torch::zeros({elements}, first.options());
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    hook_handles_.push_back(params_[i].register_hook(
        [this, i](const torch::Tensor& grad) { on_gradient(static_cast<int64_t>(i), grad); }));
  }
}

GradientReducer::~GradientReducer() {
  for (size_t i = 0; i < hook_handles_.size(); ++i) params_[i].remove_hook(hook_handles_[i]);
}

void GradientReducer::prepare(bool overlap) {
  overlap_ = overlap;
  for (auto& bucket : buckets_) {
    bucket.pending = static_cast<int64_t>(bucket.params.size());
    bucket.work.reset();
  }
  seen_.assign(params_.size(), false);
  next_launch_ = 0;
  launched_in_backward_ = 0;
  armed_ = true;
}

void GradientReducer::on_gradient(int64_t param, const torch::Tensor& grad) {
  if (!armed_ || seen_[static_cast<size_t>(param)]) return;
  seen_[static_cast<size_t>(param)] = true;
  const auto& slot = slots_[static_cast<size_t>(param)];
  auto& bucket = buckets_[static_cast<size_t>(slot.bucket)];
  bucket.flat.slice(0, slot.offset, slot.offset + grad.numel()).copy_(grad.reshape({-1}));
  --bucket.pending;
  if (!overlap_) return;
  const int64_t before = next_launch_;
  launch_ready_buckets();
  launched_in_backward_ += next_launch_ - before;
  // MPI progresses a nonblocking collective only inside MPI calls: poke the ones in flight.
  for (int64_t b = 0; b < next_launch_; ++b) buckets_[static_cast<size_t>(b)].work->test();
}

void GradientReducer::launch_ready_buckets() {
  while (next_launch_ < num_buckets() && buckets_[static_cast<size_t>(next_launch_)].pending == 0) {
    auto& bucket = buckets_[static_cast<size_t>(next_launch_)];
    bucket.work = comm_.all_reduce_sum_async(bucket.flat);
    ++next_launch_;
  }
}

void GradientReducer::define_missing_gradients() {
  for (auto& p : params_) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
  }
}

void GradientReducer::finish() {
  if (buckets_.empty()) {  // one rank
    define_missing_gradients();
    exposed_wait_s_ = 0.0;
    return;
  }
  // Parameters that took no part in this step contribute zeros.
  for (size_t i = 0; i < params_.size(); ++i) {
    if (seen_[i]) continue;
    const auto& slot = slots_[i];
    auto& bucket = buckets_[static_cast<size_t>(slot.bucket)];
    bucket.flat.slice(0, slot.offset, slot.offset + params_[i].numel()).zero_();
    seen_[i] = true;
    --bucket.pending;
  }
  armed_ = false;
  const auto start = std::chrono::steady_clock::now();
  launch_ready_buckets();
  for (auto& bucket : buckets_) bucket.work->wait();
  exposed_wait_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& bucket : buckets_) {
    for (int64_t q : bucket.params) {
      auto& p = params_[static_cast<size_t>(q)];
      const auto& slot = slots_[static_cast<size_t>(q)];
      auto summed = bucket.flat.slice(0, slot.offset, slot.offset + p.numel()).view(p.sizes());
      if (p.mutable_grad().defined()) {
        p.mutable_grad().copy_(summed);
      } else {
        p.mutable_grad() = summed.clone();
      }
    }
  }
}

void GradientReducer::reduce_accumulated() {
  if (buckets_.empty()) {  // one rank
    define_missing_gradients();
    return;
  }
  prepare(/*overlap=*/false);
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& grad = params_[i].grad();
    if (grad.defined()) on_gradient(static_cast<int64_t>(i), grad);
  }
  finish();
}

void broadcast_parameters(Communicator& comm, const std::vector<torch::Tensor>& params) {
  torch::NoGradGuard no_grad;
  for (auto p : params) {
    auto data = p.detach();
    if (data.is_contiguous()) {
      comm.broadcast(data, 0);
    } else {
      auto copy = data.contiguous();
      comm.broadcast(copy, 0);
      data.copy_(copy);
    }
  }
}

}  // namespace lica::dist
