#!/usr/bin/env bash
# fuzz.sh — build the libFuzzer targets with clang and run each for a while
# (default 10 s, or $1 seconds), starting from its seed corpus, as many at
# once as there are cores. New inputs go to a scratch copy, never into
# fuzz/corpus; a crash fails the run and leaves its input in the scratch
# directory printed at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-10}
build=$root/build-fuzz
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DOFFPAY_FUZZ=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzzers >/dev/null
scratch=$(mktemp -d "${TMPDIR:-/tmp}/offpay-fuzz.XXXXXX")

# fuzz_one BIN: one target; its line of the summary in $scratch/NAME.result,
# which starts with "ok" or "FAILED".
fuzz_one() {
  local bin=$1 name runs
  name=$(basename "$bin" _libfuzzer); name=${name#fuzz_}
  mkdir -p "$scratch/$name"
  cp -r "$root/fuzz/corpus/$name/." "$scratch/$name/"
  if (cd "$scratch" && "$bin" "$scratch/$name" -max_total_time="$secs" \
        -max_len=4096 -print_final_stats=1 -artifact_prefix="$scratch/$name-" \
        >"$scratch/$name.log" 2>&1); then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$scratch/$name.log" | grep -o '[0-9]*$')
    echo "ok fuzz $name: ${runs:-?} runs in ${secs}s, no crash" > "$scratch/$name.result"
  else
    echo "FAILED fuzz $name: FAILED, see $scratch/$name.log" > "$scratch/$name.result"
  fi
}

bins=("$build"/fuzz/fuzz_*_libfuzzer)
slots=$(nproc)
for bin in "${bins[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$slots" ]; do wait -n || true; done
  fuzz_one "$bin" &
done
wait

status=0
for bin in "${bins[@]}"; do
  name=$(basename "$bin" _libfuzzer); name=${name#fuzz_}
  line=$(cat "$scratch/$name.result" 2>/dev/null || echo "FAILED fuzz $name: no result")
  echo "${line#* }"
  if [ "${line%% *}" != ok ]; then
    tail -20 "$scratch/$name.log" 2>/dev/null || true
    status=1
  fi
done
[ "$status" -eq 0 ] && rm -rf "$scratch"
exit "$status"
