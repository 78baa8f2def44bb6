#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>

#include "run/config.h"

namespace lica::run {
namespace {

const char* kSource = "configs/x.yaml";

// The ConfigError message `fn` throws; fails the test if it throws nothing.
std::string config_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a ConfigError";
  return "";
}

std::string parse_error(const std::string& yaml) {
  return config_error([&] { parse_config_yaml(yaml, kSource); });
}

// Parses (must succeed) then validates; returns the validation error.
std::string validate_error(const std::string& yaml) {
  const Config c = parse_config_yaml(yaml, kSource);
  return config_error([&] { validate(c, kSource); });
}

std::string override_error(const std::string& assignment) {
  Config c;
  return config_error([&] { apply_override(c, assignment); });
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A temporary directory removed at the end of the test.
class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() /
              ("lica_test_config_" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

TEST(Config, DefaultsValidateAndEmptyFileGivesDefaults) {
  EXPECT_NO_THROW(validate(Config{}, "defaults"));
  EXPECT_EQ(parse_config_yaml("", kSource), Config{});
  EXPECT_EQ(parse_config_yaml("# only a comment\n", kSource), Config{});
  EXPECT_EQ(parse_config_yaml("eval:\n", kSource), Config{});  // a section with no keys left
  const Config c;
  EXPECT_EQ(c.trainer.lr, 1e-3);
  EXPECT_EQ(c.model.video.encoder, "seqTransf");
  EXPECT_EQ(c.eval.chunk_size, 1024);
}

TEST(Config, ParsesValuesOnTopOfDefaults) {
  const Config c = parse_config_yaml(
      "trainer:\n  lr: 1e-4\n  epochs: 3\nmodel:\n  video:\n    encoder: meanP\n"
      "data:\n  drop_last: no\n  val_split: \"\"\n",
      kSource);
  EXPECT_EQ(c.trainer.lr, 1e-4);
  EXPECT_EQ(c.trainer.epochs, 3);
  EXPECT_EQ(c.model.video.encoder, "meanP");
  EXPECT_FALSE(c.data.drop_last);  // yaml-cpp reads "no" as a boolean
  EXPECT_EQ(c.data.val_split, "");
  EXPECT_EQ(c.trainer.batch_size, 128);  // untouched keys keep their defaults
}

TEST(Config, UnknownKeyIsNamedWithTheFileAndTheValidKeys) {
  std::string e = parse_error("trainr:\n  lr: 1\n");
  EXPECT_TRUE(has(e, "configs/x.yaml: unknown key 'trainr'")) << e;
  EXPECT_TRUE(has(e, "data, model, trainer, loss, eval, dist, checkpoint, run")) << e;

  e = parse_error("trainer:\n  epochs: 2\n  lrr: 1e-3\n");
  EXPECT_TRUE(has(e, "configs/x.yaml: unknown key 'trainer.lrr'")) << e;
  EXPECT_TRUE(has(e, "(line 3)")) << e;
  EXPECT_TRUE(has(e, "in 'trainer'")) << e;
  EXPECT_TRUE(has(e, "epochs, batch_size, lr,")) << e;

  e = parse_error("model:\n  video:\n    layer: 2\n");
  EXPECT_TRUE(has(e, "configs/x.yaml: unknown key 'model.video.layer'")) << e;
  EXPECT_TRUE(has(e, "encoder, pooling, layers, heads")) << e;
}

// A value of the wrong type: the error names the file, the key, what was expected and got.
struct WrongType {
  const char* name;
  const char* yaml;
  const char* message;
};

class ConfigWrongType : public ::testing::TestWithParam<WrongType> {};

TEST_P(ConfigWrongType, NamesTheKeyTheExpectedTypeAndTheValue) {
  const std::string e = parse_error(GetParam().yaml);
  EXPECT_TRUE(has(e, GetParam().message)) << e;
}

const WrongType kWrongTypes[] = {
    {"WordForInteger", "trainer:\n  epochs: ten\n",
     "configs/x.yaml: key trainer.epochs: expected an integer, got 'ten'"},
    {"FloatForInteger", "trainer:\n  epochs: 1.5\n",
     "key trainer.epochs: expected an integer, got '1.5'"},
    {"WordForNumber", "trainer:\n  lr: fast\n", "key trainer.lr: expected a number, got 'fast'"},
    {"MapForScalar", "trainer:\n  lr:\n    peak: 1\n",
     "key trainer.lr: expected a number, got a map"},
    {"SequenceForString", "data:\n  path: [a, b]\n",
     "key data.path: expected a string, got a sequence"},
    {"EmptyForString", "data:\n  path:\n", "key data.path: expected a string, got an empty value"},
    {"WordForBoolean", "data:\n  drop_last: maybe\n",
     "key data.drop_last: expected a boolean, got 'maybe'"},
    {"ScalarForSection", "trainer: 5\n", "key trainer: expected a map of keys"},
    {"SequenceForSections", "- a\n- b\n", "configs/x.yaml: expected a map of sections"},
};
INSTANTIATE_TEST_SUITE_P(Config, ConfigWrongType, ::testing::ValuesIn(kWrongTypes),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Config, RanksSharingAGpuRefuseNccl) {
  const std::string e = validate_error("dist:\n  backend: nccl\n  ranks_per_gpu: 2\n");
  EXPECT_TRUE(has(e, "key dist.ranks_per_gpu: value 2 puts several ranks on one GPU")) << e;
  EXPECT_NO_THROW(validate(parse_config_yaml("dist:\n  backend: mpi\n  ranks_per_gpu: 2\n", kSource),
                           kSource));
  EXPECT_TRUE(has(validate_error("dist:\n  ranks_per_gpu: 0\n"), "expected [1, 64]"));
}

TEST(Config, DuplicateKeyIsAnError) {
  const std::string e = parse_error("trainer:\n  lr: 1\n  lr: 2\n");
  EXPECT_TRUE(has(e, "configs/x.yaml: duplicate key 'trainer.lr'")) << e;
}

TEST(Config, OutOfRangeNamesTheKeyTheValueAndTheRange) {
  // Open lower bound, exact message.
  EXPECT_EQ(validate_error("trainer:\n  lr: -1\n"),
            "configs/x.yaml: key trainer.lr: value -1 is out of range, expected (0, 10]");
  EXPECT_TRUE(has(validate_error("trainer:\n  lr: 0\n"), "expected (0, 10]"));
  // Closed upper bound (double): 10 is allowed, just above is not.
  EXPECT_NO_THROW(validate(parse_config_yaml("trainer:\n  lr: 10\n", kSource), kSource));
  EXPECT_TRUE(has(validate_error("trainer:\n  lr: 10.5\n"), "value 10.5 is out of range"));
  // Closed lower bound (double): 0 allowed, below not.
  EXPECT_NO_THROW(validate(parse_config_yaml("trainer:\n  weight_decay: 0\n", kSource), kSource));
  EXPECT_TRUE(has(validate_error("trainer:\n  weight_decay: -0.5\n"),
                  "key trainer.weight_decay: value -0.5 is out of range, expected [0, 10]"));
  // Open upper bound.
  EXPECT_TRUE(has(validate_error("model:\n  dropout: 1\n"),
                  "key model.dropout: value 1 is out of range, expected [0, 1)"));
  EXPECT_NO_THROW(validate(parse_config_yaml("model:\n  dropout: 0.99\n", kSource), kSource));
  // Integers, both ends.
  EXPECT_EQ(validate_error("trainer:\n  epochs: 0\n"),
            "configs/x.yaml: key trainer.epochs: value 0 is out of range, expected [1, 100000]");
  EXPECT_TRUE(has(validate_error("trainer:\n  epochs: 100001\n"), "expected [1, 100000]"));
  EXPECT_NO_THROW(validate(parse_config_yaml("trainer:\n  epochs: 100000\n", kSource), kSource));
  // Non-finite values are out of every range.
  EXPECT_TRUE(has(validate_error("trainer:\n  lr: .nan\n"), "value .nan is out of range"));
  EXPECT_TRUE(has(validate_error("trainer:\n  grad_clip: .inf\n"), "value .inf is out of range"));
  // dist.timeout_s: 0 (no timeout) is allowed, a negative one is not.
  EXPECT_NO_THROW(validate(parse_config_yaml("dist:\n  timeout_s: 0\n", kSource), kSource));
  EXPECT_TRUE(has(validate_error("dist:\n  timeout_s: -1\n"),
                  "key dist.timeout_s: value -1 is out of range, expected [0, 604800]"));
}

TEST(Config, BadChoiceListsTheChoices) {
  EXPECT_EQ(
      validate_error("model:\n  video:\n    encoder: lstm\n"),
      "configs/x.yaml: key model.video.encoder: value 'lstm' is not one of: seqTransf, meanP");
  EXPECT_TRUE(has(validate_error("data:\n  pairing: some\n"), "one_caption, all_captions"));
  EXPECT_TRUE(has(validate_error("model:\n  text:\n    pooling: max\n"), "eot, mean"));
  EXPECT_EQ(validate_error("run:\n  dir: \"\"\n"),
            "configs/x.yaml: key run.dir: must not be empty");
}

// trainer.device, trainer.precision and trainer.tf32: the defaults, every valid value, and a
// bad value named with its key. Whether `cuda` is usable is decided when the run starts
// (run/device.h), not here: a config must validate on the laptop that edits it.
TEST(Config, DevicePrecisionAndTf32) {
  const Config defaults;
  EXPECT_EQ(defaults.trainer.device, "auto");
  EXPECT_EQ(defaults.trainer.precision, "fp32");
  EXPECT_TRUE(defaults.trainer.tf32);
  for (const char* device : {"auto", "cpu", "cuda"}) {
    for (const char* precision : {"fp32", "bf16"}) {
      const std::string yaml = std::string("trainer:\n  device: ") + device +
                               "\n  precision: " + precision + "\n  tf32: false\n";
      const Config c = parse_config_yaml(yaml, kSource);
      EXPECT_EQ(c.trainer.device, device);
      EXPECT_EQ(c.trainer.precision, precision);
      EXPECT_FALSE(c.trainer.tf32);
      EXPECT_NO_THROW(validate(c, kSource)) << yaml;
    }
  }
  EXPECT_EQ(validate_error("trainer:\n  device: gpu\n"),
            "configs/x.yaml: key trainer.device: value 'gpu' is not one of: auto, cpu, cuda");
  EXPECT_EQ(validate_error("trainer:\n  precision: fp16\n"),
            "configs/x.yaml: key trainer.precision: value 'fp16' is not one of: fp32, bf16");
  const std::string e = parse_error("trainer:\n  tf32: sometimes\n");
  EXPECT_TRUE(has(e, "key trainer.tf32: expected a boolean, got 'sometimes'")) << e;
  Config c;
  apply_override(c, "trainer.device=tpu");  // --set checks the type; validate() the choice
  EXPECT_TRUE(has(config_error([&] { validate(c, "--set"); }), "key trainer.device: value 'tpu'"));
}

TEST(Config, CrossFieldRules) {
  std::string e = validate_error("model:\n  embed_dim: 250\n");  // video.heads 4
  EXPECT_TRUE(has(e,
                  "configs/x.yaml: key model.embed_dim: value 250 must be divisible by "
                  "model.video.heads (4)"))
      << e;
  // text.heads only matters with text layers.
  EXPECT_NO_THROW(validate(parse_config_yaml("model:\n  text:\n    heads: 3\n", kSource), kSource));
  e = validate_error("model:\n  text:\n    heads: 3\n    layers: 2\n");
  EXPECT_TRUE(has(e, "must be divisible by model.text.heads (3)")) << e;
  e = validate_error("data:\n  val_split: train\n");
  EXPECT_TRUE(has(e, "key data.val_split: value 'train' must differ from data.train_split")) << e;
  e = validate_error("data:\n  train_split: all\n  test_split: all\n");
  EXPECT_TRUE(has(e, "key data.test_split")) << e;
  // Empty val/test splits mean "none" and are fine.
  EXPECT_NO_THROW(validate(
      parse_config_yaml("data:\n  val_split: \"\"\n  test_split: \"\"\n", kSource), kSource));
  // The fusion encoder's dependants name what they need.
  e = validate_error("loss:\n  itm_weight: 1\n");
  EXPECT_TRUE(has(e, "key loss.itm_weight: value 1 needs a fusion encoder: set model.fusion.layers > 0")) << e;
  // Micro-batches cache embeddings only: LMIM and ITM need the sequences with gradient.
  e = validate_error("trainer:\n  micro_batch: 64\nloss:\n  lmim:\n    weight: 0.5\n");
  EXPECT_TRUE(has(e, "key trainer.micro_batch: value 64 caches embeddings only; loss.lmim.weight "
                     "needs the encoders' sequences with gradient")) << e;
  e = validate_error("trainer:\n  host_inputs: true\n");
  EXPECT_TRUE(has(e, "key trainer.host_inputs: true needs trainer.micro_batch > 0")) << e;
  EXPECT_NO_THROW(validate(
      parse_config_yaml("trainer:\n  host_inputs: true\n  micro_batch: 8\n", "test"), "test"));
  e = validate_error("trainer:\n  micro_batch: 64\nmodel:\n  fusion:\n    layers: 1\nloss:\n  itm_weight: 1\n");
  EXPECT_TRUE(has(e, "key trainer.micro_batch: value 64 caches embeddings only; loss.itm_weight")) << e;
  EXPECT_NO_THROW(validate(parse_config_yaml("trainer:\n  micro_batch: 64\nloss:\n  lica:\n    weight: 1\n"
                                             "  itc:\n    weight: 1\n", kSource), kSource));
  e = validate_error("eval:\n  rerank_top_k: 10\n");
  EXPECT_TRUE(has(e, "key eval.rerank_top_k: value 10 needs a fusion encoder")) << e;
  e = validate_error("model:\n  fusion:\n    layers: 1\n    heads: 3\n");
  EXPECT_TRUE(has(e, "must be divisible by model.fusion.heads (3)")) << e;
  EXPECT_NO_THROW(validate(parse_config_yaml("model:\n  fusion:\n    layers: 1\nloss:\n  itm_weight: 1\n"
                                             "eval:\n  rerank_top_k: 10\n", kSource), kSource));
}

TEST(Config, EveryShippedConfigLoadsAndValidates) {
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(LICA_SOURCE_DIR) + "/configs")) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    EXPECT_NO_THROW(validate(load_config(entry.path().string()), entry.path().string()));
    ++checked;
  }
  EXPECT_GE(checked, 6);
}

