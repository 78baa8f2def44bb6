#include "data/synthetic.h"

#include <ATen/CPUGeneratorImpl.h>
#include <glog/logging.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <random>

#include "common/error.h"
#include "data/h5.h"

namespace lica::data {
namespace {

constexpr int64_t kChunkVideos = 256;  // part of the output's definition: changes the data
constexpr double kCaptionJitter = 0.1;
constexpr double kEotNoiseShare = 0.2;
constexpr double kPositionScale = 0.3;

uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
// An independent stream per purpose (and per chunk) of one seed.
uint64_t stream_seed(uint64_t seed, uint64_t stream) { return mix64(mix64(seed) ^ stream); }

[[noreturn]] void bad_option(const std::string& name, const std::string& value,
                             const std::string& rule) {
  std::string flag = name;
  std::replace(flag.begin(), flag.end(), '_', '-');
  throw InputError("synthetic option " + name + " (--" + flag + "): value " + value + " " + rule);
}

void check_int(const char* name, int64_t value, int64_t lo, int64_t hi, const std::string& what) {
  if (value < lo || value > hi) {
    bad_option(name, std::to_string(value), "is out of range, expected " + what);
  }
}

void check_real(const char* name, double value, double lo, double hi, bool hi_open,
                const std::string& what) {
  if (!std::isfinite(value) || value < lo || value > hi || (hi_open && value == hi)) {
    bad_option(name, std::to_string(value), "is out of range, expected " + what);
  }
}

// Integer choices drawn up front (small: a few ints per video and caption).
struct Layout {
  std::vector<int32_t> cluster;     // [V]
  std::vector<int32_t> num_frames;  // [V]
  std::vector<int64_t> first_text;  // [V + 1] captions of video v: first_text[v] ..
  std::vector<int32_t> num_tokens;  // [T]
  std::vector<int32_t> text_video;  // [T]
};

// rng() % n over [lo, hi].
int32_t uniform(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return static_cast<int32_t>(lo +
                              static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1)));
}

Layout draw_layout(const SyntheticOptions& opt) {
  std::mt19937_64 rng(stream_seed(opt.seed, 1));
  Layout l;
  const size_t V = static_cast<size_t>(opt.videos);
  l.cluster.resize(V);
  l.num_frames.resize(V);
  l.first_text.assign(V + 1, 0);
  for (size_t v = 0; v < V; ++v) {
    l.cluster[v] = uniform(rng, 0, opt.clusters - 1);
    l.num_frames[v] = uniform(rng, opt.min_frames, opt.frames);
    const int32_t captions = uniform(rng, opt.min_captions, opt.max_captions);
    l.first_text[v + 1] = l.first_text[v] + captions;
    for (int32_t c = 0; c < captions; ++c) {
      l.num_tokens.push_back(uniform(rng, opt.min_tokens, opt.tokens));
      l.text_video.push_back(static_cast<int32_t>(v));
    }
  }
  return l;
}

// The fixed maps of the two views.
struct View {
  torch::Tensor a;    // [Z, H]
  torch::Tensor pos;  // [P, H]
  torch::Tensor eot;  // [H] (text only)
  torch::Tensor b;    // [H, D]
};

struct Model {
  torch::Tensor centres;  // [K, Z]
  View video, text;
};

Model draw_model(const SyntheticOptions& opt) {
  at::Generator gen = at::detail::createCPUGenerator(stream_seed(opt.seed, 2));
  const int64_t Z = opt.latent_dim, H = 4 * opt.latent_dim;
  auto randn = [&](std::vector<int64_t> size) { return torch::randn(size, gen); };
  Model m;
  m.centres = randn({opt.clusters, Z});
  auto view = [&](int64_t positions, int64_t dim) {
    View w;
    w.a = randn({Z, H}) / std::sqrt(static_cast<double>(Z));
    w.pos = randn({positions, H}) * kPositionScale;
    w.eot = randn({H}) * kPositionScale;
    w.b = randn({H, dim}) / std::sqrt(static_cast<double>(H));
    return w;
  };
  m.video = view(opt.frames, opt.video_dim);
  m.text = view(opt.tokens, opt.text_dim);
  return m;
}

// counts[first .. first + n) as an int64 tensor [n].
torch::Tensor counts_of(const std::vector<int32_t>& counts, int64_t first, int64_t n) {
  return torch::tensor(std::vector<int32_t>(counts.begin() + first, counts.begin() + first + n))
      .to(torch::kLong);
}

// [n, P] bool, true where position < count.
torch::Tensor valid(const torch::Tensor& count, int64_t P) {
  return torch::arange(P, torch::kLong).view({1, -1}) < count.view({-1, 1});
}

