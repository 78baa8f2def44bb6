#include "run/config_fields.h"

#include <cmath>
#include <cstdio>

#include "common/metric_keys.h"

namespace lica::run::config_table {

std::string format_double(double v) {
  if (std::isnan(v)) return ".nan";
  if (std::isinf(v)) return v > 0 ? ".inf" : "-.inf";
  int precision = 1;
  char buf[40];
  for (; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  // Whole digits up to 1e17 are written out (10, not 1e+01); more digits still round-trip.
  const double magnitude = std::fabs(v);
  if (magnitude >= 1 && magnitude < 1e17) {
    const int whole_digits = static_cast<int>(std::floor(std::log10(magnitude))) + 1;
    if (whole_digits > precision) std::snprintf(buf, sizeof buf, "%.*g", whole_digits, v);
  }
  return buf;
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

namespace {

Bound incl(double v) { return {v, false}; }
Bound excl(double v) { return {v, true}; }

Field integer(const char* key, int64_t* (*member)(Config&), int64_t lo, int64_t hi,
              const char* help) {
  return {key, IntSpec{member, lo, hi}, help};
}
Field real(const char* key, double* (*member)(Config&), Bound lo, Bound hi, const char* help) {
  return {key, DoubleSpec{member, lo, hi}, help};
}
Field text(const char* key, std::string* (*member)(Config&), bool allow_empty, const char* help) {
  return {key, StringSpec{member, {}, allow_empty}, help};
}
Field choice(const char* key, std::string* (*member)(Config&), std::vector<std::string> choices,
             const char* help) {
  return {key, StringSpec{member, std::move(choices), false}, help};
}
Field flag(const char* key, bool* (*member)(Config&), const char* help) {
  return {key, BoolSpec{member}, help};
}

std::vector<std::string> best_metric_choices() {
  std::vector<std::string> choices{"none"};
  for (const auto& m : retrieval_metric_names()) choices.push_back(m);
  return choices;
}

std::vector<Field> data_fields() {
  constexpr bool kMayBeEmpty = true, kNonEmpty = false;
  // clang-format off
  return {
      text("data.path", [](Config& c) { return &c.data.path; }, kNonEmpty, "HDF5 feature file"),
      text("data.train_split", [](Config& c) { return &c.data.train_split; }, kNonEmpty,
           "split to train on"),
      text("data.val_split", [](Config& c) { return &c.data.val_split; }, kMayBeEmpty,
           "split validated during training; \"\" = none"),
      text("data.test_split", [](Config& c) { return &c.data.test_split; }, kMayBeEmpty,
           "split evaluated at the end; \"\" = none"),
      choice("data.pairing", [](Config& c) { return &c.data.pairing; },
             {"one_caption", "all_captions"},
             "training samples: each video with one caption drawn per epoch, or every caption"),
      flag("data.drop_last", [](Config& c) { return &c.data.drop_last; },
           "drop the last incomplete global batch"),
      integer("data.prefetch_batches", [](Config& c) { return &c.data.prefetch_batches; }, 0, 1024,
              "batches a loader thread reads ahead of training; 0 = read inside the step"),
      integer("data.reader_threads", [](Config& c) { return &c.data.reader_threads; }, 1, 64,
              "loader threads, each reading whole batches (at most prefetch_batches busy); "
              "more than 1 where one thread cannot keep up with a fast step (docs/data.md)"),
      choice("data.validate", [](Config& c) { return &c.data.validate; }, {"full", "lazy"},
             "full: every feature value of the splits in use checked finite before the first "
             "step; lazy: each row when a batch reads it"),
  };
  // clang-format on
}

std::vector<Field> model_fields() {
  // clang-format off
  return {
      integer("model.embed_dim", [](Config& c) { return &c.model.embed_dim; }, 1, 65536,
              "joint embedding size"),
      integer("model.video_dim", [](Config& c) { return &c.model.video_dim; }, 0, 65536,
              "frame feature size; 0 = from the feature file"),
      integer("model.text_dim", [](Config& c) { return &c.model.text_dim; }, 0, 65536,
              "token feature size; 0 = from the feature file"),
      integer("model.max_frames", [](Config& c) { return &c.model.max_frames; }, 1, 4096,
              "frame-position table size; must be >= the file's frames per video"),
      integer("model.max_tokens", [](Config& c) { return &c.model.max_tokens; }, 1, 4096,
              "token-position table size"),
      real("model.dropout", [](Config& c) { return &c.model.dropout; }, incl(0), excl(1),
           "dropout probability"),
      real("model.init_temperature", [](Config& c) { return &c.model.init_temperature; },
           excl(0), incl(1), "initial softmax temperature; logit scale starts at ln(1/T)"),
      choice("model.video.encoder", [](Config& c) { return &c.model.video.encoder; },
             {"seqTransf", "meanP"}, "temporal encoder over frames"),
      choice("model.video.pooling", [](Config& c) { return &c.model.video.pooling; },
             {"mean", "gpo"}, "frame pooling: mean of valid frames, or GPO (VSE-infinity)"),
      integer("model.video.layers", [](Config& c) { return &c.model.video.layers; }, 1, 64,
              "transformer layers (seqTransf)"),
      integer("model.video.heads", [](Config& c) { return &c.model.video.heads; }, 1, 64,
              "attention heads; must divide embed_dim"),
      choice("model.text.pooling", [](Config& c) { return &c.model.text.pooling; },
             {"eot", "mean", "gpo"},
             "caption pooling: last valid (EOT) token, mean of valid tokens, or GPO"),
      integer("model.text.layers", [](Config& c) { return &c.model.text.layers; }, 0, 64,
              "transformer layers over tokens; 0 = none"),
      integer("model.text.heads", [](Config& c) { return &c.model.text.heads; }, 1, 64,
              "attention heads; must divide embed_dim when layers > 0"),
      real("model.momentum.m", [](Config& c) { return &c.model.momentum.m; }, incl(0), excl(1),
           "EMA of the momentum encoders (with loss.itc or loss.ims)"),
      integer("model.momentum.queue_size", [](Config& c) { return &c.model.momentum.queue_size; },
              0, 1 << 24, "past global-batch embeddings queued per modality as extra negatives"),
      integer("model.fusion.layers", [](Config& c) { return &c.model.fusion.layers; }, 0, 64,
              "cross-attention layers of the fusion encoder; 0 = none"),
      integer("model.fusion.heads", [](Config& c) { return &c.model.fusion.heads; }, 1, 64,
              "attention heads of the fusion encoder; must divide embed_dim"),
  };
  // clang-format on
}

std::vector<Field> trainer_fields() {
  // clang-format off
  return {
      integer("trainer.epochs", [](Config& c) { return &c.trainer.epochs; }, 1, 100000,
              "training epochs"),
      integer("trainer.batch_size", [](Config& c) { return &c.trainer.batch_size; }, 1, 1 << 24,
              "global batch size (all ranks together)"),
      real("trainer.lr", [](Config& c) { return &c.trainer.lr; }, excl(0), incl(10),
           "peak learning rate"),
      real("trainer.weight_decay", [](Config& c) { return &c.trainer.weight_decay; }, incl(0),
           incl(10), "AdamW weight decay"),
      real("trainer.warmup_fraction", [](Config& c) { return &c.trainer.warmup_fraction; },
           incl(0), incl(1), "fraction of steps with linear warm-up"),
      real("trainer.min_lr_ratio", [](Config& c) { return &c.trainer.min_lr_ratio; }, incl(0),
           incl(1), "cosine decay ends at lr * min_lr_ratio"),
      real("trainer.grad_clip", [](Config& c) { return &c.trainer.grad_clip; }, incl(0),
           incl(1e6), "gradient norm clip; 0 = off"),
      integer("trainer.seed", [](Config& c) { return &c.trainer.seed; }, 0, int64_t{1} << 62,
              "random seed"),
      integer("trainer.micro_batch", [](Config& c) { return &c.trainer.micro_batch; }, 0,
              int64_t{1} << 40,
              "rows each rank encodes at a time, the loss taken on the cached embeddings of the "
              "whole global batch (docs/large-batch.md); 0 = one pass"),
      flag("trainer.host_inputs", [](Config& c) { return &c.trainer.host_inputs; },
           "with trainer.micro_batch: keep each rank's input features in (pinned) host memory "
           "and copy one micro-batch at a time to the device (a million rows do not fit on one "
           "GPU); no effect on cpu"),
      integer("trainer.log_every", [](Config& c) { return &c.trainer.log_every; }, 1,
              1000000000, "log a metrics line every N steps"),
      integer("trainer.threads", [](Config& c) { return &c.trainer.threads; }, 0, 1024,
              "intra-op threads per rank; 0 = LibTorch default"),
      choice("trainer.device", [](Config& c) { return &c.trainer.device; },
             {"auto", "cpu", "cuda"},
             "auto = cuda:<local rank> when this build has CUDA and a GPU is visible, else cpu"),
      choice("trainer.precision", [](Config& c) { return &c.trainer.precision; },
             {"fp32", "bf16"},
             "bf16 = autocast of the encoders' forward; weights, optimizer and losses stay fp32"),
      flag("trainer.tf32", [](Config& c) { return &c.trainer.tf32; },
           "TF32 tensor cores for fp32 matmuls and convolutions on CUDA (no effect on cpu)"),
  };
  // clang-format on
}

std::vector<Field> loss_fields() {
  // clang-format off
  return {
      choice("loss.contrastive.form", [](Config& c) { return &c.loss.contrastive.form; },
             {"direct", "tiled", "auto"},
             "InfoNCE: direct [b, B] logits, or tiled over loss.contrastive.tile_cols candidates "
             "(memory linear in B, equal to rounding); auto = tiled above tile_cols"),
      integer("loss.contrastive.tile_cols", [](Config& c) { return &c.loss.contrastive.tile_cols; },
              1, 1 << 24, "candidates per tile of the tiled InfoNCE"),
      real("loss.lica.weight", [](Config& c) { return &c.loss.lica.weight; }, incl(0), incl(1000),
           "λ of the LICA intra-modal consistency term; 0 = off (the baseline, bitwise)"),
      real("loss.lica.tau_intra", [](Config& c) { return &c.loss.lica.tau_intra; }, excl(0),
           incl(100), "temperature of the neighbour weights softmax(A / tau_intra)"),
      integer("loss.lica.top_k", [](Config& c) { return &c.loss.lica.top_k; }, 0, 1 << 24,
              "neighbours per anchor; 0 = all other samples of the global batch"),
      real("loss.lica.min_affinity", [](Config& c) { return &c.loss.lica.min_affinity; },
           incl(-1), incl(1), "neighbours with a smaller intra-modal cosine are dropped"),
      choice("loss.lica.source", [](Config& c) { return &c.loss.lica.source; },
             {"embedding", "input"},
             "affinities from the (stop-gradient) embeddings or the mean-pooled input features"),
      choice("loss.lica.divergence", [](Config& c) { return &c.loss.lica.divergence; },
             {"js", "kl"}, "Jensen-Shannon, or KL(anchor || neighbour)"),
      choice("loss.lica.form", [](Config& c) { return &c.loss.lica.form; },
             {"auto", "direct", "chunked", "fused"},
             "how the term is computed (auto: chunked on the CPU; on a GPU direct, chunked above "
             "2^24 elements); fused streams over column tiles (no [B, B] matrices)"),
      integer("loss.lica.tile_cols", [](Config& c) { return &c.loss.lica.tile_cols; }, 1,
              1 << 24, "columns per tile of the fused form (similarities, and affinities in its neighbour selection)"),
      real("loss.itc.weight", [](Config& c) { return &c.loss.itc.weight; }, incl(0), incl(1000),
           "weight of ITC against the momentum queues; 0 = off"),
      real("loss.itc.temperature", [](Config& c) { return &c.loss.itc.temperature; }, excl(0),
           incl(10), "temperature of ITC"),
      real("loss.ims.weight", [](Config& c) { return &c.loss.ims.weight; }, incl(0), incl(1000),
           "weight of intra-modal separability; 0 = off"),
      real("loss.ims.temperature", [](Config& c) { return &c.loss.ims.temperature; }, excl(0),
           incl(10), "temperature of IMS"),
      real("loss.lmim.weight", [](Config& c) { return &c.loss.lmim.weight; }, incl(0),
           incl(1000), "weight of local mutual information; 0 = off"),
      real("loss.lmim.temperature", [](Config& c) { return &c.loss.lmim.temperature; }, excl(0),
           incl(10), "temperature of LMIM"),
      real("loss.itm_weight", [](Config& c) { return &c.loss.itm_weight; }, incl(0), incl(1000),
           "weight of the fusion encoder's matching loss; needs model.fusion.layers > 0"),
  };
  // clang-format on
}

std::vector<Field> eval_fields() {
  // clang-format off
  return {
      integer("eval.every_epochs", [](Config& c) { return &c.eval.every_epochs; }, 0, 100000,
              "validate every N epochs; 0 = no validation during training"),
      integer("eval.batch_size", [](Config& c) { return &c.eval.batch_size; }, 1, 1 << 24,
              "encoding batch size at evaluation"),
      integer("eval.chunk_size", [](Config& c) { return &c.eval.chunk_size; }, 1, 1 << 24,
              "queries per similarity block"),
      flag("eval.dsl", [](Config& c) { return &c.eval.dsl; },
           "dual-softmax re-normalisation (DSL): scores times the softmax of their candidate's "
           "column over all queries"),
      real("eval.dsl_temperature", [](Config& c) { return &c.eval.dsl_temperature; }, excl(0),
           incl(10), "temperature of the DSL softmax over cosine scores"),
      integer("eval.rerank_top_k", [](Config& c) { return &c.eval.rerank_top_k; }, 0, 1 << 20,
              "fusion-encoder re-ranking of each query's top k; 0 = off"),
  };
  // clang-format on
}

std::vector<Field> dist_fields() {
  // clang-format off
  return {
      choice("dist.backend", [](Config& c) { return &c.dist.backend; },
             {"auto", "local", "mpi", "nccl"},
             "communicator; auto = nccl with CUDA, else mpi under a launcher, else local"),
      real("dist.bucket_mb", [](Config& c) { return &c.dist.bucket_mb; }, excl(0), incl(1024),
           "gradient all-reduce bucket size in MB"),
      real("dist.timeout_s", [](Config& c) { return &c.dist.timeout_s; }, incl(0), incl(604800),
           "seconds a collective may stay pending before the job is aborted with a message "
           "naming it (a lost or stuck rank); 0 = wait forever"),
      integer("dist.ranks_per_gpu", [](Config& c) { return &c.dist.ranks_per_gpu; }, 1, 64,
              "ranks sharing one GPU: local rank r runs on cuda:<r / ranks_per_gpu>; above 1 "
              "the mpi backend only (NCCL refuses two ranks on one GPU)"),
  };
  // clang-format on
}

std::vector<Field> checkpoint_fields() {
  // clang-format off
  return {
      integer("checkpoint.every_steps", [](Config& c) { return &c.checkpoint.every_steps; }, 0,
              int64_t{1} << 40,
              "write a checkpoint every N steps; 0 = only at the end and on SIGTERM/SIGUSR1"),
      integer("checkpoint.keep_last", [](Config& c) { return &c.checkpoint.keep_last; }, 1,
              1000000, "newest checkpoints kept; the best is kept besides"),
      choice("checkpoint.best_metric", [](Config& c) { return &c.checkpoint.best_metric; },
             best_metric_choices(),
             "validation metric whose best checkpoint is kept as 'best'; none = no best"),
  };
  // clang-format on
}

std::vector<Field> run_fields() {
  constexpr bool kNonEmpty = false;
  // clang-format off
  return {
      text("run.dir", [](Config& c) { return &c.run.dir; }, kNonEmpty,
           "run directory: resolved config, logs, metrics.jsonl, checkpoints"),
  };
  // clang-format on
}

}  // namespace

// Every field, grouped by section (dump_config() relies on sections being contiguous). The
// captureless lambdas convert to the specs' member-access function pointers.
const std::vector<Field>& fields() {
  static const std::vector<Field> table = [] {
    std::vector<Field> all;
    for (auto section : {data_fields, model_fields, trainer_fields, loss_fields, eval_fields,
                         dist_fields, checkpoint_fields, run_fields}) {
      for (auto& f : section()) all.push_back(std::move(f));
    }
    return all;
  }();
  return table;
}

const Field* find_field(const std::string& key) {
  for (const Field& f : fields()) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

}  // namespace lica::run::config_table
