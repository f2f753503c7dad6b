#!/usr/bin/env bash
# Message throughput of Dialogic next to refpipe (../shared/bench/refpipe), the reference limit for
# "1 inbound HTTP exchange + N webhook calls, no logic", measured in the same run with the same
# load generator (wrk), so the ratio survives a noisy machine.
#
#   bash bench/compare.sh            # DURATION=10s CONNECTIONS=32 by default
#
# Needs wrk (apt-get install wrk). Builds both in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
bench_setup

"$R" hook 127.0.0.1:19101 & pids+=($!)
"$R" proxy 127.0.0.1:19100 & pids+=($!)
"$R" proxy 127.0.0.1:19102 http://127.0.0.1:19101/pre http://127.0.0.1:19101/post & pids+=($!)

demo_config "$work/plain.toml" "$work/plain.db"
demo_config "$work/hooks.toml" "$work/hooks.db" http://127.0.0.1:19101
cat > "$work/log.toml" <<TOML
[storage]
url = "sqlite://$work/log.db"
[webhooks]
allow_http = true
allow_private_addresses = true
[[assistants]]
id = "demo"
name = "Demo"
skill = "builtin:demo"
[assistants.webhooks.log]
url = "http://127.0.0.1:19101/log"
secret = "bench secret"
TOML
RUST_LOG=warn "$D" serve --config "$work/plain.toml" --listen 127.0.0.1:19110 >/dev/null 2>&1 & pids+=($!)
RUST_LOG=warn "$D" serve --config "$work/log.toml" --listen 127.0.0.1:19112 >/dev/null 2>&1 & pids+=($!)
RUST_LOG=warn "$D" serve --config "$work/hooks.toml" --listen 127.0.0.1:19111 >/dev/null 2>&1 & pids+=($!)
for p in 19100 19101 19102 19110 19111 19112; do wait_port $p; done

post_lua "$work/post.lua"

run() { # name url -> "req/s p50 p99"
  local out
  out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/post.lua" "$2")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  local errs; errs=$(grep -E "Non-2xx|Socket errors" <<<"$out" || true)
  printf '%-44s %10s req/s   p50 %-9s p99 %-9s %s\n' "$1" "$rps" "$p50" "$p99" "$errs" >&2
  echo "$rps"
}

Q='?version=2024-08-25'
echo "wrk -t2 -c$CONNECTIONS -d$DURATION, $(nproc) cores, $(date -u +%FT%TZ)" >&2
ref0=$(run "refpipe proxy, 0 hooks" "http://127.0.0.1:19100/")
dl0=$(run "dialogic stateless, no hooks" "http://127.0.0.1:19110/v2/assistants/demo/message$Q")
ref2=$(run "refpipe proxy, 2 hooks" "http://127.0.0.1:19102/")
dl2=$(run "dialogic stateless, pre+post hooks (echo)" "http://127.0.0.1:19111/v2/assistants/demo/message$Q")
dlog=$(run "dialogic stateless, log webhook (echo)" "http://127.0.0.1:19112/v2/assistants/demo/message$Q")
awk -v a="$dl0" -v b="$ref0" -v c="$dl2" -v d="$ref2" -v e="$dlog" 'BEGIN {
  printf "ratio, no hooks:        %.1f%% of refpipe (target >= 40%%)\n", 100*a/b;
  printf "ratio, pre+post hooks:  %.1f%% of refpipe (target >= 60%%)\n", 100*c/d;
  printf "log webhook cost:       %.1f%% of the no-hook rate (target < 10%%)\n", 100*(a-e)/a }' >&2
# Did delivery keep up? Give the worker 5 s to drain, then count what is still open.
sleep 5
open=$(curl -s "http://127.0.0.1:19112/v1/deliveries?status=pending&limit=1000" \
  | python3 -c 'import json,sys; n=len(json.load(sys.stdin)["deliveries"]); print(n if n < 1000 else "1000 or more")' || echo "?")
echo "log deliveries still pending 5 s after the run: $open" >&2
