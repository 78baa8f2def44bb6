// Precompiled header: LibTorch is by far the most expensive include of every translation unit.
#pragma once
#include <torch/torch.h>
