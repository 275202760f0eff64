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
           (docs/design.md, "Naming"): the prefixes each folder allows are in PREFIXES below;
           and every function has a name written out: no token pasting (##) and no definition whose
           name a macro makes (TILE_NAME(tile_body)(...)), names that grep, ctags and a profile miss;
  contract the op author's API is autograd/op.h and is defined in autograd/engine.c: every function
           op.h declares is defined there, and autograd/autograd.h (what users call) declares none.
Prints one line per breach (file:line: rule: what) and exits 1 if there is any, 0 otherwise.
`lint.py --self-test` plants one breach of each rule in a scratch tree and fails unless each is found.
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


MACRO_NAMED = re.compile(r"\b([A-Z][A-Z0-9_]*)\s*\(\s*\w+\s*\)\s*\(")


def check_written_names(path, lines, out):
    """Token pasting, or a function defined under a name a macro makes."""
    for i, line in enumerate(lines, 1):
        code = line.split("//")[0]
        if "##" in code and not code.lstrip().startswith(("/*", "*")):
            out.append(f"{path}:{i}: names: '##' pastes a name together; write the full name out "
                       f"(a macro may take it as an argument)")
        m = MACRO_NAMED.search(code)
        if m and code[:1].isalpha():
            out.append(f"{path}:{i}: names: a function named by the macro {m.group(1)}(...); "
                       f"give it its full name (grep and ctags cannot find this one)")


DECL = re.compile(r"^[A-Za-z_][\w \t\*]*?[\s\*]([a-z_]\w*)\s*\(")


def declared(lines):
    """Functions a header declares (prototypes at column 0, not static inline definitions)."""
    names = {}
    for i, line in enumerate(lines, 1):
        if line.startswith(("static", "typedef", "#", " ", "/", "*", "}")):
            continue
        m = DECL.match(line)
        if m:
            names[m.group(1)] = i
    return names


def check_contract(root, out):
    """autograd/op.h's functions: defined in autograd/engine.c, never declared in autograd/autograd.h."""
    def read(path):
        full = os.path.join(root, path)
        return open(full, encoding="utf-8").read().split("\n") if os.path.exists(full) else []
    op, user, engine = read("autograd/op.h"), read("autograd/autograd.h"), read("autograd/engine.c")
    contract = declared(op)
    defined = {m.group(1) for line in engine for m in [DEF.match(line)] if m and line.rstrip().endswith("{")}
    for name, i in sorted(contract.items()):
        if name not in defined:
            out.append(f"autograd/op.h:{i}: contract: {name}() is the op author's API but is not defined in "
                       f"autograd/engine.c")
    for name, i in sorted(declared(user).items()):
        if name in contract or re.match(r"ag_(grad(_add_rows|_whole|_view)?|accumulate\w*|record)$", name):
            out.append(f"autograd/autograd.h:{i}: contract: {name}() belongs to the op author's API "
                       f"(autograd/op.h), not to the user's header")


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


def lint(root):
    """Every breach in the tree at root, and an error message for an unreadable exceptions file (or None)."""
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
                return [], f"{exc}: cannot read '{line.strip()}'"
    out = []
    for path in sources(root):
        with open(os.path.join(root, path), encoding="utf-8") as f:
            lines = f.read().split("\n")
        check_layers(path, lines, out)
        check_guard(path, lines, out)
        check_names(root, path, lines, out, extra)
        check_length(path, lines, out, ceilings)
        check_written_names(path, lines, out)
    check_contract(root, out)
    return out, None


# One breach of each rule, each in a file of its own; --self-test plants them in a scratch tree.
PLANTED = {
    "layers": ("base/planted_layers.c", '#include "nn/module.h"\n'),
    "guards": ("base/planted_guards.h", "#ifndef WRONG_H\n#define WRONG_H\n#endif\n"),
    "names": ("tensor/planted_names.c", "int unprefixed(void) {\n    return 0;\n}\n"),
    "length": ("tensor/planted_length.c", "int planted_length_f(void) {\n" + "    ;\n" * 81 + "}\n"),
    "paste": ("tensor/planted_paste.c", "#define NAME(x) x##_avx2\n"),
    "macro-named": ("tensor/planted_macro.c", "static inline __attribute__((always_inline)) void TILE_NAME(tile_body)(int k) {\n}\n"),
    "contract in autograd.h": ("autograd/autograd.h", "#ifndef NN_AUTOGRAD_AUTOGRAD_H\n#define NN_AUTOGRAD_AUTOGRAD_H\n"
                               "Tensor *ag_grad(Graph *g, Tensor *t);\n#endif\n"),
    "contract not in engine.c": ("autograd/op.h", "#ifndef NN_AUTOGRAD_OP_H\n#define NN_AUTOGRAD_OP_H\n"
                                 "void ag_accumulate(Graph *g, Tensor *t, const Tensor *d);\n#endif\n"),
}
EXPECTED = {"layers": "planted_layers.c:1: layers", "guards": "planted_guards.h:1: guards",
            "names": "planted_names.c:1: names: unprefixed", "length": "planted_length.c:1: length",
            "paste": "planted_paste.c:1: names: '##'", "macro-named": "planted_macro.c:1: names: a function named by",
            "contract in autograd.h": "autograd/autograd.h:3: contract: ag_grad()",
            "contract not in engine.c": "autograd/op.h:3: contract: ag_accumulate() is the op author's API"}


def self_test():
    """Each planted breach is reported, and a clean tree reports none."""
    import tempfile
    failed = 0
    with tempfile.TemporaryDirectory() as root:
        for d in ("base", "tensor", "autograd", "nn"):
            os.makedirs(os.path.join(root, d))
        open(os.path.join(root, "autograd", "engine.c"), "w").write("void ag_other(void) {\n}\n")
        clean, _ = lint(root)
        if clean:
            print("lint self-test: a tree without breaches reports", clean)
            failed = 1
        for rule, (path, text) in PLANTED.items():
            open(os.path.join(root, path), "w").write(text)
            out, _ = lint(root)
            if not any(EXPECTED[rule] in line for line in out):
                print(f"lint self-test: the planted {rule} breach ({path}) was not reported; got {out}")
                failed = 1
            os.remove(os.path.join(root, path))
    print("lint self-test: " + ("FAILED" if failed else f"all {len(PLANTED)} planted breaches found"))
    return failed


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    out, error = lint(root)
    if error:
        print(error)
        return 1
    for line in out:
        print(line)
    print(f"lint: {len(out)} breach{'es' if len(out) != 1 else ''} of docs/design.md's naming and layering rules")
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main())
