// Issue 23: a checkpoint is untrusted input. From the checkpoints of a small finished run, this
// test makes many kinds of damage to its newest checkpoint (deleted, truncated and flipped
// files, with the CRC stale and recomputed; manifest edits and path escapes; pointer and
// symlink loops; state values out of range or inconsistent; a foreign config; non-finite,
// wrong-shaped and wrong-typed tensors; wrong generator states) and asserts for each:
//   --resume <that checkpoint>  -> InputError (exit 2) naming the file, nothing changed on disk;
//   lica_eval's loader          -> InputError naming the file (damage eval reads) or the same
//                                  metrics as the intact checkpoint;
//   --resume latest             -> the documented fallback to the previous checkpoint, every
//                                  step logged once, final weights and AdamW state bitwise those
//                                  of the run that never stopped;
// and for damage around the checkpoints (a checkpoints file, a pointer loop, metrics.jsonl
// cut short) exit 2 naming the path with nothing on disk changed.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <fstream>
#include <functional>
#include <sstream>

#include "common/error.h"
#include "dist/local_communicator.h"
#include "eval/evaluate_checkpoint.h"
#include "eval/retrieval_metrics.h"
#include "run/checkpoint.h"
#include "run/checkpoint_format.h"
#include "run/checkpoint_reader.h"
#include "run/checkpoint_store.h"
#include "run/model_options.h"
#include "support/checkpoint_compare.h"
#include "support/resume_runs.h"
#include "trainer/schedule.h"

namespace lica::trainer {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kFiles = {"model.pt", "optimizer.pt", "rng.pt", "state.yaml",
                                         "config.yaml"};

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_all(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string crc_hex(const std::string& bytes) {
  const auto crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()),
                         static_cast<uInt>(bytes.size()));
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08lx", static_cast<unsigned long>(crc));
  return buf;
}

// The manifest line of file `name` as found at `path`.
std::string entry(const std::string& name, const fs::path& path) {
  const std::string bytes = read_all(path);
  return name + " " + std::to_string(bytes.size()) + " " + crc_hex(bytes) + "\n";
}

// A forger who recomputes every CRC: the manifest rewritten for the files as they are now.
void reseal(const fs::path& ckpt, const std::vector<std::string>& names = kFiles) {
  std::string text = "lica-checkpoint 1 files " + std::to_string(names.size()) + "\n";
  for (const auto& n : names) text += entry(n, ckpt / n);
  write_all(ckpt / "MANIFEST", text);
}

// Replaces file `name` and reseals, so that only the content itself is wrong.
void forge(const fs::path& ckpt, const std::string& name, const std::string& bytes) {
  write_all(ckpt / name, bytes);
  reseal(ckpt);
}

void flip_byte(const fs::path& p, int64_t at) {
  std::string b = read_all(p);
  const auto i = static_cast<size_t>(at < 0 ? static_cast<int64_t>(b.size()) + at : at);
  b[i] = static_cast<char>(b[i] ^ 0x5a);
  write_all(p, b);
}

void truncate_half(const fs::path& p) { fs::resize_file(p, fs::file_size(p) / 2); }

// state.yaml or config.yaml with one line (starting `key:` after indentation) replaced.
std::string with_line(const fs::path& p, const std::string& key, const std::string& line) {
  std::istringstream in(read_all(p));
  std::string out;
  bool done = false;
  for (std::string l; std::getline(in, l);) {
    const auto first = l.find_first_not_of(' ');
    if (!done && first != std::string::npos && l.compare(first, key.size() + 1, key + ":") == 0) {
      l = l.substr(0, first) + line, done = true;
    }
    out += l + "\n";
  }
  EXPECT_TRUE(done) << key << " not in " << p;
  return out;
}

std::string archive_text(torch::serialize::OutputArchive& a) {
  std::ostringstream out;
  a.save_to(out);
  return out.str();
}

std::string rng_file(const torch::Tensor& states) {
  torch::serialize::OutputArchive a;
  a.write("cpu", states);
  return archive_text(a);
}

}  // namespace

// What to expect of a kind of damage.
enum class Outcome {
  kFallback,  // --resume latest takes the previous checkpoint; --resume <it>: exit 2
  kHarmless,  // accepted as documented: --resume latest takes it
  kExit2,     // --resume latest: exit 2 naming the path, nothing changed on disk
};

