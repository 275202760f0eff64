#!/usr/bin/env bash
# make installcheck: installs the library into a temporary prefix, builds every
# program in examples/ out of tree with the README's own command (the line
# `cc -O2 my_model.c $(pkg-config --cflags --libs nn) -o my_model`, read from
# README.md) against the shared library and runs it without LD_LIBRARY_PATH
# (the pkg-config file's rpath finds libnn.so.0), then with -static against the
# static one; each runs briefly and its loss must fall. Also: the nn64 package
# (which sets NN_DOUBLE itself) builds and runs, float headers with the double
# library fail to link naming what to do, a system prefix (/usr/local, staged
# with DESTDIR) gets no rpath, and uninstall leaves the prefix exactly as it was.
# Run from the repository root after make lib.
set -euo pipefail
cc=${CC:-cc}
make=${MAKE:-make}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
echo "someone else's" > "$prefix/include/other.h" # installed before us: must survive uninstall
echo "someone else's" > "$prefix/lib/pkgconfig/other.pc"
before=$(cd "$prefix" && find . | sort)

"$make" -s install PREFIX="$prefix" > /dev/null
echo "== installed into $prefix"
(cd "$prefix" && find . \( -type f -o -type l \) ! -name other.h ! -name other.pc | sort)
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
echo "== pkg-config nn: $(pkg-config --cflags --libs nn)"
echo "== pkg-config nn64: $(pkg-config --cflags --libs nn64)"

# Out of tree: only the example sources, nothing else from the repository.
src=$tmp/src
mkdir "$src"
cp examples/*.c "$src/"
cp README.md "$tmp/text.txt" # the charlm example's training text

# The README's line, word for word; my_model becomes each example's name.
readme_cc=$(grep -m1 -E '^ +cc -O2 my_model\.c \$\(pkg-config --cflags --libs nn\) -o my_model$' README.md | sed 's/^ *//') \
  || { echo "FAIL: README.md has no line 'cc -O2 my_model.c \$(pkg-config --cflags --libs nn) -o my_model'"; exit 1; }
echo "== README: $readme_cc"
unset LD_LIBRARY_PATH

# The first and the last loss an example printed ("step N ... loss X" or "epoch N loss X").
losses() { grep -Eo '^(step|epoch) +[0-9]+.* loss [0-9.]+' "$1" | awk '{print $NF}' | sed -n '1p;$p' | paste -sd' '; }

fail=0
# The library only: the program's own files (models/sasrec/io: text, CSV, string maps, SHA-256, regular
# files) are neither installed as headers nor defined in the libraries.
symbols=$(nm -g --defined-only "$prefix"/lib/libnn.a "$prefix"/lib/libnn64.a 2>/dev/null)
for h in models/sasrec/io/*.h; do
  name=$(basename "$h" .h)
  if [ -n "$(find "$prefix/include" -name "$name.h")" ]; then echo "FAIL: the program's $h is installed"; fail=1; fi
  if grep -q " T ${name}_" <<< "$symbols"; then
    echo "FAIL: libnn defines ${name}_* (models/sasrec/io/$name.c belongs to the program)"; fail=1
  fi
done
[ "$fail" = 0 ] && echo "ok: no header or function of models/sasrec/io/ installed"

run() { # $1 binary, $2 log; arguments after
  local bin=$1 log=$2
  shift 2
  if ! "$bin" "$@" > "$log" 2>&1; then echo "FAIL: $bin exited non-zero:"; tail -5 "$log"; fail=1; return; fi
  read -r first last <<< "$(losses "$log")"
  if [ -z "${first:-}" ] || [ -z "${last:-}" ] || ! awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }'; then
    echo "FAIL: $bin: the loss did not fall (${first:-?} -> ${last:-?})"; tail -5 "$log"; fail=1; return
  fi
  echo "ok: $(basename "$bin") ran, loss $first -> $last"
}

for c in "$src"/*.c; do
  name=$(basename "$c" .c)
  case $name in
    charlm) args=("$tmp/text.txt" --steps 60 --sample 60 --out "$tmp/charlm.safetensors") ;;
    gru4rec) args=(--epochs 2) ;;
    bert4rec) args=(--epochs 3 --out "$tmp/bert4rec.safetensors") ;;
    *) args=() ;;
  esac
  # shared, with the README's command, run as the user would: no LD_LIBRARY_PATH
  (cd "$src" && eval "${readme_cc//my_model/$name}")
  readelf -d "$src/$name" | grep -q 'NEEDED.*libnn\.so\.0' || { echo "FAIL: $name does not load libnn.so.0"; fail=1; }
  run "$src/$name" "$tmp/$name.shared.log" "${args[@]}"
  # static, warnings on (libgomp warns that a static program's dlopen needs glibc's shared libraries at run time)
  "$cc" -static -std=c11 -O2 -Wall -Wextra -Werror "$c" -o "$tmp/$name.static" $(pkg-config --cflags --libs nn) 2> "$tmp/ld.log" \
    || { cat "$tmp/ld.log"; exit 1; }
  grep -v -e "dlopen' in statically linked" -e 'in function .gomp_target_init' "$tmp/ld.log" || true
  if readelf -d "$tmp/$name.static" 2>/dev/null | grep -q 'NEEDED'; then echo "FAIL: $name.static is not static"; fail=1; fi
  run "$tmp/$name.static" "$tmp/$name.static.log" "${args[@]}"
done

# The double package: the same source, NN_DOUBLE set by pkg-config.
"$cc" -std=c11 -O2 "$src/spiral.c" -o "$tmp/spiral64" $(pkg-config --cflags --libs nn64)
run "$tmp/spiral64" "$tmp/spiral64.log"

# A system prefix: no rpath (the loader's cache finds the library once ldconfig has run; with DESTDIR,
# make install leaves that to whoever installs the staged files).
"$make" -s install PREFIX=/usr/local DESTDIR="$tmp/stage" > /dev/null
if grep -q rpath "$tmp/stage/usr/local/lib/pkgconfig/nn.pc" "$tmp/stage/usr/local/lib/pkgconfig/nn64.pc"; then
  echo "FAIL: the pkg-config files for /usr/local carry an rpath:"; grep Libs "$tmp"/stage/usr/local/lib/pkgconfig/*.pc; fail=1
else
  echo "ok: /usr/local gets no rpath: $(grep Libs: "$tmp/stage/usr/local/lib/pkgconfig/nn.pc")"
fi

# Float headers with the double library: refused at link time, with what to do in the message.
if "$cc" -std=c11 "$src/spiral.c" -o "$tmp/mix" $(pkg-config --cflags nn) $(pkg-config --libs nn64) 2> "$tmp/mix.log"; then
  echo "FAIL: float headers linked against libnn64"; fail=1
elif grep -q 'nn_compiled_without_NN_DOUBLE__so_link_libnn__pkg_config_nn' "$tmp/mix.log"; then
  echo "ok: float headers with libnn64 refused: $(grep -o "undefined reference to .*" "$tmp/mix.log" | head -1)"
else
  echo "FAIL: the refused link does not say what to do:"; cat "$tmp/mix.log"; fail=1
fi

"$make" -s uninstall PREFIX="$prefix" > /dev/null
after=$(cd "$prefix" && find . | sort)
if [ "$before" != "$after" ]; then
  echo "FAIL: uninstall left the prefix different from before install:"; diff <(echo "$before") <(echo "$after") || true; fail=1
else
  echo "ok: uninstall removed exactly what install added"
fi
[ $fail = 0 ] && echo "== installcheck passed"
exit $fail
