#include "data/h5.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "common/error.h"

namespace lica::data::h5 {
namespace {

// The most specific message on this thread's HDF5 error stack ("truncated file: eof = ...",
// "addr overflow, ..."), or "" when the stack is empty. Call it right after the failed call:
// the next HDF5 API call clears the stack.
std::string error_detail() {
  std::string detail;
  auto first = [](unsigned, const H5E_error2_t* e, void* out) -> herr_t {
    std::string& text = *static_cast<std::string*>(out);
    if (text.empty() && e->desc && *e->desc) text = e->desc;
    return 0;
  };
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first, &detail);  // upward: most specific first
  return detail;
}

// " (HDF5: <detail>)", or "" when HDF5 left no message.
std::string quoted(const std::string& detail) {
  return detail.empty() ? "" : " (HDF5: " + detail + ")";
}

std::string object_name(hid_t id) {
  ssize_t n = H5Iget_name(id, nullptr, 0);
  if (n <= 0) return "?";
  std::string name(static_cast<size_t>(n) + 1, '\0');
  H5Iget_name(id, name.data(), name.size());
  name.resize(static_cast<size_t>(n));
  return name;
}

// "<file>: <object>: <what> failed" for an HDF5 call that returned a negative value.
[[noreturn]] void fail(hid_t id, const std::string& what) {
  const std::string detail = error_detail();  // before file_name() clears the stack
  throw Error(file_name(id) + ": " + object_name(id) + ": HDF5 " + what + " failed" +
              quoted(detail));
}

// A read of `what` ("rows 0..1023", "all 6 values") that failed. The layout and the shape
// were valid when the dataset was opened, so the bytes behind them are missing or corrupt:
// the file is at fault, not the program. (A filter this library lacks fails here too; the
// feature files reject those on open, naming the filter.)
[[noreturn]] void fail_read(const Dataset& dataset, const std::string& what) {
  const std::string detail = error_detail();
  throw InputError(file_name(dataset.get()) + ": dataset " + object_name(dataset.get()) +
                   ": reading " + what + " failed, the file looks truncated or damaged" +
                   quoted(detail));
}

template <typename T>
T checked(T result, hid_t id, const char* what) {
  if (result < 0) fail(id, what);
  return result;
}

std::vector<hsize_t> to_hsize(const std::vector<int64_t>& dims) {
  return std::vector<hsize_t>(dims.begin(), dims.end());
}

// Selects rows [row0, row0 + count) of `dataset`; returns the file and memory spaces.
std::pair<Dataspace, Dataspace> row_spaces(const Dataset& dataset, int64_t row0, int64_t count) {
  Dataspace file_space(checked(H5Dget_space(dataset.get()), dataset.get(), "H5Dget_space"));
  int rank = H5Sget_simple_extent_ndims(file_space.get());
  std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 1)));
  H5Sget_simple_extent_dims(file_space.get(), dims.data(), nullptr);
  if (rank < 1 || row0 < 0 || count < 0 || static_cast<hsize_t>(row0 + count) > dims[0]) {
    throw Error(file_name(dataset.get()) + ": " + object_name(dataset.get()) + ": rows " +
                std::to_string(row0) + ".." + std::to_string(row0 + count - 1) +
                " are outside the dataset's " + std::to_string(rank >= 1 ? dims[0] : 0) + " rows");
  }
  std::vector<hsize_t> start(dims.size(), 0), counts = dims;
  start[0] = static_cast<hsize_t>(row0);
  counts[0] = static_cast<hsize_t>(count);
  checked(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr,
                              counts.data(), nullptr),
          dataset.get(), "H5Sselect_hyperslab");
  Dataspace mem_space(
      checked(H5Screate_simple(static_cast<int>(counts.size()), counts.data(), nullptr),
              dataset.get(), "H5Screate_simple"));
  return {std::move(file_space), std::move(mem_space)};
}

