// Wiring from the config and a feature file to the model: the only place that knows both.
#pragma once

#include "data/feature_file.h"
#include "model/dual_encoder.h"
#include "trainer/config.h"
#include "trainer/evaluate.h"
#include "trainer/step.h"

namespace lica::trainer {

// Opens cfg.data.path, validated against the configured dims (0 = the file's own).
data::FeatureFile open_features(const Config& cfg);

// The dual encoder's options for this config and file. Throws InputError naming the key
// when the file does not fit the config (e.g. more frames than model.max_frames).
model::DualEncoderOptions dual_encoder_options(const Config& cfg, const data::FeatureFile& file);

// Evaluation options from the eval.* keys.
EvalOptions eval_options(const Config& cfg);

// The step's loss options from the loss.* keys.
LossOptions loss_options(const Config& cfg);

}  // namespace lica::trainer