// Features in storage precision, contiguous, positions past the valid ones zero.
torch::Tensor finish(torch::Tensor x, const torch::Tensor& mask, bool float32) {
  x.masked_fill_(mask.logical_not().unsqueeze(-1), 0.0);
  return x.to(float32 ? torch::kFloat : torch::kHalf).contiguous();
}

std::string video_id(int64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "video%06lld", static_cast<long long>(v));
  return buf;
}

// Splits: a random partition of the videos (test, val, train), captions follow.
struct Split {
  const char* name;
  std::vector<int32_t> videos, texts;  // ascending rows
};

std::vector<Split> draw_splits(const SyntheticOptions& opt, const Layout& layout) {
  const int64_t V = opt.videos;
  std::mt19937_64 rng(stream_seed(opt.seed, 3));
  std::vector<int32_t> perm(static_cast<size_t>(V));
  std::iota(perm.begin(), perm.end(), 0);
  for (size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng() % i]);
  const int64_t n_test = std::max<int64_t>(1, std::llround(opt.test_fraction * V));
  const int64_t n_val = std::max<int64_t>(1, std::llround(opt.val_fraction * V));
  const std::pair<const char*, std::pair<int64_t, int64_t>> ranges[] = {
      {"test", {0, n_test}}, {"val", {n_test, n_test + n_val}}, {"train", {n_test + n_val, V}}};
  std::vector<Split> splits;
  for (const auto& [name, range] : ranges) {
    Split s{name, {perm.begin() + range.first, perm.begin() + range.second}, {}};
    std::sort(s.videos.begin(), s.videos.end());
    for (int32_t v : s.videos) {
      for (int64_t t = layout.first_text[v]; t < layout.first_text[v + 1]; ++t) {
        s.texts.push_back(static_cast<int32_t>(t));
      }
    }
    splits.push_back(std::move(s));
  }
  return splits;
}

void write_splits(hid_t root, const std::vector<Split>& splits) {
  for (const Split& s : splits) {
    h5::write_int32(root, std::string("/splits/") + s.name + "/videos", s.videos);
    h5::write_int32(root, std::string("/splits/") + s.name + "/texts", s.texts);
  }
}

// /texts/video with caption_noise: round(P · T_train) train captions, drawn from all train
// captions but each video's first, each given a uniformly random other train video. Returns
// the true /texts/video when P = 0; `moved` counts the re-assigned captions.
std::vector<int32_t> noisy_text_video(const SyntheticOptions& opt, const Layout& layout,
                                      const Split& train, int64_t* moved) {
  std::vector<int32_t> text_video = layout.text_video;
  *moved = 0;
  if (opt.caption_noise == 0) return text_video;
  const int64_t n_texts = static_cast<int64_t>(train.texts.size());
  const int64_t n_videos = static_cast<int64_t>(train.videos.size());
  const int64_t n = std::llround(opt.caption_noise * static_cast<double>(n_texts));
  std::vector<int32_t> movable;  // train captions other than their video's first
  for (int32_t t : train.texts) {
    if (t != layout.first_text[static_cast<size_t>(layout.text_video[t])]) movable.push_back(t);
  }
  if (n > 0 && n_videos < 2) {
    bad_option("caption_noise", std::to_string(opt.caption_noise),
               "needs at least 2 train videos, the train split has " + std::to_string(n_videos));
  }
  if (n > static_cast<int64_t>(movable.size())) {
    bad_option("caption_noise", std::to_string(opt.caption_noise),
               "would move " + std::to_string(n) + " of the " + std::to_string(n_texts) +
                   " train captions, but only " + std::to_string(movable.size()) +
                   " may move (each of the " + std::to_string(n_videos) +
                   " train videos keeps one caption), expected at most " +
                   std::to_string(static_cast<double>(movable.size()) / n_texts));
  }
  std::vector<int64_t> position(static_cast<size_t>(opt.videos), -1);  // row in train.videos
  for (size_t i = 0; i < train.videos.size(); ++i) {
    position[static_cast<size_t>(train.videos[i])] = static_cast<int64_t>(i);
  }
  std::mt19937_64 rng(stream_seed(opt.seed, 4));
  // The first n of a partial Fisher–Yates shuffle of the movable captions.
  for (int64_t i = 0; i < n; ++i) {
    const size_t rest = movable.size() - static_cast<size_t>(i);
    std::swap(movable[static_cast<size_t>(i)], movable[static_cast<size_t>(i) + rng() % rest]);
    const int32_t t = movable[static_cast<size_t>(i)];
    // Uniform over the other n_videos − 1 train videos: skip the caption's own.
    int64_t r = static_cast<int64_t>(rng() % static_cast<uint64_t>(n_videos - 1));
    if (r >= position[static_cast<size_t>(layout.text_video[t])]) ++r;
    text_video[static_cast<size_t>(t)] = train.videos[static_cast<size_t>(r)];
  }
  *moved = n;
  return text_video;
}