PropList intermediate_groups() {
  PropList lcpl(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  return lcpl;
}

Datatype utf8_string_type() {
  Datatype type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  return type;
}

}  // namespace

void silence_errors() {
  thread_local bool silenced = false;
  if (!silenced) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    silenced = true;
  }
}

File open_file(const std::string& path, bool writable) {
  silence_errors();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(path + ": file not found");
  if (std::filesystem::is_directory(path, ec)) {
    throw InputError(path + ": is a directory, expected an HDF5 file");
  }
  // H5Fis_hdf5 cannot tell an unreadable file from a non-HDF5 one: ask the OS first.
  if (!std::ifstream(path, std::ios::binary)) {
    throw InputError(path + ": cannot be read (" + std::strerror(errno) + ")");
  }
  if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError(path + ": not an HDF5 file");
  // No sieve buffer: HDF5 would read 64 KB around every row of a scattered batch (a video row
  // is ~12 KB), several times the bytes asked for.
  PropList access(H5Pcreate(H5P_FILE_ACCESS));
  H5Pset_sieve_buf_size(access.get(), 0);
  File file(H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, access.get()));
  if (!file.valid()) {
    // The signature is there, so the rest of the file is what is wrong: most often a copy or a
    // write that stopped early (HDF5 compares the file size with the size it recorded).
    const std::string detail = error_detail();
    const bool truncated = detail.find("truncated") != std::string::npos;
    throw InputError(path + ": cannot open the HDF5 file" + (writable ? " for writing" : "") +
                     (truncated ? ", the file looks truncated (shorter than HDF5 recorded)"
                                : ", the file looks damaged, or another program holds it open "
                                  "for writing") +
                     quoted(detail));
  }
  return file;
}

File create_file(const std::string& path) {
  silence_errors();
  File file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  if (!file.valid()) {
    throw InputError(path +
                     ": cannot create the HDF5 file (does its directory exist, is it writable?)");
  }
  return file;
}

std::string file_name(hid_t loc) {
  silence_errors();
  ssize_t n = H5Fget_name(loc, nullptr, 0);
  if (n <= 0) return "?";
  std::string name(static_cast<size_t>(n) + 1, '\0');
  H5Fget_name(loc, name.data(), name.size());
  name.resize(static_cast<size_t>(n));
  return name;
}

bool exists(hid_t loc, const std::string& name) {
  silence_errors();
  // H5Lexists fails (rather than answering false) when an intermediate component is missing,
  // so walk the path one component at a time.
  size_t pos = name.empty() || name[0] != '/' ? 0 : 1;
  while (pos <= name.size()) {
    size_t next = name.find('/', pos);
    if (next == std::string::npos) next = name.size();
    if (next > pos && H5Lexists(loc, name.substr(0, next).c_str(), H5P_DEFAULT) <= 0) {
      return false;
    }
    pos = next + 1;
  }
  return true;
}

bool is_group(hid_t loc, const std::string& name) {
  silence_errors();
  return exists(loc, name) && Group(H5Gopen2(loc, name.c_str(), H5P_DEFAULT)).valid();
}

bool attribute_exists(hid_t loc, const std::string& name) {
  silence_errors();
  return H5Aexists(loc, name.c_str()) > 0;
}

Dataset open_dataset(hid_t loc, const std::string& name) {
  silence_errors();
  Dataset dataset(H5Dopen2(loc, name.c_str(), H5P_DEFAULT));
  if (!dataset.valid()) {
    const std::string detail = error_detail();
    throw InputError(file_name(loc) + ": " + name + " is missing or is not a dataset" +
                     quoted(detail));
  }
  return dataset;
}

std::vector<std::string> list_group(hid_t loc, const std::string& group) {
  silence_errors();
  Group g(H5Gopen2(loc, group.c_str(), H5P_DEFAULT));
  if (!g.valid()) throw InputError(file_name(loc) + ": " + group + " is not a group");
  H5G_info_t info;
  checked(H5Gget_info(g.get(), &info), g.get(), "H5Gget_info");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t n =
        H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    checked(n, g.get(), "H5Lget_name_by_idx");
    std::string name(static_cast<size_t>(n) + 1, '\0');
    H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                       H5P_DEFAULT);
    name.resize(static_cast<size_t>(n));
    names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  return names;
}

