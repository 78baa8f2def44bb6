#!/usr/bin/env bash
# The GPU scripts on the CPU machine: syntax, arguments and refusals of gpu_check.sh (which
# runs only on the GPU machine), and gpu_prepare.sh filling a folder through a fake apt-get.
# Usage: gpu_scripts_test.sh SOURCE_DIR
set -uo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect() {  # expected-exit-code message-substring command...
  local code=$1 text=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  [[ $rc -eq $code ]] || fail "$* exited $rc, expected $code: $out"
  [[ "$out" == *"$text"* ]] || fail "$* did not say '$text': $out"
}
bash -n "$src/scripts/gpu_check.sh" || fail "gpu_check.sh has a syntax error"
bash -n "$src/scripts/gpu_prepare.sh" || fail "gpu_prepare.sh has a syntax error"
expect 0 "OUT_DIR" bash "$src/scripts/gpu_check.sh" --help
expect 2 "OUT_DIR is missing" bash "$src/scripts/gpu_check.sh"
expect 2 "unknown option '--fast'" bash "$src/scripts/gpu_check.sh" "$tmp/out" --fast
expect 2 "one OUT_DIR only" bash "$src/scripts/gpu_check.sh" "$tmp/a" "$tmp/b"
mkdir -p "$tmp/empty"
LICA_GPU_DEPS=$tmp/empty expect 2 "run scripts/gpu_prepare.sh" bash "$src/scripts/gpu_check.sh" "$tmp/out"
[[ ! -e "$tmp/out" ]] || fail "gpu_check.sh wrote OUT_DIR before refusing"

# gpu_prepare.sh: `apt-get download` of each package the GPU image lacks.
mkdir -p "$tmp/bin"
cat > "$tmp/bin/apt-get" <<'FAKE'
#!/usr/bin/env bash
[[ "$1" == download ]] || exit 0
shift
for p in "$@"; do echo "$p" >> "$FAKE_LOG"; : > "${p}_1.0_amd64.deb"; done
FAKE
chmod +x "$tmp/bin/apt-get"
export FAKE_LOG=$tmp/apt.log
PATH=$tmp/bin:$PATH LICA_GPU_DEPS=$tmp/deps expect 0 "holds 6 packages" bash "$src/scripts/gpu_prepare.sh"
for p in libgoogle-glog-dev libgoogle-glog0v6 libgflags-dev libgflags2.2 libunwind8 libunwind-dev; do
  compgen -G "$tmp/deps/${p}_*.deb" > /dev/null || fail "gpu_prepare.sh did not fetch $p"
done
# A second run downloads nothing: the packages are there.
PATH=$tmp/bin:$PATH LICA_GPU_DEPS=$tmp/deps expect 0 "holds 6 packages" bash "$src/scripts/gpu_prepare.sh"
[[ $(wc -l < "$FAKE_LOG") -eq 6 ]] || fail "gpu_prepare.sh downloaded again: $(cat "$FAKE_LOG")"
expect 2 "unexpected argument" bash "$src/scripts/gpu_prepare.sh" extra
echo "gpu scripts: all checks passed"
