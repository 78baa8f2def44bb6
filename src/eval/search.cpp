#include "eval/search.h"

#include <glog/logging.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>

#include "common/error.h"
#include "common/files.h"
#include "common/json_line.h"
#include "data/embedding_file.h"
#include "eval/encode_split.h"
#include "eval/inference.h"
#include "eval/export_embeddings.h"
#include "loss/top_k.h"

namespace lica::eval {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// One side of a search: the query or the candidate embeddings with their ids.
struct Side {
  std::string path;
  std::string what;          // "videos" or "captions"
  torch::Tensor embeddings;  // [N, D] float32; on rank 0 only for an embedding file
  std::vector<std::string> ids;
};

// Loads the sides; resolves and loads the checkpoint only when a feature file needs it.
class SideLoader {
 public:
  SideLoader(const run::Config& cfg, const SearchOptions& opt, dist::Communicator& comm)
      : cfg_(cfg), opt_(opt), comm_(comm) {}

  // The videos (or captions) of `path` for the search's `role` ("queries", "candidates").
  Side load(const std::string& path, bool videos, const std::string& role) {
    Side side;
    side.path = path;
    side.what = videos ? "videos" : "captions";
    const std::string group = videos ? "/videos" : "/texts";
    if (data::is_embedding_file(path)) {
      if (!opt_.split.empty()) {
        LOG(INFO) << path << " is an embedding file: used as it is, --split " << opt_.split
                  << " does not apply to it";
      }
      if (comm_.rank() != 0) return side;  // rank 0 searches alone
      auto e = data::read_embeddings(path);
      data::EmbeddingSection& s = videos ? e.videos : e.texts;
      if (!s.present) {
        throw InputError(path + ": group " + group + " is missing (dataset " + group +
                         "/embeddings), needed as the " + role + " of a " + direction_name() +
                         " search");
      }
      side.embeddings = s.embeddings;
      side.ids = std::move(s.ids);
      LOG(INFO) << role << ": " << side.ids.size() << " " << side.what << " of embedding file "
                << path;
      return side;
    }
    if (opt_.checkpoint.empty()) {
      throw InputError(path + " is a feature file (it has no lica_embeddings attribute): its " +
                       side.what + " must be encoded with a model, give --checkpoint (or give "
                       "an embedding file that lica_eval --export wrote)");
    }
    const ResolvedCheckpoint& checkpoint = resolved();
    const auto file = open_features_for(checkpoint, path);
    const auto rows = rows_of(file, opt_.split);
    auto model = load_dual_encoder(checkpoint, file);
    const int64_t batch = checkpoint.config.eval.batch_size;
    const auto started = Clock::now();
    // Encoded on the model's device; searched (and written) from host memory.
    data::EmbeddingSection s =
        videos
            ? data::video_section(file, rows.videos,
                                  encode_videos(model, file, rows.videos, batch, comm_).all.cpu())
            : data::text_section(rows.texts,
                                 encode_texts(model, file, rows.texts, batch, comm_).all.cpu());
    side.embeddings = s.embeddings;
    side.ids = std::move(s.ids);
    LOG(INFO) << role << ": encoded " << side.ids.size() << " " << side.what << " of "
              << (opt_.split.empty() ? "feature file " : "split '" + opt_.split + "' of ")
              << path << " with " << checkpoint.checkpoint.string() << " in "
              << seconds_since(started) << " s";
    return side;
  }

 private:
  const ResolvedCheckpoint& resolved() {
    if (!checkpoint_) checkpoint_ = resolve_for_inference(cfg_, opt_.checkpoint, comm_);
    return *checkpoint_;
  }
  std::string direction_name() const {
    return opt_.direction == SearchDirection::kTextToVideo ? "t2v" : "v2t";
  }