void remove(hid_t loc, const std::string& name) {
  silence_errors();
  if (exists(loc, name)) checked(H5Ldelete(loc, name.c_str(), H5P_DEFAULT), loc, "H5Ldelete");
}

Kind kind_of(hid_t type) {
  silence_errors();
  size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return size == 4 && H5Tget_sign(type) == H5T_SGN_2 ? Kind::kInt32 : Kind::kOther;
    case H5T_FLOAT: {
      if (size == 4 && H5Tget_precision(type) == 32) return Kind::kFloat32;
      size_t spos, epos, esize, mpos, msize;
      if (size == 2 && H5Tget_order(type) == H5T_ORDER_LE &&
          H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) >= 0 && spos == 15 &&
          epos == 10 && esize == 5 && mpos == 0 && msize == 10 && H5Tget_ebias(type) == 15) {
        return Kind::kFloat16;
      }
      return Kind::kOther;
    }
    case H5T_STRING:
      return Kind::kString;
    default:
      return Kind::kOther;
  }
}

std::string type_name(hid_t type) {
  silence_errors();
  std::string bits = std::to_string(H5Tget_size(type) * 8);
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return (H5Tget_sign(type) == H5T_SGN_2 ? "int" : "uint") + bits;
    case H5T_FLOAT:
      return "float" + bits + (H5Tget_order(type) == H5T_ORDER_BE ? " (big-endian)" : "");
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return "enum";
    case H5T_ARRAY:
      return "array";
    case H5T_VLEN:
      return "vlen";
    default:
      return "non-numeric type";
  }
}

Datatype dataset_type(const Dataset& dataset) {
  silence_errors();
  return Datatype(checked(H5Dget_type(dataset.get()), dataset.get(), "H5Dget_type"));
}

std::vector<int64_t> shape(const Dataset& dataset) {
  silence_errors();
  Dataspace space(checked(H5Dget_space(dataset.get()), dataset.get(), "H5Dget_space"));
  int rank = H5Sget_simple_extent_ndims(space.get());
  checked(rank, dataset.get(), "H5Sget_simple_extent_ndims");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return std::vector<int64_t>(dims.begin(), dims.end());
}

Datatype float16_type() {
  silence_errors();
  Datatype type(H5Tcopy(H5T_IEEE_F32LE));
  H5Tset_fields(type.get(), 15, 10, 5, 0, 10);
  H5Tset_size(type.get(), 2);
  H5Tset_ebias(type.get(), 15);
  return type;
}

std::string shape_string(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

Storage storage(const Dataset& dataset) {
  silence_errors();
  PropList dcpl(checked(H5Dget_create_plist(dataset.get()), dataset.get(), "H5Dget_create_plist"));
  Storage out;
  const H5D_layout_t layout = H5Pget_layout(dcpl.get());
  out.layout = layout == H5D_CONTIGUOUS ? "contiguous"
               : layout == H5D_CHUNKED  ? "chunked"
               : layout == H5D_COMPACT  ? "compact"
               : layout == H5D_VIRTUAL  ? "virtual"
                                        : "unknown";
  if (layout == H5D_CHUNKED) {
    const int rank = checked(H5Pget_chunk(dcpl.get(), 0, nullptr), dataset.get(), "H5Pget_chunk");
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    H5Pget_chunk(dcpl.get(), rank, dims.data());
    out.chunk.assign(dims.begin(), dims.end());
  }
  const int nfilters = checked(H5Pget_nfilters(dcpl.get()), dataset.get(), "H5Pget_nfilters");
  for (int i = 0; i < nfilters; ++i) {
    unsigned flags = 0, config = 0;
    size_t nvalues = 0;  // the filter's parameters are not needed, only its identity
    char name[256] = {0};
    const H5Z_filter_t id = H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &nvalues,
                                           nullptr, sizeof(name), name, &config);
    checked(id, dataset.get(), "H5Pget_filter2");
    out.filters.push_back(Filter{static_cast<int>(id), name, H5Zfilter_avail(id) > 0});
  }
  out.stored_bytes = static_cast<int64_t>(H5Dget_storage_size(dataset.get()));
  return out;
}

