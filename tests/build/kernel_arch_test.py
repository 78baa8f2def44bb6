#!/usr/bin/env python3
"""kernels/ carries machine code for every configured CUDA architecture (LICA_CUDA_ARCHITECTURES).

Why: the CUDA LibTorch package sets CMAKE_CUDA_ARCHITECTURES to OFF, which once left the
kernels without sm_90 code (they ran JIT-compiled from PTX, or not at all). With cuobjdump
(the GPU machine's full toolkit) the library's embedded ELF files are listed; without it (a
CPU machine with nvcc only) the kernels' compile flags in build.ninja are read instead.
Usage: kernel_arch_test.py BUILD_DIR LIBRARY ARCH...
"""
import re
import shutil
import subprocess
import sys


def main():
    build_dir, library, archs = sys.argv[1], sys.argv[2], sys.argv[3:]
    cuobjdump = shutil.which("cuobjdump") or shutil.which("/usr/local/cuda/bin/cuobjdump")
    if cuobjdump:
        text = subprocess.run([cuobjdump, "--list-elf", library], capture_output=True,
                              text=True).stdout
        source = f"cuobjdump --list-elf {library}"
    else:
        with open(f"{build_dir}/build.ninja") as f:
            ninja = f.read()
        flags = re.findall(r"build CMakeFiles/lica_kernels\.dir/[^\n]*\.cu\.o:[^\n]*\n(?:  [^\n]*\n)*",
                           ninja)
        text = "".join(flags)
        source = "the kernels' nvcc flags in build.ninja"
    missing = [a for a in archs if f"sm_{a}" not in text]
    print(f"{source}:\n{text.strip()}")
    if not text.strip() or missing:
        print(f"no machine code for sm_{', sm_'.join(missing or archs)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
