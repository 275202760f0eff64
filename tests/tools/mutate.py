#!/usr/bin/env python3
"""make mutate: plants a 1.01x error in every floating-point assignment of the
backward pass, one at a time, and checks that the gradient and golden suites
catch each one.

    python3 tests/tools/mutate.py                 # every mutant (from the repository root)
    python3 tests/tools/mutate.py --share 3/12    # a fixed twelfth of them
    python3 tests/tools/mutate.py --turn 387/3    # 3 of them, the 387th turn (CI: the commit count)
    python3 tests/tools/mutate.py --list          # the mutants, without running them

What is mutated is found from the source, not from a list. clang parses every
library file (base/ tensor/ autograd/ io/ nn/, in the double and the float
configuration) into its syntax tree; the backward functions are the functions
of type BackwardFn, void (Graph *, Node *); from them the tool follows every
function they call or take the address of, and every global table they read
(gemm's kernel tables lead to the micro-kernels), through all the library's
files. In those functions every assignment (=, +=, -=, *=, /=) and every
initialised declaration whose type is floating (real, float, double, or a
vector of them) is a mutation site: its right-hand side e becomes
(real)1.01 * (e) (for /=, (e) / (real)1.01), so the assigned value or the
increment is 1% off. Integer assignments are never planted. An assignment
written inside a macro body gives two sites: the body (every expansion at
once) and the macro argument at each call (one expansion).

Each mutant is built in a private copy of the tree (build/mutate/tree, so the
working tree is never touched), only the suites' binaries are rebuilt, and the
suites (tests/*/grad_*.c on the double build, tests/*/test_golden*.c on the
float build) run two at a time with CK_FORK=no, those that killed mutants of
the same file first, then the fastest; the first failing test stops them all. A mutant that does not compile is not counted. Sites whose right-hand
side is the constant 0 are listed and not run (0 * 1.01 is 0), as are the
sites in tests/tools/equivalent_mutants.txt, each with the reason it cannot
change a result. The rest are killed or survive; the kill rate is
killed / (killed + survived), and the exit status is 1 if any survived.

--share k/n runs the mutants whose stable id (file, function, statement,
occurrence) hashes to k - 1 modulo n: the same share for the same source, so
k can rotate and cover everything over n runs; a share holds however many
hash there (1 to 10 of 237 in 60 shares). --turn t/w runs w of them, the
positions t w to t w + w - 1 (modulo their count) in the order of their
ids' hashes: the same number every run, so a CI stage of steady length, and
every mutant once in any count / w turns in a row (CI takes t from the
commit count)."""
import argparse
import json
import os
import pickle
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LIB_DIRS = ["base", "tensor", "autograd", "io", "nn"]
BACKWARD_TYPE = "void (Graph *, Node *)"
ASSIGN_OPS = {"=", "+=", "-=", "*=", "/="}
FLOAT_RE = re.compile(r"^(const )?(float|double|long double|real)$")
EQUIVALENT_FILE = os.path.join("tests", "tools", "equivalent_mutants.txt")
# clang reads the code as GCC compiles it: GCC-only paths (gemm's register transpose) are sites too;
# __builtin_shuffle, which clang lacks, only needs to parse.
CLANG_FLAGS = ["-std=c11", "-D_POSIX_C_SOURCE=200809L", "-I.", "-U__clang__", "-D__builtin_shuffle(a,b,m)=(a)",
               "-fsyntax-only", "-Xclang", "-ast-dump=json"]


# ---------------------------------------------------------------------------
# the syntax tree

def fill_locations(node, state):
    """clang's JSON omits a location's file and line when they equal the previous
    location's: walk in document order and write them back into every location."""
    if isinstance(node, dict):
        if "offset" in node:
            if "file" in node:
                state["file"] = node["file"]
            else:
                node["file"] = state.get("file")
            if "line" in node:
                state["line"] = node["line"]
            else:
                node["line"] = state.get("line")
        for key, value in node.items():
            if key != "includedFrom":
                fill_locations(value, state)
    elif isinstance(node, list):
        for value in node:
            fill_locations(value, state)


