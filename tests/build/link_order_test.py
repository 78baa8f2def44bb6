#!/usr/bin/env python3
"""Every program and test binary loads libstdc++ before LibTorch.

Why: torch 2.x wheels carry a static copy of libstdc++'s std::filesystem and export its
symbols (pytorch/pytorch#133437). The dynamic linker binds a symbol to the first library in
load order that defines it, so when libtorch_cpu.so comes before libstdc++.so.6, libstdc++'s
own std::filesystem::remove_all calls torch's incompatible recursive_directory_iterator and
the process dies on a null call (the CUDA build's segfaults of 2026-12-04). CMake puts
libstdc++ first (lica_link_stdcxx_first); this test reads each binary's DT_NEEDED entries.
Usage: link_order_test.py BINARY...
"""
import subprocess
import sys


def needed(path):
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True).stdout
    return [line.split("[", 1)[1].split("]", 1)[0] for line in out.splitlines() if "(NEEDED)" in line]


def main():
    bad, checked = [], 0
    for path in sys.argv[1:]:
        libs = needed(path)
        torch = [i for i, lib in enumerate(libs) if lib.startswith(("libtorch", "libc10"))]
        if not torch:
            continue  # links no LibTorch (or statically): nothing can come before libstdc++
        checked += 1
        stdcxx = [i for i, lib in enumerate(libs) if lib.startswith("libstdc++")]
        if not stdcxx or stdcxx[0] > torch[0]:
            bad.append(f"{path}: libstdc++ is not loaded before {libs[torch[0]]}: {' '.join(libs)}")
    for line in bad:
        print(line)
    print(f"{checked} binaries linking LibTorch checked; {len(bad)} load it before libstdc++")
    return 1 if bad or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
