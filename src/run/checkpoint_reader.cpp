#include "run/checkpoint_reader.h"

#include <ATen/CPUGeneratorImpl.h>
#include <glog/logging.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <set>
#include <sstream>

#include "common/error.h"
#include "run/checkpoint_format.h"
#include "run/checkpoint_store.h"
#include "run/optimizer_state.h"

namespace lica::run {
namespace fs = std::filesystem;
namespace {

// Files every checkpoint has; momentum.pt is optional (ITC and IMS runs).
const char* const kRequiredFiles[] = {kModelFile, kOptimizerFile, kRngFile, kStateFile, kConfigFile};
constexpr int64_t kMaxWorldSize = 1 << 20;

std::string shape_text(const torch::Tensor& t) {
  std::ostringstream out;
  out << t.sizes() << " " << t.scalar_type();
  return out.str();
}

// "" when every value of `t` is finite (always for integer tensors). One pass over the data:
// a NaN or Inf makes the sum non-finite; only then are the values counted.
std::string non_finite(const torch::Tensor& t) {
  if (!t.is_floating_point() || t.numel() == 0) return "";
  const bool wide = t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kDouble;
  if (std::isfinite((wide ? t.sum() : t.to(torch::kFloat).sum()).item<double>())) return "";
  const int64_t bad = torch::logical_not(torch::isfinite(t)).sum().item<int64_t>();
  if (bad == 0) return "values so large that their sum overflows";
  return std::to_string(bad) + " of " + std::to_string(t.numel()) + " values are NaN or Inf";
}

// Runs `fn` on the torch archive `bytes` of `path`, loaded onto `device`. Whatever LibTorch
// throws while reading (a malformed archive, a missing key, a wrong type) is bad input.
template <typename Fn>
void with_archive(const fs::path& path, const std::string& bytes, const torch::Device& device,
                  Fn&& fn) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(bytes.data(), bytes.size(), device);
    fn(archive);
  } catch (const InputError&) {
    throw;
  } catch (const c10::Error& e) {
    throw InputError(path.string() + ": unreadable or not of this run: " + e.msg());
  } catch (const std::exception& e) {
    throw InputError(path.string() + ": unreadable: " + e.what());
  }
}

int64_t state_int(const YAML::Node& n, const char* key) { return n[key].as<int64_t>(); }

// One AdamW moment of parameter `index` against its parameter: "" when it fits.
std::string moment_problem(const char* what, const torch::Tensor& m, const torch::Tensor& param) {
  if (!m.defined()) return std::string(what) + " missing";
  if (m.sizes() != param.sizes() || m.scalar_type() != param.scalar_type()) {
    return std::string(what) + " is " + shape_text(m) + ", its parameter " + shape_text(param);
  }
  const std::string bad = non_finite(m);
  return bad.empty() ? "" : std::string(what) + ": " + bad;
}

}  // namespace

CheckpointReader::CheckpointReader(fs::path dir) : dir_(std::move(dir)) {
  const auto step = checkpoint_step(dir_);
  if (!step) throw InputError(dir_.string() + ": not a checkpoint directory (step_<N>)");
  step_ = *step;
  files_ = read_verified_files(dir_);
  for (const char* name : kRequiredFiles) {
    if (!files_.count(name)) {
      throw InputError((dir_ / "MANIFEST").string() + ": does not list " + name);
    }
  }
  for (const auto& f : files_) {
    if (f.first != kMomentumFile &&
        std::find(std::begin(kRequiredFiles), std::end(kRequiredFiles), f.first) ==
            std::end(kRequiredFiles)) {
      throw InputError((dir_ / "MANIFEST").string() + ": lists '" + f.first +
                       "', not a file of a lica checkpoint");
    }
  }
  config_ = parse_config_yaml(bytes(kConfigFile), path(kConfigFile).string());
  validate(config_, path(kConfigFile).string());
  read_state();
  check_state();
}

