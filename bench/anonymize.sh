#!/usr/bin/env bash
# bench/anonymize.sh — `deepc anonymize` on a synthetic table of 100,000 rows
# with 4 quasi-identifiers (age 18-87, a 5-leaf zip hierarchy, sex, income in
# steps of 1000), a sensitive diagnosis, a pseudonymised id, k=5 l=2: the
# median of 5 runs, wall and CPU time (CPU time is what a loaded machine
# cannot inflate). The table is made by Python's random with seed 1.
#   bash bench/anonymize.sh [ROWS]
set -euo pipefail
D=${DEEPC:-build/deepc}
N=${1:-100000}
T=$(mktemp -d /tmp/deepc-anon-bench-XXXXXX)
trap 'rm -rf "$T"' EXIT
python3 - "$T" "$N" <<'PY'
import random, sys
random.seed(1)
T, n = sys.argv[1], int(sys.argv[2])
zips = ["10001", "10002", "10011", "20001", "20002"]
diag = ["flu", "cold", "covid", "asthma", "diabetes", "none"]
with open(T + "/t.csv", "w") as f:
    f.write("pid,age,zip,sex,income,diagnosis\n")
    for i in range(n):
        f.write("ID%d,%d,%s,%s,%d,%s\n" % (i, random.randint(18, 87), random.choice(zips), random.choice("MF"),
                                         1000 * random.randint(0, 199), random.choice(diag)))
with open(T + "/zip.csv", "w") as f:
    for z in zips:
        f.write("%s;%s*;%s**;*\n" % (z, z[:4], z[:3]))
PY
head -c 32 /dev/urandom > "$T/k.bin"; chmod 600 "$T/k.bin"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in 1 2 3 4 5; do
    /usr/bin/time -f "%e %U %S" -o "$T/time" "$D" anonymize "$T/t.csv" --quasi age,zip,sex,income --sensitive diagnosis \
        --k 5 --l 2 --pseudonymize pid --key-file "$T/k.bin" --hierarchy zip="$T/zip.csv" --out "$T/a.csv" --json > "$T/out"
    read -r wall user sys < "$T/time"
    echo "$wall $(echo "$user + $sys" | bc)"
done | sort -n > "$T/runs"
python3 - "$T/runs" "$T/out" <<'PY'
import json, sys
runs = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
wall = sorted(r[0] for r in runs)[2]; cpu = sorted(r[1] for r in runs)[2]
d = json.load(open(sys.argv[2]))
print("rows %d: median wall %.2f s, median CPU %.2f s; classes %d, smallest %d, NCP %.4f, k holds %s, l holds %s" % (
    d["rows_in"], wall, cpu, d["classes"], d["smallest_class"], d["ncp"], d["k_holds"], d["l_holds"]))
PY
