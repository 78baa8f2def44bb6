// The state LibTorch's optimizer keeps for one parameter, found in its map across LibTorch
// versions: 1.13 keys the map by the parameter's TensorImpl pointer printed as a string,
// 2.x by the pointer itself.
#pragma once

#include <torch/torch.h>

#include <sstream>
#include <string>
#include <type_traits>

namespace lica::run {

// nullptr when `p` has no state (yet).
template <typename Map>
torch::optim::OptimizerParamState* state_of(Map& states, const torch::Tensor& p) {
  using Key = typename Map::key_type;
  void* impl = p.unsafeGetTensorImpl();
  Key key;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream text;
    text << impl;
    key = text.str();
  } else {
    key = impl;
  }
  const auto it = states.find(key);
  return it == states.end() ? nullptr : it->second.get();
}

}  // namespace lica::run
