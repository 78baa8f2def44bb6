// Thin RAII wrappers and helpers over the HDF5 1.10 C API, just what the feature files need.
// Every helper silences HDF5's own error printing first (per thread: the library is thread-safe
// and keeps that setting per thread), so a failure reaches the user once, as our exception,
// never as an "HDF5-DIAG" dump on stderr. Failures are thrown with messages that name the file
// and the object and quote HDF5's most specific error: InputError where the file is at fault
// (cannot be opened, a read fails: truncated or damaged), Error for our own misuse.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lica::data::h5 {

// Owns one HDF5 id and closes it with Close. Movable, not copyable.
template <herr_t (*Close)(hid_t)>
class Id {
 public:
  Id() = default;
  explicit Id(hid_t id) : id_(id) {}
  ~Id() { reset(); }
  Id(Id&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  Id& operator=(Id&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() {
    if (id_ >= 0) Close(id_);
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

using File = Id<H5Fclose>;
using Group = Id<H5Gclose>;
using Dataset = Id<H5Dclose>;
using Dataspace = Id<H5Sclose>;
using Datatype = Id<H5Tclose>;
using Attribute = Id<H5Aclose>;
using PropList = Id<H5Pclose>;

// Turns off HDF5's error printing for the calling thread (idempotent, cheap).
void silence_errors();

// --- files ---------------------------------------------------------------------------------
// Opens an existing file; InputError "<path>: file not found" / "not an HDF5 file" /
// "cannot be read" / "cannot open the HDF5 file ... truncated or damaged".
File open_file(const std::string& path, bool writable = false);
// Creates (truncates) a file; Error if it cannot.
File create_file(const std::string& path);
// The file name an id belongs to, for messages.
std::string file_name(hid_t loc);

// --- objects -------------------------------------------------------------------------------
// True when every component of the absolute or relative path `name` exists under loc.
bool exists(hid_t loc, const std::string& name);
bool attribute_exists(hid_t loc, const std::string& name);
// True when `name` exists and is a group.
bool is_group(hid_t loc, const std::string& name);
Dataset open_dataset(hid_t loc, const std::string& name);
// Names of the direct children of a group, sorted.
std::vector<std::string> list_group(hid_t loc, const std::string& group);
// Removes a link (dataset or group) if present.
void remove(hid_t loc, const std::string& name);

// --- types and shapes ----------------------------------------------------------------------
enum class Kind { kInt32, kFloat16, kFloat32, kString, kOther };
// Classifies a stored type: kFloat16 only for little-endian IEEE half, kInt32 for any 4-byte
// signed integer.
Kind kind_of(hid_t type);
// "float16", "float64", "int64", "uint32", "string", ... for messages.
std::string type_name(hid_t type);
Datatype dataset_type(const Dataset& dataset);
std::vector<int64_t> shape(const Dataset& dataset);
// An IEEE half-precision little-endian type (HDF5 1.10 has no predefined one); h5py reads it
// as numpy float16.
Datatype float16_type();
// Formats a shape as "[3, 12, 512]".
std::string shape_string(const std::vector<int64_t>& dims);

// How a dataset is stored (for lica_inspect).
struct Filter {
  int id = 0;            // H5Z_filter_t: 1 deflate, 2 shuffle, 3 fletcher32, 32000 lzf, ...
  std::string name;      // as recorded in the file
  bool available = true;  // this HDF5 library can decode it
};
struct Storage {
  std::string layout;          // "contiguous", "chunked", "compact" or "virtual"
  std::vector<int64_t> chunk;  // chunk shape, chunked layout only
  std::vector<Filter> filters;  // in pipeline order
  int64_t stored_bytes = 0;    // allocated in the file (H5Dget_storage_size)
};
Storage storage(const Dataset& dataset);

// --- reading -------------------------------------------------------------------------------
// Reads that fail (a truncated or damaged file, a compression filter this library lacks) throw
// InputError naming the file, the dataset and the rows and quoting HDF5's reason.
// The whole 1-D dataset converted to int32 in memory.
std::vector<int32_t> read_int32(const Dataset& dataset);
// Rows [row0, row0 + count) of an N-D dataset into `out` (count * prod(dims[1:]) elements of
// mem_type), one hyperslab read.
void read_rows(const Dataset& dataset, int64_t row0, int64_t count, hid_t mem_type, void* out);
// Where the rows of `dataset` start in its file, when they can be read there with plain
// pread(2): a contiguous, allocated dataset stored in `mem_type` itself (no conversion), in a
// file opened with the default (sec2) driver. -1 otherwise (chunked, compressed, external,
// another type or driver): such datasets are read through H5Dread.
int64_t direct_offset(const Dataset& dataset, hid_t mem_type);
// Runs of rows {first, count}, ascending and disjoint, into `out` one after another: one
// H5Dread over the union of the runs' hyperslabs (a batch of scattered rows is one call, not
// one per run).
void read_row_runs(const Dataset& dataset, const std::vector<std::pair<int64_t, int64_t>>& runs,
                   hid_t mem_type, void* out);
// A scalar integer attribute of loc.
int64_t read_int_attribute(hid_t loc, const std::string& name);
// A scalar string attribute of loc (variable or fixed length).
std::string read_string_attribute(hid_t loc, const std::string& name);
// A variable- or fixed-length string 1-D dataset.
std::vector<std::string> read_strings(const Dataset& dataset);

// --- writing -------------------------------------------------------------------------------
// Creates a contiguous dataset (intermediate groups included) of the given file type and shape.
Dataset create_dataset(hid_t loc, const std::string& name, hid_t file_type,
                       const std::vector<int64_t>& dims);
// Writes rows [row0, row0 + count) of an N-D dataset from `data` laid out as mem_type.
void write_rows(const Dataset& dataset, int64_t row0, int64_t count, hid_t mem_type,
                const void* data);
// Creates and fills a 1-D int32 dataset.
void write_int32(hid_t loc, const std::string& name, const std::vector<int32_t>& values);
// A 1-D variable-length UTF-8 string dataset of `total` rows (h5py: string_dtype()).
Dataset create_string_dataset(hid_t loc, const std::string& name, int64_t total);
void write_string_rows(const Dataset& dataset, int64_t row0, const std::vector<std::string>& rows);
void write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& values);
// Writes (replaces) a scalar int64 attribute of loc.
void write_int_attribute(hid_t loc, const std::string& name, int64_t value);
// Writes (replaces) a scalar variable-length UTF-8 string attribute of loc (h5py reads a str).
void write_string_attribute(hid_t loc, const std::string& name, const std::string& value);

}  // namespace lica::data::h5
