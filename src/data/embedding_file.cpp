#include "data/embedding_file.h"

#include <filesystem>
#include <unordered_map>

#include "common/error.h"
#include "common/files.h"
#include "data/h5.h"

namespace lica::data {
namespace {

constexpr const char* kVersionAttribute = "lica_embeddings";

// The optional string dataset `name` of a feature file, all rows; empty when absent.
std::vector<std::string> optional_strings(const std::string& path, const std::string& name) {
  h5::File f = h5::open_file(path);
  if (!h5::exists(f.get(), name)) return {};
  return h5::read_strings(h5::open_dataset(f.get(), name));
}

std::vector<int32_t> to_int32(const std::vector<int64_t>& rows) {
  return std::vector<int32_t>(rows.begin(), rows.end());
}

void check_rows(const torch::Tensor& embeddings, const std::vector<int64_t>& rows,
                const char* what) {
  if (embeddings.dim() != 2 || embeddings.size(0) != static_cast<int64_t>(rows.size())) {
    throw Error(std::string("embedding file: ") + what + " embeddings of shape " +
                h5::shape_string(embeddings.sizes().vec()) + " for " +
                std::to_string(rows.size()) + " rows");
  }
}

// ---- writing ----

void write_section(hid_t file, const std::string& group, const EmbeddingSection& s) {
  const torch::Tensor e = s.embeddings.to(torch::kCPU, torch::kFloat).contiguous();  // [N, D]
  if (e.dim() != 2 || e.size(0) != s.size() || static_cast<int64_t>(s.index.size()) != s.size()) {
    throw Error("embedding file: " + group + " has embeddings " +
                h5::shape_string(e.sizes().vec()) + ", " + std::to_string(s.size()) + " ids and " +
                std::to_string(s.index.size()) + " indices");
  }
  h5::Dataset d = h5::create_dataset(file, group + "/embeddings", H5T_IEEE_F32LE,
                                     {e.size(0), e.size(1)});
  h5::write_rows(d, 0, e.size(0), H5T_NATIVE_FLOAT, e.data_ptr<float>());
  h5::write_strings(file, group + "/ids", s.ids);
  h5::write_int32(file, group + "/index", s.index);
}

void write_file(const std::string& path, const Embeddings& e) {
  h5::File f = h5::create_file(path);
  h5::write_int_attribute(f.get(), kVersionAttribute, kEmbeddingFileVersion);
  h5::write_string_attribute(f.get(), "source", e.source);
  h5::write_string_attribute(f.get(), "split", e.split);
  h5::write_string_attribute(f.get(), "checkpoint", e.checkpoint);
  h5::write_int_attribute(f.get(), "step", e.step);
  if (e.videos.present) write_section(f.get(), "/videos", e.videos);
  if (e.texts.present) {
    write_section(f.get(), "/texts", e.texts);
    if (static_cast<int64_t>(e.text_video.size()) != e.texts.size() ||
        (!e.text_raw.empty() && static_cast<int64_t>(e.text_raw.size()) != e.texts.size())) {
      throw Error("embedding file: " + std::to_string(e.texts.size()) + " captions but " +
                  std::to_string(e.text_video.size()) + " video positions and " +
                  std::to_string(e.text_raw.size()) + " raw texts");
    }
    h5::write_int32(f.get(), "/texts/video", e.text_video);
    if (!e.text_raw.empty()) h5::write_strings(f.get(), "/texts/raw", e.text_raw);
  }
}

// ---- reading ----

std::string where(const std::string& path, const std::string& dataset) {
  return path + ": dataset " + dataset;
}

// A 1-D dataset of `rows` rows (rows < 0: any), of `expected` kind.
h5::Dataset open_1d(hid_t file, const std::string& path, const std::string& name, h5::Kind expected,
                    const char* expected_name, int64_t rows) {
  h5::Dataset d = h5::open_dataset(file, name);
  h5::Datatype type = h5::dataset_type(d);
  const auto dims = h5::shape(d);
  if (h5::kind_of(type.get()) != expected) {
    throw InputError(where(path, name) + " has type " + h5::type_name(type.get()) + ", expected " +
                     expected_name);
  }
  if (dims.size() != 1 || (rows >= 0 && dims[0] != rows)) {
    throw InputError(where(path, name) + " has shape " + h5::shape_string(dims) + ", expected [" +
                     (rows >= 0 ? std::to_string(rows) : std::string("N")) + "]");
  }
  return d;
}

EmbeddingSection read_section(hid_t file, const std::string& path, const std::string& group) {
  EmbeddingSection s;
  s.present = true;
  const std::string name = group + "/embeddings";
  h5::Dataset d = h5::open_dataset(file, name);
  h5::Datatype type = h5::dataset_type(d);
  if (h5::kind_of(type.get()) != h5::Kind::kFloat32) {
    throw InputError(where(path, name) + " has type " + h5::type_name(type.get()) +
                     ", expected float32");
  }
  const auto dims = h5::shape(d);
  if (dims.size() != 2) {
    throw InputError(where(path, name) + " has shape " + h5::shape_string(dims) +
                     ", expected [N, D] (rank 2)");
  }
  s.embeddings = torch::empty({dims[0], dims[1]}, torch::kFloat);  // [N, D]
  if (dims[0] > 0 && dims[1] > 0) {
    h5::read_rows(d, 0, dims[0], H5T_NATIVE_FLOAT, s.embeddings.data_ptr<float>());
  }
  const auto finite = torch::isfinite(s.embeddings).all(1);  // [N]
  if (!finite.all().item<bool>()) {
    const int64_t row = (~finite).nonzero()[0][0].item<int64_t>();
    throw InputError(where(path, name) + ", row " + std::to_string(row) +
                     ": not finite, expected finite embeddings");
  }
  s.ids = h5::read_strings(
      open_1d(file, path, group + "/ids", h5::Kind::kString, "string", dims[0]));
  s.index = h5::read_int32(
      open_1d(file, path, group + "/index", h5::Kind::kInt32, "int32", dims[0]));
  for (size_t i = 0; i < s.index.size(); ++i) {
    if (s.index[i] < 0) {
      throw InputError(where(path, group + "/index") + ", row " + std::to_string(i) + ": value " +
                       std::to_string(s.index[i]) + ", expected a row index >= 0");
    }
  }
  return s;
}

}  // namespace

int64_t Embeddings::dim() const {
  if (videos.present) return videos.embeddings.size(1);
  if (texts.present) return texts.embeddings.size(1);
  return 0;
}

EmbeddingSection video_section(const FeatureFile& file, const std::vector<int64_t>& rows,
                               const torch::Tensor& embeddings) {
  check_rows(embeddings, rows, "video");
  EmbeddingSection s;
  s.present = true;
  s.embeddings = embeddings;
  s.index = to_int32(rows);
  const auto ids = optional_strings(file.path(), "/videos/ids");
  s.ids.reserve(rows.size());
  for (int64_t r : rows) s.ids.push_back(ids.empty() ? std::to_string(r) : ids[r]);
  return s;
}

EmbeddingSection text_section(const std::vector<int64_t>& rows, const torch::Tensor& embeddings) {
  check_rows(embeddings, rows, "caption");
  EmbeddingSection s;
  s.present = true;
  s.embeddings = embeddings;
  s.index = to_int32(rows);
  s.ids.reserve(rows.size());
  for (int64_t r : rows) s.ids.push_back(std::to_string(r));  // the schema has no caption ids
  return s;
}

Embeddings make_embeddings(const FeatureFile& file, const SplitIndex& rows,
                           const torch::Tensor& video_embeddings,
                           const torch::Tensor& text_embeddings) {
  Embeddings e;
  e.source = file.path();
  e.videos = video_section(file, rows.videos, video_embeddings);
  e.texts = text_section(rows.texts, text_embeddings);
  std::unordered_map<int64_t, int32_t> position;  // feature-file video row -> position here
  for (size_t i = 0; i < rows.videos.size(); ++i) {
    position.emplace(rows.videos[i], static_cast<int32_t>(i));
  }
  e.text_video.reserve(rows.texts.size());
  for (int64_t t : rows.texts) {
    const auto it = position.find(file.text_video()[t]);
    e.text_video.push_back(it == position.end() ? -1 : it->second);
  }
  const auto raw = optional_strings(file.path(), "/texts/raw");
  if (!raw.empty()) {
    for (int64_t t : rows.texts) e.text_raw.push_back(raw[t]);
  }
  return e;
}

void write_embeddings(const std::string& path, const Embeddings& e) {
  const std::filesystem::path target(path);
  const std::filesystem::path tmp = path + ".tmp";
  try {
    write_file(tmp.string(), e);  // closed when write_file returns
    fsync_file(tmp);
    rename_or_throw(tmp, target);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
  const auto dir = target.parent_path();
  fsync_directory(dir.empty() ? std::filesystem::path(".") : dir);
}

Embeddings read_embeddings(const std::string& path) {
  h5::File f = h5::open_file(path);
  if (!h5::attribute_exists(f.get(), kVersionAttribute)) {
    throw InputError(path + ": attribute " + kVersionAttribute +
                     " is missing, not a lica embedding file (lica_eval --export writes them)");
  }
  const int64_t version = h5::read_int_attribute(f.get(), kVersionAttribute);
  if (version != kEmbeddingFileVersion) {
    throw InputError(path + ": attribute " + kVersionAttribute + " is " + std::to_string(version) +
                     ", expected " + std::to_string(kEmbeddingFileVersion));
  }
  Embeddings e;
  auto text_attribute = [&](const char* name) {
    return h5::attribute_exists(f.get(), name) ? h5::read_string_attribute(f.get(), name) : "";
  };
  e.source = text_attribute("source");
  e.split = text_attribute("split");
  e.checkpoint = text_attribute("checkpoint");
  if (h5::attribute_exists(f.get(), "step")) e.step = h5::read_int_attribute(f.get(), "step");

  if (h5::exists(f.get(), "/videos")) e.videos = read_section(f.get(), path, "/videos");
  if (h5::exists(f.get(), "/texts")) {
    e.texts = read_section(f.get(), path, "/texts");
    const int64_t t = e.texts.size();
    e.text_video = h5::read_int32(
        open_1d(f.get(), path, "/texts/video", h5::Kind::kInt32, "int32", t));
    const int64_t v = e.videos.size();
    for (size_t i = 0; i < e.text_video.size(); ++i) {
      if (e.text_video[i] < -1 || e.text_video[i] >= v) {
        throw InputError(where(path, "/texts/video") + ", row " + std::to_string(i) + ": value " +
                         std::to_string(e.text_video[i]) + ", expected -1.." +
                         std::to_string(v - 1) + " (a position in /videos, -1 for none)");
      }
    }
    if (h5::exists(f.get(), "/texts/raw")) {
      e.text_raw = h5::read_strings(
          open_1d(f.get(), path, "/texts/raw", h5::Kind::kString, "string", t));
    }
  }
  if (e.videos.present && e.texts.present &&
      e.videos.embeddings.size(1) != e.texts.embeddings.size(1)) {
    throw InputError(path + ": dataset /videos/embeddings has D = " +
                     std::to_string(e.videos.embeddings.size(1)) +
                     " but dataset /texts/embeddings has D = " +
                     std::to_string(e.texts.embeddings.size(1)) + ", expected the same D");
  }
  if (!e.videos.present && !e.texts.present) {
    throw InputError(path + ": neither /videos nor /texts is present, expected at least one");
  }
  return e;
}

bool is_embedding_file(const std::string& path) {
  h5::File f = h5::open_file(path);
  return h5::attribute_exists(f.get(), kVersionAttribute);
}

}  // namespace lica::data
