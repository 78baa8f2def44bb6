// trainer.device (run/device.h): the resolution rules, the backend that goes with a cpu
// run, moving batches; and, where a GPU is there, training on it, a bitwise resume on it,
// and evaluation on it. The GPU tests skip themselves elsewhere.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "common/error.h"
#include "data/batch.h"
#include "dist/local_communicator.h"
#include "eval/evaluate.h"
#include "run/backend.h"
#include "run/checkpoint.h"
#include "run/checkpoint_store.h"
#include "run/device.h"
#include "run/model_options.h"
#include "support/checkpoint_compare.h"
#include "support/resume_runs.h"

namespace lica::trainer {
namespace {

namespace fs = std::filesystem;

// cuBLAS reads its workspace configuration when the process first uses it: set before main()
// so the GPU tests' matmuls are reproducible (docs/performance.md).
[[maybe_unused]] const bool kCublasReproducible = (::setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", 0), true);

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string input_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an InputError";
  return "";
}

TEST(Device, CpuIsTheCpuAndAutoIsTheGpuOfTheLocalRankWhenThereIsOne) {
  EXPECT_EQ(run::resolve_device("cpu", 0), torch::Device(torch::kCPU));
  EXPECT_EQ(run::resolve_device("cpu", 5), torch::Device(torch::kCPU));
#ifdef LICA_WITH_CUDA
  const bool gpu = torch::cuda::is_available();
#else
  const bool gpu = false;
#endif
  EXPECT_EQ(run::resolve_device("auto", 0), gpu ? torch::Device(torch::kCUDA, 0) : torch::kCPU);
}

TEST(Device, CudaWithoutAGpuIsAnInputErrorNamingTheKey) {
#ifdef LICA_WITH_CUDA
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA device is there";
#endif
  const std::string e = input_error([] { run::resolve_device("cuda", 0); });
  EXPECT_TRUE(has(e, "trainer.device: cuda, but ")) << e;
}

TEST(Device, AnUnknownValueNamesTheKey) {
  const std::string e = input_error([] { run::resolve_device("gpu", 0); });
  EXPECT_EQ(e, "trainer.device: unknown device 'gpu', expected auto, cpu or cuda");
}

TEST(Device, ALocalRankWithoutItsOwnGpuIsAnInputError) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto gpus = static_cast<int>(torch::cuda::device_count());
  EXPECT_EQ(run::resolve_device("cuda", gpus - 1), torch::Device(torch::kCUDA, gpus - 1));
  const std::string e = input_error([&] { run::resolve_device("auto", gpus); });
  EXPECT_TRUE(has(e, "trainer.device: auto gives local rank " + std::to_string(gpus))) << e;
}

// A cpu run never gets nccl from "auto" (it would on a machine with a GPU), and asking for
// nccl explicitly with a cpu device is an error naming both keys.
TEST(Device, ACpuRunStartsMpiForAutoAndRefusesNccl) {
  run::Config c;
  EXPECT_EQ(run::communicator_backend(c), "auto");  // device auto: nccl is right if it is a GPU
  c.trainer.device = "cpu";
  EXPECT_EQ(run::communicator_backend(c), "mpi");
  c.dist.backend = "local";
  EXPECT_EQ(run::communicator_backend(c), "local");
  c.dist.backend = "nccl";
  EXPECT_EQ(run::communicator_backend(c), "nccl");  // refused below, with the reason
  const std::string e = input_error([] { run::check_backend_fits(torch::kCPU, "nccl"); });
  EXPECT_TRUE(has(e, "trainer.device") && has(e, "dist.backend is nccl")) << e;
  EXPECT_NO_THROW(run::check_backend_fits(torch::kCPU, "mpi"));
  EXPECT_NO_THROW(run::check_backend_fits(torch::Device(torch::kCUDA, 0), "nccl"));
}

// dist.ranks_per_gpu: consecutive local ranks share a GPU; "auto" then starts mpi (NCCL
// refuses two ranks on one GPU); a cpu run is unaffected.
TEST(Device, RanksSharingAGpuGetItsIndexAndStartMpiForAuto) {
  EXPECT_EQ(run::resolve_device("cpu", 3, 2), torch::Device(torch::kCPU));
  run::Config c;
  c.trainer.device = "cuda";
  EXPECT_EQ(run::communicator_backend(c), "auto");
  c.dist.ranks_per_gpu = 2;
  EXPECT_EQ(run::communicator_backend(c), "mpi");
  if (!torch::cuda::is_available()) return;
  const auto gpus = static_cast<int>(torch::cuda::device_count());
  EXPECT_EQ(run::resolve_device("cuda", 1, 2), torch::Device(torch::kCUDA, 0));
  EXPECT_EQ(run::resolve_device("cuda", 2 * gpus - 1, 2), torch::Device(torch::kCUDA, gpus - 1));
  const std::string e = input_error([&] { run::resolve_device("cuda", 2 * gpus, 2); });
  EXPECT_TRUE(has(e, "start at most " + std::to_string(2 * gpus) + " ranks per node")) << e;
}

// On the cpu a batch stays the very same tensors (nothing is copied: the cpu path is as
// before); undefined fields stay undefined (evaluation batches carry one modality).
TEST(Device, BatchToTheCpuKeepsTheTensorsAndTheUndefinedOnes) {
  data::Batch b;
  b.video = torch::randn({2, 3, 4});
  b.video_mask = torch::ones({2, 3}, torch::kBool);
  const auto moved = data::batch_to(b, torch::kCPU);
  EXPECT_TRUE(moved.video.is_same(b.video));
  EXPECT_TRUE(moved.video_mask.is_same(b.video_mask));
  EXPECT_FALSE(moved.text.defined());
  EXPECT_FALSE(moved.text_index.defined());
  if (!torch::cuda::is_available()) return;
  const auto gpu = data::batch_to(b, torch::Device(torch::kCUDA, 0));
  EXPECT_TRUE(gpu.video.is_cuda() && gpu.video_mask.is_cuda());
  EXPECT_TRUE(torch::equal(gpu.video.cpu(), b.video));
  EXPECT_FALSE(gpu.text.defined());
}

// A cpu run's checkpoint has no CUDA generator states, and trainer.device is not a key that
// stops a resume (a checkpoint is device-free).
TEST(Device, CheckpointsAreDeviceFree) {
  run::Config a, b;
  b.trainer.device = "cpu";
  EXPECT_TRUE(run::training_differences(a, b).empty());
  b.trainer.precision = "bf16";
  ASSERT_EQ(run::training_differences(a, b).size(), 1u);
  EXPECT_EQ(run::training_differences(a, b)[0], "trainer.precision: \"fp32\" -> \"bf16\"");
}

// ---- on a GPU ------------------------------------------------------------------------------

class CudaDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    dir_ = fs::temp_directory_path() / ("lica_cuda_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    testing::write_resume_data(dir_ / "s.h5");
    // Bitwise runs on a GPU need deterministic kernels (no atomics in index_add's backward,
    // fixed cuBLAS workspaces); warn-only so a kernel without a deterministic version
    // still runs and the comparison below decides.
    at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
  }
  void TearDown() override {
    at::globalContext().setDeterministicAlgorithms(false, false);
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  run::Config config(const std::string& run) const {
    auto c = testing::resume_config(dir_ / "s.h5", dir_ / run);  // dropout 0.1
    c.trainer.device = "cuda";
    c.trainer.tf32 = false;
    return c;
  }

  fs::path dir_;
  dist::LocalCommunicator comm_;
};

// The model, the momentum copies, AdamW's moments and the batches live on the GPU; a run
// stopped by SIGTERM and resumed equals the straight run bitwise (the CUDA generator's
// state, i.e. the dropout masks, comes back from rng.pt); the checkpoint's tensors are CPU
// tensors.
TEST_F(CudaDevice, TrainsOnTheGpuAndAStoppedRunResumesBitwise) {
  const auto with_momentum = [&](const std::string& run) {
    auto c = config(run);
    c.loss.itc.weight = 0.5;
    c.model.momentum.queue_size = 60;
    return c;
  };
  const auto straight = train(with_momentum("straight"), comm_);
  ASSERT_EQ(straight.steps, testing::kResumeTotalSteps);
  const auto cfg = with_momentum("stopped");
  ASSERT_TRUE(testing::train_until_signal(cfg, comm_, 20, 0).stopped);
  const auto resumed = testing::resume_latest(cfg, comm_);
  EXPECT_EQ(resumed.start_step, 20);
  const auto last = "step_" + std::to_string(testing::kResumeTotalSteps);
  const auto a = dir_ / "straight" / "checkpoints" / last, b = dir_ / "stopped" / "checkpoints" / last;
  const auto d = testing::compare_checkpoints(a, b, cfg);
  std::cout << "cuda W=1 stop at 20 + resume vs straight: max |dparam| " << d.params
            << ", max |dmomentum| " << d.momentum << ", max |dmoment| " << d.moments << "\n";
  EXPECT_EQ(d.params, 0.0);
  EXPECT_EQ(d.momentum, 0.0);
  EXPECT_EQ(d.moments, 0.0);
  EXPECT_EQ(testing::comparable_records(dir_ / "stopped"), testing::comparable_records(dir_ / "straight"));
  EXPECT_LT(straight.last_loss, straight.first_loss);

  // Saved as CPU tensors: read back with no device given, they are where they were written.
  torch::serialize::InputArchive model_archive;
  const std::string bytes = run::read_checkpoint_file(a, "model.pt");
  model_archive.load_from(bytes.data(), bytes.size());
  torch::Tensor scale;
  ASSERT_TRUE(model_archive.try_read("logit_scale", scale));
  EXPECT_TRUE(scale.is_cpu());
  const auto cuda_states = run::load_cuda_rng_states(a);
  ASSERT_TRUE(cuda_states.defined());
  EXPECT_EQ(cuda_states.size(0), 1);
}

// Evaluation with the model on the GPU (encoding, similarity blocks, DSL, fusion re-ranking)
// gives the metrics of the same model on the cpu. TF32 is off, so the scores agree to fp32
// rounding; a near-tie may still order differently, hence the small tolerance.
TEST_F(CudaDevice, EvaluationOnTheGpuMatchesTheCpu) {
  auto cfg = config("eval");
  cfg.model.fusion.layers = 1;
  const auto file = run::open_features(cfg);
  torch::manual_seed(3);
  model::DualEncoder cpu_model(run::dual_encoder_options(cfg, file));
  model::DualEncoder gpu_model(run::dual_encoder_options(cfg, file));
  {
    torch::NoGradGuard no_grad;
    const auto from = cpu_model->parameters();
    auto to = gpu_model->parameters();
    for (size_t i = 0; i < to.size(); ++i) to[i].copy_(from[i]);
  }
  run::use_device(torch::Device(torch::kCUDA, 0), /*tf32=*/false);
  gpu_model->to(torch::Device(torch::kCUDA, 0));
  eval::EvalOptions opt{64, 50, /*dsl=*/true, 0.01, /*rerank_top_k=*/5};
  const auto& split = file.split("test");
  const auto on_cpu = eval::evaluate_split(cpu_model, file, split, opt, comm_);
  const auto on_gpu = eval::evaluate_split(gpu_model, file, split, opt, comm_);
  std::cout << "cpu " << eval::format_metrics(on_cpu) << "\ngpu " << eval::format_metrics(on_gpu) << "\n";
  EXPECT_NEAR(on_gpu.t2v.r1, on_cpu.t2v.r1, 1.0);
  EXPECT_NEAR(on_gpu.v2t.r1, on_cpu.v2t.r1, 1.0);
  EXPECT_NEAR(on_gpu.t2v.mnr, on_cpu.t2v.mnr, 0.01 * on_cpu.t2v.mnr);
}

}  // namespace
}  // namespace lica::trainer