struct Damage {
  std::string name;
  std::function<void(const fs::path& ckpt, const fs::path& run)> apply;
  std::string named;  // what the message names (a file of the checkpoint, or a path)
  Outcome outcome = Outcome::kFallback;
  bool eval_reads = true;  // lica_eval's loader sees it (it reads no optimizer or generator)
};

class CheckpointDamage : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static run::Config config(const fs::path& run);

  // A model of the run with the saved weights of the reference's last checkpoint, and its
  // model.pt written again with `edit` applied to each tensor (erase it: `keep` = false).
  static std::string model_file(
      const std::function<void(const std::string&, torch::Tensor&, bool& keep)>& edit);
  // optimizer.pt of the reference's last checkpoint with `edit` applied to the first state.
  static std::string optimizer_file(const std::function<void(torch::optim::AdamWParamState&)>& edit);

  static std::vector<Damage> file_damage();
  static std::vector<Damage> manifest_damage();
  static std::vector<Damage> state_damage();
  static std::vector<Damage> config_damage();
  static std::vector<Damage> tensor_damage();
  static std::vector<Damage> shape_damage();
  void check(const Damage& d);
  // check() of each; any other exception is a failure naming the damage, and the next runs.
  void check_all(const std::vector<Damage>& damages) {
    for (const auto& d : damages) {
      try {
        check(d);
      } catch (const std::exception& e) {
        ADD_FAILURE() << d.name << ": " << e.what();
      }
    }
  }

  static fs::path dir_, reference_, last_;  // last_: the reference's newest checkpoint
  static int64_t previous_step_;            // the checkpoint before it
  static eval::CheckpointEval last_eval_;
  dist::LocalCommunicator comm_;
  static int checked_;  // runs made, over every test of the suite (each its own directory)
};
fs::path CheckpointDamage::dir_, CheckpointDamage::reference_, CheckpointDamage::last_;
int64_t CheckpointDamage::previous_step_ = 0;
int CheckpointDamage::checked_ = 0;
eval::CheckpointEval CheckpointDamage::last_eval_;

// 100 videos, 70 to train in batches of 10: 7 steps per epoch, 2 epochs. Checkpoints at 5, 7
// (best after the first validation), 10 and 14; dropout on, so the generator state matters.
run::Config CheckpointDamage::config(const fs::path& run) {
  run::Config c;
  c.data.path = (dir_ / "s.h5").string();
  c.model.embed_dim = 16;
  c.model.dropout = 0.1;
  c.trainer.epochs = 2;
  c.trainer.batch_size = 10;
  c.trainer.log_every = 1;
  c.trainer.threads = 1;
  c.trainer.device = "cpu";
  c.checkpoint.every_steps = 5;
  c.checkpoint.keep_last = 10;
  c.run.dir = run.string();
  run::validate(c, "checkpoint damage test config");
  return c;
}

void CheckpointDamage::SetUpTestSuite() {
  dir_ = fs::temp_directory_path() / ("lica_ckpt_damage_" + std::to_string(::getpid()));
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  data::SyntheticOptions so;
  so.videos = 100;
  so.seed = 5;
  data::write_synthetic((dir_ / "s.h5").string(), so);
  reference_ = dir_ / "reference";
  dist::LocalCommunicator comm;
  train(config(reference_), comm);
  const auto all = run::list_checkpoints(reference_ / "checkpoints");
  ASSERT_GE(all.size(), 3u);
  last_ = all[0];
  previous_step_ = *run::checkpoint_step(all[1]);
  last_eval_ = eval::evaluate_checkpoint(config(dir_ / "eval"), last_.string(), "test", comm);
}

std::string CheckpointDamage::model_file(
    const std::function<void(const std::string&, torch::Tensor&, bool& keep)>& edit) {
  const auto cfg = config(reference_);
  const auto file = run::open_features(cfg);
  model::DualEncoder model(run::dual_encoder_options(cfg, file));
  run::load_model(last_, *model);
  torch::serialize::OutputArchive a;
  for (const auto& p : model->named_parameters()) {
    torch::Tensor t = p.value().detach().clone();
    bool keep = true;
    edit(p.key(), t, keep);
    if (keep) a.write(run::archive_key(p.key()), t);
  }
  for (const auto& b : model->named_buffers()) a.write(run::archive_key(b.key()), b.value(), true);
  return archive_text(a);
}

