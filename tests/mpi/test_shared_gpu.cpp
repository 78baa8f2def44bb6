// Several ranks on one GPU (dist.ranks_per_gpu, the mpi backend with CUDA
// tensors staged through the host) and NCCL's collectives at W = 1. Both need a
// CUDA build on a GPU machine; elsewhere they skip. The multi-rank CUDA path
// (all-gather and bucketed reduce of CUDA tensors, sharded GPU evaluation) is
// otherwise never run on a one-GPU machine.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "dist/local_communicator.h"
#include "mpi/mpi_env.h"
#include "support/checkpoint_compare.h"
#include "support/resume_runs.h"
#ifdef LICA_WITH_NCCL
#include "dist/nccl_communicator.h"
#endif

namespace lica {
namespace {

namespace fs = std::filesystem;
using testing::comm;

bool has_gpu() {
#ifdef LICA_WITH_CUDA
  return torch::cuda::is_available();
#else
  return false;
#endif
}

// The resume tests' run with LICA in `form` and every AAI term on, on cuda:0
// shared by all W ranks (fp32 matmuls, no TF32: the comparison is about
// rounding, not TF32's precision).
run::Config shared_gpu_config(const fs::path& data, const fs::path& run, const std::string& form) {
  auto c = testing::resume_config(data, run, /*dropout=*/0.0);
  for (const std::string& o : std::vector<std::string>{
           "trainer.device=cuda", "trainer.tf32=false", "dist.backend=mpi", "loss.lica.weight=1",
           "loss.lica.form=" + form, "loss.itc.weight=0.5", "loss.ims.weight=0.5",
           "loss.lmim.weight=0.5", "loss.itm_weight=0.5", "model.fusion.layers=1",
           "model.momentum.queue_size=48", "checkpoint.every_steps=0"}) {
    run::apply_override(c, o);
  }
  c.dist.ranks_per_gpu = comm().world_size();
  run::validate(c, "shared GPU test config");
  return c;
}

TEST(SharedGpu, RanksSharingOneGpuFollowOneProcessOnIt) {
  if (!has_gpu()) GTEST_SKIP() << "needs a CUDA build and a GPU";
  if (comm().world_size() == 1) GTEST_SKIP() << "needs W > 1 ranks on the GPU";
  for (const char* lica_form : {"fused", "chunked"}) {
    const std::string form = lica_form;
    SCOPED_TRACE(form);
    std::string dir;
    if (comm().rank() == 0) {
      dir =
          (fs::temp_directory_path() / ("lica_shared_gpu_" + std::to_string(::getpid()))).string();
      fs::remove_all(dir);
      fs::create_directories(dir);
      testing::write_resume_data(fs::path(dir) / "s.h5");
    }
    dist::broadcast_string(comm(), dir, 0);
    const auto shared = shared_gpu_config(fs::path(dir) / "s.h5", fs::path(dir) / "w", form);
    auto one = shared;
    one.run.dir = (fs::path(dir) / "one").string();
    one.dist.ranks_per_gpu = 1;
    trainer::TrainSummary alone;
    if (comm().rank() == 0) {
      dist::LocalCommunicator local;
      alone = trainer::train(one, local);
    }
    const auto together = trainer::train(shared, comm());
    if (comm().rank() == 0) {
      const auto last = "step_" + std::to_string(testing::kResumeTotalSteps);
      const auto d =
          testing::compare_checkpoints(fs::path(one.run.dir) / "checkpoints" / last,
                                       fs::path(shared.run.dir) / "checkpoints" / last, shared);
      std::printf("W=%d on one GPU, LICA %s: max |dparam| %g, max |dmoment| %g\n",
                  comm().world_size(), form.c_str(), d.params, d.moments);
      EXPECT_LT(d.params, 1e-4);
      EXPECT_NEAR(together.last_loss, alone.last_loss, 1e-4 * std::abs(alone.last_loss));
      ASSERT_TRUE(alone.test && together.test);
      EXPECT_EQ(eval::format_metrics(*together.test), eval::format_metrics(*alone.test));
      fs::remove_all(dir);
    }
    comm().barrier();
  }
}

// Every collective of the NCCL communicator against the local one, on CUDA
// tensors, at W = 1 (NCCL refuses two ranks on one GPU: ctest runs this binary
// at np 1 too).
TEST(Nccl, CollectivesAtW1EqualTheLocalBackend) {
#ifdef LICA_WITH_NCCL
  if (!has_gpu()) GTEST_SKIP() << "needs a GPU";
  if (comm().world_size() != 1) GTEST_SKIP() << "NCCL takes one GPU per rank: W = 1 only";
  auto nccl = dist::make_nccl_communicator(comm().info(), /*timeout_s=*/60.0);
  dist::LocalCommunicator local;
  const auto x = torch::randn({5, 3}, torch::Device(torch::kCUDA, 0));
  EXPECT_TRUE(torch::equal(nccl->all_gather(x), local.all_gather(x)));
  auto sum = x.clone();
  nccl->all_reduce_sum(sum);
  EXPECT_TRUE(torch::equal(sum, x));
  auto async = x.clone();
  auto work = nccl->all_reduce_sum_async(async);
  work->wait();
  EXPECT_TRUE(torch::equal(async, x));
  auto root = x.clone();
  nccl->broadcast(root, 0);
  EXPECT_TRUE(torch::equal(root, x));
  nccl->barrier();
  EXPECT_EQ(nccl->backend(), "nccl");
#else
  GTEST_SKIP() << "this build has no NCCL";
#endif
}

}  // namespace
}  // namespace lica