// The MSR-VTT configs the design's first usage line names: CLIP4Clip's seqTransf settings on
// CLIP ViT-B/32 features, the same but for the LICA section.
TEST(Config, MsrvttConfigsHaveClip4ClipSeqTransfSettings) {
  const std::string dir = std::string(LICA_SOURCE_DIR) + "/configs/";
  const Config base = load_config(dir + "msrvtt_baseline.yaml");
  Config lica = load_config(dir + "msrvtt_lica.yaml");
  for (const Config* c : {&base, static_cast<const Config*>(&lica)}) {
    EXPECT_EQ(c->model.max_frames, 12);
    EXPECT_EQ(c->model.max_tokens, 32);
    EXPECT_EQ(c->model.embed_dim, 512);
    EXPECT_EQ(c->model.video_dim, 512);
    EXPECT_EQ(c->model.text_dim, 512);
    EXPECT_EQ(c->model.video.encoder, "seqTransf");
    EXPECT_EQ(c->model.video.layers, 4);
    EXPECT_EQ(c->trainer.batch_size, 128);
    EXPECT_EQ(c->trainer.epochs, 5);
  }
  EXPECT_EQ(base.loss.lica.weight, 0.0);
  EXPECT_GT(lica.loss.lica.weight, 0.0);
  lica.loss.lica = base.loss.lica;
  lica.run.dir = base.run.dir;
  EXPECT_TRUE(lica == base) << "msrvtt_lica.yaml differs from the baseline beyond loss.lica";
}

