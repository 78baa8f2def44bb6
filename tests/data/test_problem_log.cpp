#include "data/problem_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lica::data {
namespace {

using ::testing::ElementsAre;

TEST(ProblemLog, ListsEveryProblemUpToTheLimitPerRule) {
  ProblemLog log(2);
  EXPECT_TRUE(log.empty());
  log.add("a", "a1");
  log.add("b", "b1");
  log.add("a", "a2");
  EXPECT_FALSE(log.listing("a"));
  EXPECT_TRUE(log.listing("b"));
  log.add("a", "a3");  // counted, not listed
  log.count("a", 5);
  EXPECT_EQ(log.total(), 9);
  EXPECT_THAT(log.lines(),
              ElementsAre("a1", "b1", "a2", "... and 6 more of rule a (not listed)"));
}

TEST(ProblemLog, CountAloneStillReportsTheRule) {
  ProblemLog log(3);
  log.count("rows", 4);
  log.count("rows", 0);
  EXPECT_EQ(log.total(), 4);
  EXPECT_THAT(log.lines(), ElementsAre("... and 4 more of rule rows (not listed)"));
}

}  // namespace
}  // namespace lica::data
