#!/usr/bin/env bash
# A program compiled with the float headers must not link against the double
# library (nor the reverse): the link fails and the linker's message names
# what to do. The matching pairs link and run. Usage: link_mix.sh BUILD_DIR
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
check "" libnn64.a nn_compiled_without_NN_DOUBLE__so_link_libnn__pkg_config_nn
check -DNN_DOUBLE libnn.a nn_compiled_with_NN_DOUBLE__so_link_libnn64__pkg_config_nn64
check "" libnn.a ""
check -DNN_DOUBLE libnn64.a ""
exit $fail
