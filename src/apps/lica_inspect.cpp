// lica_inspect: summarises a feature file and lists every problem in it (data/inspect.h).
#include <glog/logging.h>

#include <iostream>
#include <string>

#include "common/cli.h"
#include "common/error.h"
#include "common/logging.h"
#include "data/inspect.h"

int main(int argc, char** argv) {
  lica::init_logging(argv[0]);
  return lica::run_program([&] {
    std::string path;
    bool json = false, no_scan = false;
    lica::data::InspectOptions options;
    lica::CommandLine cli(
        "lica_inspect", "FILE [options]",
        "Summarises an HDF5 feature file (docs/design.md §2): sizes, dtypes, storage, splits, captions\n"
        "per video, padding. Then validates all of it and lists every problem found, not just\n"
        "the first: the rules checked when training opens the file, plus a scan of every\n"
        "feature value for NaN/Inf and for non-zero padding. Exit status 0 when the file has no\n"
        "problem, 2 when it has any (each is printed) or cannot be opened.");
    cli.positional("FILE", "the HDF5 feature file", &path);
    cli.flag("json", "print the report as one JSON object", &json);
    cli.option("video-dim", "frame feature size Dv the file must have (0: any)",
               &options.expect.video_dim);
    cli.option("text-dim", "token feature size Dt the file must have (0: any)",
               &options.expect.text_dim);
    cli.option("block-rows", "feature rows per read of the scan (bounds memory)",
               &options.block_rows);
    cli.option("problems-per-rule", "problems listed per rule, the rest are counted",
               &options.problems_per_rule);
    cli.flag("no-scan", "skip the scan of the feature values (fast; rules of the file only)",
             &no_scan);
    if (!cli.parse(argc, argv)) return lica::kExitOk;
    options.scan_values = !no_scan;

    const lica::data::Inspection inspection = lica::data::inspect_file(path, options);
    std::cout << (json ? lica::data::format_json(inspection) + "\n"
                       : lica::data::format_text(inspection))
              << std::flush;
    if (inspection.ok()) return lica::kExitOk;
    LOG(ERROR) << path << ": " << inspection.problem_count << " problem(s) found";
    return lica::kExitBadInput;
  });
}
