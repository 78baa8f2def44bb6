#!/usr/bin/env bash
# tools/results_section.py on a scratch copy of docs/results.md: replacing a section changes
# only the bytes between its markers (every other byte of the file identical), a new section
# is appended, replacing is repeatable, broken markers and a marker in the new text exit 2
# and leave the file as it was, and docs/results.md itself is never touched.
# Usage: results_section_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
src=$(cd "$2" && pwd)
py=/usr/bin/python3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
tool=("$py" "$src/tools/results_section.py")
before=$(sha256sum "$src/docs/results.md" | cut -d' ' -f1)
cp "$src/docs/results.md" "$dir/r.md"
grep -qx '<!-- section: lica -->' "$dir/r.md" && grep -qx '<!-- end section: aai -->' "$dir/r.md" ||
  fail "docs/results.md lacks the lica and aai section markers"

# expect FILE_BEFORE FILE_AFTER NAME BODY_FILE: AFTER is BEFORE with section NAME's content
# replaced by BODY (or the section appended), computed here independently of the tool.
expect() {
  "$py" - "$@" <<'PY'
import sys
before, after = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
name, body = sys.argv[3], open(sys.argv[4], "rb").read()
if not body.endswith(b"\n"):
    body += b"\n"
begin, end = f"<!-- section: {name} -->\n".encode(), f"<!-- end section: {name} -->\n".encode()
if begin in before:
    i = before.index(begin) + len(begin)
    j = before.index(end, i)
    want = before[:i] + body + before[j:]
else:
    want = before + (b"" if before.endswith(b"\n\n") else b"\n") + begin + body + end
if after != want:
    k = next((k for k in range(min(len(after), len(want))) if after[k] != want[k]), min(len(after), len(want)))
    sys.exit(f"{sys.argv[2]}: differs from the expected file at byte {k}: "
             f"{after[max(0, k - 30):k + 30]!r} vs {want[max(0, k - 30):k + 30]!r}")
PY
}
replace() {  # replace NAME BODY_FILE: runs the tool on r.md and checks the result
  cp "$dir/r.md" "$dir/prev.md"
  "${tool[@]}" --file "$dir/r.md" --section "$1" < "$2" 2> "$dir/tool.err" || { cat "$dir/tool.err"; fail "results_section.py --section $1"; }
  expect "$dir/prev.md" "$dir/r.md" "$1" "$2" || fail "section $1: bytes outside the section changed"
}

printf '# New LICA table\n\nReproduce: `x` at commit `abc1234`\n\n| a |\n|---|\n| 1 |\n' > "$dir/lica.md"
printf 'no final newline' > "$dir/aai.md"
printf '# Noise\n\nfigure: ![](noise.png)\n' > "$dir/noise.md"
printf '# Noise, again\n' > "$dir/noise2.md"
replace lica "$dir/lica.md"
echo "ok: section lica replaced, every other byte identical"
replace aai "$dir/aai.md"
echo "ok: section aai replaced (text without a final newline), every other byte identical"
replace noise "$dir/noise.md"
echo "ok: section noise appended after a blank line"
replace noise "$dir/noise2.md"
replace noise "$dir/noise2.md"
cmp -s "$dir/prev.md" "$dir/r.md" || fail "replacing section noise with the same text changed the file"
echo "ok: section noise replaced twice: the second run changes nothing"
"$py" - "$dir/r.md" "$src/docs/results.md" <<'PY' || fail "the text outside the sections changed"
import re, sys
strip = lambda t: re.sub(r"(?ms)^<!-- section: (\S+) -->\n.*?^<!-- end section: \1 -->\n", "", t)
a, b = (open(p).read() for p in sys.argv[1:])
if strip(a).rstrip("\n") != strip(b).rstrip("\n"):
    sys.exit("the text outside the sections differs from docs/results.md's")
PY

# The check itself can fail: a byte changed outside the section is caught.
cp "$dir/r.md" "$dir/prev.md"
"${tool[@]}" --file "$dir/r.md" --section lica < "$dir/lica.md" 2> /dev/null
sed -i '1s/^# Results/# Resultz/' "$dir/r.md"
if expect "$dir/prev.md" "$dir/r.md" lica "$dir/lica.md" > /dev/null 2>&1; then
  fail "the check accepted a file changed outside the section"
fi
cp "$dir/prev.md" "$dir/r.md"
echo "ok: a planted change outside the section is caught"

expect_error() {  # expect_error WHAT PATTERN FILE STDIN_FILE
  local what=$1 pattern=$2 file=$3 body=$4 rc=0
  cp "$file" "$dir/keep.md"
  "${tool[@]}" --file "$file" --section x < "$body" > "$dir/err.out" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || { cat "$dir/err.out"; fail "$what: exit $rc, expected 2"; }
  grep -qF -- "$pattern" "$dir/err.out" || { cat "$dir/err.out"; fail "$what: message lacks '$pattern'"; }
  cmp -s "$file" "$dir/keep.md" || fail "$what: the file changed"
  echo "ok: $what -> exit 2: $(sed "s|$dir/||g" "$dir/err.out")"
}
printf 'a\n<!-- section: x -->\nold\n' > "$dir/open.md"
printf 'a\n<!-- end section: x -->\n' > "$dir/end.md"
printf '<!-- section: x -->\n<!-- end section: x -->\n<!-- section: x -->\n<!-- end section: x -->\n' > "$dir/twice.md"
printf '<!-- section: y -->\n<!-- section: x -->\n<!-- end section: x -->\n<!-- end section: y -->\n' > "$dir/nested.md"
printf 'body\n<!-- end section: x -->\n' > "$dir/marker_body.md"
expect_error "a section without its end" "open.md, line 2: section 'x' has no" "$dir/open.md" "$dir/noise.md"
expect_error "an end without its section" "end.md, line 2: '<!-- end section: x -->' without" "$dir/end.md" "$dir/noise.md"
expect_error "a section twice" "twice.md, line 3: section 'x' appears twice" "$dir/twice.md" "$dir/noise.md"
expect_error "a section inside another" "nested.md, line 2: section 'x' opens inside section 'y'" "$dir/nested.md" "$dir/noise.md"
expect_error "a marker in the new text" "stdin holds a section marker" "$dir/r.md" "$dir/marker_body.md"

[ "$(sha256sum "$src/docs/results.md" | cut -d' ' -f1)" = "$before" ] || fail "docs/results.md changed"
echo "ok: results_section (docs/results.md untouched)"
