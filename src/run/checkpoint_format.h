// The names inside a checkpoint directory and the key spelling of its torch archives, shared
// by its writer (checkpoint.cpp) and its reader (checkpoint_reader.cpp).
#pragma once

#include <string>

namespace lica::run {

// The files of a checkpoint, and the version of its state.yaml.
constexpr const char* kModelFile = "model.pt";
constexpr const char* kMomentumFile = "momentum.pt";
constexpr const char* kOptimizerFile = "optimizer.pt";
constexpr const char* kRngFile = "rng.pt";
constexpr const char* kStateFile = "state.yaml";
constexpr const char* kConfigFile = "config.yaml";
constexpr int kStateFormat = 1;

// Archive entries are attributes of a TorchScript module: dots in a tensor's name become "__".
std::string archive_key(std::string name);

}  // namespace lica::run