std::vector<int32_t> read_int32(const Dataset& dataset) {
  silence_errors();
  std::vector<int64_t> dims = shape(dataset);
  int64_t n = std::accumulate(dims.begin(), dims.end(), int64_t{1}, std::multiplies<>());
  std::vector<int32_t> values(static_cast<size_t>(n));
  if (n > 0 && H5Dread(dataset.get(), H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                       values.data()) < 0) {
    fail_read(dataset, "all " + std::to_string(n) + " values");
  }
  return values;
}

void read_rows(const Dataset& dataset, int64_t row0, int64_t count, hid_t mem_type, void* out) {
  silence_errors();
  if (count == 0) return;
  auto [file_space, mem_space] = row_spaces(dataset, row0, count);
  if (H5Dread(dataset.get(), mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, out) < 0) {
    fail_read(dataset, "rows " + std::to_string(row0) + ".." + std::to_string(row0 + count - 1));
  }
}

int64_t direct_offset(const Dataset& dataset, hid_t mem_type) {
  silence_errors();
  const hid_t create = H5Dget_create_plist(dataset.get());
  if (create < 0) return -1;
  const H5D_layout_t layout = H5Pget_layout(create);
  const int external = H5Pget_external_count(create);
  H5Pclose(create);
  if (layout != H5D_CONTIGUOUS || external != 0) return -1;
  const haddr_t offset = H5Dget_offset(dataset.get());  // HADDR_UNDEF until written
  if (offset == HADDR_UNDEF) return -1;
  if (H5Tequal(dataset_type(dataset).get(), mem_type) <= 0) return -1;
  const hid_t file = H5Iget_file_id(dataset.get());
  if (file < 0) return -1;
  const hid_t access = H5Fget_access_plist(file);
  const hid_t driver = access < 0 ? -1 : H5Pget_driver(access);
  if (access >= 0) H5Pclose(access);
  H5Fclose(file);
  return driver == H5FD_SEC2 ? static_cast<int64_t>(offset) : -1;
}

void read_row_runs(const Dataset& dataset, const std::vector<std::pair<int64_t, int64_t>>& runs,
                   hid_t mem_type, void* out) {
  silence_errors();
  if (runs.empty()) return;
  Dataspace file_space(checked(H5Dget_space(dataset.get()), dataset.get(), "H5Dget_space"));
  const int rank = H5Sget_simple_extent_ndims(file_space.get());
  std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 1)));
  H5Sget_simple_extent_dims(file_space.get(), dims.data(), nullptr);
  std::vector<hsize_t> start(dims.size(), 0), counts = dims;
  hsize_t total = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto [first, count] = runs[i];
    if (rank < 1 || first < 0 || count <= 0 || static_cast<hsize_t>(first + count) > dims[0]) {
      throw Error(file_name(dataset.get()) + ": " + object_name(dataset.get()) + ": rows " +
                  std::to_string(first) + ".." + std::to_string(first + count - 1) +
                  " are outside the dataset's " + std::to_string(rank >= 1 ? dims[0] : 0) + " rows");
    }
    start[0] = static_cast<hsize_t>(first);
    counts[0] = static_cast<hsize_t>(count);
    checked(H5Sselect_hyperslab(file_space.get(), i == 0 ? H5S_SELECT_SET : H5S_SELECT_OR,
                                start.data(), nullptr, counts.data(), nullptr),
            dataset.get(), "H5Sselect_hyperslab");
    total += static_cast<hsize_t>(count);
  }
  counts[0] = total;
  Dataspace mem_space(checked(H5Screate_simple(rank, counts.data(), nullptr), dataset.get(),
                              "H5Screate_simple"));
  if (H5Dread(dataset.get(), mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, out) < 0) {
    const int64_t last = runs.back().first + runs.back().second - 1;
    fail_read(dataset, "rows " + std::to_string(runs.front().first) + ".." + std::to_string(last) +
                           (runs.size() > 1 ? " (" + std::to_string(total) + " rows in " +
                                                  std::to_string(runs.size()) + " runs)"
                                            : ""));
  }
}

