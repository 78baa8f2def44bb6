# Shared by setup.sh and test.sh: installs the apt packages lica needs (a no-op when they
# are there) and configures + builds the project into build/.
# shellcheck shell=bash

LICA_APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev libhdf5-dev libyaml-cpp-dev libgoogle-glog-dev libgtest-dev
  libopenmpi-dev openmpi-bin zlib1g-dev
  # Debian's LibTorch calls BLAS through libblas.so.3; OpenBLAS takes that alternative over
  # the reference BLAS, which is about 10x slower on the training step.
  libopenblas0-pthread
  python3-numpy python3-h5py
  # The figures: tools/plot_runs.py (matplotlib) and tools/embedding_map.py (t-SNE, PCA and
  # the silhouette score from scikit-learn), and their ctest tests (docs/visualising.md).
  python3-matplotlib python3-sklearn
  # PyTorch of the same LibTorch: bench/reference_step.py, the yardstick of the speed figures
  # (docs/performance.md), and the smoke test that checks its step equals lica's.
  python3-torch
)

lica_install_deps() {
  local missing=()
  for p in "${LICA_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  echo "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

lica_build() {
  local jobs
  jobs=$(nproc)
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build build -j "$jobs"
}
