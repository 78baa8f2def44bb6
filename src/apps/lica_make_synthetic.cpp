// lica_make_synthetic: writes a synthetic feature file (docs/design.md §2, model in data/synthetic.h).
#include <iostream>
#include <string>

#include "common/cli.h"
#include "common/error.h"
#include "common/logging.h"
#include "data/feature_file.h"
#include "data/synthetic.h"

int main(int argc, char** argv) {
  lica::init_logging(argv[0]);
  return lica::run_program([&] {
    lica::data::SyntheticOptions o;
    std::string out;
    lica::CommandLine cli(
        "lica_make_synthetic", "--out PATH [options]",
        "Writes a seeded synthetic HDF5 feature file: videos in latent clusters, frame and\n"
        "token features as two noisy non-linear views of the latent, splits train/val/test.");
    cli.option("out", "output HDF5 file", &out);
    cli.require("out");
    cli.option("videos", "number of videos V", &o.videos);
    cli.option("min-captions", "fewest captions per video", &o.min_captions);
    cli.option("max-captions", "most captions per video", &o.max_captions);
    cli.option("frames", "frames per video row F", &o.frames);
    cli.option("min-frames", "fewest valid frames of a video", &o.min_frames);
    cli.option("tokens", "tokens per caption row L", &o.tokens);
    cli.option("min-tokens", "fewest valid tokens of a caption", &o.min_tokens);
    cli.option("video-dim", "frame feature size Dv", &o.video_dim);
    cli.option("text-dim", "token feature size Dt", &o.text_dim);
    cli.option("latent-dim", "size of the shared latent", &o.latent_dim);
    cli.option("clusters", "number of latent clusters", &o.clusters);
    cli.option("video-spread", "std of a video's latent around its centre", &o.video_spread);
    cli.option("caption-specificity", "share of its video's own offset a caption carries",
               &o.caption_specificity);
    cli.option("frame-noise", "per-frame latent noise std", &o.frame_noise);
    cli.option("token-noise", "per-token latent noise std", &o.token_noise);
    cli.option("val-fraction", "share of videos in split val, at least one", &o.val_fraction);
    cli.option("test-fraction", "share of videos in split test, at least one", &o.test_fraction);
    cli.option("caption-noise",
               "share of the train captions re-assigned to a random other train video (label "
               "noise; the true video is kept in /texts/true_video)",
               &o.caption_noise);
    cli.option("seed", "random seed", &o.seed);
    cli.flag("float32", "store float32 features (default float16)", &o.float32);
    if (!cli.parse(argc, argv)) return lica::kExitOk;

    const lica::data::SyntheticSummary summary = lica::data::write_synthetic(out, o);
    const lica::data::FeatureFile file = lica::data::FeatureFile::open(out);
    std::cout << out << ": " << file.num_videos() << " videos, " << file.num_texts()
              << " captions, splits (videos/captions)";
    for (const std::string& name : file.split_names()) {
      const lica::data::SplitIndex& s = file.split(name);
      std::cout << " " << name << "=" << s.videos.size() << "/" << s.texts.size();
    }
    if (o.caption_noise > 0) {
      std::cout << "; caption noise: " << summary.moved_captions << " of " << summary.train_captions
                << " train captions re-assigned to another train video";
    }
    std::cout << std::endl;
    return lica::kExitOk;
  });
}
