#include "dist/rank_info.h"

#include <cstdlib>
#include <vector>

#include "common/error.h"

namespace lica::dist {
namespace {

const std::vector<std::string> kVariables = {
    "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
    "SLURM_PROCID",         "SLURM_NTASKS",         "SLURM_LOCALID",
    "SLURM_STEP_ID",        "PMI_RANK",             "PMI_SIZE",
    "PMIX_RANK"};

void expect(const std::map<std::string, std::string>& env, const std::string& name, int value,
            const char* what) {
  auto it = env.find(name);
  if (it == env.end()) return;
  if (it->second != std::to_string(value)) {
    throw InputError("launcher environment: " + name + "=" + it->second + " but MPI reports " +
                     what + " " + std::to_string(value) +
                     "; the job was started with inconsistent settings");
  }
}

}  // namespace

bool launched_by_mpi_launcher(const std::map<std::string, std::string>& env) {
  return env.count("OMPI_COMM_WORLD_SIZE") || env.count("PMI_SIZE") || env.count("PMIX_RANK") ||
         (env.count("SLURM_STEP_ID") && env.count("SLURM_PROCID"));
}

void check_launcher_env(const RankInfo& mpi, const std::map<std::string, std::string>& env) {
  const bool under_mpirun = env.count("OMPI_COMM_WORLD_SIZE") > 0;
  if (under_mpirun) {
    expect(env, "OMPI_COMM_WORLD_RANK", mpi.rank, "rank");
    expect(env, "OMPI_COMM_WORLD_SIZE", mpi.world_size, "world size");
    expect(env, "OMPI_COMM_WORLD_LOCAL_RANK", mpi.local_rank, "local rank");
  } else if (env.count("SLURM_STEP_ID")) {
    expect(env, "SLURM_PROCID", mpi.rank, "rank");
    expect(env, "SLURM_NTASKS", mpi.world_size, "world size");
    expect(env, "SLURM_LOCALID", mpi.local_rank, "local rank");
  }
  expect(env, "PMI_RANK", mpi.rank, "rank");
  expect(env, "PMI_SIZE", mpi.world_size, "world size");
}

std::map<std::string, std::string> launcher_env() {
  std::map<std::string, std::string> env;
  for (const auto& name : kVariables) {
    if (const char* v = std::getenv(name.c_str())) env[name] = v;
  }
  return env;
}

}  // namespace lica::dist
