#!/usr/bin/env bash
# The MPI build's checks (make MPI=1 first; .ci/run runs this): run from the repository's root.
#  1. tests/nn/test_grad_sum under mpirun -np 2: the allreduce and the ordered chain across processes;
#     tests/sasrec/test_coverage under -np 3: ranks, coverage and their intervals as in one process.
#  2. sasrec train on a small generated data set: the final JSON line (timings and memory aside) of
#     -np 1, -np 2 and -np 3 with --threads 1 equals the default build's with the same --shards.
#  3. A failing rank ends the job with its message and a non-zero exit, within seconds, and the previous
#     model folder stays as it was (rank 0, stopped by mpirun, removes its staging folder): ranks given bad
#     data, and a rank killed mid-run.
#  4. A rank whose copy of --data is shuffled, longer or shorter than rank 0's, or whose flags differ, ends
#     the job with exit 1 before any work, naming the rank and the files; --out untouched, nothing left.
#  5. Rank 0 killed with SIGKILL after a finished epoch leaves its staging folder; the job run again with
#     --resume continues it and ends with the default build's final line and model.safetensors, byte for byte.
# Root may run it: Open MPI is told so, and to oversubscribe (3 ranks on 2 cores).
set -euo pipefail
MPI_BIN=${MPI_BIN:-build/mpi/sasrec}
SEQ_BIN=${SEQ_BIN:-./sasrec}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "tests/mpi/run.sh: FAILED: $*" >&2; exit 1; }
# The final JSON line without the fields that vary from run to run.
result() { tail -n 1 | sed -E 's/(, )?"(train_s_per_epoch|eval_s_per_epoch|seconds|peak_rss_mib)": [0-9.]+//g'; }

echo "== test_grad_sum, 2 ranks"
CK_FORK=no timeout 120 mpirun -np 2 build/mpi/tests/nn/test_grad_sum
echo "== test_coverage, 3 ranks"
CK_FORK=no timeout 300 mpirun -np 3 build/mpi/tests/sasrec/test_coverage

echo "== identical final lines"
"$SEQ_BIN" gen --out "$tmp/data.txt" --users 600 --items 400 --seed 3 >/dev/null
flags=(--data "$tmp/data.txt" --epochs 4 --threads 1 --shards 6 --eval-batch 128)
"$SEQ_BIN" train "${flags[@]}" --out "$tmp/seq" 2>"$tmp/seq.err" | result > "$tmp/seq.line" || { cat "$tmp/seq.err"; fail "the default build's run"; }
echo "default build: $(cat "$tmp/seq.line")"
for np in 1 2 3; do
  timeout 300 mpirun -np $np "$MPI_BIN" train "${flags[@]}" --out "$tmp/np$np" 2>"$tmp/np$np.err" | result > "$tmp/np$np.line" \
    || { cat "$tmp/np$np.err"; fail "-np $np"; }
  cmp -s "$tmp/seq.line" "$tmp/np$np.line" || fail "-np $np gave $(cat "$tmp/np$np.line")"
  echo "-np $np: the same line (${SECONDS} s since the start)"
done
for np in 2 3; do # the model folders are the same too, the files that hold times aside
  cmp -s "$tmp/seq/model.safetensors" "$tmp/np$np/model.safetensors" || fail "-np $np wrote other weights"
done

echo "== refusals"
set +e
timeout 60 mpirun -np 3 "$MPI_BIN" train "${flags[@]}" --shards 2 --out "$tmp/np1" >/dev/null 2>"$tmp/refused.err"
code=$?
set -e
[ "$code" -eq 2 ] && grep -q -- "--shards 2 is fewer than the 3 ranks" "$tmp/refused.err" || { cat "$tmp/refused.err"; fail "3 ranks, 2 shards: exit $code"; }
set +e
timeout 60 mpirun -np 2 "$MPI_BIN" eval --data "$tmp/data.txt" --model "$tmp/np1" >/dev/null 2>"$tmp/refused.err"
code=$?
set -e
[ "$code" -eq 2 ] && grep -q "only sasrec train runs under mpirun" "$tmp/refused.err" || { cat "$tmp/refused.err"; fail "eval: exit $code"; }
echo "more ranks than --shards, and eval under mpirun: refused with exit 2"