// Writes the file; counts the train captions and those caption_noise re-assigned in `summary`.
void write_file(const std::string& path, const SyntheticOptions& opt, const Layout& layout,
                SyntheticSummary* summary) {
  const std::vector<Split> splits = draw_splits(opt, layout);
  const Split& train = splits.back();
  summary->train_captions = static_cast<int64_t>(train.texts.size());
  const std::vector<int32_t> text_video =
      noisy_text_video(opt, layout, train, &summary->moved_captions);
  const int64_t V = opt.videos, T = static_cast<int64_t>(layout.text_video.size());
  const int64_t F = opt.frames, L = opt.tokens, Z = opt.latent_dim;
  const Model model = draw_model(opt);

  h5::File file = h5::create_file(path);
  const hid_t root = file.get();
  h5::write_int_attribute(root, "lica_schema", 1);
  h5::Datatype stored = opt.float32 ? h5::Datatype(H5Tcopy(H5T_IEEE_F32LE)) : h5::float16_type();
  h5::Datatype mem = opt.float32 ? h5::Datatype(H5Tcopy(H5T_NATIVE_FLOAT)) : h5::float16_type();
  h5::Dataset video_features =
      h5::create_dataset(root, "/videos/features", stored.get(), {V, F, opt.video_dim});
  h5::Dataset text_features =
      h5::create_dataset(root, "/texts/features", stored.get(), {T, L, opt.text_dim});
  h5::Dataset ids = h5::create_string_dataset(root, "/videos/ids", V);
  h5::Dataset raw = h5::create_string_dataset(root, "/texts/raw", T);
  h5::write_int32(root, "/videos/num_frames", layout.num_frames);
  h5::write_int32(root, "/videos/cluster", layout.cluster);
  h5::write_int32(root, "/texts/num_tokens", layout.num_tokens);
  h5::write_int32(root, "/texts/video", text_video);
  if (opt.caption_noise > 0) h5::write_int32(root, "/texts/true_video", layout.text_video);

  const torch::Tensor cluster = torch::tensor(layout.cluster).to(torch::kLong);  // [V]
  for (int64_t v0 = 0, chunk = 0; v0 < V; v0 += kChunkVideos, ++chunk) {
    const int64_t n = std::min(kChunkVideos, V - v0);
    at::Generator gen =
        at::detail::createCPUGenerator(stream_seed(opt.seed, 1000 + static_cast<uint64_t>(chunk)));
    auto randn = [&](std::vector<int64_t> size) { return torch::randn(size, gen); };

    // Videos.
    torch::Tensor centre = model.centres.index_select(0, cluster.slice(0, v0, v0 + n));  // [n, Z]
    torch::Tensor z = centre + opt.video_spread * randn({n, Z});                         // [n, Z]
    torch::Tensor frames = z.unsqueeze(1) + opt.frame_noise * randn({n, F, Z});  // [n, F, Z]
    torch::Tensor x = torch::tanh(torch::matmul(frames, model.video.a) + model.video.pos)
                          .matmul(model.video.b);  // [n, F, Dv]
    x = finish(x, valid(counts_of(layout.num_frames, v0, n), F), opt.float32);
    h5::write_rows(video_features, v0, n, mem.get(), x.data_ptr());
    std::vector<std::string> names;
    for (int64_t v = v0; v < v0 + n; ++v) names.push_back(video_id(v));
    h5::write_string_rows(ids, v0, names);

    // Captions of these videos: rows t0 .. t0 + m - 1.
    const int64_t t0 = layout.first_text[v0], m = layout.first_text[v0 + n] - t0;
    std::vector<int64_t> local(static_cast<size_t>(m));  // chunk-local video of each caption
    std::vector<std::string> texts;
    for (int64_t t = t0; t < t0 + m; ++t) {
      const int64_t v = layout.text_video[t];
      local[t - t0] = v - v0;
      texts.push_back("caption " + std::to_string(t - layout.first_text[v]) + " of " + video_id(v));
    }
    torch::Tensor owner = torch::tensor(local);  // [m]
    torch::Tensor c_centre = centre.index_select(0, owner), c_z = z.index_select(0, owner);
    torch::Tensor c = c_centre + opt.caption_specificity * (c_z - c_centre) +
                      kCaptionJitter * randn({m, Z});                            // [m, Z]
    torch::Tensor tokens = c.unsqueeze(1) + opt.token_noise * randn({m, L, Z});  // [m, L, Z]
    torch::Tensor pre = torch::matmul(tokens, model.text.a) + model.text.pos;    // [m, L, H]
    torch::Tensor eot_pre =
        torch::matmul(c + kEotNoiseShare * opt.token_noise * randn({m, Z}), model.text.a) +
        model.text.eot;                                              // [m, H]
    torch::Tensor num_tokens = counts_of(layout.num_tokens, t0, m);  // [m]
    torch::Tensor is_eot =
        torch::arange(L, torch::kLong).view({1, -1}) == (num_tokens - 1).view({-1, 1});
    pre = torch::where(is_eot.unsqueeze(-1), eot_pre.unsqueeze(1), pre);
    torch::Tensor y = torch::tanh(pre).matmul(model.text.b);  // [m, L, Dt]
    y = finish(y, valid(num_tokens, L), opt.float32);
    h5::write_rows(text_features, t0, m, mem.get(), y.data_ptr());
    h5::write_string_rows(raw, t0, texts);
  }

  write_splits(root, splits);
  if (H5Fflush(root, H5F_SCOPE_GLOBAL) < 0) throw Error(path + ": flushing the file failed");
}

}  // namespace

