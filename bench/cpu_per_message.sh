#!/usr/bin/env bash
# Server CPU time per message: drives a running Dialogic server with wrk and divides the
# process's CPU time (user + system, from /proc/PID/stat) by the requests served.
#
#   bash bench/cpu_per_message.sh PORT [SECONDS] [DRAIN_SECONDS]
#   MODE=stateful bash bench/cpu_per_message.sh PORT ...   # stateful messages instead
#
# PORT: a `dialogic serve --listen 127.0.0.1:PORT` with the demo assistant (as bench/compare.sh
# starts them). DRAIN_SECONDS (default 0): time to wait after the run before reading the CPU
# time, so background work (log webhook delivery) is counted too. Also prints the split by
# thread name (tokio workers, the SQLite writer, sqlx's reader threads). MODE=stateful first
# creates 256 sessions and sends each message to the next of them in turn (the two wrk threads
# half-way apart, so no two messages run on one session at once).
set -euo pipefail
PORT=$1; SECS=${2:-6}; DRAIN=${3:-0}
pid=$(pgrep -f "listen 127.0.0.1:$PORT\b" | head -1)
[ -n "$pid" ] || { echo "no dialogic server listening on port $PORT" >&2; exit 1; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
lua=$(mktemp); trap 'rm -f "$lua"' EXIT
cat > "$lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"input":{"text":"I want a large pizza"}}'
LUA
path="/v2/assistants/demo/message?version=2024-08-25"
if [ "${MODE:-stateless}" = stateful ]; then
  sids=$(for _ in $(seq 1 256); do
    curl -sf -XPOST "http://127.0.0.1:$PORT/v2/assistants/demo/sessions?version=2024-08-25" \
      | sed -E 's/.*"session_id":"([^"]+)".*/"\1",/'
  done)
  cat >> "$lua" <<LUA
sids = {$sids}
-- each wrk thread starts half-way round from the other, so no two requests share a session
started = 0
setup = function(thread)
  thread:set("n", started * math.floor(#sids / 2))
  started = started + 1
end
request = function()
  n = n + 1
  return wrk.format(nil, "/v2/assistants/demo/sessions/" .. sids[(n % #sids) + 1] .. "/message?version=2024-08-25")
end
LUA
  path=/
fi
threads() { for t in /proc/"$pid"/task/*; do echo "$(tr ' ' _ <"$t/comm") $(awk '{print $14 + $15}' "$t/stat")"; done \
  | awk '{a[$1] += $2} END {for (k in a) print k, a[k]}' | sort; }
t0=$(threads)
before=$(cpu "$pid")
out=$(wrk -t2 -c32 -d"${SECS}s" -s "$lua" "http://127.0.0.1:$PORT$path")
sleep "$DRAIN"
after=$(cpu "$pid")
t1=$(threads)
n=$(awk '/requests in/ {print $1}' <<<"$out")
rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
ticks=$(getconf CLK_TCK)
echo "port $PORT: $rps msg/s, server CPU $(( (after - before) * 1000000 / ticks / n )) us per message"
join <(echo "$t0") <(echo "$t1") | awk -v n="$n" -v tck="$ticks" \
  '{d = ($3 - $2) * 1000000 / tck / n; if (d >= 0.1) printf "  %-20s %6.1f us per message\n", $1, d}'
