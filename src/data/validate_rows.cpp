#include "data/validate_rows.h"

#include <hdf5.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <future>

#include "common/error.h"
#include "data/h5.h"

namespace lica::data {
namespace {

#ifdef H5_HAVE_THREADSAFE
constexpr size_t kBlocksInFlight = 2;
#else
constexpr size_t kBlocksInFlight = 1;  // two threads must not call HDF5 at once
#endif

// Rows [part * n / parts, (part + 1) * n / parts) of `rows`.
std::vector<int64_t> share(const std::vector<int64_t>& rows, int64_t part, int64_t parts) {
  const auto n = static_cast<int64_t>(rows.size());
  return {rows.begin() + part * n / parts, rows.begin() + (part + 1) * n / parts};
}

// Reads `rows` through `read` (read_videos or read_texts, which throw at a non-finite value)
// in blocks of `block` rows, kBlocksInFlight at a time; the first error in row order is thrown.
template <typename Read>
void check_in_blocks(const std::vector<int64_t>& rows, int64_t block, const Read& read) {
  std::deque<std::future<void>> in_flight;
  const auto n = static_cast<int64_t>(rows.size());
  for (int64_t begin = 0; begin < n; begin += block) {
    std::vector<int64_t> part(rows.begin() + begin, rows.begin() + std::min(n, begin + block));
    in_flight.push_back(std::async(std::launch::async, [&read, part = std::move(part)] {
      read(part);
    }));
    if (in_flight.size() == kBlocksInFlight) {
      in_flight.front().get();  // rethrows its error; the other future is waited for
      in_flight.pop_front();
    }
  }
  while (!in_flight.empty()) {
    in_flight.front().get();
    in_flight.pop_front();
  }
}

// Rows per block: about block_megabytes of float32 rows, at least one.
int64_t block_rows(int64_t positions, int64_t dim, double block_megabytes) {
  const double row_mb = static_cast<double>(positions * dim) * 4.0 / 1e6;
  return std::max<int64_t>(1, static_cast<int64_t>(block_megabytes / std::max(row_mb, 1e-9)));
}

constexpr const char* kVideos = "/videos/features";
constexpr const char* kTexts = "/texts/features";

// Bytes of one row of a feature dataset as stored (float16 or float32).
int64_t stored_row_bytes(const FeatureFile& file, const char* dataset) {
  const h5::File h5file = h5::open_file(file.path());
  const h5::Datatype type = h5::dataset_type(h5::open_dataset(h5file.get(), dataset));
  const bool videos = std::string(dataset) == kVideos;
  const int64_t values = videos ? file.max_frames() * file.video_dim()
                                : file.max_tokens() * file.text_dim();
  return values * static_cast<int64_t>(H5Tget_size(type.get()));
}

}  // namespace

SplitIndex rows_of_splits(const FeatureFile& file, const std::vector<std::string>& splits) {
  SplitIndex all;
  for (const auto& name : splits) {
    const SplitIndex& s = file.split(name);
    all.videos.insert(all.videos.end(), s.videos.begin(), s.videos.end());
    all.texts.insert(all.texts.end(), s.texts.begin(), s.texts.end());
  }
  for (auto* rows : {&all.videos, &all.texts}) {
    std::sort(rows->begin(), rows->end());
    rows->erase(std::unique(rows->begin(), rows->end()), rows->end());
  }
  return all;
}

RowCheck check_rows_finite(const FeatureFile& file, const SplitIndex& rows, int64_t part,
                           int64_t parts, double block_megabytes) {
  if (parts < 1 || part < 0 || part >= parts || !(block_megabytes > 0)) {
    throw Error("check_rows_finite: part " + std::to_string(part) + " of " +
                std::to_string(parts) + ", block " + std::to_string(block_megabytes) + " MB");
  }
  const auto started = std::chrono::steady_clock::now();
  RowCheck check;
  const auto videos = share(rows.videos, part, parts);
  const auto texts = share(rows.texts, part, parts);
  check_in_blocks(videos, block_rows(file.max_frames(), file.video_dim(), block_megabytes),
                  [&file](const std::vector<int64_t>& r) { file.read_videos(r); });
  check_in_blocks(texts, block_rows(file.max_tokens(), file.text_dim(), block_megabytes),
                  [&file](const std::vector<int64_t>& r) { file.read_texts(r); });
  check.video_rows = static_cast<int64_t>(videos.size());
  check.text_rows = static_cast<int64_t>(texts.size());
  check.megabytes = static_cast<double>(check.video_rows * stored_row_bytes(file, kVideos) +
                                        check.text_rows * stored_row_bytes(file, kTexts)) /
                    1e6;
  check.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return check;
}

}  // namespace lica::data
