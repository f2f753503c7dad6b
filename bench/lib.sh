# Shared by bench/compare.sh and bench/floor.sh (sourced, not run, from the repository root).

# bench_setup: a scratch directory ($work, removed at exit) and the list of servers to stop at
# exit ($pids); checks for wrk; builds Dialogic and refpipe unless SKIP_BUILD is set; sets $R
# (refpipe) and $D (dialogic).
bench_setup() {
  REFPIPE_DIR=${REFPIPE_DIR:-../shared/bench/refpipe}
  work=$(mktemp -d)
  pids=()
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
  command -v wrk >/dev/null || { echo "wrk is required: apt-get install wrk" >&2; exit 1; }
  if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release -q -p dialogic-server
    CARGO_TARGET_DIR="$PWD/target/refpipe" cargo build --release -q --manifest-path "$REFPIPE_DIR/Cargo.toml"
  fi
  R="$PWD/target/refpipe/release/refpipe"
  D="$PWD/target/release/dialogic"
}

# Wait until something listens on 127.0.0.1:PORT (10 s at most).
wait_port() {
  for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "port $1 did not open" >&2; exit 1
}

# demo_config FILE DB [HOOKS]: a Dialogic config serving the bundled demo on SQLite file DB;
# with HOOKS (the base URL of refpipe's echo hook), pre- and post-message webhooks to
# HOOKS/pre and HOOKS/post, signed with a secret.
demo_config() {
  {
    printf '[storage]\nurl = "sqlite://%s"\n' "$2"
    [ -n "${3:-}" ] && printf '[webhooks]\nallow_http = true\nallow_private_addresses = true\n'
    printf '[[assistants]]\nid = "demo"\nname = "Demo"\nskill = "builtin:demo"\n'
    if [ -n "${3:-}" ]; then
      for kind in pre post; do
        printf '[assistants.webhooks.%s_message]\nurl = "%s/%s"\nsecret = "bench secret"\n' "$kind" "$3" "$kind"
      done
    fi
  } > "$1"
}

# post_lua FILE: the wrk script both benchmarks send (one stateless demo message).
post_lua() {
  cat > "$1" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"input":{"text":"I want a large pizza"}}'
LUA
}
