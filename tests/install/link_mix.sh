#!/usr/bin/env bash
# A program compiled with the float headers must not link against the double
# library (nor the reverse): the link fails and the linker's message names
# what to do. The matching pairs link and run. A program that links both
# (-lnn -lnn64, as pkg-config --libs nn nn64 gives) either runs right (the
# linker used only the library of its precision) or fails loudly: the static
# link stops on the check both define, the shared program aborts before main
# naming what to do; it never runs with the other precision's code.
# Usage: link_mix.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
cc=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/prog.c" <<'C'
#include "nn/nn.h"
int main(void) {
    Tensor *t = tensor_full(NN_SHAPE(2, 3), 1.5);
    int ok = t->numel == 6 && t->data[5] == (real)1.5;
    tensor_free(t);
    return ok ? 0 : 1;
}
C
fail=0
# $1: -DNN_DOUBLE or nothing; $2: library; $3: the symbol the message must name, or "" when the link must work
check() {
  local flags=$1 lib=$2 symbol=$3 log="$tmp/log"
  if "$cc" -std=c11 -fopenmp -I. $flags "$tmp/prog.c" "$build/$lib" -lm -o "$tmp/prog" 2> "$log"; then
    if [ -n "$symbol" ]; then echo "FAIL: headers ${flags:-(float)} with $lib linked"; fail=1; return; fi
    if ! "$tmp/prog"; then echo "FAIL: headers ${flags:-(float)} with $lib linked but ran wrong"; fail=1; return; fi
    echo "ok: headers ${flags:-(float)} with $lib link and run"
  else
    if [ -z "$symbol" ]; then echo "FAIL: headers ${flags:-(float)} with $lib did not link:"; cat "$log"; fail=1; return; fi
    if ! grep -q "undefined reference to \`$symbol'" "$log"; then
      echo "FAIL: headers ${flags:-(float)} with $lib failed to link without naming $symbol:"; cat "$log"; fail=1; return
    fi
    echo "ok: headers ${flags:-(float)} with $lib refused: $(grep -o "undefined reference to \`$symbol'" "$log" | head -1)"
  fi
}
# $1: -DNN_DOUBLE or nothing; $2: "static" or "shared"; $3, $4: the libraries in link order (nn, nn64);
# $5: "must-fail" when this order cannot be right (the first library is of the other precision)
check_both() {
  local flags=$1 kind=$2 first=$3 second=$4 must=${5:-} log="$tmp/log" what="headers ${1:-(float)} with $2 -l$3 -l$4"
  local libs
  if [ "$kind" = static ]; then libs="$build/lib$first.a $build/lib$second.a"; else libs="-L$tmp/so -l$first -l$second"; fi
  # shellcheck disable=SC2086
  if ! "$cc" -std=c11 -fopenmp -I. $flags "$tmp/prog.c" $libs -lm -pthread -o "$tmp/prog" 2> "$log"; then
    if grep -q "multiple definition of \`nn_precision_check__link_only_one_of_libnn_and_libnn64'" "$log"; then
      echo "ok: $what refused at link: multiple definition of nn_precision_check__link_only_one_of_libnn_and_libnn64"
    else
      echo "FAIL: $what failed to link without naming the check:"; cat "$log"; fail=1
    fi
    return
  fi
  local rc=0
  { LD_LIBRARY_PATH="$tmp/so" "$tmp/prog" 2> "$log"; } 2> /dev/null || rc=$?
  if [ $rc -eq 0 ] && [ "$must" != must-fail ]; then echo "ok: $what links and runs right"; return; fi
  if [ $rc -ne 0 ] && grep -q "both libnn and libnn64 are linked. Link one" "$log"; then
    echo "ok: $what aborts at start: $(head -c 120 "$log")..."; return
  fi
  echo "FAIL: $what ran (exit $rc) without refusing the mix:"; cat "$log"; fail=1
}

check "" libnn64.a nn_compiled_without_NN_DOUBLE__so_link_libnn__pkg_config_nn
check -DNN_DOUBLE libnn.a nn_compiled_with_NN_DOUBLE__so_link_libnn64__pkg_config_nn64
check "" libnn.a ""
check -DNN_DOUBLE libnn64.a ""
mkdir "$tmp/so"
for l in nn nn64; do # the versioned shared libraries of the build (make lib), under the names -l and the loader use
  so=$(ls "$build"/lib$l.so.[0-9]*.[0-9]*.[0-9]* | head -1)
  ln -s "$(cd "$(dirname "$so")" && pwd)/$(basename "$so")" "$tmp/so/lib$l.so"
  ln -s "$(cd "$(dirname "$so")" && pwd)/$(basename "$so")" "$tmp/so/lib$l.so.${so#*.so.}"
  ln -s "$(cd "$(dirname "$so")" && pwd)/$(basename "$so")" "$tmp/so/lib$l.so.$(echo "${so#*.so.}" | cut -d. -f1)"
done
for kind in static shared; do
  check_both "" $kind nn nn64
  check_both "" $kind nn64 nn must-fail
  check_both -DNN_DOUBLE $kind nn nn64 must-fail
  check_both -DNN_DOUBLE $kind nn64 nn
done
exit $fail
