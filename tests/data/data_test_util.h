// Helpers of the data tests: a temporary directory, a tiny hand-made feature file, and edits
// of existing files (replace or remove a dataset) to make bad ones.
#pragma once

#include <gtest/gtest.h>
#include <hdf5.h>
#include <stdlib.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "data/h5.h"
#include "data/synthetic.h"

namespace lica::data::test_util {

// A small synthetic file's options: 40 videos in 5 clusters, 8-dim frames, 6-dim tokens.
inline SyntheticOptions small_synthetic(uint64_t seed) {
  SyntheticOptions opt;
  opt.videos = 40;
  opt.clusters = 5;
  opt.video_dim = 8;
  opt.text_dim = 6;
  opt.latent_dim = 4;
  opt.seed = seed;
  return opt;
}

// A fresh directory under the test temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "lica_data_XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    const char* made = mkdtemp(buf.data());
    if (!made) throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A small valid file written from explicit arrays; tests change a field to break one rule.
// Feature values are exact in float16: video v, frame f, feature d = 0.5 + v + f/4 + d/8
// (texts alike); positions past the valid count hold `pad_value`.
struct TinyFile {
  int64_t F = 4, L = 5, Dv = 3, Dt = 2;
  std::vector<int32_t> num_frames = {4, 2, 3, 1};        // V = 4
  std::vector<int32_t> num_tokens = {5, 2, 3, 1, 4, 5};  // T = 6
  std::vector<int32_t> text_video = {0, 0, 1, 2, 3, 3};
  std::map<std::string, std::pair<std::vector<int32_t>, std::vector<int32_t>>> splits = {
      {"train", {{0, 1}, {0, 1, 2}}}, {"test", {{2, 3}, {3, 4, 5}}}};
  std::vector<std::string> ids = {"a", "b", "c", "d"};
  std::vector<std::string> raw = {"r0", "r1", "r2", "r3", "r4", "r5"};
  std::optional<int64_t> schema = 1;
  bool float32 = false;
  float pad_value = 0.0f;
  std::set<std::string> omit;  // dataset paths not written

  static float value(int64_t row, int64_t pos, int64_t d) {
    return 0.5f + static_cast<float>(row) + 0.25f * static_cast<float>(pos) +
           0.125f * static_cast<float>(d);
  }

  // [counts.size(), P, D] features as written.
  static torch::Tensor features(const std::vector<int32_t>& counts, int64_t P, int64_t D,
                                float pad) {
    const int64_t n = static_cast<int64_t>(counts.size());
    torch::Tensor x = torch::empty({n, P, D});
    auto a = x.accessor<float, 3>();
    for (int64_t r = 0; r < n; ++r)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t d = 0; d < D; ++d) a[r][p][d] = p < counts[r] ? value(r, p, d) : pad;
    return x;
  }

  // The file with /texts/features [6, 5, 2] float32 chunked two captions at a time;
  // `configure` adds to the dataset's creation properties (a filter, say) before it is written.
  void write_with_chunked_texts(const std::string& path,
                                const std::function<void(hid_t dcpl)>& configure = {}) const {
    TinyFile without = *this;
    without.omit.insert("/texts/features");
    without.write(path);
    h5::File file = h5::open_file(path, /*writable=*/true);
    const hsize_t dims[3] = {static_cast<hsize_t>(num_tokens.size()), static_cast<hsize_t>(L),
                             static_cast<hsize_t>(Dt)};
    const hsize_t chunk[3] = {2, dims[1], dims[2]};
    h5::Dataspace space(H5Screate_simple(3, dims, nullptr));
    h5::PropList dcpl(H5Pcreate(H5P_DATASET_CREATE));
    H5Pset_chunk(dcpl.get(), 3, chunk);
    if (configure) configure(dcpl.get());
    h5::Dataset ds(H5Dcreate2(file.get(), "/texts/features", H5T_IEEE_F32LE, space.get(),
                              H5P_DEFAULT, dcpl.get(), H5P_DEFAULT));
    torch::Tensor x = features(num_tokens, L, Dt, pad_value);
    ASSERT_GE(H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x.data_ptr()),
              0);
  }

  void write(const std::string& path) const {
    h5::File file = h5::create_file(path);
    const hid_t root = file.get();
    if (schema) h5::write_int_attribute(root, "lica_schema", *schema);
    auto keep = [&](const std::string& name) { return omit.count(name) == 0; };
    auto write_features = [&](const std::string& name, const torch::Tensor& x) {
      if (!keep(name)) return;
      h5::Datatype type = float32 ? h5::Datatype(H5Tcopy(H5T_IEEE_F32LE)) : h5::float16_type();
      h5::Dataset ds = h5::create_dataset(root, name, type.get(), x.sizes().vec());
      torch::Tensor stored = x.to(float32 ? torch::kFloat : torch::kHalf).contiguous();
      h5::Datatype mem = float32 ? h5::Datatype(H5Tcopy(H5T_NATIVE_FLOAT)) : h5::float16_type();
      h5::write_rows(ds, 0, x.size(0), mem.get(), stored.data_ptr());
    };
    write_features("/videos/features", features(num_frames, F, Dv, pad_value));
    write_features("/texts/features", features(num_tokens, L, Dt, pad_value));
    if (keep("/videos/num_frames")) h5::write_int32(root, "/videos/num_frames", num_frames);
    if (keep("/texts/num_tokens")) h5::write_int32(root, "/texts/num_tokens", num_tokens);
    if (keep("/texts/video")) h5::write_int32(root, "/texts/video", text_video);
    if (keep("/videos/ids")) h5::write_strings(root, "/videos/ids", ids);
    if (keep("/texts/raw")) h5::write_strings(root, "/texts/raw", raw);
    for (const auto& [name, split] : splits) {
      const std::string prefix = "/splits/" + name;
      if (keep(prefix + "/videos")) h5::write_int32(root, prefix + "/videos", split.first);
      if (keep(prefix + "/texts")) h5::write_int32(root, prefix + "/texts", split.second);
    }
  }
};