echo "== a rank with bad data ends the job"
printf 'u1 1\nu1 2\n' > "$tmp/bad.txt"
cp -r "$tmp/np1" "$tmp/keep"
start=$(date +%s)
set +e
timeout 60 mpirun -np 2 "$MPI_BIN" train --data "$tmp/bad.txt" --out "$tmp/np1" --epochs 50 --threads 1 \
  >/dev/null 2>"$tmp/bad.err" # the same bad file on both ranks: a copy that differs is refused earlier (below)
code=$?
set -e
[ "$code" -ne 0 ] && [ "$code" -ne 124 ] || fail "exit $code (124: it hung)"
grep -q "bad.txt: none of its 1 users has at least 3 interactions" "$tmp/bad.err" || { cat "$tmp/bad.err"; fail "no message"; }
grep -q "rank [01] of 2 failed (exit 1); ending the job" "$tmp/bad.err" || { cat "$tmp/bad.err"; fail "no rank named"; }
diff -r "$tmp/keep" "$tmp/np1" >/dev/null || fail "--out changed"
[ -z "$(ls -a "$tmp" | grep '^\.np1\.sasrec-')" ] || fail "rank 0 left its staging folder"
echo "exit $code after $(( $(date +%s) - start )) s, --out as it was, no staging folder left"

echo "== a rank whose copy of the data differs ends the job before any work"
shuf --random-source=<(yes) "$tmp/data.txt" > "$tmp/shuffled.txt"          # the same lines, in another order
"$SEQ_BIN" gen --out "$tmp/extra.txt" --users 100 --items 400 --seed 9 >/dev/null
{ cat "$tmp/data.txt"; sed 's/^u/v/' "$tmp/extra.txt"; } > "$tmp/longer.txt" # 100 more users
head -n 500 "$tmp/data.txt" > "$tmp/shorter.txt"                             # 100 users fewer
for copy in shuffled longer shorter; do
  start=$(date +%s)
  set +e
  timeout 60 mpirun -np 1 "$MPI_BIN" train --data "$tmp/data.txt" --out "$tmp/np1" --epochs 50 --threads 1 : \
    -np 1 "$MPI_BIN" train --data "$tmp/$copy.txt" --out "$tmp/np1" --epochs 50 --threads 1 >"$tmp/$copy.out" \
    2>"$tmp/$copy.err"
  code=$?
  set -e
  [ "$code" -eq 1 ] || { cat "$tmp/$copy.err"; fail "$copy: exit $code, expected 1 (124: it hung)"; }
  grep -q "rank 1's --data $tmp/$copy.txt (SHA-256 [0-9a-f]*...) differs from rank 0's $tmp/data.txt" "$tmp/$copy.err" \
    || { cat "$tmp/$copy.err"; fail "$copy: the ranks and files are not named"; }
  ! grep -q "^epoch" "$tmp/$copy.out" || fail "$copy: it trained"
  diff -r "$tmp/keep" "$tmp/np1" >/dev/null || fail "$copy: --out changed"
  [ -z "$(ls -a "$tmp" | grep '^\.np1\.sasrec-')" ] || fail "$copy: a staging folder was left"
  echo "$copy copy on rank 1: exit $code after $(( $(date +%s) - start )) s, --out as it was, nothing left"
done
set +e # other flags on one rank
timeout 60 mpirun -np 1 "$MPI_BIN" train --data "$tmp/data.txt" --out "$tmp/np1" --epochs 50 --threads 1 : \
  -np 1 "$MPI_BIN" train --data "$tmp/data.txt" --out "$tmp/np1" --epochs 50 --threads 2 --hidden 32 \
  >/dev/null 2>"$tmp/flags.err"
code=$?
set -e
[ "$code" -eq 1 ] && grep -q "rank 1 was given other flags than rank 0" "$tmp/flags.err" \
  || { cat "$tmp/flags.err"; fail "other flags on rank 1: exit $code"; }
