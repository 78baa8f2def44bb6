#include "run/checkpoint.h"

#include <yaml-cpp/yaml.h>

#include <sstream>

#include "common/error.h"
#include "run/checkpoint_format.h"

namespace lica::run {
namespace fs = std::filesystem;
namespace {

std::string archive_bytes(torch::serialize::OutputArchive& archive) {
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

// A module's parameters and buffers under their flat names, as CPU tensors (.cpu() is the
// tensor itself on the cpu).
std::string module_bytes(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  torch::serialize::OutputArchive archive;
  for (const auto& p : module.named_parameters()) {
    archive.write(archive_key(p.key()), p.value().cpu());
  }
  for (const auto& b : module.named_buffers()) {
    archive.write(archive_key(b.key()), b.value().cpu(), true);
  }
  return archive_bytes(archive);
}

// The optimizer saved with its AdamW moments as CPU tensors. The state is swapped for CPU
// copies while it is written and put back after, so the optimizer keeps its device tensors
// (on the cpu the copies are the tensors themselves). Other state types are saved as they are.
std::string optimizer_bytes(torch::optim::Optimizer& optimizer) {
  using State = torch::optim::AdamWParamState;
  struct Swapped {
    State* state;
    torch::Tensor exp_avg, exp_avg_sq, max_exp_avg_sq;  // the optimizer's own
  };
  std::vector<Swapped> swapped;
  const auto cpu = [](const torch::Tensor& t) { return t.defined() ? t.cpu() : t; };
  for (auto& item : optimizer.state()) {
    auto* s = dynamic_cast<State*>(item.second.get());
    if (s == nullptr) continue;
    swapped.push_back({s, s->exp_avg(), s->exp_avg_sq(), s->max_exp_avg_sq()});
    s->exp_avg(cpu(s->exp_avg()));
    s->exp_avg_sq(cpu(s->exp_avg_sq()));
    s->max_exp_avg_sq(cpu(s->max_exp_avg_sq()));
  }
  const auto restore = [&] {
    for (auto& w : swapped) {
      w.state->exp_avg(w.exp_avg);
      w.state->exp_avg_sq(w.exp_avg_sq);
      w.state->max_exp_avg_sq(w.max_exp_avg_sq);
    }
  };
  torch::serialize::OutputArchive archive;
  try {
    optimizer.save(archive);
  } catch (...) {
    restore();
    throw;
  }
  restore();
  return archive_bytes(archive);
}

std::string state_yaml(const TrainingProgress& p) {
  YAML::Emitter out;
  out.SetDoublePrecision(17);
  out << YAML::BeginMap;
  out << YAML::Key << "format" << YAML::Value << kStateFormat;
  out << YAML::Key << "step" << YAML::Value << p.step;
  out << YAML::Key << "epoch" << YAML::Value << p.epoch;
  out << YAML::Key << "step_in_epoch" << YAML::Value << p.step_in_epoch;
  out << YAML::Key << "steps_per_epoch" << YAML::Value << p.steps_per_epoch;
  out << YAML::Key << "total_steps" << YAML::Value << p.total_steps;
  out << YAML::Key << "seed" << YAML::Value << p.seed;
  out << YAML::Key << "world_size" << YAML::Value << p.world_size;
  out << YAML::Key << "metrics_bytes" << YAML::Value << p.metrics_bytes;
  out << YAML::Key << "best_metric" << YAML::Value << p.best_metric;
  out << YAML::Key << "metric_value" << YAML::Value << p.metric_value;
  out << YAML::Key << "best_checkpoint" << YAML::Value << p.best_checkpoint;
  out << YAML::Key << "best_value" << YAML::Value << p.best_value;
  out << YAML::Key << "last_train_record" << YAML::Value << YAML::SingleQuoted
      << p.last_train_record;
  out << YAML::Key << "last_eval_record" << YAML::Value << YAML::SingleQuoted
      << p.last_eval_record;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace

std::string archive_key(std::string name) {
  for (size_t at = name.find('.'); at != std::string::npos; at = name.find('.', at + 2)) {
    name.replace(at, 1, "__");
  }
  return name;
}

std::vector<CheckpointFile> checkpoint_files(const TrainingProgress& progress, const Config& cfg,
                                             torch::nn::Module& model,
                                             torch::optim::Optimizer& optimizer,
                                             const torch::Tensor& rng_states,
                                             torch::nn::Module* momentum,
                                             const torch::Tensor& cuda_rng_states) {
  torch::serialize::OutputArchive rng_archive;
  rng_archive.write("cpu", rng_states.cpu().contiguous());
  if (cuda_rng_states.defined()) rng_archive.write("cuda", cuda_rng_states.cpu().contiguous());
  std::vector<CheckpointFile> files{{kModelFile, module_bytes(model)},
                                    {kOptimizerFile, optimizer_bytes(optimizer)},
                                    {kRngFile, archive_bytes(rng_archive)},
                                    {kStateFile, state_yaml(progress)},
                                    {kConfigFile, dump_config(cfg)}};
  if (momentum) files.push_back({kMomentumFile, module_bytes(*momentum)});
  return files;
}

torch::Tensor rng_state(const torch::Device& device) {
  return at::globalContext().defaultGenerator(device).get_state();
}

void set_rng_state(const torch::Tensor& state, const torch::Device& device) {
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state.cpu());
}

std::vector<std::string> training_differences(const Config& saved, const Config& now) {
  std::vector<std::string> lines;
  for (const auto& key : config_keys()) {
    const bool trajectory = key.rfind("data.", 0) == 0 || key.rfind("model.", 0) == 0 ||
                            key.rfind("trainer.", 0) == 0 || key.rfind("loss.", 0) == 0;
    // data.path may move (jobs often stage features to node-local disk); how batches are read
    // changes nothing; the device and the micro-batch size change rounding (and dropout's
    // draws), not the run: a job that ran out of memory resumes with smaller micro-batches,
    // or with its inputs on the host.
    if (!trajectory || key == "data.path" || key == "data.prefetch_batches" ||
        key == "data.reader_threads" || key == "trainer.threads" ||
        key == "trainer.log_every" || key == "trainer.device" || key == "trainer.micro_batch" ||
        key == "trainer.host_inputs") {
      continue;
    }
    const std::string a = config_value(saved, key), b = config_value(now, key);
    if (a != b) lines.push_back(key + ": " + a + " -> " + b);
  }
  return lines;
}

}  // namespace lica::run