std::string CheckpointDamage::optimizer_file(
    const std::function<void(torch::optim::AdamWParamState&)>& edit) {
  const auto cfg = config(reference_);
  const auto file = run::open_features(cfg);
  model::DualEncoder model(run::dual_encoder_options(cfg, file));
  auto opt = make_adamw(*model, cfg.trainer.lr, cfg.trainer.weight_decay);
  run::load_optimizer(last_, *opt);
  // The first parameter with a state (some never had a gradient, and have none).
  for (const auto& p : model->parameters()) {
    try {
      const auto& state = testing::adamw_state(opt->state(), p);
      edit(const_cast<torch::optim::AdamWParamState&>(state));
      break;
    } catch (const std::out_of_range&) {
    }
  }
  torch::serialize::OutputArchive a;
  opt->save(a);
  return archive_text(a);
}

std::vector<Damage> CheckpointDamage::file_damage() {
  std::vector<Damage> out;
  for (const std::string f : {"model.pt", "optimizer.pt", "rng.pt", "state.yaml", "config.yaml", "MANIFEST"}) {
    const bool eval_reads = true;  // every file is checked against the manifest when read
    out.push_back({"delete " + f, [f](const fs::path& c, const fs::path&) { fs::remove(c / f); }, f,
                   Outcome::kFallback, eval_reads});
    out.push_back({"truncate " + f, [f](const fs::path& c, const fs::path&) { truncate_half(c / f); },
                   f, Outcome::kFallback, eval_reads});
    if (f != "MANIFEST") {
      out.push_back({"flip a byte of " + f + ", CRC stale",
                     [f](const fs::path& c, const fs::path&) { flip_byte(c / f, -100); }, f});
    }
  }
  // Flipped where the archive's structure is, CRC recomputed: the archive does not read.
  for (const std::string f : {"model.pt", "optimizer.pt", "rng.pt"}) {
    const bool eval_reads = f == "model.pt";
    out.push_back({"flip the first byte of " + f + ", CRC recomputed",
                   [f](const fs::path& c, const fs::path&) { flip_byte(c / f, 0); reseal(c); }, f,
                   Outcome::kFallback, eval_reads});
  }
  out.push_back({"model.pt a symlink to the previous checkpoint's, CRC recomputed",
                 [](const fs::path& c, const fs::path&) {
                   fs::remove(c / "model.pt");
                   fs::create_symlink(fs::path("..") / ("step_" + std::to_string(previous_step_)) / "model.pt",
                                      c / "model.pt");
                   reseal(c);
                 },
                 "model.pt"});
  out.push_back({"model.pt a directory", [](const fs::path& c, const fs::path&) {
                   fs::remove(c / "model.pt");
                   fs::create_directory(c / "model.pt");
                 }, "model.pt"});
  return out;
}