const std::string& CheckpointReader::bytes(const std::string& file) const {
  const auto it = files_.find(file);
  if (it == files_.end()) throw InputError((dir_ / "MANIFEST").string() + ": does not list " + file);
  return it->second;
}

void CheckpointReader::read_state() {
  const fs::path p = path(kStateFile);
  static const std::set<std::string> keys{
      "format", "step", "epoch", "step_in_epoch", "steps_per_epoch", "total_steps", "seed",
      "world_size", "metrics_bytes", "best_metric", "metric_value", "best_checkpoint",
      "best_value", "last_train_record", "last_eval_record"};
  try {
    const YAML::Node n = YAML::Load(bytes(kStateFile));
    if (!n.IsMap()) throw InputError(p.string() + ": not a YAML map");
    for (const auto& item : n) {
      const std::string key = item.first.as<std::string>();
      if (!keys.count(key)) throw InputError(p.string() + ": unknown key '" + key + "'");
    }
    for (const auto& key : keys) {
      if (!n[key]) throw InputError(p.string() + ": key '" + key + "' missing");
    }
    const int64_t format = state_int(n, "format");
    if (format != kStateFormat) {
      throw InputError(p.string() + ": state format " + std::to_string(format) +
                       ", this build reads " + std::to_string(kStateFormat));
    }
    auto& q = progress_;
    q.step = state_int(n, "step"), q.epoch = state_int(n, "epoch");
    q.step_in_epoch = state_int(n, "step_in_epoch"), q.steps_per_epoch = state_int(n, "steps_per_epoch");
    q.total_steps = state_int(n, "total_steps"), q.seed = state_int(n, "seed");
    q.world_size = state_int(n, "world_size"), q.metrics_bytes = state_int(n, "metrics_bytes");
    q.best_metric = n["best_metric"].as<std::string>();
    q.metric_value = n["metric_value"].as<double>();
    q.best_checkpoint = n["best_checkpoint"].as<std::string>();
    q.best_value = n["best_value"].as<double>();
    q.last_train_record = n["last_train_record"].as<std::string>();
    q.last_eval_record = n["last_eval_record"].as<std::string>();
  } catch (const YAML::Exception& e) {
    throw InputError(p.string() + ": unreadable training state: " + e.what());
  }
}

void CheckpointReader::check_state() const {
  const auto& q = progress_;
  const auto fail = [&](const std::string& what) {
    throw InputError(path(kStateFile).string() + ": " + what);
  };
  const auto num = [](int64_t v) { return std::to_string(v); };
  if (q.step != step_) fail("step " + num(q.step) + " in directory " + dir_.filename().string());
  if (q.steps_per_epoch < 1 || q.total_steps < 1 || q.total_steps / q.steps_per_epoch != config_.trainer.epochs ||
      q.total_steps % q.steps_per_epoch != 0) {
    fail("steps_per_epoch " + num(q.steps_per_epoch) + " and total_steps " + num(q.total_steps) +
         " do not make the " + num(config_.trainer.epochs) + " epochs of its config.yaml");
  }
  if (q.step < 0 || q.step > q.total_steps) fail("step " + num(q.step) + " outside 0.." + num(q.total_steps));
  if (q.epoch != q.step / q.steps_per_epoch || q.step_in_epoch != q.step % q.steps_per_epoch) {
    fail("epoch " + num(q.epoch) + " and step_in_epoch " + num(q.step_in_epoch) + " disagree with step " +
         num(q.step) + " at " + num(q.steps_per_epoch) + " steps per epoch");
  }
  if (q.seed != config_.trainer.seed) {
    fail("seed " + num(q.seed) + ", its config.yaml has trainer.seed " + num(config_.trainer.seed));
  }
  if (q.world_size < 1 || q.world_size > kMaxWorldSize) fail("world_size " + num(q.world_size));
  if (q.metrics_bytes < 0) fail("metrics_bytes " + num(q.metrics_bytes));
  if (!q.best_checkpoint.empty()) {
    const auto best = checkpoint_step(q.best_checkpoint);
    if (!best || *best > q.step) fail("best_checkpoint '" + q.best_checkpoint + "'");
  }
  if (std::isinf(q.metric_value) || std::isinf(q.best_value)) fail("an infinite metric value");
}

