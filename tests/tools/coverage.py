#!/usr/bin/env python3
"""make coverage: line coverage (gcov) of autograd/, nn/ and tensor/ under the
gradient and golden suites, per file, and a check that every line of every
backward function, and of every function they reach, ran.

    python3 tests/tools/coverage.py          # from the repository root

It builds the suites (tests/*/grad_*.c on the double build, tests/*/test_golden*.c
on the float build) with --coverage -O0 into build/coverage, runs them with
NN_TEST_QUICK=1 (SASRec's batches of 256 shrink to 8 sequences, which cross
the same thresholds: the lines run are the same, in a fifth of the time), and
reads gcov's JSON for every library object of both builds. A line counts as
run when any compiled copy of it ran: the float or the double build, any
target_clones variant (NN_VECTORIZE), any instruction-set copy of gemm's
micro-kernel.

The functions checked line by line are those tests/tools/mutate.py plants
errors in: every BackwardFn and every function it reaches. A line of them that
never ran fails the run unless it is
  - the message of a misuse check (NN_CHECK ...) after the check's first line:
    it runs only when the check fails, and aborts;
  - listed in tests/tools/coverage_exceptions.txt with the reason (a line,
    or * for a whole function).
Variants that never ran (a target_clones clone or a gemm kernel for another
instruction set than this CPU's best) are listed with the CPU's flags: their
lines are the same source lines as the variant that ran."""
import json
import os
import re
import concurrent.futures
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mutate  # noqa: E402  (the same functions as make mutate)

