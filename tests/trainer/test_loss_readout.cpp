#include "trainer/loss_readout.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/error.h"

namespace lica::trainer {
namespace {

torch::Tensor losses(double total) {
  return torch::tensor({total, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0}, torch::kFloat);
}

TEST(LossReadout, ReadsTheLatestStep) {
  LossReadout readout(10);
  EXPECT_THROW(readout.read(), Error);
  readout.record(losses(0.5), 0);
  readout.record(losses(0.25), 1);
  const auto v = readout.read();
  EXPECT_DOUBLE_EQ(v.total, 0.25);
  EXPECT_DOUBLE_EQ(v.nce, 1.0);
  EXPECT_DOUBLE_EQ(v.itm, 7.0);
}

// A NaN between two reads is reported at the next read with its own step, even when later
// steps were finite again.
TEST(LossReadout, NamesTheFirstNonFiniteStepSinceTheLastRead) {
  LossReadout readout(4);
  readout.record(losses(1.0), 0);
  readout.read();
  readout.record(losses(1.0), 1);
  readout.record(losses(std::numeric_limits<double>::quiet_NaN()), 5);
  readout.record(losses(std::numeric_limits<double>::infinity()), 6);
  readout.record(losses(1.0), 7);
  try {
    readout.read();
    FAIL() << "no error for the NaN loss of step 6";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("non-finite loss nan at step 6 (epoch 1)"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace lica::trainer
