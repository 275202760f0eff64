#!/usr/bin/env bash
# Runs a command as on a machine without Check: in a private mount namespace in which every file of the
# Check library (its headers, libcheck.*, check.pc) is absent, each folder holding one covered by an
# overlay with a whiteout in its place. Nothing changes outside the command. Needs root (unshare -m) or
# unprivileged user namespaces (unshare -rm). Usage: tests/install/hide_check.sh COMMAND [ARG...]
set -euo pipefail
if [ -z "${HIDE_CHECK_INSIDE:-}" ]; then
  if [ "$(id -u)" = 0 ]; then ns=(-m); else ns=(-r -m); fi
  exec unshare "${ns[@]}" --propagation private env HIDE_CHECK_INSIDE=1 "$0" "$@"
fi
cc=${CC:-cc}
files=()
for f in /usr/include/check*.h /usr/local/include/check*.h /usr/lib/libcheck* /usr/lib/*-linux-gnu/libcheck* \
  /usr/local/lib/libcheck* /usr/lib/pkgconfig/check.pc /usr/lib/*-linux-gnu/pkgconfig/check.pc \
  /usr/share/pkgconfig/check.pc /usr/local/lib/pkgconfig/check.pc; do
  [ -e "$f" ] || [ -L "$f" ] && files+=("$f")
done
[ "${#files[@]}" -gt 0 ] || { echo "hide_check: no file of Check found to hide" >&2; exit 1; }
scratch=$(mktemp -d)
mount -t tmpfs tmpfs "$scratch"
n=0
for dir in $(printf '%s\n' "${files[@]}" | xargs -n1 dirname | sort -u); do
  n=$((n + 1))
  mkdir "$scratch/upper$n" "$scratch/work$n"
  for f in "${files[@]}"; do [ "$(dirname "$f")" = "$dir" ] && mknod "$scratch/upper$n/$(basename "$f")" c 0 0; done
  mount -t overlay overlay -o "lowerdir=$dir,upperdir=$scratch/upper$n,workdir=$scratch/work$n" "$dir"
done
# The command must not pass by finding Check after all.
if printf '#include <check.h>\n' | $cc -E -x c - > /dev/null 2>&1; then echo "hide_check: check.h is still found" >&2; exit 1; fi
if pkg-config --exists check 2> /dev/null; then echo "hide_check: pkg-config still finds check" >&2; exit 1; fi
lib=$($cc -print-file-name=libcheck.a)
if [ "$lib" != libcheck.a ]; then echo "hide_check: $cc still finds $lib" >&2; exit 1; fi
echo "== Check hidden: ${files[*]}"
exec "$@"
