#include "run/model_options.h"

#include <gtest/gtest.h>

namespace lica::run {
namespace {

std::string error_of(const Config& cfg, const FeatureShape& shape) {
  try {
    dual_encoder_options(cfg, shape);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(BuildModel, OptionsFromAFeatureShape) {
  Config cfg;
  cfg.model.embed_dim = 64;
  cfg.model.video.layers = 3;
  const auto o = dual_encoder_options(cfg, FeatureShape{512, 12, 384, 32, "bench"});
  EXPECT_EQ(o.video.input_dim, 512);
  EXPECT_EQ(o.text.input_dim, 384);
  EXPECT_EQ(o.video.embed_dim, 64);
  EXPECT_EQ(o.video.layers, 3);
  EXPECT_EQ(o.video.max_frames, cfg.model.max_frames);
}

TEST(BuildModel, ShapeThatDoesNotFitNamesTheKeyAndTheSource) {
  Config cfg;
  cfg.model.max_frames = 8;
  EXPECT_EQ(error_of(cfg, FeatureShape{512, 12, 512, 32, "--frames"}),
            "model.max_frames: 8 is smaller than the 12 frames per video of --frames");
  cfg = Config();
  cfg.model.text_dim = 768;
  EXPECT_EQ(error_of(cfg, FeatureShape{512, 12, 512, 32, "--text-dim"}),
            "model.text_dim: 768 differs from the token feature width 512 of --text-dim");
  cfg.model.text_dim = 512;  // equal is fine, and so is 0 (take the shape's)
  EXPECT_EQ(error_of(cfg, FeatureShape{512, 12, 512, 32, "--text-dim"}), "");
}

}  // namespace
}  // namespace lica::run