std::vector<Damage> CheckpointDamage::manifest_damage() {
  const auto set = [](std::string text) {
    return [text](const fs::path& c, const fs::path&) { write_all(c / "MANIFEST", text); };
  };
  std::vector<Damage> out;
  out.push_back({"manifest lists no files", set("lica-checkpoint 1 files 0\n"), "MANIFEST"});
  out.push_back({"manifest lists model.pt five times", [](const fs::path& c, const fs::path&) {
                   std::string text = "lica-checkpoint 1 files 5\n";
                   for (int i = 0; i < 5; ++i) text += entry("model.pt", c / "model.pt");
                   write_all(c / "MANIFEST", text);
                 }, "MANIFEST"});
  const auto escape = [](std::string target) {
    return [target](const fs::path& c, const fs::path&) {
      std::string text = read_all(c / "MANIFEST");
      const fs::path real = target[0] == '/' ? fs::path(target) : c / target;
      text += entry(target, real);
      const auto at = text.find("files ") + 6;
      text.replace(at, 1, std::to_string(std::stoi(text.substr(at, 1)) + 1));
      write_all(c / "MANIFEST", text);
    };
  };
  out.push_back({"manifest entry /etc/hostname", escape("/etc/hostname"), "/etc/hostname"});
  out.push_back({"manifest entry ../../../../../../etc/hostname", escape("../../../../../../etc/hostname"),
                 "../../../../../../etc/hostname"});
  out.push_back({"manifest entry of the previous step's model.pt", [](const fs::path& c, const fs::path&) {
                   const std::string prev = "../step_" + std::to_string(previous_step_) + "/model.pt";
                   std::string text = "lica-checkpoint 1 files 5\n" + entry(prev, c / prev);
                   for (const auto& n : kFiles) if (n != "model.pt") text += entry(n, c / n);
                   write_all(c / "MANIFEST", text);
                 }, "step_" + std::to_string(previous_step_) + "/model.pt"});
  out.push_back({"manifest announces more files than it lists", [](const fs::path& c, const fs::path&) {
                   std::string text = read_all(c / "MANIFEST");
                   text.replace(text.find("files 5"), 7, "files 6");
                   write_all(c / "MANIFEST", text);
                 }, "MANIFEST"});
  out.push_back({"manifest lists an extra file", [](const fs::path& c, const fs::path&) {
                   write_all(c / "evil.pt", "x");
                   reseal(c, {"model.pt", "optimizer.pt", "rng.pt", "state.yaml", "config.yaml", "evil.pt"});
                 }, "evil.pt"});
  out.push_back({"manifest line with a fourth field", [](const fs::path& c, const fs::path&) {
                   std::string text = read_all(c / "MANIFEST");
                   text.insert(text.find("\nmodel.pt") + 1 + text.substr(text.find("\nmodel.pt") + 1).find('\n'), " x");
                   write_all(c / "MANIFEST", text);
                 }, "MANIFEST"});
  out.push_back({"manifest header of another format", [](const fs::path& c, const fs::path&) {
                   std::string text = read_all(c / "MANIFEST");
                   text.replace(0, text.find('\n'), "lica-checkpoint 1 files -5");
                   write_all(c / "MANIFEST", text);
                 }, "MANIFEST"});
  return out;
}

std::vector<Damage> CheckpointDamage::state_damage() {
  const auto edit = [](std::string key, std::string line) {
    return [key, line](const fs::path& c, const fs::path&) {
      forge(c, "state.yaml", with_line(c / "state.yaml", key, line));
    };
  };
  const auto prev = std::to_string(previous_step_);
  std::vector<Damage> out;
  out.push_back({"state step of the previous checkpoint", edit("step", "step: " + prev), "state.yaml"});
  out.push_back({"state step 99999", edit("step", "step: 99999"), "state.yaml"});
  out.push_back({"state step -1", edit("step", "step: -1"), "state.yaml"});
  out.push_back({"state step not a number", edit("step", "step: many"), "state.yaml"});
  out.push_back({"state epoch off by one", edit("epoch", "epoch: 0"), "state.yaml"});
  out.push_back({"state step_in_epoch wrong", edit("step_in_epoch", "step_in_epoch: 3"), "state.yaml"});
  out.push_back({"state steps_per_epoch 0", edit("steps_per_epoch", "steps_per_epoch: 0"), "state.yaml"});
  out.push_back({"state total_steps 15", edit("total_steps", "total_steps: 15"), "state.yaml"});
  out.push_back({"state world_size 0", edit("world_size", "world_size: 0"), "state.yaml"});
  out.push_back({"state seed changed", edit("seed", "seed: 77"), "state.yaml"});
  out.push_back({"state format 2", edit("format", "format: 2"), "state.yaml"});
  out.push_back({"state metrics_bytes -1", edit("metrics_bytes", "metrics_bytes: -1"), "state.yaml"});
  out.push_back({"state metrics_bytes mid-record", [](const fs::path& c, const fs::path& run) {
                   const auto bytes = run::read_progress(c).metrics_bytes;
                   forge(c, "state.yaml", with_line(c / "state.yaml", "metrics_bytes",
                                                    "metrics_bytes: " + std::to_string(bytes - 7)));
                 }, "metrics.jsonl"});
  out.push_back({"state metrics_bytes past the file", edit("metrics_bytes", "metrics_bytes: 99999999"),
                 "metrics.jsonl"});
  out.push_back({"state best_checkpoint in the future", edit("best_checkpoint", "best_checkpoint: step_99"),
                 "state.yaml"});
  out.push_back({"state with an unknown key", [](const fs::path& c, const fs::path&) {
                   forge(c, "state.yaml", read_all(c / "state.yaml") + "extra: 1\n");
                 }, "state.yaml"});
  out.push_back({"state not a map", [](const fs::path& c, const fs::path&) { forge(c, "state.yaml", "[1, 2]\n"); },
                 "state.yaml"});
  for (auto& d : out) d.eval_reads = d.named != "metrics.jsonl";  // the run's log is training's
  return out;
}

