#!/usr/bin/env bash
# make installcheck: installs the library into a temporary prefix, builds every
# program in examples/ out of tree with `cc ... $(pkg-config --cflags --libs nn)`
# against the shared and (with -static) the static library, runs each briefly
# and checks that its loss fell. Also: the nn64 package (which sets NN_DOUBLE
# itself) builds and runs, float headers with the double library fail to link
# naming what to do, and uninstall leaves the prefix exactly as it was.
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

# The first and the last loss an example printed ("step N ... loss X" or "epoch N loss X").
losses() { grep -Eo '^(step|epoch) +[0-9]+.* loss [0-9.]+' "$1" | awk '{print $NF}' | sed -n '1p;$p' | paste -sd' '; }

fail=0
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
    *) args=() ;;
  esac
  # shared
  "$cc" -std=c11 -O2 -Wall -Wextra "$c" -o "$tmp/$name.shared" $(pkg-config --cflags --libs nn)
  readelf -d "$tmp/$name.shared" | grep -q 'NEEDED.*libnn\.so\.0' || { echo "FAIL: $name.shared does not load libnn.so.0"; fail=1; }
  LD_LIBRARY_PATH=$prefix/lib run "$tmp/$name.shared" "$tmp/$name.shared.log" "${args[@]}"
  # static (libgomp warns that a static program's dlopen needs glibc's shared libraries at run time)
  "$cc" -static -std=c11 -O2 -Wall -Wextra "$c" -o "$tmp/$name.static" $(pkg-config --cflags --libs nn) 2> "$tmp/ld.log" \
    || { cat "$tmp/ld.log"; exit 1; }
  grep -v -e "dlopen' in statically linked" -e 'in function .gomp_target_init' "$tmp/ld.log" || true
  if readelf -d "$tmp/$name.static" 2>/dev/null | grep -q 'NEEDED'; then echo "FAIL: $name.static is not static"; fail=1; fi
  run "$tmp/$name.static" "$tmp/$name.static.log" "${args[@]}"
done

# The double package: the same source, NN_DOUBLE set by pkg-config.
"$cc" -std=c11 -O2 "$src/spiral.c" -o "$tmp/spiral64" $(pkg-config --cflags --libs nn64)
LD_LIBRARY_PATH=$prefix/lib run "$tmp/spiral64" "$tmp/spiral64.log"

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
