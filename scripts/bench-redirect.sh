#!/usr/bin/env bash
# Redirect benchmark: nginx answering `return 302` against Tandem's /l/{code} (which stores
# every click before answering), each with one worker, loaded the same way by wrk on
# loopback. Prints both throughputs, their ratio, Tandem's p99 latency and CPU per click, and
# click rows stored against 302s answered.
#
# Usage: scripts/bench-redirect.sh [seconds] [connections] [same|distinct]
#   same (default): every request from one visitor (one IP, one user agent): after the
#   first, every click is a repeat. distinct: a new user agent on every request, so every
#   click is a new visitor (a viral stream's audience), each with its own repeat check.
#   ROUNDS=n (default 3): nginx and Tandem are loaded in turns n times; the median ratio counts.
#   TANDEM_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/tandem_bench?sslmode=disable
#   runs Tandem on that (empty) PostgreSQL database instead of SQLite.
# Needs: wrk and nginx (apt-get install wrk nginx-light), python3 (SQLite) or psql.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN=${1:-10}
CONNS=${2:-64}
VISITORS=${3:-same}
ROUNDS=${ROUNDS:-3}
NGINX_PORT=18181
TANDEM_PORT=18182
work=$(mktemp -d)
cleanup() {
  [ -n "${tandem_pid:-}" ] && kill "$tandem_pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install wrk nginx-light" >&2; exit 1; }
done

echo "building tandem (release)..."
cargo build --release --quiet
bin=target/release/tandem
db_url=${TANDEM_BENCH_DATABASE_URL:-$work/bench.db}
export TANDEM_DATA_DIR=$work TANDEM_DATABASE_URL=$db_url RUST_LOG=error
"$bin" demo >/dev/null 2>&1

count_clicks() {
  if [[ $db_url == postgres* ]]; then
    psql "$db_url" -Atqc "select count(*) from clicks"
  else
    python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from clicks').fetchone()[0])" "$db_url"
  fi
}
link_code() {
  if [[ $db_url == postgres* ]]; then
    psql "$db_url" -Atqc "select code from links where disabled_at is null order by id limit 1"
  else
    python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select code from links where disabled_at is null order by id limit 1').fetchone()[0])" "$db_url"
  fi
}
code=$(link_code)

cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { return 302 https://jadeleaf.example/products/tea-001?tclid=0123456789abcdefghijkl; }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work"

TANDEM_BIND=127.0.0.1:$TANDEM_PORT TANDEM_WORKERS=1 "$bin" serve >/dev/null 2>&1 &
tandem_pid=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$TANDEM_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

cat > "$work/distinct.lua" <<'LUA'
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
n = 0
request = function()
  n = n + 1
  return wrk.format("GET", nil, {["User-Agent"] =
    "Mozilla/5.0 (iPhone) visitor " .. math.random(1, 1000000000) .. "-" .. n})
end
LUA
case $VISITORS in
  same) load=(-H "User-Agent: Mozilla/5.0 (iPhone) bench") ;;
  distinct) load=(-s "$work/distinct.lua") ;;
  *) echo "visitors: same or distinct, not $VISITORS" >&2; exit 2 ;;
esac
run() { wrk -t2 -c"$CONNS" -d"${SECONDS_RUN}s" --latency "${load[@]}" "$1"; }
rps() { awk '/Requests\/sec/ {print $2}' <<<"$1"; }
total() { awk '/requests in/ {print $1}' <<<"$1"; }
p99() { awk '$1=="99%" {print $2}' <<<"$1"; }

echo "warming up..."
wrk -t1 -c8 -d2s "http://127.0.0.1:$NGINX_PORT/" >/dev/null
wrk -t1 -c8 -d2s -H "User-Agent: Mozilla/5.0 (iPhone) bench" "http://127.0.0.1:$TANDEM_PORT/l/$code" >/dev/null

# Tandem's CPU time (user + system, all its threads) in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$tandem_pid/stat"; }
backend=$([[ $db_url == postgres* ]] && echo PostgreSQL || echo SQLite)
# nginx's own figure moves by a fifth from one run to the next on a small VM, so the two are
# loaded in turns, ROUNDS times, and the median ratio is the result.
ratios=(); answered_all=0; stored_all=0; cpu_all=0
for round in $(seq 1 "$ROUNDS"); do
  nginx_out=$(run "http://127.0.0.1:$NGINX_PORT/")
  before=$(count_clicks)
  cpu_before=$(cpu_ticks)
  tandem_out=$(run "http://127.0.0.1:$TANDEM_PORT/l/$code")
  cpu_after=$(cpu_ticks)
  sleep 0.5
  after=$(count_clicks)
  n_rps=$(rps "$nginx_out"); t_rps=$(rps "$tandem_out")
  answered=$(total "$tandem_out"); stored=$((after - before))
  ratio=$(python3 -c "print(f'{float(\"$t_rps\")/float(\"$n_rps\"):.2f}')")
  ratios+=("$ratio")
  answered_all=$((answered_all + answered)); stored_all=$((stored_all + stored))
  cpu_all=$((cpu_all + cpu_after - cpu_before))
  printf 'round %s: nginx %9.0f req/s (p99 %s) | tandem %9.0f req/s (p99 %s) | ratio %s | 302s %s, rows %s\n' \
    "$round" "$n_rps" "$(p99 "$nginx_out")" "$t_rps" "$(p99 "$tandem_out")" "$ratio" \
    "$answered" "$stored"
  if [ "$stored" -lt "$answered" ]; then echo "LOST CLICKS: $((answered - stored))"; exit 1; fi
done
echo
echo "backend:               $backend ($VISITORS visitors, $CONNS connections, $ROUNDS x $SECONDS_RUN s each)"
echo "ratio tandem/nginx:    median $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') (rounds: ${ratios[*]})"
echo "tandem CPU per click:  $(python3 -c "print(f'{$cpu_all / $(getconf CLK_TCK) / $answered_all * 1e6:.1f}')") µs (HTTP worker and click writer together)"
echo "302s answered:         $answered_all"
echo "click rows stored:     $stored_all"