  const run::Config& cfg_;
  const SearchOptions& opt_;
  dist::Communicator& comm_;
  std::optional<ResolvedCheckpoint> checkpoint_;
};

// InputError naming the side's first non-finite row (the embeddings of a feature file come
// from the model; an embedding file is checked when read).
void check_finite(const Side& side) {
  const auto finite = torch::isfinite(side.embeddings).all(1);  // [N]
  if (finite.all().item<bool>()) return;
  const int64_t row = (~finite).nonzero()[0][0].item<int64_t>();
  throw InputError(side.path + ": the embedding of " + side.what + " " + side.ids[row] +
                   " (row " + std::to_string(row) + ") is not finite");
}

// A text file written through `path`.tmp and renamed into place when complete.
class AtomicOutput {
 public:
  explicit AtomicOutput(std::filesystem::path path)
      : path_(std::move(path)), tmp_(path_.string() + ".tmp"), stream_(tmp_) {
    if (!stream_) throw InputError(tmp_.string() + ": cannot be written (does its folder exist?)");
  }
  ~AtomicOutput() {
    if (!committed_) {
      stream_.close();
      std::error_code ec;
      std::filesystem::remove(tmp_, ec);
    }
  }
  std::ostream& stream() { return stream_; }
  void commit() {
    stream_.close();
    if (stream_.fail()) throw Error("cannot write " + tmp_.string());
    fsync_file(tmp_);
    rename_or_throw(tmp_, path_);
    const auto dir = path_.parent_path();
    fsync_directory(dir.empty() ? std::filesystem::path(".") : dir);
    committed_ = true;
  }

 private:
  std::filesystem::path path_, tmp_;
  std::ofstream stream_;
  bool committed_ = false;
};

std::string result_line(const Side& queries, const Side& candidates, int64_t q,
                        const std::vector<SearchHit>& hits) {
  std::string results = "[";
  for (size_t i = 0; i < hits.size(); ++i) {
    if (i) results += ", ";
    results += JsonLine()
                   .add("id", candidates.ids[hits[i].index])
                   .add("index", hits[i].index)
                   .add("score", static_cast<double>(hits[i].score))
                   .str();
  }
  results += "]";
  return JsonLine()
      .add("query", queries.ids[q])
      .add("query_index", q)
      .add_json("results", results)
      .str();
}

}  // namespace

SearchDirection parse_search_direction(const std::string& text) {
  if (text == "t2v") return SearchDirection::kTextToVideo;
  if (text == "v2t") return SearchDirection::kVideoToText;
  throw InputError("--direction: '" + text + "', expected t2v (text to video) or v2t");
}

void top_k_search(const torch::Tensor& queries, const torch::Tensor& candidates, int64_t k,
                  int64_t chunk,
                  const std::function<void(int64_t, const std::vector<SearchHit>&)>& emit) {
  if (k < 1) throw InputError("--top-k: " + std::to_string(k) + ", expected at least 1");
  if (chunk < 1) throw InputError("eval.chunk_size: " + std::to_string(chunk) + ", expected >= 1");
  if (queries.dim() != 2 || candidates.dim() != 2 || queries.size(1) != candidates.size(1)) {
    throw InputError("queries " + std::to_string(queries.dim() == 2 ? queries.size(1) : -1) +
                     "-dimensional, candidates " +
                     std::to_string(candidates.dim() == 2 ? candidates.size(1) : -1) +
                     "-dimensional: expected the same embedding dim");
  }
  torch::NoGradGuard no_grad;
  namespace F = torch::nn::functional;
  const auto unit = F::NormalizeFuncOptions().p(2).dim(1);
  const torch::Tensor c = F::normalize(candidates.to(torch::kFloat), unit).t().contiguous();  // [D, C]
  const int64_t n = queries.size(0), m = candidates.size(0), kk = std::min(k, m);
  const auto started = Clock::now();
  auto last_log = started;
  std::vector<SearchHit> row_hits;
  for (int64_t q0 = 0; q0 < n; q0 += chunk) {
    const int64_t rows = std::min(chunk, n - q0);
    const torch::Tensor q = F::normalize(queries.slice(0, q0, q0 + rows).to(torch::kFloat), unit);
    const torch::Tensor scores = q.mm(c).contiguous();  // [rows, C]
    const auto finite = torch::isfinite(scores).all(1);  // [rows]
    if (!finite.all().item<bool>()) {
      const int64_t bad = q0 + (~finite).nonzero()[0][0].item<int64_t>();
      throw Error("search: query " + std::to_string(bad) + " has a non-finite score");
    }
    // Best first, equal scores in candidate order.
    const auto [values, cols] = loss::top_k_stable(scores, kk);  // [rows, kk] each
    const float* top_score = values.data_ptr<float>();
    const int64_t* top_index = cols.data_ptr<int64_t>();
    for (int64_t r = 0; r < rows; ++r) {
      row_hits.clear();
      for (int64_t i = r * kk; i < (r + 1) * kk; ++i) {
        row_hits.push_back({top_index[i], top_score[i]});
      }
      emit(q0 + r, row_hits);
    }
    if (seconds_since(last_log) >= 10 && q0 + rows < n) {
      last_log = Clock::now();
      const double s = seconds_since(started);
      LOG(INFO) << "searched " << q0 + rows << " of " << n << " queries in " << s << " s ("
                << static_cast<int64_t>((q0 + rows) / s) << " queries/s, " << m << " candidates)";
    }
  }
}