TEST(Config, OverrideSetsValues) {
  Config c;
  apply_override(c, "trainer.lr=1e-4");
  apply_override(c, "model.video.encoder=meanP");
  apply_override(c, "data.drop_last=false");
  apply_override(c, "data.val_split=");   // an empty value is the empty string
  apply_override(c, "run.dir=runs/a=b");  // only the first '=' splits
  EXPECT_EQ(c.trainer.lr, 1e-4);
  EXPECT_EQ(c.model.video.encoder, "meanP");
  EXPECT_FALSE(c.data.drop_last);
  EXPECT_EQ(c.data.val_split, "");
  EXPECT_EQ(c.run.dir, "runs/a=b");
}

TEST(Config, OverrideErrorsNameTheSet) {
  std::string e = override_error("trainer.lrr=1e-4");
  EXPECT_TRUE(has(e, "--set trainer.lrr=1e-4: unknown key 'trainer.lrr'")) << e;
  EXPECT_TRUE(has(e, "batch_size")) << e;
  e = override_error("trainer.epochs=ten");
  EXPECT_EQ(e, "--set trainer.epochs=ten: key trainer.epochs: expected an integer, got 'ten'");
  e = override_error("trainer.lr=[1, 2]");
  EXPECT_TRUE(has(e, "--set trainer.lr=[1, 2]: key trainer.lr: expected a number, got a sequence"))
      << e;
  e = override_error("trainer.lr=");
  EXPECT_TRUE(has(e, "expected a number, got an empty value")) << e;
  e = override_error("trainer.lr");
  EXPECT_TRUE(has(e, "--set trainer.lr: expected section.key=value")) << e;
  e = override_error("model.video=meanP");
  EXPECT_TRUE(has(e, "'model.video' is a section, not a key")) << e;
  e = override_error("trainer.lr=[1");
  EXPECT_TRUE(has(e, "--set trainer.lr=[1") && has(e, "YAML syntax error")) << e;
}

