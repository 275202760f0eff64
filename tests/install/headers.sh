#!/usr/bin/env bash
# Every public header (the arguments) is included by the umbrella nn/nn.h and
# compiles on its own, in both precisions. Run from the repository root.
set -euo pipefail
cc=${CC:-cc}
fail=0
for h in "$@"; do
  if ! grep -q "^#include \"$h\"" nn/nn.h; then echo "FAIL: nn/nn.h does not include $h"; fail=1; fi
  for flags in "" -DNN_DOUBLE; do
    if ! echo "#include \"$h\"" | "$cc" -std=c11 -Wall -Wextra -Werror -I. $flags -fsyntax-only -x c -; then
      echo "FAIL: $h does not compile on its own ${flags}"; fail=1
    fi
  done
done
[ $fail = 0 ] && echo "ok: $# public headers, each self-contained and in nn/nn.h"
exit $fail
