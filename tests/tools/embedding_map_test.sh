#!/usr/bin/env bash
# tools/embedding_map.py: on a planted export (two well-separated clusters) the compactness
# figures show it (gap > 0.5, silhouette > 0.9) and on the same points with random clusters
# they do not; on a tiny trained run's lica_eval --export, PCA and t-SNE maps (alone, with
# --compare, without labels) are PNGs of the stated size with the JSON keys, and the cosine
# figures equal a brute-force computation over every pair; bad input exits 2 naming the file.
# Usage: embedding_map_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
bin=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
py=/usr/bin/python3  # Debian's python3-matplotlib and python3-sklearn (scripts/common.sh)
"$py" -c 'import matplotlib, sklearn' 2> /dev/null || { echo "FAIL: $py cannot import matplotlib and sklearn (apt install python3-matplotlib python3-sklearn)"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
start=$(date +%s)
fail() { echo "FAIL: $*"; exit 1; }
map=("$py" "$src/tools/embedding_map.py")

# A planted export: 30 videos in two clusters along orthogonal axes, two captions each, a
# little noise; and the same points with the clusters drawn at random.
"$py" - "$dir" <<'PY'
import sys
import h5py
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
V, D = 30, 8
cluster = (np.arange(V) % 2).astype(np.int32)
centre = np.eye(D)[:2]
tv = np.repeat(np.arange(V), 2).astype(np.int32)
ve = (centre[cluster] + 0.1 * rng.standard_normal((V, D))).astype(np.float32)
te = (centre[cluster[tv]] + 0.1 * rng.standard_normal((len(tv), D))).astype(np.float32)
with h5py.File(f"{d}/toy_e.h5", "w") as f:
    f.attrs["lica_embeddings"] = 1
    f["/videos/embeddings"], f["/videos/index"] = ve, np.arange(V, dtype=np.int32)
    f["/videos/ids"] = [f"v{i}".encode() for i in range(V)]
    f["/texts/embeddings"], f["/texts/index"] = te, np.arange(len(tv), dtype=np.int32)
    f["/texts/ids"] = [str(i).encode() for i in range(len(tv))]
    f["/texts/video"] = tv
with h5py.File(f"{d}/toy_f.h5", "w") as f:
    f["/videos/cluster"], f["/texts/video"] = cluster, tv
    f["/videos/ids"] = [f"v{i}".encode() for i in range(V)]
np.savez(f"{d}/toy.npz", ve=ve, te=te, cluster=cluster, tv=tv, shuffled=rng.permutation(cluster))
PY
"${map[@]}" "$dir/toy_e.h5" --labels "$dir/toy_f.h5" --method pca --out "$dir/toy.png" > "$dir/toy.json" || fail "embedding_map.py on the planted export"
# The planted figures from the program; the same points with the clusters shuffled through
# the module's own function (one process less).
"$py" - "$dir/toy.json" "$dir/toy.npz" "$src/tools" <<'PY' || fail "compactness of the planted export"
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[3])
import embedding_map
planted = json.load(open(sys.argv[1]))["maps"][0]["compactness"]
z = np.load(sys.argv[2])
shuffled = {"videos": embedding_map.compactness(z["ve"], z["shuffled"], 0, 5000),
            "texts": embedding_map.compactness(z["te"], z["shuffled"][z["tv"]], 0, 5000)}
for m in ("videos", "texts"):
    c, r = planted[m], shuffled[m]
    if not (c["gap"] > 0.5 and c["silhouette"] > 0.9):
        sys.exit(f"planted clusters, {m}: gap {c['gap']:.3f}, silhouette {c['silhouette']:.3f}, expected > 0.5 and > 0.9")
    if not (abs(r["gap"]) < 0.3 and r["silhouette"] < 0.3):
        sys.exit(f"random clusters, {m}: gap {r['gap']:.3f}, silhouette {r['silhouette']:.3f}, expected about 0")
    print(f"ok: planted {m}: gap {c['gap']:.3f} silhouette {c['silhouette']:.3f}; "
          f"random clusters: gap {r['gap']:.3f} silhouette {r['silhouette']:.3f}")
