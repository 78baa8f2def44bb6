// Built only with LICA_WITH_NCCL (a CUDA LibTorch): see nccl_communicator.h.
#ifdef LICA_WITH_NCCL

#include "dist/nccl_communicator.h"

#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <glog/logging.h>
#include <nccl.h>

#include <cstring>

#include "common/error.h"
#include "dist/mpi_communicator.h"

namespace lica::dist {
namespace {

void check(ncclResult_t rc, const char* call) {
  if (rc != ncclSuccess) throw Error(std::string(call) + " failed: " + ncclGetErrorString(rc));
}

ncclDataType_t nccl_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return ncclFloat32;
    case torch::kDouble: return ncclFloat64;
    case torch::kHalf: return ncclFloat16;
    case torch::kBFloat16: return ncclBfloat16;
    case torch::kLong: return ncclInt64;
    case torch::kInt: return ncclInt32;
    case torch::kByte:
    case torch::kBool: return ncclUint8;
    default:
      throw Error(std::string("nccl communicator: unsupported dtype ") +
                  std::string(c10::toString(t.scalar_type())));
  }
}

// The result of a collective is ready once the compute stream has waited on this event.
class NcclWork : public Work {
 public:
  explicit NcclWork(std::shared_ptr<at::cuda::CUDAEvent> done) : done_(std::move(done)) {}
  void wait() override { done_->block(c10::cuda::getCurrentCUDAStream()); }
  bool test() override { return done_->query(); }

 private:
  std::shared_ptr<at::cuda::CUDAEvent> done_;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(const RankInfo& info, std::unique_ptr<MpiCommunicator> mpi)
      : info_(info), mpi_(std::move(mpi)), device_(torch::kCUDA, static_cast<c10::DeviceIndex>(info.local_rank)) {
    c10::cuda::CUDAGuard guard(device_);
    ncclUniqueId id;
    if (info_.rank == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    auto bytes = torch::zeros({static_cast<int64_t>(sizeof(id))}, torch::kByte);
    if (info_.rank == 0) std::memcpy(bytes.data_ptr(), &id, sizeof(id));
    mpi_->broadcast(bytes, 0);
    std::memcpy(&id, bytes.data_ptr(), sizeof(id));
    check(ncclCommInitRank(&comm_, info_.world_size, id, info_.rank), "ncclCommInitRank");
    stream_ = std::make_unique<c10::cuda::CUDAStream>(
        c10::cuda::getStreamFromPool(/*isHighPriority=*/true, device_.index()));
  }
  ~NcclCommunicator() override {
    if (comm_) ncclCommDestroy(comm_);
  }

  const RankInfo& info() const override { return info_; }
  std::string backend() const override { return "nccl"; }

  torch::Tensor all_gather(const torch::Tensor& t) override {
    auto input = on_device(t).contiguous();
    // Rows per rank first, then every rank's rows padded to the largest.
    auto rows = torch::tensor({input.dim() == 0 ? int64_t{1} : input.size(0)},
                              torch::dtype(torch::kLong).device(device_));
    auto all_rows = torch::empty({info_.world_size}, rows.options());
    run([&](cudaStream_t s) {
      check(ncclAllGather(rows.data_ptr(), all_rows.data_ptr(), 1, ncclInt64, comm_, s),
            "ncclAllGather");
    }, {rows, all_rows})->wait();
    const auto counts = all_rows.cpu();
    const int64_t most = counts.max().item<int64_t>();
    const auto rows_in = input.dim() == 0 ? input.view({1}) : input;
    std::vector<int64_t> shape = rows_in.sizes().vec();
    shape[0] = most;
    auto padded = torch::zeros(shape, input.options());
    padded.slice(0, 0, rows_in.size(0)).copy_(rows_in);
    shape[0] = most * info_.world_size;
    auto gathered = torch::empty(shape, input.options());
    run([&](cudaStream_t s) {
      check(ncclAllGather(padded.data_ptr(), gathered.data_ptr(), static_cast<size_t>(padded.numel()),
                          nccl_type(padded), comm_, s),
            "ncclAllGather");
    }, {padded, gathered})->wait();
    std::vector<torch::Tensor> parts;
    for (int r = 0; r < info_.world_size; ++r) {
      parts.push_back(gathered.slice(0, r * most, r * most + counts[r].item<int64_t>()));
    }
    auto out = torch::cat(parts);
    return t.is_cuda() ? out : out.cpu();
  }

  void all_reduce_sum(torch::Tensor& t) override { all_reduce_sum_async(t)->wait(); }

  std::unique_ptr<Work> all_reduce_sum_async(torch::Tensor& t) override {
    TORCH_CHECK(t.is_cuda() && t.is_contiguous(),
                "nccl communicator: all_reduce needs a contiguous CUDA tensor");
    return run([&](cudaStream_t s) {
      check(ncclAllReduce(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()),
                          nccl_type(t), ncclSum, comm_, s),
            "ncclAllReduce");
    }, {t});
  }

  void broadcast(torch::Tensor& t, int root) override {
    if (!t.is_cuda()) {
      mpi_->broadcast(t, root);
      return;
    }
    TORCH_CHECK(t.is_contiguous(), "nccl communicator: broadcast needs a contiguous tensor");
    run([&](cudaStream_t s) {
      check(ncclBroadcast(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()),
                          nccl_type(t), root, comm_, s),
            "ncclBroadcast");
    }, {t})->wait();
  }

  void barrier() override {
    c10::cuda::getCurrentCUDAStream(device_.index()).synchronize();
    mpi_->barrier();
  }

  [[noreturn]] void abort(int exit_code) override {
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    mpi_->abort(exit_code);
  }

 private:
  torch::Tensor on_device(const torch::Tensor& t) { return t.is_cuda() ? t : t.to(device_); }

  // Runs `enqueue` on the NCCL stream after the work already queued on the compute stream,
  // and returns the work whose wait() makes the compute stream wait for the result.
  template <typename Enqueue>
  std::unique_ptr<Work> run(Enqueue enqueue, std::initializer_list<torch::Tensor> tensors) {
    c10::cuda::CUDAGuard guard(device_);
    auto compute = c10::cuda::getCurrentCUDAStream(device_.index());
    at::cuda::CUDAEvent ready;
    ready.record(compute);
    ready.block(*stream_);
    enqueue(stream_->stream());
    // The caching allocator must not hand these buffers out again before NCCL is done.
    for (const auto& t : tensors) {
      c10::cuda::CUDACachingAllocator::recordStream(t.storage().data_ptr(), *stream_);
    }
    auto done = std::make_shared<at::cuda::CUDAEvent>();
    done->record(*stream_);
    return std::make_unique<NcclWork>(std::move(done));
  }

  RankInfo info_;
  std::unique_ptr<MpiCommunicator> mpi_;
  torch::Device device_;
  ncclComm_t comm_ = nullptr;
  std::unique_ptr<c10::cuda::CUDAStream> stream_;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(const RankInfo& info) {
  if (!torch::cuda::is_available()) {
    throw InputError("dist.backend: nccl needs a CUDA device, and none is visible");
  }
  return std::make_unique<NcclCommunicator>(info,
                                            std::make_unique<MpiCommunicator>(info, true));
}

}  // namespace lica::dist

#endif  // LICA_WITH_NCCL
