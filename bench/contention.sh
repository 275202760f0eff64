#!/bin/sh
# bench/contention.sh: how a benchmark slows down when one other CPU-bound
# process shares the machine. Runs COMMAND alone and then beside a busy loop
# (a shell spinning at nice NICE), back to back, REPS times, and prints one
# JSON line per "op" that COMMAND reports: the medians alone and busy, their
# ratio, and every run's seconds (so the noise shows).
#
#   bench/contention.sh [--reps N] [--nice N] [--label S] -- COMMAND [ARGS...]
#
# COMMAND prints JSON lines with "op" and "seconds", as bench/sasrec_epoch,
# bench/attention and bench/parallel do. Examples:
#   bench/contention.sh --reps 5 -- ./bench/sasrec_epoch --epochs 2 --threads 2
#   bench/contention.sh --reps 5 --label openmp -- /work/baseline/bench/sasrec_epoch --epochs 2
set -eu
reps=3
nice_level=0
label=""
while [ $# -gt 0 ]; do
    case "$1" in
    --reps) reps=$2; shift 2 ;;
    --nice) nice_level=$2; shift 2 ;;
    --label) label=$2; shift 2 ;;
    --) shift; break ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/contention.sh: unknown option $1 (expected --reps, --nice, --label, then -- COMMAND)" >&2; exit 2 ;;
    esac
done
[ $# -gt 0 ] || { echo "bench/contention.sh: no COMMAND after --" >&2; exit 2; }

tmp=$(mktemp -d)
busy_pid=""
cleanup() {
    [ -n "$busy_pid" ] && kill "$busy_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# "op seconds" pairs from the JSON lines of one run, appended to $tmp/<mode>
collect() {
    sed -n 's/.*"op": *"\([^"]*\)".*"seconds": *\([0-9.eE+-]*\).*/\1 \2/p' >>"$tmp/$1"
}

i=0
while [ "$i" -lt "$reps" ]; do
    "$@" 2>/dev/null | collect alone
    nice -n "$nice_level" sh -c 'while :; do :; done' &
    busy_pid=$!
    sleep 0.2
    "$@" 2>/dev/null | collect busy
    kill "$busy_pid"
    wait "$busy_pid" 2>/dev/null || true
    busy_pid=""
    i=$((i + 1))
done

awk -v label="$label" -v nice_level="$nice_level" -v cmd="$*" '
function median(list,    n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
FNR == 1 { mode = FILENAME ~ /busy$/ ? "busy" : "alone" }
{ runs[mode, $1] = runs[mode, $1] (runs[mode, $1] == "" ? "" : " ") $2; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
END {
    for (k = 1; k <= n; k++) {
        op = order[k]; a = median(runs["alone", op]); b = median(runs["busy", op])
        gsub(/ /, ", ", runs["alone", op]); gsub(/ /, ", ", runs["busy", op])
        printf "{\"op\": \"%s\", \"label\": \"%s\", \"alone_s\": %.4f, \"busy_s\": %.4f, \"ratio\": %.2f, \"busy_nice\": %s, \"alone_runs\": [%s], \"busy_runs\": [%s], \"command\": \"%s\"}\n",
            op, label, a, b, (a > 0 ? b / a : 0), nice_level, runs["alone", op], runs["busy", op], cmd
    }
}' "$tmp/alone" "$tmp/busy"
