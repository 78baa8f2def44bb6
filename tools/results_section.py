#!/usr/bin/env python3
"""Replaces one study's section of a Markdown file with the text on stdin.

usage: results_section.py --file docs/results.md --section NAME < section.md

A section is the lines from `<!-- section: NAME -->` to `<!-- end section: NAME -->`, each
marker alone on its line. The text between the two markers is replaced by stdin (a final
newline added if it lacks one); every byte before the opening marker and after the closing
one stays as it was. A file without the section gets it appended, after a blank line; a
missing file is created. Written through FILE.tmp and renamed. Exit 2, naming the file and
line, when the markers are broken: an opening marker without its end, an end without its
opening, a section twice, or one section inside another.
"""
import argparse
import os
import re
import sys

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MARKER = re.compile(r"^<!-- (end )?section: (\S+) -->[ \t]*\r?$")


class MarkerError(Exception):
    pass


def begin_marker(name):
    return f"<!-- section: {name} -->"


def end_marker(name):
    return f"<!-- end section: {name} -->"


def sections(text, path):
    """{name: (start of the opening marker's line, end of the closing marker's line incl. its
    newline, end of the opening marker's line, start of the closing marker's line)}."""
    found, open_name, open_at, open_line = {}, None, None, 0
    offset = 0
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        m = MARKER.match(line.rstrip("\n"))
        if m:
            is_end, name = m.group(1) is not None, m.group(2)
            if not is_end:
                if open_name is not None:
                    raise MarkerError(f"{path}, line {number}: section '{name}' opens inside "
                                      f"section '{open_name}' (line {open_line}), expected "
                                      f"'{end_marker(open_name)}' first")
                if name in found:
                    raise MarkerError(f"{path}, line {number}: section '{name}' appears twice")
                open_name, open_at, open_line = name, (offset, offset + len(line)), number
            else:
                if open_name != name:
                    raise MarkerError(f"{path}, line {number}: '{end_marker(name)}' without its "
                                      f"'{begin_marker(name)}' before it"
                                      + (f" (section '{open_name}' is open)" if open_name else ""))
                found[name] = (open_at[0], offset + len(line), open_at[1], offset)
                open_name = None
        offset += len(line)
    if open_name is not None:
        raise MarkerError(f"{path}, line {open_line}: section '{open_name}' has no "
                          f"'{end_marker(open_name)}'")
    return found


def replace_section(text, name, body, path="FILE"):
    """`text` with section `name`'s content replaced by `body` (appended when absent)."""
    if body and not body.endswith("\n"):
        body += "\n"
    found = sections(text, path)
    if name in found:
        _, _, inner_start, inner_end = found[name]
        return text[:inner_start] + body + text[inner_end:]
    block = f"{begin_marker(name)}\n{body}{end_marker(name)}\n"
    if not text:
        return block
    sep = "" if text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    return text + sep + block


def _help_text():
    """The module's docstring without its usage paragraph (argparse prints its own)."""
    return "\n\n".join(p for p in __doc__.strip().split("\n\n") if not p.startswith("usage:"))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=_help_text(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", required=True, help="Markdown file (e.g. docs/results.md)")
    parser.add_argument("--section", required=True, metavar="NAME",
                        help="section name: letters, digits, '_', '.', '-'")
    args = parser.parse_args(argv)
    if not NAME.match(args.section):
        parser.error(f"--section '{args.section}': expected letters, digits, '_', '.', '-'")
    body = sys.stdin.read()
    if any(MARKER.match(line) for line in body.splitlines()):
        print(f"results_section.py: error: stdin holds a section marker line, which would break "
              f"{args.file}'s sections", file=sys.stderr)
        return 2
    try:
        with open(args.file, encoding="utf-8", newline="") as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    try:
        existed = args.section in sections(text, args.file)
        new = replace_section(text, args.section, body, args.file)
    except MarkerError as e:
        print(f"results_section.py: error: {e}", file=sys.stderr)
        return 2
    tmp = args.file + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(new)
    os.replace(tmp, args.file)
    print(f"{args.file}: section '{args.section}' {'replaced' if existed else 'added'}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