std::map<std::string, torch::Tensor> CheckpointReader::read_module(const std::string& file,
                                                                  torch::nn::Module& module) const {
  const fs::path p = path(file);
  std::map<std::string, torch::Tensor> saved;
  with_archive(p, bytes(file), torch::kCPU, [&](torch::serialize::InputArchive& a) {
    const auto take = [&](const std::string& name, const torch::Tensor& target, bool is_buffer) {
      torch::Tensor t;
      if (!a.try_read(archive_key(name), t, is_buffer) || !t.defined()) {
        throw InputError(p.string() + ": no tensor '" + name + "' (a checkpoint of another model?)");
      }
      if (t.sizes() != target.sizes() || t.scalar_type() != target.scalar_type()) {
        throw InputError(p.string() + ": '" + name + "' is " + shape_text(t) +
                         ", the configured model has " + shape_text(target) +
                         " (a checkpoint of another model?)");
      }
      const std::string bad = non_finite(t);
      if (!bad.empty()) throw InputError(p.string() + ": '" + name + "': " + bad);
      saved[name] = t;
    };
    for (const auto& item : module.named_parameters()) take(item.key(), item.value(), false);
    for (const auto& item : module.named_buffers()) take(item.key(), item.value(), true);
  });
  return saved;
}

namespace {

void copy_into(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& saved) {
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters()) item.value().copy_(saved.at(item.key()));
  for (auto& item : module.named_buffers()) item.value().copy_(saved.at(item.key()));
}

}  // namespace

void CheckpointReader::load_model(torch::nn::Module& model) const {
  copy_into(model, read_module(kModelFile, model));
}

void CheckpointReader::load_momentum(torch::nn::Module& momentum) const {
  const auto saved = read_module(kMomentumFile, momentum);
  // The queues' fill and next slot index the queue: out of range they would write outside it.
  const auto fill = saved.find("queue_fill"), queue = saved.find("video_queue");
  if (fill != saved.end() && queue != saved.end()) {
    const int64_t capacity = queue->second.size(0);
    const int64_t filled = fill->second[0].item<int64_t>(), next = fill->second[1].item<int64_t>();
    if (filled < 0 || filled > capacity || next < 0 || next >= std::max<int64_t>(capacity, 1)) {
      throw InputError(path(kMomentumFile).string() + ": queue_fill [" + std::to_string(filled) + ", " +
                       std::to_string(next) + "] outside a queue of " + std::to_string(capacity));
    }
  }
  copy_into(momentum, saved);
}

void CheckpointReader::load_optimizer(torch::optim::Optimizer& optimizer) const {
  // The moments go where the parameters are: AdamW's step would fail on mixed devices.
  torch::Device device = torch::kCPU;
  for (const auto& group : optimizer.param_groups()) {
    if (!group.params().empty()) {
      device = group.params().front().device();
      break;
    }
  }
  const fs::path p = path(kOptimizerFile);
  optimizer.state().clear();  // load() only adds: nothing of an earlier candidate stays
  try {
    with_archive(p, bytes(kOptimizerFile), device,
                 [&](torch::serialize::InputArchive& a) { optimizer.load(a); });
    size_t index = 0;
    for (const auto& group : optimizer.param_groups()) {
      for (const auto& param : group.params()) {
        auto* base = state_of(optimizer.state(), param);
        ++index;
        if (base == nullptr) continue;  // a parameter that never had a gradient
        const auto* s = dynamic_cast<const torch::optim::AdamWParamState*>(base);
        std::string problem = s == nullptr ? "not an AdamW state" : "";
        if (problem.empty()) problem = moment_problem("exp_avg", s->exp_avg(), param);
        if (problem.empty()) problem = moment_problem("exp_avg_sq", s->exp_avg_sq(), param);
        if (problem.empty() && param.numel() > 0 && s->exp_avg_sq().min().item<double>() < 0) {
          problem = "exp_avg_sq < 0";
        }
        if (problem.empty() && (s->step() < 0 || s->step() > progress_.step)) {
          problem = "step count " + std::to_string(s->step()) + " outside 0.." + std::to_string(progress_.step);
        }
        if (!problem.empty()) {
          throw InputError(p.string() + ": state of parameter " + std::to_string(index - 1) + ": " + problem);
        }
      }
    }
  } catch (const c10::Error& e) {
    optimizer.state().clear();
    throw InputError(p.string() + ": does not fit this run: " + e.msg());
  } catch (...) {
    optimizer.state().clear();
    throw;
  }
}