std::vector<Damage> CheckpointDamage::config_damage() {
  const auto edit = [](std::string key, std::string line) {
    return [key, line](const fs::path& c, const fs::path&) {
      forge(c, "config.yaml", with_line(c / "config.yaml", key, line));
    };
  };
  std::vector<Damage> out;
  out.push_back({"config embed_dim 0", edit("embed_dim", "embed_dim: 0"), "config.yaml"});
  out.push_back({"config heads 3", edit("heads", "heads: 3"), "config.yaml"});
  out.push_back({"config dropout 2.5", edit("dropout", "dropout: 2.5"), "config.yaml"});
  out.push_back({"config video layers -1", edit("layers", "layers: -1"), "config.yaml"});
  out.push_back({"config not YAML", [](const fs::path& c, const fs::path&) { forge(c, "config.yaml", "{[\n"); },
                 "config.yaml"});
  out.push_back({"config with an unknown key", [](const fs::path& c, const fs::path&) {
                   forge(c, "config.yaml", read_all(c / "config.yaml") + "surprise: 1\n");
                 }, "config.yaml"});
  // A foreign config that is valid: another learning rate. Training refuses it (the run
  // would differ); evaluation takes only model.* from it, so it evaluates the same.
  Damage foreign{"a foreign but valid config (trainer.lr)", edit("lr", "lr: 0.5"), "trainer.lr"};
  foreign.eval_reads = false;
  out.push_back(foreign);
  return out;
}

std::vector<Damage> CheckpointDamage::tensor_damage() {
  const auto model_edit = [](std::function<void(const std::string&, torch::Tensor&, bool&)> e) {
    return [e](const fs::path& c, const fs::path&) { forge(c, "model.pt", model_file(e)); };
  };
  // The first tensor of at least 16 values (the logit scale alone would not overflow a sum).
  const auto first_only = [](std::function<void(torch::Tensor&)> e) {
    auto done = std::make_shared<bool>(false);
    return [e, done](const std::string&, torch::Tensor& t, bool&) {
      if (!*done && t.numel() >= 16) e(t), *done = true;
    };
  };
  std::vector<Damage> out;
  out.push_back({"a weight NaN", model_edit(first_only([](torch::Tensor& t) { t.view(-1)[0] = NAN; })), "model.pt"});
  out.push_back({"a weight Inf", model_edit(first_only([](torch::Tensor& t) { t.view(-1)[1] = -INFINITY; })), "model.pt"});
  out.push_back({"weights absurdly large", model_edit(first_only([](torch::Tensor& t) { t.fill_(3e38); })), "model.pt"});
  out.push_back({"a weight of another shape", model_edit(first_only([](torch::Tensor& t) { t = torch::zeros({3}); })), "model.pt"});
  out.push_back({"a weight of another dtype", model_edit(first_only([](torch::Tensor& t) { t = t.to(torch::kDouble); })), "model.pt"});
  out.push_back({"a weight missing", model_edit([](const std::string& n, torch::Tensor&, bool& keep) {
                   if (n == "logit_scale") keep = false;
                 }), "model.pt"});
  const auto opt_edit = [](std::function<void(torch::optim::AdamWParamState&)> e) {
    return [e](const fs::path& c, const fs::path&) { forge(c, "optimizer.pt", optimizer_file(e)); };
  };
  const auto moment = [](const char* what, std::function<void(torch::optim::AdamWParamState&)> e) {
    return Damage{what, [e](const fs::path& c, const fs::path&) { forge(c, "optimizer.pt", optimizer_file(e)); },
                  "optimizer.pt", Outcome::kFallback, false};
  };
  out.push_back(moment("a moment NaN", [](auto& s) { s.exp_avg(s.exp_avg().clone().fill_(NAN)); }));
  out.push_back(moment("a second moment negative", [](auto& s) { s.exp_avg_sq(-s.exp_avg_sq() - 1); }));
  out.push_back(moment("a moment of another shape", [](auto& s) { s.exp_avg(torch::zeros({2, 2})); }));
  out.push_back(moment("a step count past the step", [](auto& s) { s.step(100000); }));
  (void)opt_edit;
  const auto rng = [](const char* what, torch::Tensor states) {
    return Damage{what, [states](const fs::path& c, const fs::path&) { forge(c, "rng.pt", rng_file(states)); },
                  "rng.pt", Outcome::kFallback, false};
  };
  const int64_t n = run::rng_state().numel();
  out.push_back(rng("generator states of 0 rows", torch::zeros({0, n}, torch::kByte)));
  out.push_back(rng("generator states of 2 rows (world size 1)", run::rng_state().unsqueeze(0).repeat({2, 1})));
  out.push_back(rng("generator states as floats", torch::zeros({1, n}, torch::kFloat)));
  out.push_back(rng("generator states 1-D", run::rng_state()));
  out.push_back(rng("generator states too short", torch::zeros({1, 16}, torch::kByte)));
  return out;
}