int64_t read_int_attribute(hid_t loc, const std::string& name) {
  silence_errors();
  Attribute attr(H5Aopen(loc, name.c_str(), H5P_DEFAULT));
  if (!attr.valid()) throw InputError(file_name(loc) + ": attribute " + name + " is missing");
  Datatype type(H5Aget_type(attr.get()));
  Dataspace space(H5Aget_space(attr.get()));
  if (H5Tget_class(type.get()) != H5T_INTEGER || H5Sget_simple_extent_npoints(space.get()) != 1) {
    throw InputError(file_name(loc) + ": attribute " + name + " has type " + type_name(type.get()) +
                     " and " + std::to_string(H5Sget_simple_extent_npoints(space.get())) +
                     " elements, expected one integer");
  }
  int64_t value = 0;
  checked(H5Aread(attr.get(), H5T_NATIVE_INT64, &value), loc, "H5Aread");
  return value;
}

std::string read_string_attribute(hid_t loc, const std::string& name) {
  silence_errors();
  Attribute attr(H5Aopen(loc, name.c_str(), H5P_DEFAULT));
  if (!attr.valid()) throw InputError(file_name(loc) + ": attribute " + name + " is missing");
  Datatype type(H5Aget_type(attr.get()));
  Dataspace space(H5Aget_space(attr.get()));
  if (H5Tget_class(type.get()) != H5T_STRING || H5Sget_simple_extent_npoints(space.get()) != 1) {
    throw InputError(file_name(loc) + ": attribute " + name + " has type " + type_name(type.get()) +
                     " and " + std::to_string(H5Sget_simple_extent_npoints(space.get())) +
                     " elements, expected one string");
  }
  Datatype mem_type(H5Tcopy(H5T_C_S1));
  H5Tset_cset(mem_type.get(), H5Tget_cset(type.get()));
  if (H5Tis_variable_str(type.get()) > 0) {
    H5Tset_size(mem_type.get(), H5T_VARIABLE);
    char* p = nullptr;
    checked(H5Aread(attr.get(), mem_type.get(), &p), loc, "H5Aread");
    std::string value = p ? p : "";
    H5free_memory(p);
    return value;
  }
  const size_t size = H5Tget_size(type.get());
  H5Tset_size(mem_type.get(), size);
  std::vector<char> buf(size);
  checked(H5Aread(attr.get(), mem_type.get(), buf.data()), loc, "H5Aread");
  return std::string(buf.data(), strnlen(buf.data(), size));
}