// Every key set to a non-default value through the table: checks each row reaches its own member.
Config every_field_changed() {
  Config c;
  for (const char* a : {"data.path=d/x.h5",
                        "data.train_split=tr",
                        "data.val_split=va",
                        "data.test_split=",
                        "data.pairing=all_captions",
                        "data.drop_last=false",
                        "model.embed_dim=512",
                        "model.video_dim=768",
                        "model.text_dim=512",
                        "model.max_frames=12",
                        "model.max_tokens=32",
                        "model.dropout=0.1",
                        "model.init_temperature=0.05",
                        "model.video.encoder=meanP",
                        "model.video.layers=4",
                        "model.video.heads=8",
                        "model.text.pooling=mean",
                        "model.text.layers=2",
                        "model.text.heads=16",
                        "trainer.epochs=7",
                        "trainer.batch_size=64",
                        "trainer.lr=3e-4",
                        "trainer.weight_decay=0.05",
                        "trainer.warmup_fraction=0.25",
                        "trainer.min_lr_ratio=0.01",
                        "trainer.grad_clip=0",
                        "trainer.seed=4611686018427387904",
                        "trainer.log_every=50",
                        "trainer.threads=2",
                        "eval.every_epochs=0",
                        "eval.batch_size=100",
                        "eval.chunk_size=7",
                        "loss.contrastive.form=tiled",
                        "loss.contrastive.tile_cols=128",
                        "loss.lica.weight=0.5",
                        "loss.lica.tau_intra=0.05",
                        "loss.lica.top_k=8",
                        "loss.lica.min_affinity=0.25",
                        "loss.lica.source=input",
                        "loss.lica.divergence=kl",
                        "loss.lica.form=fused",
                        "loss.lica.tile_cols=96",
                        "dist.backend=mpi",
                        "dist.bucket_mb=0.5",
                        "dist.timeout_s=2.5",
                        "dist.ranks_per_gpu=3",
                        "checkpoint.every_steps=7",
                        "eval.dsl=true",
                        "eval.dsl_temperature=0.05",
                        "model.video.pooling=gpo",
                        "data.prefetch_batches=0",
                        "data.reader_threads=3",
                        "data.validate=lazy",
                        "checkpoint.keep_last=4",
                        "checkpoint.best_metric=v2t_mnr",
                        "model.momentum.m=0.9",
                        "model.momentum.queue_size=64",
                        "model.fusion.layers=2",
                        "model.fusion.heads=8",
                        "loss.itc.weight=0.5",
                        "loss.itc.temperature=0.05",
                        "loss.ims.weight=0.25",
                        "loss.ims.temperature=0.2",
                        "loss.lmim.weight=0.125",
                        "loss.lmim.temperature=0.1",
                        "loss.itm_weight=2",
                        "eval.rerank_top_k=5",
                        "trainer.device=cuda",
                        "trainer.precision=bf16",
                        "trainer.tf32=false",
                        "trainer.micro_batch=7",
                        "trainer.host_inputs=true",
                        "run.dir=runs/odd"}) {
    apply_override(c, a);
  }
  return c;
}

