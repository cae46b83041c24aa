#!/usr/bin/env bash
# Peak resident memory of a command:  bench/peak_rss.sh dvc repro
# Runs COMMAND under /usr/bin/time -v and prints, after its own output,
#   peak_rss_gib=<GiB>
# the "Maximum resident set size": the largest single process of the command's tree that
# was waited for (for `dvc repro`: the hungriest stage), not the sum of concurrent ones.
# Exits with the command's exit status.
set -u
if [ $# -lt 1 ]; then echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; fi
log="$(mktemp)"; trap 'rm -f "$log"' EXIT
if [ -x /usr/bin/time ]; then
  /usr/bin/time -v -o "$log" "$@"; rc=$?
  kb="$(awk -F: '/Maximum resident set size/ {gsub(/[^0-9]/, "", $2); print $2}' "$log")"
else
  # No GNU time: the same number from getrusage(RUSAGE_CHILDREN) in a Python parent.
  kb="$(python3 - "$@" 3>&1 1>&2 <<'PY'
import os, resource, subprocess, sys
rc = subprocess.call(sys.argv[1:])
os.write(3, f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} {rc}\n".encode())
PY
)"; rc="${kb#* }"; kb="${kb%% *}"
fi
awk -v kb="${kb:-0}" 'BEGIN { printf "peak_rss_gib=%.3f  (%d KiB, max RSS of one process)\n", kb / 1048576, kb }'
exit "$rc"
