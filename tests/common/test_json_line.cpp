#include "common/json_line.h"

#include <gtest/gtest.h>

#include <limits>

namespace lica {
namespace {

TEST(JsonLine, WritesNumbersStringsAndNullForNonFinite) {
  JsonLine j;
  j.add("step", int64_t{12}).add("loss", 0.5).add("split", "va\"l").add("nan", std::nan(""))
      .add("ok", true);
  EXPECT_EQ(j.str(),
            "{\"step\": 12, \"loss\": 0.5, \"split\": \"va\\\"l\", \"nan\": null, \"ok\": true}");
}

TEST(JsonLine, InsertsEncodedJsonAsItIs) {
  JsonLine j;
  j.add("q", "a").add_json("results", "[" + JsonLine().add("i", 1).str() + "]");
  EXPECT_EQ(j.str(), "{\"q\": \"a\", \"results\": [{\"i\": 1}]}");
}

TEST(JsonLine, EscapesControlCharacters) {
  EXPECT_EQ(json_quote("a\nb\x01"), "\"a\\nb\\u0001\"");
}

}  // namespace
}  // namespace lica
