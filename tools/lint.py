#!/usr/bin/env python3
"""make lint: the naming and layering rules docs/design.md states, checked by a machine.

Three rules, each read off the source text (no compiler needed):
  layers   an #include "folder/..." never points upward: models -> nn -> autograd -> tensor -> base,
           with io beside nn (io may use base and tensor; nn may use io for checkpoints); the program's
           own files (models/sasrec/io: text, CSV, string maps, SHA-256, regular files) sit on the
           library's base and io only, outside libnn;
  guards   a header's guard is NN_<PATH>_H (the whole path, e.g. NN_MODELS_SASREC_CLI_CONFIG_H);
  length   no function body is longer than MAX_LINES lines (issue 26: orchestration reads like a step);
  names    a function with external linkage is named after its file or its layer's subjects
           (docs/design.md, "Naming"): the prefixes each folder allows are in PREFIXES below.
Prints one line per breach (file:line: rule: what) and exits 1 if there is any, 0 otherwise.
"""
import os
import re
import sys

LIB = ["base", "tensor", "autograd", "io", "nn"]
# What each folder may include (its own folder is always allowed).
MAY_INCLUDE = {
    "base": set(),
    "tensor": {"base"},
    "autograd": {"base", "tensor"},
    "io": {"base", "tensor"},
    "nn": {"base", "tensor", "autograd", "io"},
    "models": {"base", "tensor", "autograd", "io", "nn", "models/sasrec/io"},
    "models/sasrec/io": {"base", "io"},
}
# Prefixes every file of a folder may use besides its own file name (docs/design.md, "Naming").
PREFIXES = {
    "base": ["nn_", "philox4x32"],
    "tensor": ["tensor_", "shape_", "gemm", "r_"],
    "autograd": ["ag_", "graph_", "tensor_"],
    "io": ["atomic_"],
    "nn": ["module_", "init_", "loss_", "adam_", "sgd_", "clip_grad_norm", "checkpoint_"],
    "models": ["sasrec_", "app_"],
}

MAX_LINES = 80
DEF = re.compile(r"^(?:[A-Za-z_][\w \t\*]*?[\s\*])([a-z_]\w*)\s*\(([^;]*)$")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_/0-9]+)/')


def sources(root):
    for top in LIB + ["models"]:
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(d, f), root)


def layer(path):
    """The folder of MAY_INCLUDE a path belongs to: the longest key it starts with."""
    keys = [k for k in MAY_INCLUDE if path == k or path.startswith(k + "/")]
    return max(keys, key=len) if keys else path.split("/")[0]


def file_prefixes(path):
    """The prefixes a file's own name gives: op_matmul.c -> matmul, layer_norm.c -> layer_norm."""
    stem = os.path.splitext(os.path.basename(path))[0]
    names = {stem}
    if stem.startswith("op_"):
        names.add(stem[3:])
    return [n + "_" for n in names] + list(names)


def check_layers(path, lines, out):
    own = layer(path)
    for i, line in enumerate(lines, 1):
        m = INCLUDE.match(line)
        target = layer(m.group(1)) if m else None
        if m and target != own and target not in MAY_INCLUDE[own]:
            out.append(f"{path}:{i}: layers: {own}/ includes {target}/ (upward)")


def check_guard(path, lines, out):
    if not path.endswith(".h"):
        return
    text = "\n".join(lines)
    if "Not a normal header" in text:  # an x-macro body included several times on purpose
        return
    want = "NN_" + re.sub(r"[^A-Za-z0-9]", "_", path[:-2]).upper() + "_H"
    for i, line in enumerate(lines, 1):
        m = re.match(r"^#ifndef\s+(\w+)", line)
        if m:
            if m.group(1) != want:
                out.append(f"{path}:{i}: guards: {m.group(1)}, should be {want}")
            return
    out.append(f"{path}:1: guards: no include guard, should be {want}")


def enum_prefixes(root, path):
    """A type's helpers take the type's name: UnaryOp -> unary_op_, StDtype -> st_dtype_, SeqLayout -> seq_layout_
    (the enums and structs its folder's headers define)."""
    folder = os.path.join(root, os.path.dirname(path))
    text = "".join(open(os.path.join(folder, h), encoding="utf-8").read()
                   for h in sorted(os.listdir(folder)) if h.endswith(".h"))
    types = re.findall(r"}\s*([A-Z]\w*)\s*;", text)
    return [re.sub(r"(?<!^)([A-Z])", r"_\1", n).lower() + "_" for n in types]


def check_names(root, path, lines, out, allowed_extra):
    if not path.endswith(".c"):
        return
    allowed = file_prefixes(path) + PREFIXES[layer(path).split("/")[0]] + enum_prefixes(root, path)
    for i, line in enumerate(lines, 1):
        if line.startswith((" ", "\t", "#", "/", "*", "}")) or line.startswith("typedef"):
            continue
        m = DEF.match(line)
        if not m or "=" in line.split("(")[0] or re.search(r"\bstatic\b", line.split("(")[0]):
            continue
        name = m.group(1)
        if name in ("main",) or any(name.startswith(p) for p in allowed):
            continue
        if f"{path}:{name}" in allowed_extra:
            continue
        out.append(f"{path}:{i}: names: {name}() is named after neither its file nor its layer "
                   f"(allowed here: {', '.join(sorted(set(allowed)))})")


def check_length(path, lines, out, ceilings):
    """A function: a signature at column 0 (perhaps over several lines) whose last line ends in '{', then a
    body up to the next '}' at column 0."""
    if not path.endswith(".c"):
        return
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if line[:1].isalpha() and "(" in line and not re.match(r"^(typedef|struct|enum|union)\b", line) \
                and "=" not in line.split("(")[0]:
            name = (re.findall(r"(\w+)\s*\(", line) or ["?"])[0]
            j = i
            while j < n and not lines[j].rstrip().endswith(("{", ";")):
                j += 1
            if j < n and lines[j].rstrip().endswith("{"):
                k = j + 1
                while k < n and not lines[k].startswith("}"):
                    k += 1
                limit = ceilings.get(f"{path}:{name}", MAX_LINES)
                if k - j - 1 > limit:
                    out.append(f"{path}:{i + 1}: length: {name}() is {k - j - 1} lines (at most {limit})")
                i = k
        i += 1


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    # Exceptions a reviewer accepted (tools/lint_exceptions.txt), each with its reason after '#':
    #   names path:function        a name the naming rule does not cover
    #   length path:function N     a long function not yet split: a ceiling it may not grow past
    extra, ceilings = set(), {}
    exc = os.path.join(root, "tools", "lint_exceptions.txt")
    if os.path.exists(exc):
        for line in open(exc):
            words = line.split("#")[0].split()
            if words[:1] == ["names"] and len(words) == 2:
                extra.add(words[1])
            elif words[:1] == ["length"] and len(words) == 3:
                ceilings[words[1]] = int(words[2])
            elif words:
                print(f"{exc}: cannot read '{line.strip()}'")
                return 1
    out = []
    for path in sources(root):
        with open(os.path.join(root, path), encoding="utf-8") as f:
            lines = f.read().split("\n")
        check_layers(path, lines, out)
        check_guard(path, lines, out)
        check_names(root, path, lines, out, extra)
        check_length(path, lines, out, ceilings)
    for line in out:
        print(line)
    print(f"lint: {len(out)} breach{'es' if len(out) != 1 else ''} of docs/design.md's naming and layering rules")
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main())