std::vector<Damage> CheckpointDamage::shape_damage() {
  const auto prev = "step_" + std::to_string(previous_step_);
  std::vector<Damage> out;
  out.push_back({"the checkpoint a symlink loop", [](const fs::path& c, const fs::path&) {
                   fs::remove_all(c);
                   fs::create_directory_symlink(c.filename(), c);
                 }, "step_"});
  out.push_back({"the checkpoint a symlink out of checkpoints/", [](const fs::path& c, const fs::path& run) {
                   fs::rename(c, run / "elsewhere");
                   fs::create_directory_symlink(run / "elsewhere", c);
                 }, "symlink"});
  out.push_back({"the checkpoint a regular file", [](const fs::path& c, const fs::path&) {
                   fs::remove_all(c);
                   write_all(c, "x");
                 }, "not a directory"});
  out.push_back({"the checkpoint a copy of the previous one", [prev](const fs::path& c, const fs::path&) {
                   fs::remove_all(c);
                   fs::copy(c.parent_path() / prev, c);
                 }, "state.yaml"});
  // Harmless, as documented: names the writer never spells are no checkpoints.
  out.push_back({"an older checkpoint beside it as step_0<N>", [prev](const fs::path& c, const fs::path&) {
                   fs::copy(c.parent_path() / prev, c.parent_path() / ("step_0" + c.filename().string().substr(5)));
                 }, "", Outcome::kHarmless});
  out.push_back({"a directory step_99999999999999999999", [](const fs::path& c, const fs::path&) {
                   fs::create_directory(c.parent_path() / "step_99999999999999999999");
                 }, "", Outcome::kHarmless});
  out.push_back({"latest naming itself", [](const fs::path& c, const fs::path&) {
                   write_all(c.parent_path() / "latest", "latest\n");
                 }, "", Outcome::kHarmless});
  // Around the checkpoints: exit 2 naming the path, nothing changed.
  out.push_back({"latest a directory", [](const fs::path& c, const fs::path&) {
                   fs::remove(c.parent_path() / "latest");
                   fs::create_directory(c.parent_path() / "latest");
                 }, "latest", Outcome::kExit2});
  out.push_back({"checkpoints a regular file", [](const fs::path& c, const fs::path& run) {
                   fs::remove_all(run / "checkpoints");
                   write_all(run / "checkpoints", "x");
                 }, "checkpoints", Outcome::kExit2});
  out.push_back({"metrics.jsonl cut short", [](const fs::path&, const fs::path& run) {
                   fs::resize_file(run / "metrics.jsonl", 100);
                 }, "metrics.jsonl", Outcome::kExit2});
  return out;
}

// The run directory's files and their sizes, recursively: what "nothing changed" compares.
std::map<std::string, uintmax_t> listing(const fs::path& run) {
  std::map<std::string, uintmax_t> out;
  for (auto it = fs::recursive_directory_iterator(run); it != fs::recursive_directory_iterator(); ++it) {
    const auto rel = it->path().lexically_relative(run).string();
    if (rel.find(".log") != std::string::npos || rel == "config.yaml") continue;  // written at start-up
    std::error_code ec;
    out[rel] = it->is_symlink() || !it->is_regular_file(ec) ? 0 : it->file_size(ec);
    if (it->is_symlink()) it.disable_recursion_pending();
  }
  return out;
}