PY

# A tiny trained run and its test export.
t0=$(date +%s)
"$bin/lica_make_synthetic" --out "$dir/s.h5" --videos 60 --clusters 3 --video-dim 8 --text-dim 6 \
  --latent-dim 4 --frames 4 --min-frames 2 --tokens 4 --min-tokens 2 --seed 3 > /dev/null 2>&1 || fail "lica_make_synthetic"
printf 'data:\n  path: %s\nmodel:\n  embed_dim: 16\ntrainer:\n  epochs: 2\n  batch_size: 16\n  threads: 1\neval:\n  every_epochs: 0\nloss:\n  lica:\n    weight: 1.0\nrun:\n  dir: %s\n' \
  "$dir/s.h5" "$dir/run" > "$dir/tiny.yaml"
timeout 60 "$bin/lica_dist_train" --config "$dir/tiny.yaml" > "$dir/train.out" 2>&1 || { cat "$dir/train.out"; fail "lica_dist_train"; }
timeout 60 "$bin/lica_eval" --config "$dir/run/config.yaml" --checkpoint "$dir/run/checkpoints/latest" \
  --split test --export "$dir/e.h5" --output "$dir/eval.json" > "$dir/eval.out" 2>&1 || { cat "$dir/eval.out"; fail "lica_eval --export"; }
echo "ok: trained and exported a tiny run in $(( $(date +%s) - t0 )) s"

"${map[@]}" "$dir/e.h5" --labels "$dir/s.h5" --method pca --out "$dir/pca.png" > "$dir/pca.json" || fail "embedding_map.py --method pca"
"${map[@]}" "$dir/e.h5" --labels "$dir/s.h5" --method tsne --max-points 40 --seed 2 --silhouette-max 30 \
  --compare "$dir/e.h5" --out "$dir/tsne.png" > "$dir/tsne.json" || fail "embedding_map.py --method tsne --compare"
"${map[@]}" "$dir/e.h5" --method pca --out "$dir/plain.png" > "$dir/plain.json" || fail "embedding_map.py without labels"

