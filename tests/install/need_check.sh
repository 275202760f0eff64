#!/bin/sh
# Called by the Makefile before it builds a test suite: is Check (check.h) there for $CC?
# Prints nothing when it is, or once root has installed it with apt-get (apt's own output goes to
# stderr); otherwise prints the one line that make stops with, naming the command to run.
cc=${CC:-cc}
have() { printf '#include <check.h>\n' | $cc -E -x c - > /dev/null 2>&1; }
have && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null 2>&1; then
  echo "== Check (check.h) is missing: installing check and pkg-config with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -q && apt-get install -y -q --no-install-recommends check pkg-config; } >&2
  have && exit 0
fi
echo "the test suites need the Check library (check.h not found): run 'sudo apt-get install check pkg-config' (Debian, Ubuntu) and make test again"
