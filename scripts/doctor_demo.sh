#!/bin/bash
# ragship doctor on a healthy home, then on one with a flipped byte in a data file only v2 reads, a truncated
# index/LIVE, a broken calibration and a deleted LanceDB tag; the repair, a search, and the re-ingest that
# brings back what v2 held. Run from anywhere: bash scripts/doctor_demo.sh [DIR] (default /tmp/doctor-demo: the
# home, its sources in DIR-src)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
R=$ROOT/.venv/bin/ragship
DEMO=${1:-/tmp/doctor-demo}
SRC=$DEMO-src
export RAGSHIP_HOME=$DEMO RAGSHIP_CONFIG=$DEMO-absent.toml COLUMNS=150
rm -rf "$RAGSHIP_HOME" "$SRC" && mkdir -p "$(dirname "$DEMO")" && cp -r "$ROOT/tests/data/docs" "$SRC" || exit 1
$R ingest "$SRC" > /dev/null 2>&1 || { echo "the first ingest failed"; exit 1; }
echo "The harbour ferry to the island leaves every hour from pier 4." > "$SRC/harbour.txt"
$R ingest "$SRC" > /dev/null 2>&1 || { echo "the second ingest failed"; exit 1; }
echo '$ ragship doctor   # healthy'; $R doctor 2>/dev/null; echo "exit $?"
H=$RAGSHIP_HOME
python3 - <<'PY'
import json, os
h = os.environ["RAGSHIP_HOME"]
v = {r["id"]: r for r in json.load(open(f"{h}/index/versions.json"))}
f = next(x for x in v["v2"]["files"] if x.startswith("data/") and x not in v["v1"]["files"])
p = f"{h}/index/lance/chunks.lance/{f}"; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0xFF
open(p, "wb").write(bytes(b)); print(f"# damage: flipped one byte of {f} (a data file only v2 reads)")
live = open(f"{h}/index/LIVE").read(); open(f"{h}/index/LIVE", "w").write(live[:10]); print("# damage: truncated index/LIVE to 10 bytes")
os.makedirs(f"{h}/index/calibration", exist_ok=True); open(f"{h}/index/calibration/v2.json", "w").write('{"features": [')
print("# damage: index/calibration/v2.json cut short")
PY
$ROOT/.venv/bin/python -c "
import lancedb; lancedb.connect('$H/index/lance').open_table('chunks').tags.delete('v1'); print('# damage: deleted the LanceDB tag v1')"
echo '$ ragship search ferry'; $R search ferry 2>&1 | grep -v "Loading weights" | tail -2; echo "exit ${PIPESTATUS[0]}"
echo '$ ragship doctor'; $R doctor 2>/dev/null; echo "exit $?"
echo '$ ragship doctor --repair'; $R doctor --repair 2>/dev/null; echo "exit $?"
echo '$ ragship search "harbour ferry" -k 2'; $R search "harbour ferry" -k 2 2>&1 | grep -v 'Loading weights'; echo "exit ${PIPESTATUS[0]}"
echo '$ ragship ingest SOURCES   # what v2 held comes back from the sources'; $R ingest "$SRC" 2>/dev/null | tail -3
echo '$ ragship doctor'; $R doctor 2>/dev/null; echo "exit $?"
