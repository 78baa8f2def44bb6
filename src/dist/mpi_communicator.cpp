#include "dist/mpi_communicator.h"

#include <glog/logging.h>
#include <mpi.h>

#include "common/error.h"

namespace lica::dist {
namespace {

void check(int rc, const char* call) {
  if (rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    throw Error(std::string(call) + " failed: " + std::string(text, static_cast<size_t>(len)));
  }
}

MPI_Datatype mpi_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return MPI_FLOAT;
    case torch::kDouble: return MPI_DOUBLE;
    case torch::kLong: return MPI_INT64_T;
    case torch::kInt: return MPI_INT32_T;
    case torch::kByte:
    case torch::kBool: return MPI_UINT8_T;
    default:
      throw Error(std::string("mpi communicator: unsupported dtype ") +
                  std::string(c10::toString(t.scalar_type())));
  }
}

int count_of(const torch::Tensor& t) {
  TORCH_CHECK(t.numel() <= std::numeric_limits<int>::max(), "tensor too large for one MPI call");
  return static_cast<int>(t.numel());
}

// A host tensor to run MPI on, and the way back to `t` once the collective is done.
struct Staged {
  torch::Tensor host;
  torch::Tensor original;
  void finish() {
    if (!original.is_same(host)) original.copy_(host);
  }
};

Staged stage(torch::Tensor& t) {
  TORCH_CHECK(t.is_contiguous(), "mpi communicator: tensor must be contiguous");
  return t.is_cuda() ? Staged{t.cpu(), t} : Staged{t, t};
}

int64_t bytes_of(const torch::Tensor& t) {
  return static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size());
}

// The watchdog sees the request complete through `watched`, set on this thread by wait() or
// test(): MPI_Test itself must not run on the watchdog's thread (MPI_THREAD_FUNNELED).
class MpiWork : public Work {
 public:
  MpiWork(Staged staged, Watchdog::Scope watched)
      : staged_(std::move(staged)), watched_(std::move(watched)) {}
  MPI_Request* request() { return &request_; }
  void wait() override {
    if (done_) return;
    check(MPI_Wait(&request_, MPI_STATUS_IGNORE), "MPI_Wait");
    finish();
  }
  bool test() override {
    if (done_) return true;
    int flag = 0;
    check(MPI_Test(&request_, &flag, MPI_STATUS_IGNORE), "MPI_Test");
    if (flag) finish();
    return done_;
  }

 private:
  void finish() {
    staged_.finish();
    watched_.done();
    done_ = true;
  }
  Staged staged_;
  Watchdog::Scope watched_;
  MPI_Request request_ = MPI_REQUEST_NULL;
  bool done_ = false;
};

}  // namespace

RankInfo init_mpi() {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    int provided = 0;
    // Collectives are issued from one thread at a time (the training thread, or autograd
    // hooks on it); FUNNELED is all we need and what every MPI gives.
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  }
  RankInfo info;
  MPI_Comm_rank(MPI_COMM_WORLD, &info.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &info.world_size);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, info.rank, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &info.local_rank);
  MPI_Comm_free(&node);
  return info;
}

MpiCommunicator::MpiCommunicator(RankInfo info, bool owns_mpi, double timeout_s)
    : info_(info), owns_mpi_(owns_mpi) {
  Watchdog::Options options;
  options.timeout_s = timeout_s;
  options.rank = info_.rank;
  // Runs on the watchdog thread while this rank's own thread is blocked inside MPI: under
  // MPI_THREAD_FUNNELED that is outside what the standard promises, but MPI_Abort only has
  // to end the job, which Open MPI and MPICH do from any thread; _Exit follows regardless.
  watchdog_ = std::make_unique<Watchdog>(
      options, [this](const std::string&) { MpiCommunicator::abort(kExitInternal); });
}

MpiCommunicator::~MpiCommunicator() {
  watchdog_.reset();  // no probe may outlive the collectives, nor run after MPI_Finalize
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owns_mpi_ && !finalized) MPI_Finalize();
}

torch::Tensor MpiCommunicator::all_gather(const torch::Tensor& t) {
  auto input = t.contiguous();
  auto host = input.is_cuda() ? input.cpu() : input;
  auto watched = watchdog_->scope(collective_name("all_gather", bytes_of(host)));
  // Elements per row from the trailing dims, not numel / rows: a rank with no rows must
  // still agree with the others on the row size.
  int64_t row = 1;
  for (int64_t d = 1; d < host.dim(); ++d) row *= host.size(d);
  // Rows per rank first, so ranks may hold different numbers of rows.
  int64_t rows = host.dim() == 0 ? 1 : host.size(0);
  std::vector<int64_t> all_rows(static_cast<size_t>(info_.world_size));
  check(MPI_Allgather(&rows, 1, MPI_INT64_T, all_rows.data(), 1, MPI_INT64_T, MPI_COMM_WORLD),
        "MPI_Allgather");
  std::vector<int> counts, displs;
  int64_t total_rows = 0, offset = 0;
  for (int64_t r : all_rows) {
    counts.push_back(static_cast<int>(r * row));
    displs.push_back(static_cast<int>(offset));
    offset += r * row;
    total_rows += r;
  }
  std::vector<int64_t> shape = host.sizes().vec();
  if (shape.empty()) shape = {1};
  shape[0] = total_rows;
  auto out = torch::empty(shape, host.options());
  check(MPI_Allgatherv(host.data_ptr(), count_of(host), mpi_type(host), out.data_ptr(),
                       counts.data(), displs.data(), mpi_type(host), MPI_COMM_WORLD),
        "MPI_Allgatherv");
  return input.is_cuda() ? out.to(input.device()) : out;
}

void MpiCommunicator::all_reduce_sum(torch::Tensor& t) {
  auto staged = stage(t);
  auto watched = watchdog_->scope(collective_name("all_reduce", bytes_of(staged.host)));
  check(MPI_Allreduce(MPI_IN_PLACE, staged.host.data_ptr(), count_of(staged.host),
                      mpi_type(staged.host), MPI_SUM, MPI_COMM_WORLD),
        "MPI_Allreduce");
  staged.finish();
}

std::unique_ptr<Work> MpiCommunicator::all_reduce_sum_async(torch::Tensor& t) {
  auto staged = stage(t);
  void* data = staged.host.data_ptr();
  const int count = count_of(staged.host);
  const MPI_Datatype type = mpi_type(staged.host);
  // The work owns the staged tensors, so the buffer lives until the collective completes.
  auto watched = watchdog_->scope(collective_name("all_reduce", bytes_of(staged.host)));
  auto work = std::make_unique<MpiWork>(std::move(staged), std::move(watched));
  check(MPI_Iallreduce(MPI_IN_PLACE, data, count, type, MPI_SUM, MPI_COMM_WORLD, work->request()),
        "MPI_Iallreduce");
  return work;
}

void MpiCommunicator::broadcast(torch::Tensor& t, int root) {
  auto staged = stage(t);
  auto watched = watchdog_->scope(collective_name("broadcast", bytes_of(staged.host)));
  check(MPI_Bcast(staged.host.data_ptr(), count_of(staged.host), mpi_type(staged.host), root,
                  MPI_COMM_WORLD),
        "MPI_Bcast");
  staged.finish();
}

void MpiCommunicator::barrier() {
  auto watched = watchdog_->scope("barrier");
  check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

void MpiCommunicator::abort(int exit_code) {
  google::FlushLogFiles(google::GLOG_INFO);
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

}  // namespace lica::dist