// Replaces (or creates) dataset `name` of an existing file with one of `file_type` and `dims`,
// filled with zero bytes.
inline void replace_dataset(const std::string& path, const std::string& name, hid_t file_type,
                            const std::vector<int64_t>& dims) {
  h5::File file = h5::open_file(path, /*writable=*/true);
  h5::remove(file.get(), name);
  h5::Dataset ds = h5::create_dataset(file.get(), name, file_type, dims);
  const int64_t n = std::accumulate(dims.begin(), dims.end(), int64_t{1}, std::multiplies<>());
  std::vector<char> zeros(static_cast<size_t>(n) * H5Tget_size(file_type), 0);
  h5::write_rows(ds, 0, dims[0], file_type, zeros.data());
}

// Overwrites rows of an int32 1-D dataset.
inline void overwrite_int32(const std::string& path, const std::string& name, int64_t row,
                            int32_t value) {
  h5::File file = h5::open_file(path, /*writable=*/true);
  h5::Dataset ds = h5::open_dataset(file.get(), name);
  h5::write_rows(ds, row, 1, H5T_NATIVE_INT32, &value);
}

// A TinyFile whose /videos/features are stored in deflate-compressed chunks of one row, with
// the compressed bytes of row `row` overwritten by garbage: the file opens, other rows read,
// and reading that row fails in the decompression, as in a damaged or partly overwritten
// file. Fails the calling test if HDF5 did not lay the chunk out as expected.
inline void write_tiny_with_damaged_video_row(const std::string& path, int64_t row) {
  TinyFile tiny;
  tiny.omit.insert("/videos/features");
  tiny.float32 = true;
  tiny.write(path);
  haddr_t address = HADDR_UNDEF;
  hsize_t size = 0;
  {
    h5::File file = h5::open_file(path, /*writable=*/true);
    torch::Tensor x = TinyFile::features(tiny.num_frames, tiny.F, tiny.Dv, 0.0f);  // [V, F, Dv]
    const hsize_t dims[3] = {4, static_cast<hsize_t>(tiny.F), static_cast<hsize_t>(tiny.Dv)};
    const hsize_t chunk[3] = {1, dims[1], dims[2]};
    h5::Dataspace space(H5Screate_simple(3, dims, nullptr));
    h5::PropList dcpl(H5Pcreate(H5P_DATASET_CREATE));
    H5Pset_chunk(dcpl.get(), 3, chunk);
    H5Pset_deflate(dcpl.get(), 6);
    h5::Dataset ds(H5Dcreate2(file.get(), "/videos/features", H5T_IEEE_F32LE, space.get(),
                              H5P_DEFAULT, dcpl.get(), H5P_DEFAULT));
    ASSERT_GE(H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x.data_ptr()),
              0);
    ASSERT_GE(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), 0);
    hsize_t offset[3];
    unsigned filter_mask = 0;
    ASSERT_GE(H5Dget_chunk_info(ds.get(), space.get(), static_cast<hsize_t>(row), offset,
                                &filter_mask, &address, &size),
              0);
    ASSERT_EQ(offset[0], static_cast<hsize_t>(row));
  }
  ASSERT_NE(address, HADDR_UNDEF);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  const std::string garbage(size, '\xff');  // not a zlib stream: inflate fails
  f.seekp(static_cast<std::streamoff>(address)).write(garbage.data(), garbage.size());
}

}  // namespace lica::data::test_util
