// The prefetching loader: the batches of make_batch in step order at every queue depth, a
// reader error delivered at its step (after the batches before it), and shutdown from any
// state without a hang.
#include "data/loader.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>

#include "common/error.h"
#include "data/data_test_util.h"

#include <chrono>
#include <thread>

namespace lica::data {
namespace {

using test_util::TempDir;
using test_util::TinyFile;

// Step s pairs videos {s % 4, (s + 1) % 4} with captions {s % 6, (s + 3) % 6}.
BatchRows rows_of(int64_t step) {
  return {{step % 4, (step + 1) % 4}, {step % 6, (step + 3) % 6}};
}

void expect_same(const Batch& a, const Batch& b) {
  EXPECT_TRUE(torch::equal(a.video, b.video));
  EXPECT_TRUE(torch::equal(a.text, b.text));
  EXPECT_TRUE(torch::equal(a.video_mask, b.video_mask));
  EXPECT_TRUE(torch::equal(a.text_mask, b.text_mask));
  EXPECT_TRUE(torch::equal(a.video_index, b.video_index));
  EXPECT_TRUE(torch::equal(a.text_index, b.text_index));
}

TEST(PrefetchLoader, DeliversTheBatchesOfEveryStepInOrderAtEveryDepth) {
  TempDir dir;
  TinyFile().write(dir.file("t.h5"));
  const auto file = FeatureFile::open(dir.file("t.h5"));
  for (int64_t depth : {0, 1, 4}) {
    for (int64_t threads : {1, 3}) {
      SCOPED_TRACE("depth " + std::to_string(depth) + ", threads " + std::to_string(threads));
      PrefetchLoader loader(file, rows_of, 3, 20, {depth, false, threads});
      for (int64_t step = 3; step < 20; ++step) {
        const auto r = rows_of(step);
        expect_same(loader.next(), make_batch(file, r.video_rows, r.text_rows));
      }
      EXPECT_THROW(loader.next(), Error);
    }
  }
}

// Several readers read batches at once, but the plan (an epoch's shuffle may be built
// lazily) still sees every step once, in order, one call at a time.
TEST(PrefetchLoader, SeveralReadersPlanTheStepsInOrder) {
  TempDir dir;
  TinyFile().write(dir.file("t.h5"));
  const auto file = FeatureFile::open(dir.file("t.h5"));
  std::vector<int64_t> planned;
  std::atomic<int> inside{0};
  bool overlapped = false;
  {
    PrefetchLoader loader(file, [&](int64_t step) {
      overlapped |= ++inside > 1;
      planned.push_back(step);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      --inside;
      return rows_of(step);
    }, 0, 40, {8, false, 4});
    for (int64_t step = 0; step < 40; ++step) loader.next();
  }
  EXPECT_FALSE(overlapped);
  ASSERT_EQ(planned.size(), 40u);
  for (int64_t step = 0; step < 40; ++step) EXPECT_EQ(planned[static_cast<size_t>(step)], step);
}

TEST(PrefetchLoader, ANonFiniteRowFailsItsOwnStepAfterTheBatchesBeforeIt) {
  TempDir dir;
  const std::string path = dir.file("t.h5");
  TinyFile().write(path);
  {
    h5::File f = h5::open_file(path, true);
    h5::Dataset ds = h5::open_dataset(f.get(), "/videos/features");
    torch::Tensor row = TinyFile::features({4, 2, 3, 1}, 4, 3, 0.0f)[3].clone();  // [F, Dv]
    row[0][1] = std::nanf("");
    torch::Tensor half = row.to(torch::kHalf).contiguous();
    h5::write_rows(ds, 3, 1, h5::float16_type().get(), half.data_ptr());
  }
  const auto file = FeatureFile::open(path);
  // Video 3 is first read at step 2 (videos {2, 3}).
  for (const LoaderOptions options : {LoaderOptions{0}, LoaderOptions{2}, LoaderOptions{4, false, 3}}) {
    PrefetchLoader loader(file, rows_of, 0, 10, options);
    loader.next();
    loader.next();
    try {
      loader.next();
      FAIL() << "expected InputError at step 2";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("dataset /videos/features, row 3: value nan"),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(PrefetchLoader, AFailingPlanIsRethrownAtItsStep) {
  TempDir dir;
  TinyFile().write(dir.file("t.h5"));
  const auto file = FeatureFile::open(dir.file("t.h5"));
  PrefetchLoader loader(file, [](int64_t step) {
    if (step == 1) throw InputError("split train: video 7 has no caption");
    return rows_of(step);
  }, 0, 5, {3, false, 2});
  loader.next();
  EXPECT_THROW(loader.next(), InputError);
}

TEST(PrefetchLoader, StopsCleanlyWhenDestroyedWithAFullQueueOrUnused) {
  TempDir dir;
  TinyFile().write(dir.file("t.h5"));
  const auto file = FeatureFile::open(dir.file("t.h5"));
  std::atomic<int64_t> planned{0};
  {
    PrefetchLoader loader(file, [&](int64_t step) { ++planned; return rows_of(step); }, 0, 1000, {2});
    loader.next();
    // The thread fills the queue and blocks; the destructor must wake and join it.
    for (int i = 0; i < 200 && planned < 4; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(planned.load(), 3);  // it did read ahead
  EXPECT_LE(planned.load(), 5);  // and no further than the queue allows
  { PrefetchLoader unused(file, rows_of, 0, 1000, {4}); }
  { PrefetchLoader unused(file, rows_of, 0, 1000, {4, false, 3}); }
  { PrefetchLoader empty(file, rows_of, 5, 5, {4}); }
}

}  // namespace
}  // namespace lica::data
