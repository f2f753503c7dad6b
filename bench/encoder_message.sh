#!/usr/bin/env bash
# The encoder on the message path: the bundled demo assistant with `[nlu] model = "encoder"`,
# every request a text the server has not seen (so each one runs the encoder), for each
# precision in PRECISIONS. Issue 6's target: at least 400 distinct-text messages/s on 2 cores.
#
#   bash bench/encoder_message.sh            # M=<model dir> overrides the lookup
#   PRECISIONS="int8 f32" DURATION=15s CONNECTIONS="8 32" SKIP_BUILD=1 bash bench/encoder_message.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_setup
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-"8 32"}
PRECISIONS=${PRECISIONS:-"int8 f32"}
M=${M:-${DIALOGIC_MODEL_DIR:-}}

# A new text for every request: wrk's thread number and a counter (each thread runs its own
# copy of the script, so the thread number keeps their texts apart).
cat > "$work/distinct.lua" <<'LUA'
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local n = 0
local words = {"large", "small", "spicy", "cheap", "vegan", "family", "thin", "stuffed"}
request = function()
  n = n + 1
  local text = string.format("I want a %s pizza for table %d number %d", words[n % #words + 1], tid, n)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
    '{"input":{"text":"' .. text .. '"}}')
end
LUA

port=19130
echo "wrk -t2 -d$DURATION, $(nproc) cores, $(date -u +%FT%TZ)"
for p in $PRECISIONS; do
  port=$((port + 1))
  demo_config "$work/$p.toml" "$work/$p.db"
  {
    printf '[nlu]\nmodel = "encoder"\nencoder_precision = "%s"\ncache_dir = "%s/cache"\n' "$p" "$work"
    [ -n "$M" ] && printf 'model_dir = "%s"\n' "$M"
  } >> "$work/$p.toml"
  RUST_LOG=info "$D" serve --config "$work/$p.toml" --listen "127.0.0.1:$port" > "$work/$p.log" 2>&1 & pids+=($!)
  wait_port "$port"
  sed 's/\x1b\[[0-9;]*m//g' "$work/$p.log" | grep -o 'model=encoder ([^)]*)' | head -1 || true
  url="http://127.0.0.1:$port/v2/assistants/demo/message?version=2024-08-25"
  for c in $CONNECTIONS; do
    out=$(wrk -t2 -c"$c" -d"$DURATION" --latency -s "$work/distinct.lua" "$url")
    printf '%-5s %3s connections: %10s msg/s  p50 %-8s p99 %-8s %s\n' "$p" "$c" \
      "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '$1=="50%" {print $2}' <<<"$out")" \
      "$(awk '$1=="99%" {print $2}' <<<"$out")" "$(grep -E "Non-2xx|Socket errors" <<<"$out" || true)"
  done
  kill "${pids[-1]}" 2>/dev/null || true
done