TEST(Config, EveryKeyReachesItsOwnMember) {
  const Config c = every_field_changed();
  EXPECT_EQ(config_keys().size(), 73u);  // the list above covers every key
  EXPECT_EQ(c.loss.lica.form, "fused");
  EXPECT_EQ(c.loss.lica.tile_cols, 96);
  EXPECT_EQ(c.model.momentum.m, 0.9);
  EXPECT_EQ(c.model.momentum.queue_size, 64);
  EXPECT_EQ(c.model.fusion.layers, 2);
  EXPECT_EQ(c.model.fusion.heads, 8);
  EXPECT_EQ(c.loss.itc.weight, 0.5);
  EXPECT_EQ(c.loss.itc.temperature, 0.05);
  EXPECT_EQ(c.loss.ims.weight, 0.25);
  EXPECT_EQ(c.loss.ims.temperature, 0.2);
  EXPECT_EQ(c.loss.lmim.weight, 0.125);
  EXPECT_EQ(c.loss.lmim.temperature, 0.1);
  EXPECT_EQ(c.loss.itm_weight, 2);
  EXPECT_EQ(c.eval.rerank_top_k, 5);
  EXPECT_TRUE(c.eval.dsl);
  EXPECT_EQ(c.eval.dsl_temperature, 0.05);
  EXPECT_EQ(c.model.video.pooling, "gpo");
  EXPECT_EQ(c.data.prefetch_batches, 0);
  EXPECT_EQ(c.data.reader_threads, 3);
  EXPECT_EQ(c.data.validate, "lazy");
  EXPECT_EQ(c.checkpoint.every_steps, 7);
  EXPECT_EQ(c.checkpoint.keep_last, 4);
  EXPECT_EQ(c.checkpoint.best_metric, "v2t_mnr");
  EXPECT_EQ(c.loss.contrastive.form, "tiled");
  EXPECT_EQ(c.loss.contrastive.tile_cols, 128);
  EXPECT_DOUBLE_EQ(c.loss.lica.weight, 0.5);
  EXPECT_DOUBLE_EQ(c.loss.lica.tau_intra, 0.05);
  EXPECT_EQ(c.loss.lica.top_k, 8);
  EXPECT_DOUBLE_EQ(c.loss.lica.min_affinity, 0.25);
  EXPECT_EQ(c.loss.lica.source, "input");
  EXPECT_EQ(c.loss.lica.divergence, "kl");
  EXPECT_EQ(c.dist.backend, "mpi");
  EXPECT_DOUBLE_EQ(c.dist.bucket_mb, 0.5);
  EXPECT_DOUBLE_EQ(c.dist.timeout_s, 2.5);
  EXPECT_EQ(c.dist.ranks_per_gpu, 3);
  EXPECT_EQ(c.data.path, "d/x.h5");
  EXPECT_EQ(c.data.train_split, "tr");
  EXPECT_EQ(c.data.val_split, "va");
  EXPECT_EQ(c.data.test_split, "");
  EXPECT_EQ(c.data.pairing, "all_captions");
  EXPECT_FALSE(c.data.drop_last);
  EXPECT_EQ(c.model.embed_dim, 512);
  EXPECT_EQ(c.model.video_dim, 768);
  EXPECT_EQ(c.model.text_dim, 512);
  EXPECT_EQ(c.model.max_frames, 12);
  EXPECT_EQ(c.model.max_tokens, 32);
  EXPECT_EQ(c.model.dropout, 0.1);
  EXPECT_EQ(c.model.init_temperature, 0.05);
  EXPECT_EQ(c.model.video.encoder, "meanP");
  EXPECT_EQ(c.model.video.layers, 4);
  EXPECT_EQ(c.model.video.heads, 8);
  EXPECT_EQ(c.model.text.pooling, "mean");
  EXPECT_EQ(c.model.text.layers, 2);
  EXPECT_EQ(c.model.text.heads, 16);
  EXPECT_EQ(c.trainer.epochs, 7);
  EXPECT_EQ(c.trainer.batch_size, 64);
  EXPECT_EQ(c.trainer.lr, 3e-4);
  EXPECT_EQ(c.trainer.weight_decay, 0.05);
  EXPECT_EQ(c.trainer.warmup_fraction, 0.25);
  EXPECT_EQ(c.trainer.min_lr_ratio, 0.01);
  EXPECT_EQ(c.trainer.grad_clip, 0.0);
  EXPECT_EQ(c.trainer.seed, int64_t{1} << 62);
  EXPECT_EQ(c.trainer.log_every, 50);
  EXPECT_EQ(c.trainer.threads, 2);
  EXPECT_EQ(c.eval.every_epochs, 0);
  EXPECT_EQ(c.eval.batch_size, 100);
  EXPECT_EQ(c.eval.chunk_size, 7);
  EXPECT_EQ(c.run.dir, "runs/odd");
  EXPECT_EQ(c.trainer.device, "cuda");
  EXPECT_EQ(c.trainer.precision, "bf16");
  EXPECT_FALSE(c.trainer.tf32);
  EXPECT_EQ(c.trainer.micro_batch, 7);
  EXPECT_TRUE(c.trainer.host_inputs);
  Config valid = c;
  valid.trainer.micro_batch = 0;  // micro-batches refuse LMIM and ITM, both on above
  valid.trainer.host_inputs = false;  // which host inputs need
  EXPECT_NO_THROW(validate(valid, "test"));
}