SearchSummary run_search(const run::Config& cfg, const SearchOptions& opt, std::ostream& out,
                         dist::Communicator& comm) {
  const auto started = Clock::now();
  if (opt.top_k < 1) {
    throw InputError("--top-k: " + std::to_string(opt.top_k) + ", expected at least 1");
  }
  const bool t2v = opt.direction == SearchDirection::kTextToVideo;
  SideLoader loader(cfg, opt, comm);
  const Side queries = loader.load(opt.queries, /*videos=*/!t2v, "queries");
  const Side candidates = loader.load(opt.candidates, /*videos=*/t2v, "candidates");
  SearchSummary summary;
  if (comm.rank() != 0) {
    // Nothing left to do here: no barrier, which would keep this rank inside a watched
    // collective for as long as rank 0 searches (a long search would hit dist.timeout_s).
    summary.seconds = seconds_since(started);
    return summary;
  }
  summary.queries = queries.embeddings.size(0);
  summary.candidates = candidates.embeddings.size(0);
  summary.dim = queries.embeddings.size(1);
  if (queries.embeddings.size(1) != candidates.embeddings.size(1)) {
    throw InputError("embedding dims differ: queries " + opt.queries + " (" + queries.what +
                     ", D = " + std::to_string(queries.embeddings.size(1)) + ") and candidates " +
                     opt.candidates + " (" + candidates.what + ", D = " +
                     std::to_string(candidates.embeddings.size(1)) + ")");
  }
  check_finite(queries);
  check_finite(candidates);
  std::optional<AtomicOutput> file;
  if (!opt.output.empty()) file.emplace(opt.output);
  std::ostream& sink = file ? file->stream() : out;
  const auto search_started = Clock::now();
  top_k_search(queries.embeddings, candidates.embeddings, opt.top_k, cfg.eval.chunk_size,
               [&](int64_t q, const std::vector<SearchHit>& hits) {
                 sink << result_line(queries, candidates, q, hits) << '\n';
               });
  sink.flush();
  if (file) file->commit();
  const double search_seconds = seconds_since(search_started);
  LOG(INFO) << (t2v ? "t2v" : "v2t") << ": " << summary.queries << " queries x "
            << summary.candidates << " candidates, top " << opt.top_k << ", in " << search_seconds
            << " s (" << static_cast<int64_t>(summary.queries / std::max(search_seconds, 1e-9))
            << " queries/s)" << (opt.output.empty() ? "" : ", wrote " + opt.output);
  summary.seconds = seconds_since(started);
  return summary;
}

}  // namespace lica::eval
