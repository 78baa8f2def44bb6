#!/usr/bin/env python3
"""Compiles every source whose code is guarded by LICA_WITH_CUDA / LICA_WITH_NCCL, or that
includes a project header whose code is, with the guards on, for syntax and templates only
(-fsyntax-only), against this machine's LibTorch headers (which carry c10/cuda and ATen/cuda
even in Debian's CPU package) and the CUDA toolkit's, so that code only a CUDA build
compiles cannot rot on a CPU-only machine.

usage: cuda_guarded_compile_test.py BUILD_DIR SOURCE_DIR CUDA_INCLUDE_DIR
Exit 77 (skipped) when the headers it needs are not here.
"""
import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

GUARD = re.compile(r"^\s*#\s*if(def)?\b.*\bLICA_WITH_(CUDA|NCCL)\b", re.M)
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def guarded_headers(source_dir):
    """Paths (relative to source_dir) of the project's headers that hold guarded code."""
    found = set()
    for root, dirs, files in os.walk(source_dir):
        dirs[:] = [d for d in dirs if not d.startswith((".", "build"))]
        for name in files:
            if name.endswith((".h", ".hpp", ".cuh")):
                path = os.path.join(root, name)
                with open(path, encoding="utf-8") as f:
                    if GUARD.search(f.read()):
                        found.add(os.path.relpath(path, source_dir))
    return found


def needs_check(text, headers):
    """Guarded code in the source itself, or an include of a guarded header (a header is
    only compiled through the sources that include it)."""
    if GUARD.search(text):
        return True
    return any(h == inc or h.endswith("/" + inc)
               for inc in INCLUDE.findall(text) for h in headers)


def main():
    build_dir, source_dir, cuda_include = sys.argv[1:4]
    for header in ("cuda_runtime_api.h", "nccl.h"):
        if not os.path.exists(os.path.join(cuda_include, header)):
            print(f"skipped: no {header} in {cuda_include}")
            return 77
    with open(os.path.join(build_dir, "compile_commands.json")) as f:
        commands = json.load(f)
    headers = guarded_headers(source_dir)
    jobs = []
    for entry in commands:
        path = entry["file"]
        if not path.endswith(".cpp") or not path.startswith(source_dir):
            continue
        with open(path, encoding="utf-8") as f:
            if needs_check(f.read(), headers):
                jobs.append(entry)
    if not jobs:
        print("FAIL: no guarded source found: the search is broken")
        return 1
    # The generated c10/cuda/impl/cuda_cmake_macros.h is missing from CPU packages.
    stub = tempfile.mkdtemp(prefix="lica_cuda_stub_")
    os.makedirs(os.path.join(stub, "c10/cuda/impl"))
    with open(os.path.join(stub, "c10/cuda/impl/cuda_cmake_macros.h"), "w") as f:
        f.write("#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n")

    def check(entry):
        args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
        out = [args[0], "-fsyntax-only", "-DLICA_WITH_CUDA=1", "-DLICA_WITH_NCCL=1",
               f"-I{stub}", f"-I{cuda_include}", f"-I{source_dir}"]
        skip = False
        for a in args[1:]:
            if skip:
                skip = False
                continue
            if a in ("-o", "-MF", "-MT", "-MQ", "-include") :
                skip = True  # and its value (the precompiled header built without the guards)
                continue
            if a in ("-c", "-MD", "-MMD", "-Winvalid-pch") or a == entry["file"]:
                continue
            out.append(a)
        out.append(entry["file"])
        r = subprocess.run(out, cwd=entry["directory"], capture_output=True, text=True)
        return entry["file"], r.returncode, r.stderr

    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for path, rc, err in pool.map(check, jobs):
            rel = os.path.relpath(path, source_dir)
            if rc == 0:
                print(f"ok   {rel}")
            else:
                failed += 1
                print(f"FAIL {rel}\n{err}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
