#include "common/cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/error.h"

namespace lica {
namespace {

using ::testing::HasSubstr;

// Parses `args` (program name prepended) with a FILE positional and a --json flag.
bool parse(std::vector<std::string> args, std::string* file, bool* json) {
  CommandLine cli("prog", "FILE [--json]", "Test program.");
  cli.positional("FILE", "the input", file);
  cli.flag("json", "JSON output", json);
  args.insert(args.begin(), "prog");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return cli.parse(static_cast<int>(argv.size()), argv.data());
}

TEST(CommandLine, PositionalTakenInAnyPlaceAmongOptions) {
  std::string file;
  bool json = false;
  EXPECT_TRUE(parse({"--json", "x.h5"}, &file, &json));
  EXPECT_EQ(file, "x.h5");
  EXPECT_TRUE(json);
  file.clear();
  EXPECT_TRUE(parse({"y.h5"}, &file, &json));
  EXPECT_EQ(file, "y.h5");
}

TEST(CommandLine, PositionalMissingOrExtraIsInputError) {
  std::string file;
  bool json = false;
  EXPECT_THAT([&] { parse({"--json"}, &file, &json); },
              ::testing::ThrowsMessage<InputError>(HasSubstr("missing FILE (see prog --help)")));
  EXPECT_THAT([&] { parse({"a.h5", "b.h5"}, &file, &json); },
              ::testing::ThrowsMessage<InputError>(HasSubstr("unexpected argument 'b.h5'")));
}

TEST(CommandLine, UsageListsPositionals) {
  std::string file;
  CommandLine cli("prog", "FILE", "Test program.");
  cli.positional("FILE", "the input", &file);
  EXPECT_THAT(cli.usage(), HasSubstr("arguments:\n  FILE"));
  EXPECT_THAT(cli.usage(), HasSubstr("the input\n"));
}

}  // namespace
}  // namespace lica
