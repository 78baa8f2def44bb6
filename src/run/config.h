// The run configuration: one struct holding every default, read from a strict YAML file,
// overridden by `--set section.key=value`, validated, and written back to the run directory.
// Every operation (parse, override, dump, equality, validation, key listing) is driven by a
// single table of fields in config.cpp; adding a field means one struct member and one row.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"

namespace lica::run {

struct DataConfig {
  std::string path = "data/synth.h5";  // HDF5 feature file
  std::string train_split = "train";
  std::string val_split = "val";        // "" = no validation
  std::string test_split = "test";      // "" = none
  std::string pairing = "one_caption";  // one_caption | all_captions
  bool drop_last = true;
  int64_t prefetch_batches = 4;  // batches read ahead on loader threads; 0 = read in the step
  int64_t reader_threads = 1;    // loader threads reading batches at once (<= prefetch_batches)
  // full: every valid feature value of the splits in use is checked finite before the first
  // step (data/validate_rows.h); lazy: only as a batch reads its rows.
  std::string validate = "full";  // full | lazy
};

struct VideoEncoderConfig {
  std::string encoder = "seqTransf";  // seqTransf | meanP
  std::string pooling = "mean";       // mean | gpo
  int64_t layers = 1;
  int64_t heads = 4;
};

struct TextEncoderConfig {
  std::string pooling = "eot";  // eot | mean | gpo
  int64_t layers = 0;
  int64_t heads = 4;
};

// Momentum (EMA) copies of both towers and queues of their past embeddings (AAI), built when
// loss.itc or loss.ims has a weight.
struct MomentumConfig {
  double m = 0.995;          // EMA: theta' <- m theta' + (1 - m) theta after every step
  int64_t queue_size = 1024; // past global-batch embeddings kept per modality
};

// The fusion encoder (AAI): cross-attention over frames and tokens with a matching head.
struct FusionConfig {
  int64_t layers = 0;  // 0 = no fusion encoder
  int64_t heads = 4;
};

struct ModelConfig {
  int64_t embed_dim = 256;
  int64_t video_dim = 0;    // 0 = take from the feature file
  int64_t text_dim = 0;     // 0 = take from the feature file
  int64_t max_frames = 32;  // frame-position table size; must be >= the file's F
  int64_t max_tokens = 77;
  double dropout = 0.0;
  double init_temperature = 0.07;  // logit scale initialised at ln(1 / init_temperature)
  VideoEncoderConfig video;
  TextEncoderConfig text;
  MomentumConfig momentum;
  FusionConfig fusion;
};

struct TrainerConfig {
  int64_t epochs = 5;
  int64_t batch_size = 128;  // global batch
  double lr = 1e-3;
  double weight_decay = 0.2;
  double warmup_fraction = 0.1;
  double min_lr_ratio = 0.0;  // cosine decays to lr * min_lr_ratio
  double grad_clip = 1.0;     // 0 = off
  int64_t seed = 42;
  int64_t log_every = 10;
  int64_t threads = 0;  // 0 = LibTorch default
  std::string device = "auto";     // auto | cpu | cuda (run/device.h)
  std::string precision = "fp32";  // fp32 | bf16: bf16 autocasts the encoders' forward only
  bool tf32 = true;                // TF32 for fp32 matmuls and convolutions on CUDA
  int64_t micro_batch = 0;  // rows per encoder pass on each rank; 0 = all at once
  bool host_inputs = false;  // with micro_batch: the batch stays in host memory, each
                             // micro-batch is copied to the device when it is encoded
};

struct LicaConfig {
  double weight = 0.0;          // λ; 0 = the term is skipped (the baseline, bitwise)
  double tau_intra = 0.1;       // temperature of the neighbour weights
  int64_t top_k = 0;            // neighbours per anchor; 0 = all others
  double min_affinity = -1.0;   // neighbours below this affinity are dropped
  std::string source = "embedding";  // embedding | input
  std::string divergence = "js";     // js | kl
  std::string form = "auto";         // auto | direct | chunked | fused (lica_loss.h)
  int64_t tile_cols = 1024;          // similarity columns per tile of the fused form
};

// An InfoNCE term of AAI (docs/design.md §4) with its own weight and fixed temperature.
struct InfoNceTermConfig {
  double weight = 0.0;  // 0 = off
  double temperature = 0.07;
};

// The symmetric InfoNCE's form: direct holds [b, B] logits; tiled streams over tiles of
// tile_cols candidates (memory linear in B, the same loss to rounding); auto = tiled when the
// global batch is above tile_cols.
struct ContrastiveConfig {
  std::string form = "direct";  // direct | tiled | auto
  int64_t tile_cols = 4096;
};

struct LossConfig {
  ContrastiveConfig contrastive;
  LicaConfig lica;
  InfoNceTermConfig itc;   // against the momentum queues
  InfoNceTermConfig ims;   // intra-modal separability
  InfoNceTermConfig lmim;  // local mutual information
  double itm_weight = 0.0; // fusion-encoder matching (needs model.fusion.layers > 0)
};

struct EvalConfig {
  int64_t every_epochs = 1;  // 0 = no validation during training
  int64_t batch_size = 256;
  int64_t chunk_size = 1024;  // queries per similarity block
  bool dsl = false;           // dual-softmax re-normalisation of the similarity matrix
  double dsl_temperature = 0.01;
  int64_t rerank_top_k = 0;  // fusion re-ranking of each query's top k; 0 = off
};

struct DistConfig {
  std::string backend = "auto";  // auto | local | mpi | nccl
  double bucket_mb = 25.0;       // gradient all-reduce bucket size
  double timeout_s = 600.0;      // a collective pending longer ends the job; 0 = never
  int64_t ranks_per_gpu = 1;     // local rank r runs on cuda:<r / ranks_per_gpu>; > 1: mpi only
};

struct CheckpointConfig {
  int64_t every_steps = 500;  // 0 = only at the end and when stopped by a signal
  int64_t keep_last = 3;      // newest checkpoints kept (the best is kept besides)
  std::string best_metric = "t2v_r1";  // validation metric that picks `best`; "none" = no best
};

struct RunConfig {
  std::string dir = "runs/demo";
};

struct Config {
  DataConfig data;
  ModelConfig model;
  TrainerConfig trainer;
  LossConfig loss;
  EvalConfig eval;
  DistConfig dist;
  CheckpointConfig checkpoint;
  RunConfig run;
};

// A bad config file, override or value. The message names the source (file or `--set ...`)
// and the key path.
class ConfigError : public lica::InputError {
 public:
  using InputError::InputError;
};

// Defaults, then the YAML file on top. Strict: unknown keys, wrong types, YAML syntax errors
// and a missing file throw ConfigError. Ranges are checked by validate(), not here.
Config load_config(const std::string& path);

// As load_config() from text; `source` names it in errors.
Config parse_config_yaml(const std::string& yaml_text, const std::string& source);

// Applies `section.key=value` (the value is parsed as a YAML scalar, same type checks as the
// file; an empty value sets a string key to ""). Errors name `--set <assignment>`.
void apply_override(Config& c, const std::string& assignment);

// Ranges, choices and cross-field rules. Errors name `source` and the key path.
void validate(const Config& c, const std::string& source);

// YAML with every key, sections in order, one comment per key (help, range);
// parse_config_yaml(dump_config(c), ...) == c exactly (doubles round-trip).
std::string dump_config(const Config& c);

bool operator==(const Config& a, const Config& b);
inline bool operator!=(const Config& a, const Config& b) { return !(a == b); }

// Every key path ("trainer.lr", "model.video.heads", ...), in table order.
std::vector<std::string> config_keys();

// The value of `key` as dump_config() writes it. Throws ConfigError for an unknown key.
std::string config_value(const Config& c, const std::string& key);

}  // namespace lica::run
