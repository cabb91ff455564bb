#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, in build-fuzz) and runs each for SECONDS (default 600), one
# after another in one process, then prints each one's execs, coverage and corpus. It never touches the default build.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]      TARGET: model, npy, idx, run (default: all four)
#
# Corpora, crash inputs and logs go to tests/fuzz/out/ (git-ignored); the corpus grows from run to run. A crash
# stops that target (its input is in out/artifacts/TARGET/) and makes the script exit 1 after the others have run.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-600}
shift $(($# > 0 ? 1 : 0))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(model npy idx csv run)
build=${ONNXTRAIN_FUZZ_BUILD:-$root/build-fuzz}
out=${ONNXTRAIN_FUZZ_OUT:-$here/out}

# Largest input the fuzzer makes, per target: the model seeds are about 1 KB (fuzz_run's models too); the data
# targets take the run-time seeds (up to 64 KB: the training sets of tests/train, more Fashion-MNIST).
declare -A max_len=([model]=16384 [npy]=65536 [idx]=65536 [csv]=16384 [run]=16384)
for t in "${targets[@]}"; do
  [ -n "${max_len[$t]:-}" ] || { echo "run.sh: unknown target '$t' (model, npy, idx or run)" >&2; exit 2; }
done

# clang and its libFuzzer runtime, from Debian (through sudo when not root); the rest comes from scripts/setup.sh.
dpkg-query -W -f='${Status}' libdnnl-dev 2>/dev/null | grep -q "install ok installed" ||
  { echo "run.sh: run 'bash scripts/setup.sh' first (it installs the libraries onnxtrain builds on)" >&2; exit 2; }
fuzzer_rt() { [ -f "$(clang++ -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ]; }
if ! command -v clang++ >/dev/null || ! fuzzer_rt; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "== installing clang and libclang-rt-dev (libFuzzer)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clang libclang-rt-dev
fi

echo "== building ${targets[*]/#/fuzz_} in $build"
cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DONNXTRAIN_FUZZ=ON \
  -DONNXTRAIN_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" >/dev/null
cmake --build "$build" -j2 --target "${targets[@]/#/fuzz_}" onnxtrain_cli >/dev/null

# The dictionaries: the committed names, and for the model-reading targets every op of the registry.
mkdir -p "$out/dict"
for t in "${targets[@]}"; do
  cp "$here/$t.dict" "$out/dict/$t.dict"
  if [ "$t" = model ] || [ "$t" = run ]; then
    "$build/onnxtrain" info --ops | awk 'NR > 1 { print "\"" $1 "\"" }' >>"$out/dict/$t.dict"
  fi
done

echo "== run-time seeds in $out/seeds-large"
/usr/bin/python3 "$here/make_seeds.py" --large "$out/seeds-large"

# fuzz_run mutates models too: the model seeds start it from every op and typed value, its own from every layout.
declare -A extra_seeds=([run]="$here/seeds/model")

status=0
summary=()
for t in "${targets[@]}"; do
  corpus=$out/corpus/$t artifacts=$out/artifacts/$t logs=$out/logs/$t
  mkdir -p "$corpus" "$artifacts" "$logs" "$out/seeds-large/$t"
  # libFuzzer also writes inputs slower than 10 s as slow-unit-*: reported, but a bug only past -timeout, which
  # writes timeout-* instead.
  bugs() { find "$artifacts" -type f ! -name 'slow-unit-*' | wc -l; }
  before=$(bugs)
  echo "== fuzz_$t for $secs s (log: $logs/fuzz-0.log)"
  started=$SECONDS
  # -jobs=1 -workers=1: one fuzzing process at a time on the 2 shared cores; libFuzzer writes its log to
  # fuzz-0.log in the current folder. New inputs go to the first corpus folder only, never to the committed seeds.
  (cd "$logs" && rm -f fuzz-0.log && "$build/fuzz/fuzz_$t" -jobs=1 -workers=1 \
    -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len="${max_len[$t]}" \
    -dict="$out/dict/$t.dict" -use_value_profile=1 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$corpus" "$here/seeds/$t" "$out/seeds-large/$t" ${extra_seeds[$t]:-} >"$logs/parent.log" 2>&1) || true
  ran=$((SECONDS - started))  # less than $secs when a bug stopped the target
  log=$logs/fuzz-0.log
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  execs=$(grep -oP 'stat::number_of_executed_units:\s*\K[0-9]+' "$log" || echo "?")
  rate=$(grep -oP 'stat::average_exec_per_sec:\s*\K[0-9]+' "$log" || echo "?")
  cov=$(grep -oP ' cov: \K[0-9]+' <<<"$last" || echo "?")
  ft=$(grep -oP ' ft: \K[0-9]+' <<<"$last" || echo "?")
  corp=$(grep -oP ' corp: \K[0-9]+/[0-9]+[a-zA-Z]+' <<<"$last" || echo "?")
  crashes=$(($(bugs) - before))
  slow=$(grep -c 'Test unit written to .*slow-unit-' "$log" || true)
  if [ "$crashes" -gt 0 ] || grep -qE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|runtime error:' "$log"; then
    status=1
    echo "!! fuzz_$t found a bug: see $log and $artifacts/"
    grep -E 'ERROR:|runtime error:|^uncaught|^refused|SUMMARY' "$log" | head -5 || true
  fi
  summary+=("$(printf '%-6s %6s s  execs %-10s %6s/s  cov %-6s ft %-7s corpus %-14s dir %-6s new crashes %s  slow %s' \
    "$t" "$ran" "$execs" "$rate" "$cov" "$ft" "$corp" "$(find "$corpus" -type f | wc -l)" "$crashes" "$slow")")
done

echo "== summary (corpus: files/bytes libFuzzer kept in memory; dir: files in $out/corpus/TARGET)"
printf '%s\n' "${summary[@]}"
exit $status
