#!/bin/bash
# One load run of a posd build on a fresh demo data directory: 32 clients, 10 s.
# Usage: load-pair.sh LABEL TARGET (TARGET: a cargo target directory with `posd` and the `load`
# example built in release); run two builds alternately to compare them.
label=$1; t=$2
d=$(mktemp -d)
$t/release/posd demo --data $d/data --token load-token-0123456789 > $d/posd.log 2>&1 &
pid=$!
for i in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:8420/v1/health && break; sleep 0.2; done
out=$($t/release/examples/load 127.0.0.1:8420 load-token-0123456789 32 10 2>&1 | tail -6 | tr '\n' ' ')
kill $pid; wait $pid 2>/dev/null
echo "$label $(date +%H:%M:%S) load=$(cut -d' ' -f1 /proc/loadavg) :: $out"
rm -rf $d
