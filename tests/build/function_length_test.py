#!/usr/bin/env python3
"""Fails when a function body in src/ or kernels/ is longer than the limit (80 lines).

A small brace scanner: comments, string and character literals are skipped; a body is a
'{' ... '}' block at namespace level (or a class member defined in its class) that follows
a ')' (optionally with const/noexcept/override/-> type/initialiser list). Lambdas inside a
function count towards it. Usage: function_length_test.py SOURCE_DIR [LIMIT]
"""
import pathlib
import re
import sys


def strip_code(text):
    """The text with comments, string and char literals blanked (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif text.startswith('R"', i) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'R"([^(]*)\(', text[i:])
            j = text.find(")" + m.group(1) + '"', i) + len(m.group(1)) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif text[i] in "\"'" and not (text[i] == "'" and i and text[i - 1].isalnum()):
            q, j = text[i], i + 1
            while j < n and text[j] != q:
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (j + 1 - i)); i = j + 1
        elif text[i] == "#" and (i == 0 or text[i - 1] == "\n"):
            j = i
            while True:  # preprocessor lines, with continuations
                k = text.find("\n", j)
                k = n if k < 0 else k
                if k > 0 and text[k - 1] == "\\":
                    j = k + 1
                    continue
                break
            out.append(re.sub(r"[^\n]", " ", text[i:k])); i = k
        else:
            out.append(text[i]); i += 1
    return "".join(out)


HEAD = re.compile(r"\)\s*(const|noexcept|override|final|mutable|\s|->\s*[\w:<>,\s*&]+)*$")
INIT = re.compile(r"\)\s*:\s*[\w:]+[({]")


def functions(code):
    """(name, first line, line count) of every top-level function body in `code`."""
    result, depth_kinds, i = [], [], 0
    for i, c in enumerate(code):
        if c == "{":
            before = code[max(0, i - 400):i]
            is_function = bool(HEAD.search(before)) or bool(
                INIT.search(before.split(";")[-1]) and ")" in before.split(";")[-1])
            inside_function = any(k[0] == "f" for k in depth_kinds)
            kind = "f" if is_function and not inside_function else "o"
            depth_kinds.append((kind, i))
        elif c == "}" and depth_kinds:
            kind, start = depth_kinds.pop()
            if kind == "f":
                first = code.count("\n", 0, start) + 1
                last = code.count("\n", 0, i) + 1
                head = code[max(0, start - 300):start]
                m = re.findall(r"([~\w:]+)\s*\(", head)
                result.append((m[-1] if m else "?", first, last - first + 1))
    return result


def main():
    root = pathlib.Path(sys.argv[1])
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 80
    long_ones = []
    files = sorted(p for d in ("src", "kernels") for p in (root / d).rglob("*")
                   if p.suffix in (".h", ".cpp", ".cu"))
    for path in files:
        for name, line, count in functions(strip_code(path.read_text())):
            if count > limit:
                long_ones.append(f"{path.relative_to(root)}:{line}: {name} is {count} lines")
    for entry in long_ones:
        print(entry)
    print(f"{len(files)} files checked; {len(long_ones)} function(s) over {limit} lines")
    return 1 if long_ones else 0


if __name__ == "__main__":
    sys.exit(main())
