#!/bin/sh
# bench/serve_reload.sh: issue 24's reload under load, rerunnable (not part of make test).
#
#   bench/serve_reload.sh MODEL DATA [WORK]
#
# Serves a copy of the model folder MODEL (`sasrec serve --listen 127.0.0.1:0
# --threads 2`), drives it with wrk (-t2 -c16, a POST of DATA's first user's
# whole sequence, k 10) for $SECONDS_LOAD seconds (60), and meanwhile runs
# `sasrec train --data DATA --epochs 1 --seed i --sample-method fast --out DIR`
# $RELOADS times (10; each a different model; 2-5 s each on Beauty), DIR
# being the folder served; after each train
# the new folder is copied beside (WORK/models/i, outside DIR's parent). In
# parallel a curl loop posts the same request and logs every answer with a
# timestamp. Afterwards: wrk's non-2xx answers and socket errors, the
# service's sasrec_model_reloads_total (from /metrics), and each logged answer
# compared (items and scores, exactly) with the answer of every saved model
# (`sasrec serve` on stdin, one model at a time): every answer must equal one
# model's answer. Prints the figures and one JSON line; exit 0 when every
# target holds (zero non-2xx, zero errors, RELOADS reloads, every answer
# matched), 1 otherwise. Needs wrk, curl and python3. Environment:
# PROGRAM (./sasrec), SECONDS_LOAD (60), RELOADS (10), WRK_CONNS (16).
set -eu
[ $# -ge 2 ] || { echo "usage: bench/serve_reload.sh MODEL DATA [WORK]" >&2; exit 2; }
MODEL=$1
DATA=$2
WORK=${3:-/tmp/serve_reload}
PROGRAM=${PROGRAM:-./sasrec}
SECONDS_LOAD=${SECONDS_LOAD:-60}
RELOADS=${RELOADS:-10}
WRK_CONNS=${WRK_CONNS:-16}
case $PROGRAM in /*) ;; *) PROGRAM=$(pwd)/$PROGRAM ;; esac

rm -rf "$WORK"
mkdir -p "$WORK/run" "$WORK/models" "$WORK/answers"
cp -a "$MODEL" "$WORK/run/model"
cp -a "$MODEL" "$WORK/models/0"

# The request: DATA's first user, raw ids, as bench/serve builds it.
REQ=$(awk 'NR == 1 { printf "{\"id\": \"%s\", \"items\": [", $1; for (i = 2; i <= NF; i++) printf "%s\"%s\"", (i > 2 ? ", " : ""), $i; printf "]}"; exit }' "$DATA")
printf '%s\n' "$REQ" > "$WORK/request.json"
printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [==[%s]==]\n' "$REQ" > "$WORK/post.lua"

"$PROGRAM" serve --model "$WORK/run/model" --listen 127.0.0.1:0 --threads 2 2> "$WORK/serve.log" &
SERVE=$!
PORT=
for _ in $(seq 100); do
    PORT=$(sed -n 's/.* port \([0-9][0-9]*\).*/\1/p' "$WORK/serve.log" | head -1)
    [ -n "$PORT" ] && break
    sleep 0.1
done
[ -n "$PORT" ] || { echo "serve did not start:" >&2; cat "$WORK/serve.log" >&2; kill $SERVE; exit 1; }
URL=http://127.0.0.1:$PORT

wrk -t2 -c"$WRK_CONNS" -d"${SECONDS_LOAD}s" --latency -s "$WORK/post.lua" "$URL/recommend" > "$WORK/wrk.txt" 2>&1 &
WRK=$!

# The curl loop: one line per answer, "seconds status body".
(
    while [ ! -e "$WORK/stop" ]; do
        T=$(date +%s.%N)
        OUT=$(curl -s -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/request.json" \
              -w '\n%{http_code}' "$URL/recommend" || echo "
curl-failed")
        printf '%s %s %s\n' "$T" "$(printf '%s' "$OUT" | tail -n 1)" "$(printf '%s' "$OUT" | head -n 1)"
    done
) > "$WORK/curl.log" &
CURL=$!

T0=$(date +%s.%N)
sleep 2
for i in $(seq "$RELOADS"); do
    "$PROGRAM" train --data "$DATA" --epochs 1 --seed "$i" --sample-method fast --out "$WORK/run/model" \
        > "$WORK/train_$i.log" 2>&1
    cp -a "$WORK/run/model" "$WORK/models/$i"
    echo "train $i done at +$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
done
wait $WRK
touch "$WORK/stop"
wait $CURL
sleep 1.5 # the service looks at the folder each second: the last reload is counted
curl -s "$URL/metrics" > "$WORK/metrics.txt"
kill -TERM $SERVE
STATUS=0
wait $SERVE || STATUS=$?
[ $STATUS -eq 143 ] || echo "serve exited with status $STATUS, not 143" >&2

for d in "$WORK"/models/*; do
    "$PROGRAM" serve --model "$d" < "$WORK/request.json" > "$WORK/answers/$(basename "$d").json" 2> /dev/null
done

cat "$WORK/wrk.txt"
python3 - "$WORK" "$RELOADS" "$STATUS" <<'EOF'
import json, os, re, sys
work, reloads_wanted, status = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
wrk = open(f"{work}/wrk.txt").read()
requests = int(re.search(r"(\d+) requests in", wrk).group(1))
m = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk)
non2xx = int(m.group(1)) if m else 0
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", wrk)
errors = sum(map(int, m.groups())) if m else 0
lat = {q: v + u for q, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(\w+)", wrk, re.M)}
mx = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", wrk).group(1)
metrics = open(f"{work}/metrics.txt").read()
m = re.search(r"^sasrec_model_reloads_total (\d+)", metrics, re.M)
reloads = int(m.group(1)) if m else -1
m = re.search(r"^sasrec_model_reload_failures_total (\d+)", metrics, re.M)
failures = int(m.group(1)) if m else -1
models = {}
for name in sorted(os.listdir(f"{work}/answers"), key=lambda n: int(n.split(".")[0])):
    a = json.loads(open(f"{work}/answers/{name}").read())
    models[int(name.split(".")[0])] = (a["items"], a["scores"])
distinct = len({json.dumps(v) for v in models.values()})
counts = {i: 0 for i in models}
logged = unmatched = not200 = 0
order = []
for line in open(f"{work}/curl.log"):
    t, code, body = line.rstrip("\n").split(" ", 2)
    logged += 1
    if code != "200":
        not200 += 1
        continue
    a = json.loads(body)
    hit = [i for i, v in models.items() if v == (a["items"], a["scores"])]
    if len(hit) != 1:
        unmatched += 1
        continue
    counts[hit[0]] += 1
    if not order or order[-1] != hit[0]:
        order.append(hit[0])
print(f"wrk: {requests} answers, non-2xx {non2xx}, socket errors {errors}, p50 {lat.get('50')}, p99 {lat.get('99')}, max {mx}")
print(f"metrics: sasrec_model_reloads_total {reloads}, sasrec_model_reload_failures_total {failures}")
print(f"models: {len(models)} saved, {distinct} distinct answers to the request")
print(f"curl: {logged} answers logged, {not200} not 200, {unmatched} not equal to exactly one model's answer")
print(f"curl answers per model: {counts}; models in the order answers came: {order}")
ok = non2xx == 0 and errors == 0 and reloads == reloads_wanted and failures == 0 and unmatched == 0 \
    and not200 == 0 and distinct == len(models) and status == 143 and order == sorted(order)
print(json.dumps({"bench": "serve_reload", "answers": requests, "non_2xx": non2xx, "socket_errors": errors,
                  "p50": lat.get("50"), "p99": lat.get("99"), "max": mx, "reloads": reloads,
                  "reload_failures": failures, "models": len(models), "distinct_models": distinct,
                  "curl_answers": logged, "curl_not_200": not200, "curl_unmatched": unmatched,
                  "curl_per_model": counts, "ok": ok}))
sys.exit(0 if ok else 1)
EOF