echo "other flags on rank 1: exit $code"

echo "== a rank killed mid-run ends the job"
mpirun -np 2 "$MPI_BIN" train --data "$tmp/data.txt" --out "$tmp/np1" --epochs 100000 --patience 100000 --threads 1 \
  >/dev/null 2>"$tmp/kill.err" &
job=$!
for _ in $(seq 300); do # until the first epoch is logged in the job's staging folder: training is under way
  ls "$tmp"/.np1.sasrec-"$(ps -o pid= --ppid $job | sed -n 1p | tr -d ' ')"-*/log.jsonl >/dev/null 2>&1 && break
  sleep 0.1
done
victim=$(ps -o pid= --ppid $job | sed -n 2p)
[ -n "$victim" ] || fail "no second rank found under mpirun ($job)"
kill -9 "$victim"
start=$(date +%s)
( sleep 60; touch "$tmp/hung"; kill -9 $job 2>/dev/null ) & watchdog=$!
set +e
wait $job
code=$?
set -e
kill $watchdog 2>/dev/null || true
[ ! -e "$tmp/hung" ] || fail "the job hung: killed after 60 s"
[ "$code" -ne 0 ] || fail "exit 0"
diff -r "$tmp/keep" "$tmp/np1" >/dev/null || fail "--out changed"
[ -z "$(ls -a "$tmp" | grep '^\.np1\.sasrec-')" ] || fail "rank 0 left its staging folder"
echo "exit $code after $(( $(date +%s) - start )) s, --out as it was, no staging folder left; mpirun said:"
grep -m 2 -i -e "signal" -e "exited" "$tmp/kill.err" || true
echo "== rank 0 killed after a finished epoch, then --resume"
rflags=(--data "$tmp/data.txt" --epochs 10 --threads 1 --shards 6 --eval-batch 128)
"$SEQ_BIN" train "${rflags[@]}" --out "$tmp/rseq" 2>"$tmp/rseq.err" | result > "$tmp/rseq.line" || { cat "$tmp/rseq.err"; fail "the default build's run"; }
mpirun -np 2 "$MPI_BIN" train "${rflags[@]}" --out "$tmp/res" >/dev/null 2>"$tmp/res.err" &
job=$!
state=""
for _ in $(seq 1200); do # until rank 0 has saved a finished epoch's state in its staging folder
  state=$(ls "$tmp"/.res.sasrec-*/resume.safetensors 2>/dev/null | head -n 1 || true)
  [ -n "$state" ] && break
  sleep 0.05
done
[ -n "$state" ] || fail "no resumable state appeared"
victim=$(basename "$(dirname "$state")" | sed -E 's/^[.]res[.]sasrec-([0-9]+)-.*/\1/') # rank 0 names its folder
kill -9 "$victim"
set +e
wait $job
code=$?
set -e
[ "$code" -ne 0 ] || fail "the job ended with exit 0 before rank 0 was killed"
[ -n "$(ls -a "$tmp" | grep '^[.]res[.]sasrec-')" ] || fail "rank 0's staging folder is gone"
timeout 300 mpirun -np 2 "$MPI_BIN" train "${rflags[@]}" --out "$tmp/res" --resume 2>"$tmp/res.err" | result \
  > "$tmp/res.line" || { cat "$tmp/res.err"; fail "the resumed job"; }
grep -q "resuming the run a kill left in" "$tmp/res.err" || { cat "$tmp/res.err"; fail "the job did not resume"; }
cmp -s "$tmp/rseq.line" "$tmp/res.line" || fail "resumed: $(cat "$tmp/res.line"), expected $(cat "$tmp/rseq.line")"
cmp -s "$tmp/rseq/model.safetensors" "$tmp/res/model.safetensors" || fail "resumed: other weights"
[ -z "$(ls -a "$tmp" | grep '^[.]res[.]sasrec-')" ] || fail "a staging folder was left"
echo "rank 0 killed (exit $code), resumed: the default build's line and weights"

echo "== tests/mpi/run.sh passed in ${SECONDS} s"
