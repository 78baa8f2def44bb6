// Built only with LICA_WITH_NCCL (a CUDA LibTorch): see nccl_communicator.h.
#ifdef LICA_WITH_NCCL

#include "dist/nccl_communicator.h"

#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <glog/logging.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <thread>

#include "common/error.h"
#include "dist/mpi_communicator.h"
#include "dist/watchdog.h"

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

int64_t bytes_of(const torch::Tensor& t) {
  return static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size());
}

// A collective as the watchdog sees it: registered before NCCL is called (the call itself
// may block the host, e.g. connecting to a lost peer), its done-event recorded after.
struct Pending {
  enum State { kEnqueuing, kRecorded, kAbandoned };
  std::atomic<int> state{kEnqueuing};
  at::cuda::CUDAEvent done;  // recorded on the NCCL stream after the collective
  // Polled on the watchdog thread: cudaEventQuery is thread-safe and works from any device.
  bool complete() const {
    const int s = state.load(std::memory_order_acquire);
    return s == kAbandoned || (s == kRecorded && done.query());
  }
};

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
  NcclCommunicator(const RankInfo& info, std::unique_ptr<MpiCommunicator> mpi, double timeout_s)
      : info_(info), mpi_(std::move(mpi)), device_(torch::kCUDA, static_cast<c10::DeviceIndex>(info.local_rank)) {
    c10::cuda::CUDAGuard guard(device_);
    Watchdog::Options options;
    options.timeout_s = timeout_s;
    options.rank = info_.rank;
    // The thread's CUDA calls go to this rank's device: a thread left on device 0 would make
    // every rank open a context there.
    const auto index = device_.index();
    options.thread_init = [index] { c10::cuda::set_device(index); };
    options.health = [this] { return async_error(); };
    watchdog_ = std::make_unique<Watchdog>(
        options, [this](const std::string&) { abort_from_watchdog(); });
    ncclUniqueId id;
    if (info_.rank == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    auto bytes = torch::zeros({static_cast<int64_t>(sizeof(id))}, torch::kByte);
    if (info_.rank == 0) std::memcpy(bytes.data_ptr(), &id, sizeof(id));
    mpi_->broadcast(bytes, 0);  // watched by the MPI communicator's own watchdog
    std::memcpy(&id, bytes.data_ptr(), sizeof(id));
    ncclComm_t comm = nullptr;
    {
      // Blocks until every rank has joined.
      auto watched = watchdog_->scope("ncclCommInitRank");
      check(ncclCommInitRank(&comm, info_.world_size, id, info_.rank), "ncclCommInitRank");
    }
    comm_.store(comm);
    stream_ = std::make_unique<c10::cuda::CUDAStream>(
        c10::cuda::getStreamFromPool(/*isHighPriority=*/true, device_.index()));
  }
  ~NcclCommunicator() override {
    watchdog_.reset();  // its thread queries comm_: stop it first
    if (auto comm = comm_.exchange(nullptr)) ncclCommDestroy(comm);
  }

  const RankInfo& info() const override { return info_; }
  std::string backend() const override { return "nccl"; }

  torch::Tensor all_gather(const torch::Tensor& t) override {
    auto input = on_device(t).contiguous();
    // Rows per rank first, then every rank's rows padded to the largest.
    auto rows = torch::tensor({input.dim() == 0 ? int64_t{1} : input.size(0)},
                              torch::dtype(torch::kLong).device(device_));
    auto all_rows = torch::empty({info_.world_size}, rows.options());
    run("all_gather", bytes_of(all_rows), [&](cudaStream_t s) {
      check(ncclAllGather(rows.data_ptr(), all_rows.data_ptr(), 1, ncclInt64, comm(), s),
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
    run("all_gather", bytes_of(gathered), [&](cudaStream_t s) {
      check(ncclAllGather(padded.data_ptr(), gathered.data_ptr(), static_cast<size_t>(padded.numel()),
                          nccl_type(padded), comm(), s),
            "ncclAllGather");
    }, {padded, gathered})->wait();
    std::vector<torch::Tensor> parts;
    for (int r = 0; r < info_.world_size; ++r) {
      parts.push_back(gathered.slice(0, r * most, r * most + counts[r].item<int64_t>()));
    }
    auto out = torch::cat(parts);
    return t.is_cuda() ? out : out.cpu();
  }

  // A host tensor (a loss value, a stop flag: dist::all_reduce_sum(comm, double)) goes
  // through the device; the copy back waits on the compute stream, which waits on NCCL.
  void all_reduce_sum(torch::Tensor& t) override {
    if (t.is_cuda()) {
      all_reduce_sum_async(t)->wait();
      return;
    }
    auto staged = on_device(t).contiguous();
    all_reduce_sum_async(staged)->wait();
    t.copy_(staged);
  }

  std::unique_ptr<Work> all_reduce_sum_async(torch::Tensor& t) override {
    TORCH_CHECK(t.is_cuda() && t.is_contiguous(),
                "nccl communicator: all_reduce needs a contiguous CUDA tensor");
    return run("all_reduce", bytes_of(t), [&](cudaStream_t s) {
      check(ncclAllReduce(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()),
                          nccl_type(t), ncclSum, comm(), s),
            "ncclAllReduce");
    }, {t});
  }

  void broadcast(torch::Tensor& t, int root) override {
    if (!t.is_cuda()) {
      mpi_->broadcast(t, root);
      return;
    }
    TORCH_CHECK(t.is_contiguous(), "nccl communicator: broadcast needs a contiguous tensor");
    run("broadcast", bytes_of(t), [&](cudaStream_t s) {
      check(ncclBroadcast(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()),
                          nccl_type(t), root, comm(), s),
            "ncclBroadcast");
    }, {t})->wait();
  }

  void barrier() override {
    c10::cuda::getCurrentCUDAStream(device_.index()).synchronize();
    mpi_->barrier();
  }

  [[noreturn]] void abort(int exit_code) override {
    watchdog_.reset();  // on this rank's own thread: the watchdog stops before comm_ goes
    abort_comm();
    mpi_->abort(exit_code);
  }

 private:
  torch::Tensor on_device(const torch::Tensor& t) { return t.is_cuda() ? t : t.to(device_); }
  ncclComm_t comm() const { return comm_.load(std::memory_order_acquire); }

  // Runs `enqueue` on the NCCL stream after the work already queued on the compute stream,
  // and returns the work whose wait() makes the compute stream wait for the result.
  // The ordering is by events only, so neither stream blocks the host: the NCCL stream
  // waits for `ready` (recorded on the compute stream), and NcclWork::wait() makes the
  // compute stream wait for `done` (recorded on the NCCL stream). The watchdog polls `done`
  // from its own thread and never joins either stream.
  template <typename Enqueue>
  std::unique_ptr<Work> run(const char* op, int64_t bytes, Enqueue enqueue,
                            std::initializer_list<torch::Tensor> tensors) {
    c10::cuda::CUDAGuard guard(device_);
    auto compute = c10::cuda::getCurrentCUDAStream(device_.index());
    at::cuda::CUDAEvent ready;
    ready.record(compute);
    ready.block(*stream_);
    auto pending = std::make_shared<Pending>();
    watchdog_->watch(collective_name(op, bytes), [pending] { return pending->complete(); });
    try {
      enqueue(stream_->stream());
      // The caching allocator must not hand these buffers out again before NCCL is done.
      for (const auto& t : tensors) {
        c10::cuda::CUDACachingAllocator::recordStream(t.storage().data_ptr(), *stream_);
      }
      pending->done.record(*stream_);
    } catch (...) {
      // The error travels up (and run_or_abort ends the job with it); not a lost peer.
      pending->state.store(Pending::kAbandoned, std::memory_order_release);
      throw;
    }
    pending->state.store(Pending::kRecorded, std::memory_order_release);
    // The work shares the event with the watchdog's probe.
    return std::make_unique<NcclWork>(std::shared_ptr<at::cuda::CUDAEvent>(pending, &pending->done));
  }

  // Polled by the watchdog: an error NCCL found on its own (a peer's connection closed, a
  // remote error) ends the job at once instead of after the timeout.
  std::string async_error() const {
    const ncclComm_t c = comm();
    if (c == nullptr) return "";
    ncclResult_t state = ncclSuccess;
    if (ncclCommGetAsyncError(c, &state) != ncclSuccess) return "";
    if (state == ncclSuccess || state == ncclInProgress) return "";
    const char* detail = ncclGetLastError(c);
    return std::string("NCCL reported an asynchronous error: ") + ncclGetErrorString(state) +
           (detail && *detail ? std::string(" (") + detail + ")" : std::string());
  }

  // Frees the GPU from the stuck kernels before the job ends. ncclCommAbort should return
  // promptly, but a process that is not ended is worse than a comm that is not freed: give
  // it a bounded time on a thread of its own, then end the job regardless.
  void abort_comm() {
    const ncclComm_t c = comm_.exchange(nullptr);
    if (c == nullptr) return;
    auto finished = std::make_shared<std::promise<void>>();
    auto result = finished->get_future();
    std::thread([c, finished] {
      ncclCommAbort(c);
      finished->set_value();
    }).detach();
    if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      LOG(ERROR) << "rank " << info_.rank << ": ncclCommAbort did not return within 10 s; "
                 << "ending the job without it";
    }
  }

  // The watchdog's failure action, on its thread (the message is logged already).
  void abort_from_watchdog() {
    abort_comm();
    mpi_->abort(kExitInternal);
  }

  RankInfo info_;
  std::unique_ptr<MpiCommunicator> mpi_;
  torch::Device device_;
  // Read by the watchdog thread (async_error), cleared by whichever thread aborts.
  std::atomic<ncclComm_t> comm_{nullptr};
  std::unique_ptr<c10::cuda::CUDAStream> stream_;
  std::unique_ptr<Watchdog> watchdog_;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(const RankInfo& info, double timeout_s) {
  if (!torch::cuda::is_available()) {
    throw InputError("dist.backend: nccl needs a CUDA device, and none is visible");
  }
  return std::make_unique<NcclCommunicator>(
      info, std::make_unique<MpiCommunicator>(info, /*owns_mpi=*/true, timeout_s), timeout_s);
}

}  // namespace lica::dist

#endif  // LICA_WITH_NCCL
