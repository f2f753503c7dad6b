#!/usr/bin/env bash
# The floor of the message path, next to refpipe and Dialogic, in the same run with the same wrk
# settings: what a program that does only what issues 3 and 8 require of every message (parse the
# request; sign, send, parse and record the webhook calls; commit the turn's log record before
# answering), with no NLU, no dialog and no configuration, reaches as a share of refpipe.
#
#   bash bench/floor.sh            # DURATION=6s CONNECTIONS=32 ROUNDS=3; needs wrk
#
# Rows, for 0 and 2 webhooks (refpipe's echo hook as pre and post):
#   refpipe                   1 inbound exchange (+ 2 hook calls), nothing else
#   floor, no store           the turn as floor builds it, its log record thrown away
#   floor, ack before commit  stored, but answered before the commit (not durable)
#   floor                     stored durably: Dialogic's schema and pragmas, group commit
#   floor, bare / blob        the same without any index / as one row per commit
#   dialogic                  the real server, demo skill (stateless message)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${DURATION:-6s}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-3}
bench_setup
[ -n "${SKIP_BUILD:-}" ] ||
  CARGO_TARGET_DIR="$PWD/target/floor" cargo build --release -q --manifest-path bench/floor/Cargo.toml
F="$PWD/target/floor/release/floor"
HOOKS="http://127.0.0.1:19201/pre http://127.0.0.1:19201/post"

"$R" hook 127.0.0.1:19201 & pids+=($!)
"$R" proxy 127.0.0.1:19200 & pids+=($!)
"$R" proxy 127.0.0.1:19202 $HOOKS & pids+=($!)
demo_config "$work/d0.toml" "$work/d0.db"
demo_config "$work/d2.toml" "$work/d2.db" http://127.0.0.1:19201
RUST_LOG=warn "$D" serve --config "$work/d0.toml" --listen 127.0.0.1:19210 >/dev/null 2>&1 & pids+=($!)
RUST_LOG=warn "$D" serve --config "$work/d2.toml" --listen 127.0.0.1:19212 >/dev/null 2>&1 & pids+=($!)
# port = 19220 + 10 * variant + hooks
variants=("no store|-|" "ack before commit|db|FLOOR_ACK=before" "floor|db|" "bare|db|FLOOR_STORE=bare" "blob|db|FLOOR_STORE=blob")
for i in "${!variants[@]}"; do
  IFS='|' read -r _ db envs <<<"${variants[$i]}"
  for h in 0 2; do
    port=$((19220 + 10 * i + h)); file=-; [ "$db" = db ] && file="$work/f$port.db"
    urls=""; [ "$h" = 2 ] && urls=$HOOKS
    env $envs "$F" serve 127.0.0.1:$port "$file" $urls 2>/dev/null & pids+=($!)
  done
done
for p in 19200 19201 19202 19210 19212; do wait_port $p; done
for i in "${!variants[@]}"; do wait_port $((19220 + 10 * i)); wait_port $((19222 + 10 * i)); done

post_lua "$work/post.lua"
rate() { wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s "$work/post.lua" "$1" | awk '/Requests\/sec/ {printf "%.0f", $2}'; }
msg=/v2/assistants/demo/message?version=2024-08-25
echo "wrk -t2 -c$CONNECTIONS -d$DURATION, $(nproc) cores, $(date -u +%FT%TZ); msg/s and share of refpipe in the same round"
for round in $(seq 1 "$ROUNDS"); do
  for h in 0 2; do
    ref=$(rate "http://127.0.0.1:$((19200 + h))/")
    printf "round %d, %d hooks: refpipe %7d\n" "$round" "$h" "$ref"
    for i in "${!variants[@]}"; do
      IFS='|' read -r name _ _ <<<"${variants[$i]}"
      r=$(rate "http://127.0.0.1:$((19220 + 10 * i + h))/")
      printf "  floor, %-18s %7d  %5.1f %%\n" "$name" "$r" "$(echo "100 * $r / $ref" | bc -l)"
    done
    r=$(rate "http://127.0.0.1:$((19210 + h))$msg")
    printf "  %-25s %7d  %5.1f %%\n" "dialogic" "$r" "$(echo "100 * $r / $ref" | bc -l)"
  done
done