TEST(Config, DumpParseRoundTrip) {
  const Config defaults;
  EXPECT_EQ(parse_config_yaml(dump_config(defaults), "dump"), defaults);

  Config c = every_field_changed();
  c.trainer.lr = 0.1 + 0.2;  // 0.30000000000000004 needs 17 digits
  c.model.dropout = 1.0 / 3.0;
  c.trainer.weight_decay = 1e-300;
  c.data.path = "tab\tnewline\nunicode \xc3\xa9";
  c.run.dir = "runs/\"odd\": #dir\\ 'q'";  // YAML-special characters
  EXPECT_NE(c, defaults);
  const std::string text = dump_config(c);
  const Config back = parse_config_yaml(text, "dump");
  EXPECT_EQ(back, c) << text;
  EXPECT_EQ(back.trainer.lr, 0.1 + 0.2);
  EXPECT_EQ(back.data.path, c.data.path);
  EXPECT_EQ(dump_config(back), text);

  // Any single change breaks equality.
  Config d = defaults;
  d.model.text.heads = 5;
  EXPECT_NE(d, defaults);
}

TEST(Config, DumpListsEveryKeyInSectionOrderWithComments) {
  const std::string text = dump_config(Config{});
  const std::vector<std::string> keys = config_keys();
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()).size(), keys.size());
  EXPECT_TRUE(std::find(keys.begin(), keys.end(), "model.video.heads") != keys.end());
  size_t last = 0;
  for (const char* section : {"data:\n", "model:\n", "trainer:\n", "eval:\n", "run:\n"}) {
    const size_t at = text.find(section);
    ASSERT_NE(at, std::string::npos) << section;
    EXPECT_GE(at, last) << section;
    last = at;
  }
  EXPECT_TRUE(has(text, "\n  video:\n    encoder: \"seqTransf\"  # ")) << text;
  EXPECT_TRUE(has(text, "  lr: 0.001  # peak learning rate; (0, 10]\n")) << text;
  EXPECT_TRUE(has(text, "  init_temperature: 0.07  # ")) << text;  // shortest exact digits
}

