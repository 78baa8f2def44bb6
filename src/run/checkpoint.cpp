#include "run/checkpoint.h"

#include <yaml-cpp/yaml.h>

#include <sstream>

#include "common/error.h"

namespace lica::run {
namespace fs = std::filesystem;
namespace {

constexpr const char* kModel = "model.pt";
constexpr const char* kMomentum = "momentum.pt";
constexpr const char* kOptimizer = "optimizer.pt";
constexpr const char* kRng = "rng.pt";
constexpr const char* kState = "state.yaml";
constexpr const char* kConfig = "config.yaml";
constexpr int kStateFormat = 1;

// Archive entries are attributes of a TorchScript module: keep dots out of their names.
std::string archive_key(std::string name) {
  for (size_t at = name.find('.'); at != std::string::npos; at = name.find('.', at + 2)) {
    name.replace(at, 1, "__");
  }
  return name;
}

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

// Loads a torch archive of the checkpoint onto `device`, turning c10 errors into messages
// naming the file.
template <typename Fn>
void with_archive(const fs::path& dir, const std::string& name, Fn&& fn,
                  const torch::Device& device = torch::kCPU) {
  const std::string bytes = read_checkpoint_file(dir, name);
  const fs::path path = dir / name;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(bytes.data(), bytes.size(), device);
    fn(archive);
  } catch (const c10::Error& e) {
    throw InputError(path.string() + ": does not fit this run: " + e.msg());
  }
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

std::vector<CheckpointFile> checkpoint_files(const TrainingProgress& progress, const Config& cfg,
                                             torch::nn::Module& model,
                                             torch::optim::Optimizer& optimizer,
                                             const torch::Tensor& rng_states,
                                             torch::nn::Module* momentum,
                                             const torch::Tensor& cuda_rng_states) {
  torch::serialize::OutputArchive rng_archive;
  rng_archive.write("cpu", rng_states.cpu().contiguous());
  if (cuda_rng_states.defined()) rng_archive.write("cuda", cuda_rng_states.cpu().contiguous());
  std::vector<CheckpointFile> files{{kModel, module_bytes(model)},
                                    {kOptimizer, optimizer_bytes(optimizer)},
                                    {kRng, archive_bytes(rng_archive)},
                                    {kState, state_yaml(progress)},
                                    {kConfig, dump_config(cfg)}};
  if (momentum) files.push_back({kMomentum, module_bytes(*momentum)});
  return files;
}

TrainingProgress read_progress(const fs::path& dir) {
  const fs::path path = dir / kState;
  TrainingProgress p;
  try {
    const YAML::Node n = YAML::Load(read_checkpoint_file(dir, kState));
    const int format = n["format"].as<int>();
    if (format != kStateFormat) {
      throw InputError(path.string() + ": state format " + std::to_string(format) +
                       ", this build reads " + std::to_string(kStateFormat));
    }
    p.step = n["step"].as<int64_t>();
    p.epoch = n["epoch"].as<int64_t>();
    p.step_in_epoch = n["step_in_epoch"].as<int64_t>();
    p.steps_per_epoch = n["steps_per_epoch"].as<int64_t>();
    p.total_steps = n["total_steps"].as<int64_t>();
    p.seed = n["seed"].as<int64_t>();
    p.world_size = n["world_size"].as<int64_t>();
    p.metrics_bytes = n["metrics_bytes"].as<int64_t>();
    p.best_metric = n["best_metric"].as<std::string>();
    p.metric_value = n["metric_value"].as<double>();
    p.best_checkpoint = n["best_checkpoint"].as<std::string>();
    p.best_value = n["best_value"].as<double>();
    p.last_train_record = n["last_train_record"].as<std::string>();
    p.last_eval_record = n["last_eval_record"].as<std::string>();
  } catch (const YAML::Exception& e) {
    throw InputError(path.string() + ": unreadable training state: " + e.what());
  }
  return p;
}

Config read_checkpoint_config(const fs::path& dir) {
  return parse_config_yaml(read_checkpoint_file(dir, kConfig), (dir / kConfig).string());
}

// Flat names ("video.proj.weight"), each read into a new tensor and copied in after a shape
// check: Module::load would silently resize a parameter to whatever the file holds.
namespace {

void load_module(const fs::path& dir, const char* file, torch::nn::Module& model) {
  const fs::path path = dir / file;
  with_archive(dir, file, [&](torch::serialize::InputArchive& a) {
    const auto load = [&](const std::string& name, torch::Tensor& target, bool is_buffer) {
      torch::Tensor saved;
      if (!a.try_read(archive_key(name), saved, is_buffer)) {
        throw InputError(path.string() + ": no tensor '" + name + "' (a checkpoint of another model?)");
      }
      if (saved.sizes() != target.sizes() || saved.scalar_type() != target.scalar_type()) {
        std::ostringstream what;
        what << path.string() << ": '" << name << "' is " << saved.sizes() << " "
             << saved.scalar_type() << ", the configured model has " << target.sizes() << " "
             << target.scalar_type() << " (a checkpoint of another model?)";
        throw InputError(what.str());
      }
      torch::NoGradGuard no_grad;
      target.copy_(saved);
    };
    for (auto& p : model.named_parameters()) load(p.key(), p.value(), false);
    for (auto& b : model.named_buffers()) load(b.key(), b.value(), true);
  });
}

}  // namespace

void load_model(const fs::path& dir, torch::nn::Module& model) { load_module(dir, kModel, model); }

void load_momentum(const fs::path& dir, torch::nn::Module& momentum) {
  load_module(dir, kMomentum, momentum);
}

void load_optimizer(const fs::path& dir, torch::optim::Optimizer& optimizer) {
  // The moments go where the parameters are: AdamW's step would fail on mixed devices.
  torch::Device device = torch::kCPU;
  for (const auto& group : optimizer.param_groups()) {
    if (!group.params().empty()) {
      device = group.params().front().device();
      break;
    }
  }
  with_archive(dir, kOptimizer, [&](torch::serialize::InputArchive& a) { optimizer.load(a); },
               device);
}

torch::Tensor load_rng_states(const fs::path& dir) {
  torch::Tensor states;
  with_archive(dir, kRng, [&](torch::serialize::InputArchive& a) { a.read("cpu", states); });
  return states;
}

torch::Tensor load_cuda_rng_states(const fs::path& dir) {
  torch::Tensor states;
  with_archive(dir, kRng, [&](torch::serialize::InputArchive& a) { a.try_read("cuda", states); });
  return states;
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
    // data.path may move (jobs often stage features to node-local disk).
    if (!trajectory || key == "data.path" || key == "trainer.threads" ||
        key == "trainer.log_every" || key == "trainer.device") {
      continue;
    }
    const std::string a = config_value(saved, key), b = config_value(now, key);
    if (a != b) lines.push_back(key + ": " + a + " -> " + b);
  }
  return lines;
}

}  // namespace lica::run
