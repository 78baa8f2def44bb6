// Who this process is in the job: rank, world size and local rank (docs/design.md §5).
#pragma once

#include <map>
#include <string>

namespace lica::dist {

struct RankInfo {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;  // rank among the processes of this node; the GPU it drives
};

// True when a launcher (mpirun, srun, a PMI process manager) started this process, so MPI
// must be initialised; false for a plain `lica_dist_train ...`, which runs as W = 1.
bool launched_by_mpi_launcher(const std::map<std::string, std::string>& env);

// Cross-checks what MPI says against the launcher's variables: under mpirun the
// OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK}; under srun (no OMPI_ variables) SLURM_PROCID,
// SLURM_NTASKS, SLURM_LOCALID; PMI_RANK and PMI_SIZE wherever they are set. (Under mpirun
// inside a Slurm job the SLURM_ variables describe the batch step, not this rank, so they
// are not compared then.) A disagreement throws lica::InputError naming the variable.
void check_launcher_env(const RankInfo& mpi, const std::map<std::string, std::string>& env);

// The process environment as a map (only the variables the checks above read).
std::map<std::string, std::string> launcher_env();

}  // namespace lica::dist
