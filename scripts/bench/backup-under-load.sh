#!/bin/bash
# A snapshot of a big journal while sales go on: its time, and the sale latency with and without
# it, three interleaved pairs. Usage: [MEDIUM=/dev/shm/medium] [FILL=90] backup-under-load.sh TARGET
# (TARGET: a cargo target directory with `posd` and the `load` example built in release).
# posd demo fills its journal with FILL seconds of 32 clients first (about 4,000 sales/s here);
# MEDIUM puts the backup medium on another file system (a tmpfs), as a USB stick would be.
t=${1:?target directory}
d=$(mktemp -d /work/bb.XXXX)
tok=load-token-0123456789
$t/release/posd demo --data $d/data --token $tok > $d/posd.log 2>&1 &
pid=$!
for i in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:8420/v1/health && break; sleep 0.2; done
if [ -n "$MEDIUM" ]; then mkdir -p $MEDIUM; ln -s $MEDIUM $d/data/backups; fi
echo "fill: $($t/release/examples/load 127.0.0.1:8420 $tok 32 ${FILL:-90} 2>&1 | tail -2 | head -1)"
ls -la $d/data/journal.db
for i in 1 2 3; do
  echo "without: $($t/release/examples/load 127.0.0.1:8420 $tok 32 8 2>&1 | tail -2 | tr '\n' ' ')"
  $t/release/examples/load 127.0.0.1:8420 $tok 32 8 > $d/with.txt 2>&1 &
  lp=$!
  sleep 1
  took=$(curl -s -o $d/b.json -w '%{time_total}' -X POST -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' -d '{"operator":"alice"}' http://127.0.0.1:8420/v1/backups)
  wait $lp
  echo "with backup (${took} s, $(python3 -c "import json;s=json.load(open('$d/b.json'))['snapshot'];print(s['journal_head_seq'],'records',s['bytes'],'bytes',s['state'])")): $(tail -2 $d/with.txt | tr '\n' ' ')"
done
kill $pid; wait $pid 2>/dev/null
rm -rf $d ${MEDIUM:-}