torch::Tensor CheckpointReader::read_rng(const char* key) const {
  const fs::path p = path(kRngFile);
  torch::Tensor states;
  with_archive(p, bytes(kRngFile), torch::kCPU,
               [&](torch::serialize::InputArchive& a) { a.try_read(key, states); });
  if (!states.defined()) return states;
  if (states.dim() != 2 || states.scalar_type() != torch::kByte ||
      states.size(0) != progress_.world_size || states.size(1) == 0) {
    throw InputError(p.string() + ": '" + key + "' generator states are " + shape_text(states) +
                     ", expected [" + std::to_string(progress_.world_size) +
                     ", n] Byte (one row per rank of the saved run)");
  }
  return states;
}

torch::Tensor CheckpointReader::rng_states() const {
  const torch::Tensor states = read_rng("cpu");
  const int64_t n = rng_state().numel();
  if (!states.defined() || states.size(1) != n) {
    throw InputError(path(kRngFile).string() + ": no CPU generator states of " + std::to_string(n) +
                     " bytes (this build's size)" +
                     (states.defined() ? ", they have " + std::to_string(states.size(1)) : ""));
  }
  // Each state set on a scratch generator first: LibTorch checks what it can of its content.
  auto scratch = at::make_generator<at::CPUGeneratorImpl>();
  for (int64_t r = 0; r < states.size(0); ++r) {
    try {
      scratch.set_state(states[r].contiguous());
    } catch (const c10::Error& e) {
      throw InputError(path(kRngFile).string() + ": generator state of rank " + std::to_string(r) +
                       ": " + e.msg());
    }
  }
  return states;
}

torch::Tensor CheckpointReader::cuda_rng_states() const { return read_rng("cuda"); }

std::optional<fs::path> open_newest_checkpoint(
    const fs::path& root, const std::function<void(const CheckpointReader&)>& accept) {
  return open_newest(root, [&](const fs::path& dir) { accept(CheckpointReader(dir)); });
}

fs::path open_checkpoint(const fs::path& spec,
                         const std::function<void(const CheckpointReader&)>& accept) {
  const CheckpointSpec s = checkpoint_spec(spec);
  if (!s.checkpoint.empty()) {
    accept(CheckpointReader(s.checkpoint));
    return s.checkpoint;
  }
  const auto newest = open_newest_checkpoint(s.root, accept);
  if (!newest) throw InputError("no checkpoint in " + s.root.string());
  return *newest;
}

TrainingProgress read_progress(const fs::path& dir) { return CheckpointReader(dir).progress(); }
Config read_checkpoint_config(const fs::path& dir) { return CheckpointReader(dir).config(); }
void load_model(const fs::path& dir, torch::nn::Module& model) { CheckpointReader(dir).load_model(model); }
void load_momentum(const fs::path& dir, torch::nn::Module& momentum) {
  CheckpointReader(dir).load_momentum(momentum);
}
void load_optimizer(const fs::path& dir, torch::optim::Optimizer& optimizer) {
  CheckpointReader(dir).load_optimizer(optimizer);
}
torch::Tensor load_rng_states(const fs::path& dir) { return CheckpointReader(dir).rng_states(); }
torch::Tensor load_cuda_rng_states(const fs::path& dir) { return CheckpointReader(dir).cuda_rng_states(); }

}  // namespace lica::run