def spelled(loc):
    """Where the text of a token is: inside a macro body or argument for expanded tokens."""
    return loc.get("spellingLoc", loc)


def is_floating(type_):
    t = type_.get("desugaredQualType", type_.get("qualType", ""))
    t = re.sub(r"^__attribute__\(\(.*\)\) ", "", t) if "__vector_size__" in t else t
    return "*" not in t and "[" not in t and (FLOAT_RE.match(t) is not None)


def walk(node):
    yield node
    for child in node.get("inner", []):
        yield from walk(child)


def parse_unit(path, double):
    flags = CLANG_FLAGS + (["-DNN_DOUBLE"] if double else [])
    out = subprocess.run(["clang"] + flags + [path], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if out.returncode != 0:
        sys.exit("clang cannot parse %s:\n%s" % (path, out.stderr.decode()[-2000:]))
    tree = json.loads(out.stdout)
    fill_locations(tree, {})
    return tree


class Function:
    def __init__(self, name, file, static, type_, lines=(0, 0)):
        self.name, self.file, self.static, self.type = name, file, static, type_
        self.lines = lines  # first and last line of the definition in file
        self.refs = set()  # names of functions and globals referenced in the body
        self.assigns = []  # (node, kind) with kind "op" (assignment) or "init" (declaration)


def unit_summary(job):
    """The functions (with their references and floating assignments) and global tables of one file."""
    path, double = job
    tree = parse_unit(path, double)
    functions, globals_ = [], {}
    for top in tree.get("inner", []):
        kind = top.get("kind")
        if kind == "VarDecl" and top.get("init"):
            globals_[top["name"]] = {n["referencedDecl"]["name"] for n in walk(top) if n.get("kind") == "DeclRefExpr"}
        if kind != "FunctionDecl" or not any(c.get("kind") == "CompoundStmt" for c in top.get("inner", [])):
            continue
        # where the function is: its name's token (the first token may come from a macro, NN_VECTORIZE),
        # or the macro call that made the name (gemm's TILE_DEFINE)
        begin = next(l for l in (spelled(top["loc"]), top["loc"].get("expansionLoc", {}), spelled(top["range"]["begin"]))
                     if l.get("file") and os.path.exists(os.path.join(ROOT, l["file"])))
        end = spelled(top["range"]["end"])
        fn = Function(top["name"], os.path.normpath(begin["file"]), top.get("storageClass") == "static",
                      top["type"]["qualType"], (begin["line"], end["line"] if end.get("file") == begin["file"] else 0))
        for n in walk(top):
            k = n.get("kind")
            if k == "DeclRefExpr":
                fn.refs.add(n["referencedDecl"]["name"])
            elif k in ("BinaryOperator", "CompoundAssignOperator") and n.get("opcode") in ASSIGN_OPS:
                if is_floating(n["type"]):
                    fn.assigns.append((strip(n), "op"))
            elif k == "VarDecl" and n.get("init") and is_floating(n["type"]):
                fn.assigns.append((strip(n), "init"))
            elif k == "ReturnStmt" and n.get("inner") and is_floating(n["inner"][0]["type"]):
                fn.assigns.append((strip(n), "return"))
        functions.append(fn)
    return functions, globals_


def strip(node):
    """What the sites need of an assignment node: its locations and operator."""
    return {k: node[k] for k in ("range", "loc", "opcode") if k in node}


def collect(paths, jobs):
    """Functions with a body and global tables, over every file and both configurations."""
    functions, globals_ = {}, {}  # key -> Function; name -> names referenced by its initialiser
    with ProcessPoolExecutor(jobs) as pool:
        for unit_functions, unit_globals in pool.map(unit_summary, [(p, d) for d in (True, False) for p in paths]):
            for name, refs in unit_globals.items():
                globals_.setdefault(name, set()).update(refs)
            for fn in unit_functions:
                # statics by place: a header may define one twice (r_exp for float and for double)
                key = (fn.file, fn.name, fn.lines[0]) if fn.static else fn.name
                if key not in functions:
                    functions[key] = fn
                else:
                    functions[key].refs |= fn.refs
                    functions[key].assigns += fn.assigns
    return functions, globals_


def analyse(jobs, build_dir):
    """(backward functions, every function they reach), from the syntax trees of the library's
    files; cached in build_dir for the same sources."""
    paths = sorted(os.path.join(d, f) for d in LIB_DIRS for f in os.listdir(os.path.join(ROOT, d)) if f.endswith((".c", ".h")))
    digest = zlib.crc32(open(__file__, "rb").read())
    for p in paths:
        digest = zlib.crc32(p.encode() + open(os.path.join(ROOT, p), "rb").read(), digest)
    cache = os.path.join(build_dir, "functions.pickle")
    if os.path.exists(cache):
        with open(cache, "rb") as f:
            saved = pickle.load(f)
        if saved[0] == digest:
            return [revive(d) for d in saved[1]], [revive(d) for d in saved[2]]
    functions, globals_ = collect([p for p in paths if p.endswith(".c")], jobs)
    roots, reached = reachable(functions, globals_)
    os.makedirs(build_dir, exist_ok=True)
    with open(cache, "wb") as f:
        pickle.dump((digest, [vars(x) for x in roots], [vars(x) for x in reached]), f)
    return roots, reached


def revive(fields):
    fn = Function.__new__(Function)
    fn.__dict__.update(fields)
    return fn


def resolve(cands, file):
    """The definitions a reference from file can mean: a static function of the same file, else the
    external one, else static (inline) ones from headers."""
    same = [c for c in cands if c.static and c.file == file]
    return same or [c for c in cands if not c.static] or [c for c in cands if c.file.endswith(".h")]


def reachable(functions, globals_):
    """Backward functions and everything they reach through calls, function pointers and tables."""
    by_name = {}
    for fn in functions.values():
        by_name.setdefault(fn.name, []).append(fn)
    roots = [fn for fn in functions.values() if fn.type == BACKWARD_TYPE and fn.file.startswith("autograd/")]
    seen, todo = {id(fn): fn for fn in roots}, list(roots)
    seen_globals = set()
    while todo:
        fn = todo.pop()
        names = set(fn.refs)
        while names:
            name = names.pop()
            if name in globals_ and name not in seen_globals:
                seen_globals.add(name)
                names |= globals_[name]
            for cand in resolve(by_name.get(name, []), fn.file):
                if id(cand) not in seen:
                    seen[id(cand)] = cand
                    todo.append(cand)
    return roots, sorted(seen.values(), key=lambda f: (f.file, f.name))


# ---------------------------------------------------------------------------
# mutation sites in the text

OPEN, CLOSE = "([{", ")]}"


def skip_space(text, i):
    while i < len(text):
        if text.startswith("/*", i):
            i = text.index("*/", i) + 2
        elif text.startswith("//", i):
            i = text.index("\n", i)
        elif text[i] in " \t\r\n\\":
            i += 1
        else:
            break
    return i


def expression_end(text, i):
    """End of the expression starting at i: the first ; , or unmatched closing bracket at depth 0."""
    depth = 0
    while i < len(text):
        c = text[i]
        if text.startswith("/*", i):
            i = text.index("*/", i) + 2
            continue
        if c in "\"'":
            j = i + 1
            while text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c in OPEN:
            depth += 1
        elif c in CLOSE:
            if depth == 0:
                break
            depth -= 1
        elif c in ";," and depth == 0:
            break
        i += 1
    j = i
    while j > 0 and text[j - 1] in " \t\r\n\\":
        j -= 1
    return j


def assignment_operator(text, i):
    """Position just after the assignment operator of the expression starting at i (None if absent)."""
    depth = 0
    while i < len(text):
        c = text[i]
        if c in OPEN:
            depth += 1
        elif c in CLOSE:
            if depth == 0:
                return None
            depth -= 1
        elif c == ";" and depth == 0:
            return None
        elif depth == 0 and c == "=" and text[i + 1] != "=" and (i == 0 or text[i - 1] not in "=!<>"):
            return i + 1
        i += 1
    return None


class Site:
    def __init__(self, file, start, end, op, function, line):
        self.file, self.start, self.end, self.op, self.line = file, start, end, op, line
        self.functions = {function}
        self.id = None

    @property
    def function(self):
        return "/".join(sorted(self.functions))

    def mutated(self, source):
        rhs = source[self.start:self.end]
        new = "(%s) / (real)1.01" % rhs if self.op == "/=" else "(real)1.01 * (%s)" % rhs
        return source[:self.start] + new + source[self.end:]

    def shown(self, source):
        """The statement's line as mutated, for messages."""
        text = self.mutated(source)
        a = text.rfind("\n", 0, self.start) + 1
        b = text.find("\n", self.start)
        return " ".join(text[a:b if b >= 0 else len(text)].replace("\\", " ").split())


DEFINE_RE = re.compile(r"#\s*define\s+(\w+)\(([^)]*)\)")


def macro_at(text, pos):
    """(name, parameters) of the #define whose body holds pos, or None."""
    a = text.rfind("#define", 0, pos)
    if a < 0:
        return None
    m = DEFINE_RE.match(text, a)
    if not m:
        return None
    end = a
    while True:  # the definition runs over lines ending in a backslash
        nl = text.find("\n", end)
        if nl < 0 or text[nl - 1] != "\\":
            end = len(text) if nl < 0 else nl
            break
        end = nl + 1
    return (m.group(1), [p.strip() for p in m.group(2).split(",")]) if pos < end else None


def macro_arguments(text, pos):
    """[(start, end)] of the arguments of the macro call whose name starts at pos."""
    i = text.index("(", pos) + 1
    args, start, depth = [], i, 0
    while True:
        c = text[i]
        if c in OPEN:
            depth += 1
        elif c in CLOSE:
            if depth == 0:
                args.append((start, i))
                return args
            depth -= 1
        elif c == "," and depth == 0:
            args.append((start, i))
            start = i + 1
        i += 1


def trim(text, a, b):
    while a < b and text[a] in " \t\r\n\\":
        a += 1
    while b > a and text[b - 1] in " \t\r\n\\":
        b -= 1
    return a, b


def sites_of(functions, read):
    """Every mutation site, once: (file, start, end) of a right-hand side in the text."""
    sites = {}

    def add(file, start, end, op, fn):
        text = read(file)
        start, end = trim(text, start, end)
        if end <= start:
            return
        site = sites.setdefault((file, start, end), Site(file, start, end, op, fn.name, text.count("\n", 0, start) + 1))
        site.functions.add(fn.name)

    for fn in functions:
        for node, kind in fn.assigns:
            at = node["range"]["begin"] if kind != "init" else node["loc"]
            begin = spelled(at)
            file = os.path.normpath(begin["file"])
            text = read(file)
            if kind == "return":
                start = begin["offset"] + len("return")
                op = "="
            else:
                start = assignment_operator(text, begin["offset"])
                op = "=" if kind == "init" else node["opcode"]
            if start is None:
                continue
            end = expression_end(text, start)
            add(file, start, end, op, fn)
            # written in a macro body with the right-hand side a parameter: also each argument at its call
            macro = macro_at(text, start)
            rhs = text[slice(*trim(text, start, end))]
            if macro and rhs in macro[1] and "expansionLoc" in at:
                call = at["expansionLoc"]
                cfile = os.path.normpath(call["file"])
                ctext = read(cfile)
                if ctext.startswith(macro[0], call["offset"]):
                    a, b = macro_arguments(ctext, call["offset"])[macro[1].index(rhs)]
                    add(cfile, a, b, op, fn)
    ordered = sorted(sites.values(), key=lambda x: (x.file, x.start))
    count = {}
    for s in ordered:
        key = (s.file, s.function, read(s.file)[s.start:s.end])
        count[key] = count.get(key, 0) + 1
        s.id = "%s|%s|%s|%d" % (key + (count[key],))
    return ordered


def load_reasons(rel, third):
    """A list of (file, function, <third>, reason), tab-separated, '#' comments: a dict of the first
    three to the reason (the third field is the text that names the line or the right-hand side)."""
    out = {}
    path = os.path.join(ROOT, rel)
    if os.path.exists(path):
        for line in open(path):
            if line.strip() and not line.startswith("#"):
                parts = [p.strip() for p in line.rstrip("\n").split("\t") if p.strip()]
                if len(parts) != 4:
                    sys.exit("%s: expected 4 tab-separated fields (file, function, %s, reason): %r" % (path, third, line))
                out[tuple(parts[:3])] = parts[3]
    return out


# ---------------------------------------------------------------------------
# building and running

def sh(cmd, cwd, timeout=None):
    return subprocess.run(cmd, cwd=cwd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)


def sync_tree(dst):
    """Makes dst a copy of the sources (what the suites need). Unchanged files keep their time
    stamps, so make rebuilds only what changed since the last run."""
    wanted = set()
    for top in LIB_DIRS + ["models", "tests", "Makefile"]:
        src = os.path.join(ROOT, top)
        files = [src] if os.path.isfile(src) else [os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs]
        for f in files:
            rel = os.path.relpath(f, ROOT)
            wanted.add(rel)
            out = os.path.join(dst, rel)
            if not os.path.exists(out) or open(f, "rb").read() != open(out, "rb").read():
                os.makedirs(os.path.dirname(out), exist_ok=True)
                shutil.copy(f, out)
    for d, _, fs in os.walk(dst):
        for f in fs:
            if os.path.relpath(os.path.join(d, f), dst) not in wanted:
                os.remove(os.path.join(d, f))


def suites():
    names = []
    for layer in sorted(os.listdir(os.path.join(ROOT, "tests"))):
        folder = os.path.join(ROOT, "tests", layer)
        if os.path.isdir(folder):
            for f in sorted(os.listdir(folder)):
                if re.match(r"(grad_.*|test_golden.*)\.c$", f):
                    names.append("tests/%s/%s" % (layer, f[:-2]))
    return names


def restore(tree, rel, text):
    path = os.path.join(tree, rel)
    open(path, "w").write(text)
    os.utime(path)


FAIL_LINE = re.compile(r"^[^:\n]+:\d+:[FE]:")


def run_suites(tree, build, binaries, timeouts, jobs):
    """Runs the suites, `jobs` at a time in the order given; returns (suite, how) for the first that
    fails, stopping the others, or None when all pass."""
    env = dict(os.environ, CK_FORK="no", CK_LOG_FILE_NAME="/dev/stderr", OMP_WAIT_POLICY="passive")
    waiting, running, failed = list(binaries), {}, None
    sel = selectors.DefaultSelector()
    while (waiting or running) and failed is None:
        while waiting and len(running) < jobs:
            b = waiting.pop(0)
            p = subprocess.Popen([os.path.join(build, b)], cwd=tree, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, start_new_session=True)
            running[b] = (p, time.time())
            sel.register(p.stderr, selectors.EVENT_READ, b)
        for key, _ in sel.select(timeout=0.1):
            chunk = os.read(key.fileobj.fileno(), 65536).decode(errors="replace")
            if not chunk:
                sel.unregister(key.fileobj)
            elif any(FAIL_LINE.match(line) for line in chunk.split("\n")):
                failed = (key.data, "failed a test")
        for b, (p, started) in list(running.items()):
            if p.poll() is not None:
                if p.returncode != 0 and failed is None:
                    failed = (b, "exit status %d" % p.returncode)
                if any(k.fileobj is p.stderr for k in sel.get_map().values()):
                    sel.unregister(p.stderr)
                p.stderr.close()
                del running[b]
            elif time.time() - started > timeouts[b] and failed is None:
                failed = (b, "timed out")
    for b, (p, _) in running.items():
        if p.poll() is None:
            os.killpg(p.pid, 9)
        p.wait()
        p.stderr.close()
    sel.close()
    return failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--share", help="k/n: run only the k-th of n fixed shares of the mutants")
    ap.add_argument("--turn", help="t/w: run the w mutants of turn t (positions t w .. t w + w - 1 in hash order)")
    ap.add_argument("--list", action="store_true", help="print the mutants and exit")
    ap.add_argument("--match", action="append",
                    help="run only the mutants whose file:line, function or statement contains this text (repeatable: any)")
    ap.add_argument("--build", default="build/mutate", help="working directory (default build/mutate)")
    ap.add_argument("--jobs", type=int, default=2, help="make -j (default 2)")
    args = ap.parse_args()
    os.chdir(ROOT)
    t0 = time.time()

    roots, reached = analyse(args.jobs, os.path.join(ROOT, args.build))
    cache = {}

    def read(f):
        if f not in cache:
            cache[f] = open(os.path.join(ROOT, f)).read()
        return cache[f]
    sites = sites_of(reached, read)
    equivalents = load_reasons(EQUIVALENT_FILE, "right-hand side")
    zero, listed, todo = [], [], []
    for s in sites:
        rhs = read(s.file)[s.start:s.end]
        reason = equivalents.get((s.file, s.function, rhs))
        if re.fullmatch(r"(\(\w+\)\s*)?\{?\s*0(\.0*)?f?\s*\}?", rhs):
            zero.append(s)
        elif reason:
            listed.append((s, reason))
        else:
            todo.append(s)
    used = {(s.file, s.function, read(s.file)[s.start:s.end]) for s, _ in listed}
    stale = [k for k in equivalents if k not in used]
    if stale:
        sys.exit("%s lists mutants that no longer exist: %s" % (EQUIVALENT_FILE, stale))
    if args.match:
        todo = [s for s in todo
                if any(m in "%s:%d %s: %s" % (s.file, s.line, s.function, s.shown(read(s.file))) for m in args.match)]
    if args.share:
        m = re.fullmatch(r"(\d+)/(\d+)", args.share)
        if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
            sys.exit("--share must be k/n with 1 <= k <= n, got %r" % args.share)
        k, n = int(m.group(1)), int(m.group(2))
        todo = [s for s in todo if zlib.crc32(s.id.encode()) % n == k - 1]
    if args.turn:
        m = re.fullmatch(r"(\d+)/(\d+)", args.turn)
        if not m or int(m.group(2)) < 1:
            sys.exit("--turn must be t/w with t >= 0 and w >= 1, got %r" % args.turn)
        t, w = int(m.group(1)), int(m.group(2))
        ordered = sorted(todo, key=lambda s: (zlib.crc32(s.id.encode()), s.id))
        picked = {(t * w + i) % len(ordered) for i in range(min(w, len(ordered)))} if ordered else set()
        todo = [s for i, s in enumerate(ordered) if i in picked]

    print("mutate: %d backward functions reach %d functions; %d floating-point assignment sites "
          "(%d of constant 0 and %d listed as equivalent, not run)" %
          (len(roots), len(reached), len(sites), len(zero), len(listed)))
    print("backward functions: " + ", ".join(sorted(f.name for f in roots)))
    print("functions with sites: " + ", ".join(sorted({s.function for s in sites})))
    if args.list:
        for s in todo:
            print("%s:%d %s: %s" % (s.file, s.line, s.function, s.shown(read(s.file))))
        return 0
    print("running %d mutants%s%s" % (len(todo), " (share %s)" % args.share if args.share else "",
                                      " (turn %s)" % args.turn if args.turn else ""), flush=True)

    build_dir = os.path.join(ROOT, args.build)
    tree = os.path.join(build_dir, "tree")
    marker = os.path.join(build_dir, "mutating")  # names a file whose objects may hold a mutant
    if os.path.exists(tree) and os.path.exists(marker):
        stale = os.path.join(tree, open(marker).read().strip())
        if os.path.exists(stale):
            os.utime(stale)  # newer than its objects: rebuilt below
    sync_tree(tree)
    objs = os.path.join(build_dir, "obj")
    binaries = ["%s/%s" % (objs, s) for s in suites()]
    rel = [os.path.relpath(b, tree) for b in binaries]
    make = "make -s -j%d BUILD=%s %s" % (args.jobs, os.path.relpath(objs, tree), " ".join(rel))
    r = sh(make, tree)
    if r.returncode != 0:
        sys.exit("the unmutated tree does not build:\n" + r.stdout[-3000:])
    timeouts, baseline = {}, {}
    for b in rel:
        t = time.time()
        rr = sh("CK_FORK=no OMP_WAIT_POLICY=passive " + b, tree)
        if rr.returncode != 0:
            sys.exit("%s fails without any mutation:\n%s" % (b, rr.stdout[-3000:]))
        baseline[b] = time.time() - t
        timeouts[b] = max(60.0, 10 * baseline[b])
    print("suites: %s (unmutated: pass, %.0f s one after another)" %
          (", ".join(os.path.basename(b) for b in rel), sum(baseline.values())), flush=True)
    kills = {}  # (mutated file, suite) -> mutants it killed: that suite runs first for the next one

    killed, survived, nobuild = [], [], []
    current = None
    try:
        for i, s in enumerate(todo):
            original = read(s.file)
            if current and current != s.file:  # the previous file back as it was; the next make rebuilds it
                restore(tree, current, read(current))
            current = s.file
            open(marker, "w").write(s.file)
            open(os.path.join(tree, s.file), "w").write(s.mutated(original))
            t = time.time()
            b = sh(make, tree)
            if b.returncode != 0:
                nobuild.append(s)
                status, detail = "nobuild", ""
            else:
                first = sorted(rel, key=lambda x: (-kills.get((s.file, x), 0), baseline[x]))
                failed = run_suites(tree, objs, first, timeouts, args.jobs)
                if failed:
                    killed.append(s)
                    kills[(s.file, failed[0])] = kills.get((s.file, failed[0]), 0) + 1
                    status, detail = "killed", "%s %s" % (os.path.basename(failed[0]), failed[1])
                else:
                    survived.append(s)
                    status, detail = "SURVIVED", ""
            print("[%3d/%d] %-8s %s:%d %s: %s  %s (%.0f s)" % (i + 1, len(todo), status, s.file, s.line, s.function,
                                                              s.shown(original)[:110], detail, time.time() - t),
                  flush=True)
    finally:
        if current:
            restore(tree, current, read(current))
            if sh(make, tree).returncode == 0:
                os.remove(marker)

    print()
    if zero:
        print("not run, the right-hand side is the constant 0 (0 * 1.01 == 0): %d sites" % len(zero))
        for s in zero:
            print("  %s:%d %s: %s" % (s.file, s.line, s.function, s.shown(read(s.file))))
    if listed:
        print("not run, equivalent (%s):" % EQUIVALENT_FILE)
        for s, reason in listed:
            print("  %s:%d %s: %s\n      %s" % (s.file, s.line, s.function, s.shown(read(s.file)), reason))
    if nobuild:
        print("did not compile (not counted): %d" % len(nobuild))
        for s in nobuild:
            print("  %s:%d %s: %s" % (s.file, s.line, s.function, s.shown(read(s.file))))
    if survived:
        print("SURVIVORS: %d" % len(survived))
        for s in survived:
            print("  %s:%d %s: %s" % (s.file, s.line, s.function, s.shown(read(s.file))))
    counted = len(killed) + len(survived)
    print("kill rate: %d of %d killed (%.1f%%), %d survived, %d did not compile; %.0f s" %
          (len(killed), counted, 100.0 * len(killed) / counted if counted else 100.0, len(survived), len(nobuild),
           time.time() - t0))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