void validate(const SyntheticOptions& o) {
  constexpr int64_t kMaxInt32 = 2147483647;
  check_int("videos", o.videos, 3, kMaxInt32, "3.." + std::to_string(kMaxInt32));
  check_int("min_captions", o.min_captions, 1, 1000, "1..1000");
  check_int("max_captions", o.max_captions, o.min_captions, 1000,
            "min_captions (" + std::to_string(o.min_captions) + ")..1000");
  if (o.videos * o.max_captions > kMaxInt32) {
    bad_option("max_captions", std::to_string(o.max_captions),
               "is too large: videos x max_captions must fit in int32");
  }
  check_int("frames", o.frames, 1, 100000, "1..100000");
  check_int("min_frames", o.min_frames, 1, o.frames,
            "1..frames (" + std::to_string(o.frames) + ")");
  check_int("tokens", o.tokens, 1, 100000, "1..100000");
  check_int("min_tokens", o.min_tokens, 1, o.tokens,
            "1..tokens (" + std::to_string(o.tokens) + ")");
  check_int("video_dim", o.video_dim, 1, 1 << 20, "1..1048576");
  check_int("text_dim", o.text_dim, 1, 1 << 20, "1..1048576");
  check_int("latent_dim", o.latent_dim, 1, 4096, "1..4096");
  check_int("clusters", o.clusters, 1, o.videos, "1..videos (" + std::to_string(o.videos) + ")");
  check_real("video_spread", o.video_spread, 0, 100, false, "0..100");
  check_real("caption_specificity", o.caption_specificity, 0, 1, false, "0..1");
  check_real("frame_noise", o.frame_noise, 0, 100, false, "0..100");
  check_real("token_noise", o.token_noise, 0, 100, false, "0..100");
  check_real("val_fraction", o.val_fraction, 0, 1, true, "0 <= x < 1");
  check_real("test_fraction", o.test_fraction, 0, 1, true, "0 <= x < 1");
  check_real("caption_noise", o.caption_noise, 0, 1, true, "0 <= x < 1");
  const int64_t held_out = std::max<int64_t>(1, std::llround(o.test_fraction * o.videos)) +
                           std::max<int64_t>(1, std::llround(o.val_fraction * o.videos));
  if (held_out >= o.videos) {
    bad_option("test_fraction", std::to_string(o.test_fraction),
               "with val_fraction " + std::to_string(o.val_fraction) +
                   " leaves no training "
                   "video of " +
                   std::to_string(o.videos) + ", expected test + val < videos");
  }
}

SyntheticSummary write_synthetic(const std::string& path, const SyntheticOptions& opt) {
  validate(opt);
  const Layout layout = draw_layout(opt);
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty() && !std::filesystem::is_directory(dir)) {
    throw InputError(path + ": directory " + dir.string() + " does not exist");
  }
  const std::string tmp = path + ".tmp";
  SyntheticSummary summary;
  try {
    write_file(tmp, opt, layout, &summary);  // the file is closed when write_file returns
    std::filesystem::rename(tmp, path);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
  LOG(INFO) << "wrote " << path << ": " << opt.videos << " videos, " << layout.text_video.size()
            << " captions";
  return summary;
}

}  // namespace lica::data
