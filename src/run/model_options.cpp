#include "run/model_options.h"

namespace lica::run {
namespace {

void check_fits(const char* key, int64_t table, const char* what, int64_t file_len,
                const std::string& path) {
  if (file_len > table) {
    throw InputError(std::string(key) + ": " + std::to_string(table) + " is smaller than the " +
                     std::to_string(file_len) + " " + what + " of " + path);
  }
}

void check_width(const char* key, int64_t configured, const char* what, int64_t width,
                 const std::string& source) {
  if (configured != 0 && configured != width) {
    throw InputError(std::string(key) + ": " + std::to_string(configured) + " differs from the " +
                     what + " feature width " + std::to_string(width) + " of " + source);
  }
}

}  // namespace

data::FeatureFile open_features(const Config& cfg) {
  return data::FeatureFile::open(cfg.data.path,
                                 data::ExpectedDims{cfg.model.video_dim, cfg.model.text_dim});
}

FeatureShape feature_shape(const data::FeatureFile& file) {
  return {file.video_dim(), file.max_frames(), file.text_dim(), file.max_tokens(), file.path()};
}

model::DualEncoderOptions dual_encoder_options(const Config& cfg, const data::FeatureFile& file) {
  return dual_encoder_options(cfg, feature_shape(file));
}

model::DualEncoderOptions dual_encoder_options(const Config& cfg, const FeatureShape& shape) {
  // A file was checked against non-zero dims when opened (open_features); other shapes here.
  check_width("model.video_dim", cfg.model.video_dim, "frame", shape.video_dim, shape.source);
  check_width("model.text_dim", cfg.model.text_dim, "token", shape.text_dim, shape.source);
  check_fits("model.max_frames", cfg.model.max_frames, "frames per video", shape.frames,
             shape.source);
  check_fits("model.max_tokens", cfg.model.max_tokens, "tokens per caption", shape.tokens,
             shape.source);
  model::DualEncoderOptions o;
  o.video.input_dim = shape.video_dim;
  o.video.embed_dim = cfg.model.embed_dim;
  o.video.max_frames = cfg.model.max_frames;
  o.video.kind = model::parse_video_encoder(cfg.model.video.encoder);
  o.video.layers = cfg.model.video.layers;
  o.video.heads = cfg.model.video.heads;
  o.video.dropout = cfg.model.dropout;
  o.text.input_dim = shape.text_dim;
  o.text.embed_dim = cfg.model.embed_dim;
  o.text.max_tokens = cfg.model.max_tokens;
  o.text.pooling = model::parse_text_pooling(cfg.model.text.pooling);
  o.video.pooling = model::parse_video_pooling(cfg.model.video.pooling);
  o.text.layers = cfg.model.text.layers;
  o.text.heads = cfg.model.text.heads;
  o.text.dropout = cfg.model.dropout;
  o.init_temperature = cfg.model.init_temperature;
  o.local_heads = cfg.loss.lmim.weight > 0;  // LMIM trains them; the checkpoint holds them
  o.fusion.layers = cfg.model.fusion.layers;
  o.fusion.heads = cfg.model.fusion.heads;
  o.fusion.dropout = cfg.model.dropout;
  return o;
}

}  // namespace lica::run