check() {  # check PNG JSON EXPORT FEATURES MAPS MAX_POINTS SILHOUETTE_MAX
  "$py" - "$@" <<'PY'
import json, struct, sys
import h5py
import numpy as np
png, report, export, features = sys.argv[1:5]
maps, max_points, silhouette_max = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
r = json.load(open(report))
data = open(png, "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(f"{png}: not a PNG")
size = list(struct.unpack(">II", data[16:24]))
if size != [800 * maps, 700] or r["size_px"] != size:
    sys.exit(f"{png}: {size} px (report {r['size_px']}), expected {[800 * maps, 700]}")
for key in ("method", "seed", "max_points", "labels", "maps"):
    if key not in r:
        sys.exit(f"{report}: no key {key}")
if len(r["maps"]) != maps:
    sys.exit(f"{report}: {len(r['maps'])} maps, expected {maps}")
with h5py.File(export, "r") as e:
    emb = {g: e[f"/{g}/embeddings"][()].astype(np.float64) for g in ("videos", "texts")}
    index = {g: e[f"/{g}/index"][()] for g in ("videos", "texts")}
for m in r["maps"]:
    drawn = sum(m["points_drawn"].values())
    if drawn != min(max_points, sum(len(x) for x in emb.values())):
        sys.exit(f"{report}: {drawn} points drawn, expected min({max_points}, all)")
    if features == "-":
        if m["compactness"] is not None or "note" not in r:
            sys.exit(f"{report}: figures or no note without --labels")
        continue
    with h5py.File(features, "r") as f:
        cluster, text_video = f["/videos/cluster"][()], f["/texts/video"][()]
    labels = {"videos": cluster[index["videos"]], "texts": cluster[text_video[index["texts"]]]}
    for g in ("videos", "texts"):
        c = m["compactness"][g]
        for key in ("n", "clusters", "intra_cluster_cosine", "inter_cluster_cosine", "gap",
                    "silhouette", "silhouette_sample", "silhouette_subsampled"):
            if key not in c:
                sys.exit(f"{report}: {g}: no key {key}")
        # Brute force over every ordered pair of different rows.
        x = emb[g] / np.linalg.norm(emb[g], axis=1, keepdims=True)
        cos, l = x @ x.T, labels[g]
        same, off = l[:, None] == l[None, :], ~np.eye(len(x), dtype=bool)
        intra, inter = cos[same & off].mean(), cos[~same].mean()
        if c["n"] != len(x) or abs(c["intra_cluster_cosine"] - intra) > 1e-9 or abs(c["inter_cluster_cosine"] - inter) > 1e-9 \
                or abs(c["gap"] - (intra - inter)) > 1e-9:
            sys.exit(f"{report}: {g}: intra {c['intra_cluster_cosine']} inter {c['inter_cluster_cosine']}, "
                     f"brute force {intra} {inter} over {len(x)} rows")
        if c["silhouette_subsampled"] != (len(x) > silhouette_max) or c["silhouette_sample"] != min(len(x), silhouette_max) \
                or not -1 <= c["silhouette"] <= 1:
            sys.exit(f"{report}: {g}: silhouette {c['silhouette']} on {c['silhouette_sample']} rows, "
                     f"subsampled {c['silhouette_subsampled']}, for {len(x)} rows and --silhouette-max {silhouette_max}")
    v, t = m["compactness"]["videos"], m["compactness"]["texts"]
    print(f"ok: {png.rsplit('/', 1)[-1]} {size[0]}x{size[1]} px, {drawn} points: videos gap {v['gap']:.3f} "
          f"silhouette {v['silhouette']:.3f}, captions gap {t['gap']:.3f} silhouette {t['silhouette']:.3f} "
          f"(on {t['silhouette_sample']} of {t['n']})")
if features == "-":
    print(f"ok: {png.rsplit('/', 1)[-1]} {size[0]}x{size[1]} px without labels: no figures, says so")
PY
}
check "$dir/pca.png" "$dir/pca.json" "$dir/e.h5" "$dir/s.h5" 1 2000 5000 || fail "PCA map"
check "$dir/tsne.png" "$dir/tsne.json" "$dir/e.h5" "$dir/s.h5" 2 40 30 || fail "t-SNE map with --compare"
check "$dir/plain.png" "$dir/plain.json" "$dir/e.h5" - 1 2000 5000 || fail "map without labels"
# The check can fail: a figure off by 0.01.
"$py" -c "
import json, sys
r = json.load(open('$dir/pca.json')); r['maps'][0]['compactness']['texts']['intra_cluster_cosine'] += 0.01
json.dump(r, open('$dir/planted.json', 'w'))"
if check "$dir/pca.png" "$dir/planted.json" "$dir/e.h5" "$dir/s.h5" 1 2000 5000 > /dev/null 2>&1; then
  fail "the check accepted an intra-cluster cosine off by 0.01"
fi
echo "ok: a planted figure off by 0.01 is caught"

expect_error() {  # expect_error WHAT PATTERN ARGS...
  local what=$1 pattern=$2 rc=0
  shift 2
  "${map[@]}" "$@" --out "$dir/bad.png" > "$dir/err.out" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || { cat "$dir/err.out"; fail "$what: exit $rc, expected 2"; }
  grep -qF -- "$pattern" "$dir/err.out" || { cat "$dir/err.out"; fail "$what: message lacks '$pattern'"; }
  [ ! -e "$dir/bad.png" ] || fail "$what: wrote a figure"
  echo "ok: $what -> exit 2: $(sed "s|$dir/||g" "$dir/err.out")"
}
expect_error "a feature file as the export" "$dir/s.h5: attribute lica_embeddings is missing" "$dir/s.h5"
expect_error "labels without /videos/cluster" "$dir/e.h5: /videos/cluster is missing" "$dir/e.h5" --labels "$dir/e.h5"
expect_error "labels of another file" "is not a row of $dir/toy_f.h5" "$dir/e.h5" --labels "$dir/toy_f.h5"
echo "ok: embedding_map in $(( $(date +%s) - start )) s"