void expect_input_error(const std::function<void()>& fn, const std::string& named, const std::string& what) {
  try {
    fn();
    ADD_FAILURE() << what << ": expected InputError naming " << named;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(named), std::string::npos) << what << ": " << e.what();
  }
}

void CheckpointDamage::check(const Damage& d) {
  SCOPED_TRACE(d.name);
  const fs::path run = dir_ / ("run" + std::to_string(checked_++));
  fs::copy(reference_, run, fs::copy_options::recursive);
  const fs::path ckpt = run / "checkpoints" / last_.filename();
  d.apply(ckpt, run);
  const auto cfg = config(run);
  const auto before = listing(run);
  if (d.outcome == Outcome::kFallback) {
    TrainOptions named;
    named.resume = ckpt.string();
    expect_input_error([&] { train(cfg, comm_, named); }, d.named, d.name + " (--resume it)");
    EXPECT_EQ(listing(run), before) << d.name << ": --resume it changed the run directory";
  }
  if (d.outcome != Outcome::kExit2) {
    const auto evaluate = [&] { return eval::evaluate_checkpoint(config(dir_ / "eval"), ckpt.string(), "test", comm_); };
    if (d.outcome == Outcome::kFallback && d.eval_reads) {
      expect_input_error(evaluate, d.named, d.name + " (lica_eval)");
    } else {
      EXPECT_EQ(eval::format_metrics(evaluate().metrics), eval::format_metrics(last_eval_.metrics)) << d.name;
    }
  }
  if (d.outcome == Outcome::kExit2) {
    expect_input_error([&] { testing::resume_latest(cfg, comm_); }, d.named, d.name + " (--resume latest)");
    EXPECT_EQ(listing(run), before) << d.name << ": --resume latest changed the run directory";
    return;
  }
  const auto resumed = testing::resume_latest(cfg, comm_);
  EXPECT_EQ(resumed.start_step, d.outcome == Outcome::kFallback ? previous_step_ : *run::checkpoint_step(last_));
  const auto diff = testing::compare_checkpoints(last_, run / "checkpoints" / last_.filename(), cfg);
  EXPECT_EQ(diff.params, 0.0);
  EXPECT_EQ(diff.moments, 0.0);
  EXPECT_EQ(diff.steps, 0);
  EXPECT_EQ(testing::comparable_records(run), testing::comparable_records(reference_));
  fs::remove_all(run);
}

TEST_F(CheckpointDamage, FilesDeletedTruncatedOrFlipped) {
  check_all(file_damage());
}
TEST_F(CheckpointDamage, ManifestEditsAndPathEscapes) {
  check_all(manifest_damage());
}
TEST_F(CheckpointDamage, StateOutOfRangeOrInconsistent) {
  check_all(state_damage());
}
TEST_F(CheckpointDamage, ConfigInvalidOrForeign) {
  check_all(config_damage());
}
TEST_F(CheckpointDamage, TensorsNonFiniteWrongShapeOrType) {
  check_all(tensor_damage());
}
TEST_F(CheckpointDamage, FilesystemShapesAndPointers) {
  check_all(shape_damage());
}

TEST_F(CheckpointDamage, PointerLoopsAndEscapesAreExit2NamingThePointer) {
  const fs::path run = dir_ / "pointers";
  fs::copy(reference_, run, fs::copy_options::recursive);
  const fs::path root = run / "checkpoints";
  const auto cfg = config(run);
  const auto resume = [&](const fs::path& spec) {
    TrainOptions o;
    o.resume = spec.string();
    train(cfg, comm_, o);
  };
  write_all(root / "best", "best\n");
  expect_input_error([&] { resume(root / "best"); }, "best", "best naming itself");
  write_all(root / "best", "../../../etc\n");
  expect_input_error([&] { resume(root / "best"); }, "best", "best naming a path");
  fs::remove(root / "best");
  fs::create_symlink("other", root / "best");
  fs::create_symlink("best", root / "other");
  expect_input_error([&] { resume(root / "best"); }, "best", "best and other, symlinks to each other");
  fs::remove(root / "best");
  fs::create_symlink("/etc/hostname", root / "best");
  expect_input_error([&] { resume(root / "best"); }, "best", "best a symlink out of checkpoints/");
  expect_input_error([&] { resume(root / "step_123"); }, "step_123", "a checkpoint that is not there");
}

}  // namespace lica::trainer
