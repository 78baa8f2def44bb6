#include "eval/export_embeddings.h"

#include <glog/logging.h>

#include <chrono>
#include <numeric>

#include "eval/encode_split.h"
#include "eval/inference.h"

namespace lica::eval {

data::SplitIndex rows_of(const data::FeatureFile& file, const std::string& split) {
  if (!split.empty()) return file.split(split);
  data::SplitIndex all;
  all.videos.resize(static_cast<size_t>(file.num_videos()));
  all.texts.resize(static_cast<size_t>(file.num_texts()));
  std::iota(all.videos.begin(), all.videos.end(), int64_t{0});
  std::iota(all.texts.begin(), all.texts.end(), int64_t{0});
  return all;
}

data::Embeddings encode_embeddings(model::DualEncoder& model, const data::FeatureFile& file,
                                   const data::SplitIndex& rows, int64_t batch_size,
                                   dist::Communicator& comm) {
  const auto videos = encode_videos(model, file, rows.videos, batch_size, comm);
  const auto texts = encode_texts(model, file, rows.texts, batch_size, comm);
  return data::make_embeddings(file, rows, videos.all.cpu(), texts.all.cpu());
}

ExportSummary export_embeddings(run::Config cfg, const std::string& spec, const std::string& split,
                                const std::string& out, dist::Communicator& comm) {
  const auto started = std::chrono::steady_clock::now();
  const ResolvedCheckpoint resolved = resolve_for_inference(std::move(cfg), spec, comm);
  const auto file = open_features_for(resolved, resolved.config.data.path);
  const auto rows = rows_of(file, split);
  auto model = load_dual_encoder(resolved, file);
  auto e = encode_embeddings(model, file, rows, resolved.config.eval.batch_size, comm);
  e.split = split;
  e.checkpoint = resolved.checkpoint.string();
  e.step = resolved.step;
  if (comm.rank() == 0) {
    data::write_embeddings(out, e);
    LOG(INFO) << "wrote " << out << ": " << e.videos.size() << " videos and " << e.texts.size()
              << " captions of split '" << split << "', D = " << e.dim();
  }
  comm.barrier();  // the file is in place when any rank returns
  ExportSummary s;
  s.checkpoint = resolved.checkpoint;
  s.step = resolved.step;
  s.videos = e.videos.size();
  s.texts = e.texts.size();
  s.dim = e.dim();
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return s;
}

}  // namespace lica::eval
