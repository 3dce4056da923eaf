#!/usr/bin/env bash
# Run each atheris harness for a fixed budget on a COPY of its committed corpus (the committed
# corpus never grows). Exits non-zero on the first finding; the crashing input is kept in the
# temporary folder printed below, and shown as hex.
#
#   FUZZ_SECONDS=30 bash fuzz/run.sh           # CI (30 s each); needs `pip install atheris`
#   FUZZ_SECONDS=600 bash fuzz/run.sh loader   # one harness, longer
#   RNNKIT_FUZZ_KEEP_GOING=/tmp/findings bash fuzz/run.sh   # triage: record findings, go on
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-30}
python=${PYTHON:-python}
work=$(mktemp -d "${TMPDIR:-/tmp}/rnnkit-fuzz.XXXXXX")
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(loader tokenizer)

status=0
for name in "${harnesses[@]}"; do
  corpus="$work/corpus-$name"
  artifacts="$work/artifacts-$name"
  mkdir -p "$corpus" "$artifacts"
  cp fuzz/corpus/"$name"/* "$corpus"/
  dict=()
  [ -f "fuzz/$name.dict" ] && dict=(-dict="fuzz/$name.dict")
  echo "fuzz: $name for ${seconds} s on a copy of fuzz/corpus/$name ($work)"
  set +e
  "$python" "fuzz/fuzz_$name.py" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
    -max_len=65536 -print_final_stats=1 "${dict[@]}" -artifact_prefix="$artifacts/" "$corpus" \
    2>&1 | tail -n 40
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -ne 0 ]; then
    echo "fuzz: $name FOUND A PROBLEM (exit $rc); inputs in $artifacts:" >&2
    for f in "$artifacts"/*; do
      [ -e "$f" ] || continue
      echo "--- $f" >&2
      head -c 512 "$f" | od -A d -c | head -n 20 >&2
    done
    status=1
  elif [ -n "${RNNKIT_FUZZ_KEEP_GOING:-}" ] && ls "$RNNKIT_FUZZ_KEEP_GOING"/*.txt >/dev/null 2>&1; then
    echo "fuzz: $name finished; findings recorded (triage mode):" >&2
    head -n 1 "$RNNKIT_FUZZ_KEEP_GOING"/*.txt >&2
    status=1
  else
    echo "fuzz: $name clean after ${seconds} s"
  fi
done
exit "$status"
