// The training step's loss options from the loss.* keys of a config.
#pragma once

#include "run/config.h"
#include "trainer/step.h"

namespace lica::trainer {

// The step's loss options from the loss.* keys.
LossOptions loss_options(const run::Config& cfg);

}  // namespace lica::trainer