ROOT = mutate.ROOT
BUILD = "build/coverage"
REPORT_DIRS = ["autograd", "nn", "tensor"]
EXCEPTIONS_FILE = os.path.join("tests", "tools", "coverage_exceptions.txt")
VARIANT_RE = re.compile(r"^(.*?)(\.arch_[\w]+|\.default|_avx512|_avx2|_base)$")


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def gcov_files(objdir, source):
    """gcov's JSON records (one per source file the object covers) for one object."""
    r = subprocess.run(["gcov", "--json-format", "--stdout", "-o", objdir, source], cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = []
    for line in r.stdout.splitlines():
        if line.strip().startswith("{"):
            out += json.loads(line)["files"]
    return out


def misuse_message_lines(text):
    """Lines after the first of each NN_CHECK(...) statement: they run only when the check fails."""
    lines = set()
    for m in re.finditer(r"\bNN_CHECK\s*\(", text):
        end = mutate.expression_end(text, m.end())
        first = text.count("\n", 0, m.start()) + 1
        last = text.count("\n", 0, end) + 1
        lines.update(range(first + 1, last + 1))
    return lines


def cpu_flags():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def main():
    os.chdir(ROOT)
    suites = mutate.suites()
    binaries = ["%s/%s" % (BUILD, s) for s in suites]
    r = sh("make -s -j2 BUILD=%s OPT=-O0 CFLAGS=--coverage LDLIBS=--coverage %s" % (BUILD, " ".join(binaries)))
    if r.returncode != 0:
        sys.exit("the coverage build failed:\n" + r.stdout[-3000:])
    sh("find %s -name '*.gcda' -delete" % BUILD)
    # Two suites at a time, the longest first (libgcov locks a .gcda file while it adds a run's counts to it);
    # results printed in the suites' order.
    slow = ["nn/grad_ligr_block", "nn/grad_sasrec_sizes", "autograd/grad_sampled_rows"]
    order = sorted(binaries, key=lambda b: next((i for i, s in enumerate(slow) if b.endswith(s)), len(slow)))
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        runs = dict(zip(order, pool.map(lambda b: sh("CK_FORK=no NN_TEST_QUICK=1 OMP_WAIT_POLICY=passive " + b), order)))
    for b in binaries:
        r = runs[b]
        print("== %s: %s" % (b, (r.stdout.strip().splitlines() or ["(no output)"])[-1]), flush=True)
        if r.returncode != 0:
            sys.exit(r.stdout[-3000:])

    # (file, line) -> count, over both builds and every function copy; (file, function instance) -> count
    lines, instances = {}, {}
    for build in ("f32", "f64"):
        for d in mutate.LIB_DIRS:
            objdir = os.path.join(BUILD, build, d)
            if not os.path.isdir(objdir):
                continue
            for f in sorted(os.listdir(objdir)):
                if not f.endswith(".gcda"):
                    continue
                for rec in gcov_files(objdir, os.path.join(d, f[:-5] + ".c")):
                    path = os.path.normpath(os.path.relpath(os.path.join(ROOT, rec["file"]), ROOT))
                    for ln in rec["lines"]:
                        key = (path, ln["line_number"])
                        lines[key] = lines.get(key, 0) + ln["count"]
                    for fn in rec["functions"]:
                        key = (path, fn["name"], fn["start_line"])
                        instances[key] = instances.get(key, 0) + fn["execution_count"]

    print("\nline coverage under %s:" % ", ".join(os.path.basename(s) for s in suites))
    print("  %-28s %6s %6s %7s" % ("file", "lines", "run", "cover"))
    totals = [0, 0]
    for d in REPORT_DIRS:
        for f in sorted(os.listdir(d)):
            path = os.path.join(d, f)
            keys = [k for k in lines if k[0] == path]
            if not keys:
                continue
            run = sum(1 for k in keys if lines[k] > 0)
            totals[0] += len(keys)
            totals[1] += run
            print("  %-28s %6d %6d %6.1f%%" % (path, len(keys), run, 100.0 * run / len(keys)))
    print("  %-28s %6d %6d %6.1f%%" % ("total", totals[0], totals[1], 100.0 * totals[1] / max(totals[0], 1)))

    roots, reached = mutate.analyse(2, os.path.join(ROOT, "build", "mutate"))
    exceptions, used = mutate.load_reasons(EXCEPTIONS_FILE, "line"), set()
    texts = {}
    backward_lines, missed, excused = 0, [], []
    seen = set()
    for fn in reached:
        if fn.file not in texts:
            texts[fn.file] = open(fn.file).read()
        src = texts[fn.file].split("\n")
        messages = misuse_message_lines(texts[fn.file])
        first, last = fn.lines
        for n in range(first, (last or first) + 1):
            key = (fn.file, n)
            if key not in lines or key in seen:
                continue
            seen.add(key)
            backward_lines += 1
            if lines[key] > 0:
                continue
            text = src[n - 1].strip()
            key = next((k for k in ((fn.file, fn.name, text), (fn.file, fn.name, "*")) if k in exceptions), None)
            reason = exceptions.get(key)
            if reason:
                used.add(key)
            elif n in messages:
                reason = "the message of a misuse check (NN_CHECK): runs only when the check fails"
            if reason:
                excused.append((fn, n, text, reason))
            else:
                missed.append((fn, n, text))
    names = {(f.file, f.name) for f in reached}
    variants = []
    ran = {(k[0], VARIANT_RE.sub(r"\1", k[1])) for k, c in instances.items() if c > 0}
    for (path, name, start), count in sorted(instances.items()):
        base = VARIANT_RE.sub(r"\1", name)
        if count == 0 and ((path, name) in names or (path, base) in names) and base != name and (path, base) in ran:
            variants.append((path, name))
    flags = cpu_flags()
    isa = "avx512f" if "avx512f" in flags else "avx2" if "avx2" in flags else "baseline x86-64"
    run = backward_lines - len(missed) - len(excused)
    print("\nbackward functions and the functions they reach (%d functions from %d BackwardFn): "
          "%d lines, %d run, %d excused, %d missed" % (len(reached), len(roots), backward_lines, run, len(excused),
                                                        len(missed)))
    if variants:
        print("variants that did not run: this CPU's best is %s, so gemm runs its %s kernel and NN_VECTORIZE its "
              "%s clone; the others are the same source lines (make valgrind runs the avx2 ones):" %
              (isa, "avx512" if isa == "avx512f" else "avx2" if isa == "avx2" else "base",
               "x86-64-v4" if isa == "avx512f" else "x86-64-v3" if isa == "avx2" else "default"))
        print("  " + ", ".join("%s:%s" % v for v in variants))
    for fn, n, text, reason in excused:
        print("  excused %s:%d %s: %s\n      %s" % (fn.file, n, fn.name, text, reason))
    # an entry whose line ran (on this CPU) is fine; one that names no line of its function is stale
    bodies = {(f.file, f.name): texts[f.file].split("\n")[f.lines[0] - 1:(f.lines[1] or f.lines[0])] for f in reached}
    stale = [k for k in exceptions
             if (k[0], k[1]) not in bodies or (k[2] != "*" and k[2] not in [l.strip() for l in bodies[(k[0], k[1])]])]
    for k in stale:
        print("  %s lists a line that no longer exists: %s" % (EXCEPTIONS_FILE, " / ".join(k)))
    for fn, n, text in missed:
        print("  MISSED %s:%d %s: %s" % (fn.file, n, fn.name, text))
    print("backward coverage: %d of %d lines run (%.1f%%), %d excused, %d missed" %
          (run, backward_lines, 100.0 * run / max(backward_lines, 1), len(excused), len(missed)))
    return 1 if missed or stale else 0


if __name__ == "__main__":
    sys.exit(main())