std::vector<std::string> read_strings(const Dataset& dataset) {
  silence_errors();
  Datatype file_type = dataset_type(dataset);
  std::vector<int64_t> dims = shape(dataset);
  size_t n = dims.empty() ? 1 : static_cast<size_t>(dims[0]);
  std::vector<std::string> out;
  if (n == 0) return out;
  out.reserve(n);
  Datatype mem_type(H5Tcopy(H5T_C_S1));
  H5Tset_cset(mem_type.get(), H5Tget_cset(file_type.get()));
  if (H5Tis_variable_str(file_type.get()) > 0) {
    H5Tset_size(mem_type.get(), H5T_VARIABLE);
    std::vector<char*> ptrs(n, nullptr);
    if (H5Dread(dataset.get(), mem_type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0) {
      fail_read(dataset, "all " + std::to_string(n) + " strings");
    }
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    Dataspace space(H5Dget_space(dataset.get()));
    H5Dvlen_reclaim(mem_type.get(), space.get(), H5P_DEFAULT, ptrs.data());
  } else {
    size_t size = H5Tget_size(file_type.get());
    H5Tset_size(mem_type.get(), size);
    std::vector<char> buf(n * size);
    if (H5Dread(dataset.get(), mem_type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0) {
      fail_read(dataset, "all " + std::to_string(n) + " strings");
    }
    for (size_t i = 0; i < n; ++i) {
      const char* p = buf.data() + i * size;
      out.emplace_back(p, strnlen(p, size));
    }
  }
  return out;
}

Dataset create_dataset(hid_t loc, const std::string& name, hid_t file_type,
                       const std::vector<int64_t>& dims) {
  silence_errors();
  std::vector<hsize_t> hdims = to_hsize(dims);
  Dataspace space(H5Screate_simple(static_cast<int>(hdims.size()), hdims.data(), nullptr));
  checked(space.get(), loc, "H5Screate_simple");
  PropList lcpl = intermediate_groups();
  PropList dcpl(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_obj_track_times(dcpl.get(), 0);  // no timestamps: same content, same bytes
  Dataset dataset(
      H5Dcreate2(loc, name.c_str(), file_type, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT));
  if (!dataset.valid()) throw Error(file_name(loc) + ": cannot create dataset " + name);
  return dataset;
}

void write_rows(const Dataset& dataset, int64_t row0, int64_t count, hid_t mem_type,
                const void* data) {
  silence_errors();
  if (count == 0) return;
  auto [file_space, mem_space] = row_spaces(dataset, row0, count);
  checked(H5Dwrite(dataset.get(), mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, data),
          dataset.get(), "H5Dwrite");
}

void write_int32(hid_t loc, const std::string& name, const std::vector<int32_t>& values) {
  Dataset dataset = create_dataset(loc, name, H5T_STD_I32LE, {static_cast<int64_t>(values.size())});
  write_rows(dataset, 0, static_cast<int64_t>(values.size()), H5T_NATIVE_INT32, values.data());
}

Dataset create_string_dataset(hid_t loc, const std::string& name, int64_t total) {
  Datatype type = utf8_string_type();
  return create_dataset(loc, name, type.get(), {total});
}

void write_string_rows(const Dataset& dataset, int64_t row0, const std::vector<std::string>& rows) {
  std::vector<const char*> ptrs;
  ptrs.reserve(rows.size());
  for (const std::string& s : rows) ptrs.push_back(s.c_str());
  Datatype type = utf8_string_type();
  write_rows(dataset, row0, static_cast<int64_t>(rows.size()), type.get(), ptrs.data());
}

void write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& values) {
  Dataset dataset = create_string_dataset(loc, name, static_cast<int64_t>(values.size()));
  write_string_rows(dataset, 0, values);
}

void write_int_attribute(hid_t loc, const std::string& name, int64_t value) {
  silence_errors();
  if (H5Aexists(loc, name.c_str()) > 0) checked(H5Adelete(loc, name.c_str()), loc, "H5Adelete");
  Dataspace space(H5Screate(H5S_SCALAR));
  Attribute attr(
      H5Acreate2(loc, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  checked(attr.get(), loc, "H5Acreate2");
  checked(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), loc, "H5Awrite");
}

void write_string_attribute(hid_t loc, const std::string& name, const std::string& value) {
  silence_errors();
  if (H5Aexists(loc, name.c_str()) > 0) checked(H5Adelete(loc, name.c_str()), loc, "H5Adelete");
  Dataspace space(H5Screate(H5S_SCALAR));
  Datatype type = utf8_string_type();
  Attribute attr(H5Acreate2(loc, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT));
  checked(attr.get(), loc, "H5Acreate2");
  const char* p = value.c_str();
  checked(H5Awrite(attr.get(), type.get(), &p), loc, "H5Awrite");
}

}  // namespace lica::data::h5
