#include "trainer/global_batch.h"

#include <string>
#include <vector>

#include "common/error.h"
#include "dist/shard.h"

namespace lica::trainer {

EpochShape epoch_shape(const run::Config& cfg, const data::FeatureFile& file,
                       const data::SplitIndex& split) {
  EpochShape s;
  s.batch = cfg.trainer.batch_size;
  const auto pairing = data::parse_pairing(cfg.data.pairing);
  s.samples_per_epoch = static_cast<int64_t>(
      pairing == data::Pairing::kOneCaption ? split.videos.size() : split.texts.size());
  s.steps_per_epoch = cfg.data.drop_last ? s.samples_per_epoch / s.batch
                                         : (s.samples_per_epoch + s.batch - 1) / s.batch;
  if (s.steps_per_epoch == 0) {
    throw InputError("trainer.batch_size: " + std::to_string(s.batch) + " exceeds the " +
                     std::to_string(s.samples_per_epoch) + " training samples of split '" +
                     cfg.data.train_split + "' in " + file.path() +
                     " (lower it or set data.drop_last: false)");
  }
  s.total_steps = s.steps_per_epoch * cfg.trainer.epochs;
  return s;
}

StepSlice step_slice(const EpochShape& shape, int64_t step, int rank, int world) {
  const int64_t begin = step % shape.steps_per_epoch * shape.batch;
  const int64_t global = std::min<int64_t>(shape.samples_per_epoch, begin + shape.batch) - begin;
  const auto [r0, r1] = dist::shard_range(global, rank, world);
  return StepSlice{begin, global, r0, r1};
}

data::BatchPlan rank_batch_plan(const run::Config& cfg, const data::FeatureFile& file,
                                const data::SplitIndex& split, const EpochShape& shape,
                                int rank, int world) {
  const auto pairing = data::parse_pairing(cfg.data.pairing);
  const auto seed = static_cast<uint64_t>(cfg.trainer.seed);
  return [&file, &split, shape, pairing, seed, rank, world,
          samples = std::vector<data::Sample>(), samples_epoch = int64_t{-1}](int64_t step) mutable {
    const int64_t epoch = step / shape.steps_per_epoch;
    if (epoch != samples_epoch) {
      samples = data::epoch_samples(file, split, pairing, seed, epoch);
      samples_epoch = epoch;
    }
    const StepSlice s = step_slice(shape, step, rank, world);
    data::BatchRows rows;
    for (int64_t k = s.begin + s.r0; k < s.begin + s.r1; ++k) {
      rows.video_rows.push_back(samples[static_cast<size_t>(k)].video);
      rows.text_rows.push_back(samples[static_cast<size_t>(k)].text);
    }
    return rows;
  };
}

}  // namespace lica::trainer