TEST(Config, LoadsFilesAndNamesMissingOnes) {
  TempDir dir;
  const std::string path = dir.file("x.yaml");
  {
    std::ofstream out(path);
    out << "trainer:\n  epochs: 9\n";
  }
  EXPECT_EQ(load_config(path).trainer.epochs, 9);

  const std::string missing = dir.file("missing.yaml");
  std::string e = config_error([&] { load_config(missing); });
  EXPECT_TRUE(has(e, missing)) << e;

  e = config_error([&] { load_config(dir.file("")); });  // a directory
  EXPECT_TRUE(has(e, "is a directory")) << e;

  {
    std::ofstream out(path);
    out << "trainer:\n  epochs: 9\n  lrr: 1\n";
  }
  e = config_error([&] { load_config(path); });
  EXPECT_TRUE(has(e, path + ": unknown key 'trainer.lrr'")) << e;
}

TEST(Config, YamlSyntaxErrorNamesFileAndLine) {
  std::string e = parse_error("trainer:\n  epochs: 2\n  lr: [1, 2\n");
  EXPECT_TRUE(has(e, "configs/x.yaml:") && has(e, "YAML syntax error")) << e;
  e = parse_error("trainer:\n  epochs: 2\n   lr: 1\n");  // bad indentation on line 3
  EXPECT_TRUE(has(e, "configs/x.yaml:3:")) << e;
}

}  // namespace
}  // namespace lica::run
