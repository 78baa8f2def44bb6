// From the config and a feature file to the model's options: the only place that knows both.
#pragma once

#include <cstdint>
#include <string>

#include "data/feature_file.h"
#include "model/dual_encoder.h"
#include "run/config.h"

namespace lica::run {

// Opens cfg.data.path, validated against the configured dims (0 = the file's own).
data::FeatureFile open_features(const Config& cfg);

// The shape of the features a model is built for.
struct FeatureShape {
  int64_t video_dim = 0;  // Dv
  int64_t frames = 0;     // F, the longest video
  int64_t text_dim = 0;   // Dt
  int64_t tokens = 0;     // L, the longest caption
  std::string source;     // named in errors: the file's path, or what made the shape
};
FeatureShape feature_shape(const data::FeatureFile& file);

// The dual encoder's options for this config and feature shape (or file). Throws InputError
// naming the key when the features do not fit the config (e.g. more frames than
// model.max_frames, or a width other than a non-zero model.video_dim).
model::DualEncoderOptions dual_encoder_options(const Config& cfg, const FeatureShape& shape);
model::DualEncoderOptions dual_encoder_options(const Config& cfg, const data::FeatureFile& file);

}  // namespace lica::run
