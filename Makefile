# make            library (float and double builds), ./sasrec, benchmarks, examples; a C compiler is all it needs
# make lib        only the libraries: static and shared, float (libnn) and double (libnn64)
# make install    libraries, headers under PREFIX/include/nn/, pkg-config files nn and nn64 (PREFIX, DESTDIR)
# make uninstall  removes what make install installed (same PREFIX and DESTDIR)
# make test       builds and runs every Check suite, the link and header checks, the docs' example (make tests:
#                 only builds the suites); without Check, root with apt-get installs check and pkg-config, anyone
#                 else gets one line naming the command to run
# make sanitize   the suites under AddressSanitizer + UndefinedBehaviorSanitizer (./sasrec's subprocesses too),
#                 with NN_TEST_QUICK=1 as under valgrind (SASRec-sized batches of 8, not 256: the same lines run)
# make valgrind   the library's suites under valgrind (CK_FORK=no; -j2 runs two at a time); the program's
#                 (tests/sasrec), grad_sasrec_sizes and grad_ligr_block are make sanitize's; VALGRIND_ALL=1 runs all
# make bench      the benchmarks
# make fuzz       the libFuzzer harnesses (clang), FUZZ_SECONDS each
# make coverage   gcov line coverage of autograd/ nn/ tensor/ under the gradient and golden suites (python3, clang)
# make mutate     a 1.01x error planted in each floating-point assignment of the backward pass in turn; the
#                 gradient and golden suites must catch every one (python3, clang); MUTATE_SHARE=k/n: a fixed share,
#                 MUTATE_TURN=t/w: w of them, turn t (CI: the commit count, 3 a run)
# make lint       the naming, layering, guard, length and gradient-contract rules of docs/design.md (tools/lint.py,
#                 python3), after its self-test
# make clean
# Options: THREADS=0 (serial build; OPENMP=0 is the old name), NATIVE=1 (-march=native), BUILD=dir, SAN=1.
# make MPI=1      the same library and program with mpicc and -DNN_MPI (Open MPI: libopenmpi-dev), in build/mpi:
#                 build/mpi/sasrec runs under mpirun (README, "More than one machine"); nothing else needs MPI
# make installcheck  installs into a temporary prefix and builds and runs examples/ out of tree

CC ?= gcc
MPI ?= 0
ifeq ($(MPI),1)
  CC = mpicc
  BUILD ?= build/mpi
endif
OPENMP ?= 1
THREADS ?= $(OPENMP)
NATIVE ?= 0
SAN ?= 0
BUILD ?= build
OPT ?= -O3

CFLAGS_BASE := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -I. -g -ffp-contract=fast -fno-math-errno -fno-trapping-math
ifeq ($(THREADS),1)
  CFLAGS_BASE += -pthread
else
  CFLAGS_BASE += -DNN_NO_THREADS
endif
ifeq ($(NATIVE),1)
  CFLAGS_BASE += -march=native
endif
ifeq ($(MPI),1)
  CFLAGS_BASE += -DNN_MPI
endif
ifeq ($(SAN),1)
  CFLAGS_BASE += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
endif
CFLAGS_ALL := $(CFLAGS_BASE) $(OPT) $(CFLAGS)
LDLIBS_ALL := -lm -lpthread $(LDLIBS)

# Only the test suites need Check (libcheck). A goal that builds them looks for check.h first: when it is
# absent, root with apt-get installs check and pkg-config (as .ci/run does); anyone else gets one line
# naming the command to run, before anything is built. `make` alone never needs it.
NEEDS_CHECK := $(filter tests test sanitize valgrind coverage mutate,$(MAKECMDGOALS))$(findstring tests/,$(MAKECMDGOALS))
ifneq ($(NEEDS_CHECK),)
  ifeq ($(MAKELEVEL),0)
    CHECK_MISSING := $(shell CC="$(CC)" tests/install/need_check.sh)
    ifneq ($(CHECK_MISSING),)
      $(error $(CHECK_MISSING))
    endif
  endif
endif
# Asked once, when the first suite is linked (need_check.sh may have installed pkg-config by then).
CHECK_LIBS = $(eval CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm -pthread))$(CHECK_LIBS)

LIB_DIRS := base tensor autograd io nn
LIB_SRC := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c))
SASREC_SRC := $(filter-out models/sasrec/cli/main.c,$(wildcard models/sasrec/*.c models/sasrec/io/*.c \
  models/sasrec/data/*.c models/sasrec/cli/*.c))
LIB32 := $(BUILD)/libnn.a
LIB64 := $(BUILD)/libnn64.a
LIBSASREC := $(BUILD)/libsasrec.a

OBJ32 := $(LIB_SRC:%.c=$(BUILD)/f32/%.o)
OBJ64 := $(LIB_SRC:%.c=$(BUILD)/f64/%.o)
OBJSASREC := $(SASREC_SRC:%.c=$(BUILD)/f32/%.o)
OBJ32PIC := $(LIB_SRC:%.c=$(BUILD)/f32pic/%.o)
OBJ64PIC := $(LIB_SRC:%.c=$(BUILD)/f64pic/%.o)

# The shared libraries carry a versioned soname: libnn.so.0 -> libnn.so.0.1.0.
VERSION := 0.1.0
SOVERSION := $(firstword $(subst ., ,$(VERSION)))
SO32 := $(BUILD)/libnn.so.$(VERSION)
SO64 := $(BUILD)/libnn64.so.$(VERSION)

# Installed headers: every header of LIB_DIRS except the internal ones, under include/nn/ with their
# includes rewritten from "tensor/tensor.h" to <nn/tensor/tensor.h>; the umbrella nn/nn.h becomes <nn/nn.h>.
INTERNAL_HEADERS := base/philox_avx512.h base/simd.h tensor/gemm_kernel.h tensor/gemm_tile.h tensor/rmath.h
PUBLIC_HEADERS := $(filter-out $(INTERNAL_HEADERS) nn/nn.h,$(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.h)))
INSTALL_HEADERS := $(PUBLIC_HEADERS:%=$(BUILD)/include/nn/%) $(BUILD)/include/nn/nn.h

# Test suites, one folder per layer: tests/*/grad_*.c run on the double build (tight gradient checks), the rest on float.
TEST32_SRC := $(wildcard tests/*/test_*.c)
TEST64_SRC := $(wildcard tests/*/grad_*.c)
TESTS32 := $(TEST32_SRC:%.c=$(BUILD)/%)
TESTS64 := $(TEST64_SRC:%.c=$(BUILD)/%)
TESTS := $(TESTS32) $(TESTS64)

BENCH_SRC := $(wildcard bench/*.c)
BENCHES := $(BENCH_SRC:%.c=%)
BENCH_BINS := $(BENCH_SRC:%.c=$(BUILD)/%)
# ./sasrec and bench/* are copies of the default build's programs; other BUILDs keep theirs in BUILD.
ROOT_COPIES := $(if $(filter build,$(BUILD)),sasrec $(BENCHES))
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLES := $(EXAMPLE_SRC:%.c=$(BUILD)/%)
DOC_EXAMPLE := $(BUILD)/docs/writing-an-op

.PHONY: all lib tests test sanitize valgrind bench fuzz coverage mutate lint clean install uninstall installcheck
all: $(LIB32) $(LIB64) $(BUILD)/sasrec $(BENCH_BINS) $(EXAMPLES) $(ROOT_COPIES) $(DOC_EXAMPLE)
lib: $(LIB32) $(LIB64) $(SO32) $(SO64) $(INSTALL_HEADERS)

$(BUILD)/f32/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@
$(BUILD)/f64/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DNN_DOUBLE -MMD -MP -c $< -o $@

# Position-independent copies of the objects for the shared libraries (the static ones stay as they were).
$(BUILD)/f32pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIC -MMD -MP -c $< -o $@
$(BUILD)/f64pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIC -DNN_DOUBLE -MMD -MP -c $< -o $@

$(LIB32): $(OBJ32)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(LIB64): $(OBJ64)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(SO32): $(OBJ32PIC)
	$(CC) $(CFLAGS_ALL) -shared -Wl,-soname,libnn.so.$(SOVERSION) $^ -o $@ $(LDLIBS_ALL)
$(SO64): $(OBJ64PIC)
	$(CC) $(CFLAGS_ALL) -shared -Wl,-soname,libnn64.so.$(SOVERSION) $^ -o $@ $(LDLIBS_ALL)
$(LIBSASREC): $(OBJSASREC)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# The program is linked under BUILD (so sanitizer builds have their own) and copied to ./sasrec.
$(BUILD)/sasrec: $(BUILD)/f32/models/sasrec/cli/main.o $(LIBSASREC) $(LIB32)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LDLIBS_ALL)
sasrec: $(BUILD)/sasrec
	cp $< $@

$(BUILD)/bench/%: $(BUILD)/f32/bench/%.o $(LIBSASREC) $(LIB32)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LDLIBS_ALL)
bench/%: $(BUILD)/bench/%
	cp $< $@

$(BUILD)/examples/%: $(BUILD)/f32/examples/%.o $(LIB32)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LDLIBS_ALL)

# docs/writing-an-op.md: its C blocks, joined in order, are one program that make test runs (double build).
$(BUILD)/docs/writing-an-op.c: docs/writing-an-op.md
	@mkdir -p $(dir $@)
	awk '/^```c$$/ {on = 1; next} /^```$$/ {on = 0; next} on' $< > $@
$(DOC_EXAMPLE): $(BUILD)/docs/writing-an-op.c $(LIB64)
	$(CC) $(CFLAGS_ALL) -DNN_DOUBLE $^ -o $@ $(LDLIBS_ALL)

# Every float suite links the golden fixture reader (tests/nn/golden.c) beside tests/support.c.
$(TESTS32): $(BUILD)/tests/%: $(BUILD)/f32/tests/%.o $(BUILD)/f32/tests/support.o $(BUILD)/f32/tests/nn/golden.o \
  $(LIB32)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(filter %.o,$^) $(filter $(LIBSASREC),$^) $(LIB32) -o $@ $(CHECK_LIBS) $(LDLIBS_ALL)
# The SASRec suites also link the program's code and their shared fixture (a temporary folder per test, files
# written into it); the library's suites need neither (make coverage and make mutate build no libsasrec).
$(filter $(BUILD)/tests/sasrec/%,$(TESTS32)): $(BUILD)/f32/tests/sasrec/fixture.o $(LIBSASREC)
# The suites that hold the fused attention against the unfused one (a test-only reference) link it.
$(BUILD)/tests/nn/test_golden: $(BUILD)/f32/tests/nn/attention_unfused.o
$(BUILD)/tests/nn/grad_nn: $(BUILD)/f64/tests/nn/attention_unfused.o
$(TESTS64): $(BUILD)/tests/%: $(BUILD)/f64/tests/%.o $(BUILD)/f64/tests/support.o $(LIB64)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(filter %.o,$^) $(filter %.a,$^) -o $@ $(CHECK_LIBS) $(LDLIBS_ALL)

# make tests builds the suites without running them.
tests: $(TESTS)

# Runs every suite, TEST_JOBS at a time (each suite's output whole when it ends, the longest first so that
# they end together); after a failing one no other starts. Each ends with Check's summary line. Suites share
# nothing but the machine (temporary folders by mkdtemp, ports the system picks). NN_SASREC is the program
# the command-line tests run.
TEST_JOBS ?= 2
TEST_SLOW := $(addprefix $(BUILD)/tests/,sasrec/test_swap_race nn/grad_sasrec_sizes autograd/test_embedding_scatter \
  sasrec/test_model sasrec/test_http sasrec/test_files autograd/grad_sampled_rows nn/grad_ligr_block)
TEST_ORDER := $(filter $(TEST_SLOW),$(TESTS)) $(filter-out $(TEST_SLOW),$(TESTS))
TEST_RUNS := $(TEST_ORDER:$(BUILD)/%=test-run/%)
SAN_RUNS := $(TEST_ORDER:$(BUILD)/%=san-run/%)
.PHONY: $(TEST_RUNS) $(SAN_RUNS)
test: $(TESTS) sasrec $(DOC_EXAMPLE) $(LIB32) $(LIB64) $(SO32) $(SO64)
	@$(MAKE) --no-print-directory -j$(TEST_JOBS) -O $(TEST_RUNS)
	@echo "== $(DOC_EXAMPLE)"; $(DOC_EXAMPLE)
	@echo "== tests/install/link_mix.sh"; CC="$(CC)" tests/install/link_mix.sh $(BUILD)
	@echo "== tests/install/headers.sh"; CC="$(CC)" tests/install/headers.sh $(PUBLIC_HEADERS)

$(TEST_RUNS): test-run/%:
	@echo "== $(BUILD)/$*"; NN_SASREC=./sasrec $(BUILD)/$*

SAN_TESTS := $(patsubst $(BUILD)/%,build/san/%,$(TESTS))
sanitize:
	$(MAKE) BUILD=build/san SAN=1 OPT=-O1 build/san/libnn.a build/san/libnn64.a build/san/sasrec $(SAN_TESTS)
	@$(MAKE) --no-print-directory -j$(TEST_JOBS) -O $(SAN_RUNS)

$(SAN_RUNS): san-run/%:
	@echo "== build/san/$*"; \
	  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 CK_TIMEOUT_MULTIPLIER=20 \
	  NN_TEST_QUICK=1 NN_SASREC=build/san/sasrec build/san/$*

# valgrind runs the library's suites (every tests/<layer>/ but tests/sasrec/) in-process (CK_FORK=no), each
# its own target so that make -j2 -O valgrind runs two at a time (valgrind holds a program to one core), the
# longest first so that the two end together. Left to make sanitize (AddressSanitizer, UndefinedBehavior-
# Sanitizer, LeakSanitizer), which runs them a stage earlier: the program's suites (tests/sasrec/, much of
# their work in ./sasrec subprocesses; a third of valgrind's CPU time) and grad_sasrec_sizes (SASRec's own
# sizes, ~145 s under valgrind, more than any other suite: the same layers as grad_nn and grad_attention at
# small sizes, which valgrind runs) and grad_ligr_block (267 s under valgrind: its checks at SASRec's sizes,
# each parameter alone; LiGR is built from layers whose own suites valgrind runs) and VALGRIND_SANITIZE_ONLY
# (below). VALGRIND_ALL=1 runs every
# suite (their ./sasrec natively): about twice the time.
VALGRIND := valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect -q
VALGRIND_ALL ?= 0
# Bit-pattern checks of kernels at many sizes and thread counts (the embedding's banded scatter 89 CPU s under
# valgrind, the dropout mask 31, the stacked attention gradients 22): their memory is the sanitizers' to check.
VALGRIND_SANITIZE_ONLY := $(addprefix $(BUILD)/tests/autograd/,test_embedding_scatter test_dropout_mask \
  test_attention_stacked)
VALGRIND_SLOW := $(addprefix $(BUILD)/tests/,autograd/grad_ops autograd/grad_sampled_rows autograd/grad_attention \
  autograd/test_autograd tensor/test_gemm autograd/grad_elementwise)
VALGRIND_TESTS := $(filter $(TESTS),$(VALGRIND_SLOW)) $(filter-out $(VALGRIND_SLOW),$(TESTS))
VALGRIND_TESTS := $(if $(filter 1,$(VALGRIND_ALL)),$(VALGRIND_TESTS),\
  $(filter-out $(BUILD)/tests/sasrec/% $(BUILD)/tests/nn/grad_sasrec_sizes $(BUILD)/tests/nn/grad_ligr_block \
  $(VALGRIND_SANITIZE_ONLY),$(VALGRIND_TESTS)))
VALGRIND_RUNS := $(VALGRIND_TESTS:$(BUILD)/%=valgrind/%)
.PHONY: $(VALGRIND_RUNS)
valgrind: $(VALGRIND_RUNS)
$(VALGRIND_RUNS): valgrind/%: $(BUILD)/% $(if $(filter 1,$(VALGRIND_ALL)),sasrec)
	@echo "== $<"; CK_FORK=no CK_TIMEOUT_MULTIPLIER=100 NN_TEST_QUICK=1 NN_SASREC=./sasrec $(VALGRIND) $<

# Timings, one JSON line each; the SASRec epoch needs ../shared/data (skipped without it).
bench: $(BENCHES)
	@set -e; echo "== bench/attention --grid"; ./bench/attention --grid; \
	echo "== bench/matmul"; ./bench/matmul; \
	if [ -f ../shared/data/beauty/Beauty.txt ]; then echo "== bench/sasrec_epoch"; ./bench/sasrec_epoch; \
	else echo "== bench/sasrec_epoch skipped: ../shared/data/beauty/Beauty.txt is absent"; fi

# libFuzzer harnesses (clang): each runs FUZZ_SECONDS on a working corpus seeded from fuzz/corpus/<name>.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_NAMES := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_SRC := $(LIB_SRC) $(SASREC_SRC)
FUZZ_FLAGS := -g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -DNN_NO_THREADS -I. -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined
build/fuzz/fuzz_%: fuzz/fuzz_%.c $(FUZZ_SRC)
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) $< $(FUZZ_SRC) -lm -o $@
fuzz: $(FUZZ_NAMES:%=build/fuzz/fuzz_%)
	@set -e; for n in $(FUZZ_NAMES); do echo "== fuzz_$$n ($(FUZZ_SECONDS) s)"; \
	  mkdir -p build/fuzz/work_$$n build/fuzz/crashes; \
	  dict=; [ -f fuzz/$$n.dict ] && dict=-dict=fuzz/$$n.dict; \
	  build/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 $$dict \
	    -artifact_prefix=build/fuzz/crashes/$$n- build/fuzz/work_$$n fuzz/corpus/$$n; done

# Both build into their own directories (build/coverage, build/mutate) and never change a source file.
lint:
	python3 tools/lint.py --self-test
	python3 tools/lint.py
coverage:
	python3 tests/tools/coverage.py
mutate:
	python3 tests/tools/mutate.py $(if $(MUTATE_SHARE),--share $(MUTATE_SHARE)) $(if $(MUTATE_TURN),--turn $(MUTATE_TURN))

clean:
	rm -rf build sasrec $(BENCHES)

# ---- installing ----

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL ?= install
# What a program linking the library needs besides it (also for a static link).
PC_LIBS := -lpthread -lm
empty :=
LIB_DIRS_RE := $(subst $(empty) $(empty),|,$(strip $(LIB_DIRS)))

$(BUILD)/include/nn/nn.h: nn/nn.h
	@mkdir -p $(dir $@)
	sed -E 's,^#include "(($(LIB_DIRS_RE))/[^"]*)",#include <nn/\1>,' $< > $@
$(BUILD)/include/nn/%.h: %.h
	@mkdir -p $(dir $@)
	sed -E 's,^#include "(($(LIB_DIRS_RE))/[^"]*)",#include <nn/\1>,' $< > $@

# Folders the dynamic loader searches by itself (once ldconfig has run). A program linked against a libdir
# outside them finds libnn.so.0 through the rpath that the pkg-config files carry; inside them, make install
# runs ldconfig (as root, without DESTDIR) or says to run it.
SYSTEM_LIBDIRS := /lib /lib64 /usr/lib /usr/lib64 /usr/local/lib /usr/local/lib64 \
  $(addprefix /lib/,$(shell $(CC) -print-multiarch 2>/dev/null)) \
  $(addprefix /usr/lib/,$(shell $(CC) -print-multiarch 2>/dev/null))
SYSTEM_LIBDIR := $(filter $(patsubst %/,%,$(LIBDIR)),$(SYSTEM_LIBDIRS))
PC_RPATH := $(if $(SYSTEM_LIBDIR),,-Wl,-rpath,$${libdir} )

# pkg-config file $(1) for library $(2) with extra cflags $(3).
define pc_file
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	  'Name: $(1)' 'Description: reverse-mode autograd tensor library in C11 ($(4))' 'Version: $(VERSION)' \
	  'Cflags: -I$${includedir}$(3)' 'Libs: -L$${libdir} $(PC_RPATH)-l$(2) $(PC_LIBS)' > $(DESTDIR)$(PKGCONFIGDIR)/$(1).pc
endef

INSTALLED_LIBS := libnn.a libnn64.a libnn.so.$(VERSION) libnn64.so.$(VERSION) libnn.so.$(SOVERSION) \
  libnn64.so.$(SOVERSION) libnn.so libnn64.so
install: lib
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) $(addprefix $(DESTDIR)$(INCLUDEDIR)/nn/,$(LIB_DIRS))
	$(INSTALL) -m 644 $(LIB32) $(LIB64) $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 755 $(SO32) $(SO64) $(DESTDIR)$(LIBDIR)/
	for l in libnn libnn64; do ln -sf $$l.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$$l.so.$(SOVERSION); \
	  ln -sf $$l.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/$$l.so; done
	for h in $(PUBLIC_HEADERS); do $(INSTALL) -m 644 $(BUILD)/include/nn/$$h $(DESTDIR)$(INCLUDEDIR)/nn/$$h; done
	$(INSTALL) -m 644 $(BUILD)/include/nn/nn.h $(DESTDIR)$(INCLUDEDIR)/nn/nn.h
	$(call pc_file,nn,nn,,float)
	$(call pc_file,nn64,nn64, -DNN_DOUBLE,double)
ifneq ($(SYSTEM_LIBDIR),)
ifeq ($(DESTDIR),)
	@if [ "$$(id -u)" = 0 ] && command -v ldconfig > /dev/null; then ldconfig; \
	else echo "make install: run 'sudo ldconfig' so that programs find libnn.so.0 in $(LIBDIR)"; fi
endif
endif

uninstall:
	rm -f $(addprefix $(DESTDIR)$(LIBDIR)/,$(INSTALLED_LIBS)) $(DESTDIR)$(PKGCONFIGDIR)/nn.pc \
	  $(DESTDIR)$(PKGCONFIGDIR)/nn64.pc $(addprefix $(DESTDIR)$(INCLUDEDIR)/nn/,$(PUBLIC_HEADERS) nn.h)
	-rmdir $(addprefix $(DESTDIR)$(INCLUDEDIR)/nn/,$(LIB_DIRS)) $(DESTDIR)$(INCLUDEDIR)/nn 2>/dev/null
ifneq ($(SYSTEM_LIBDIR),)
ifeq ($(DESTDIR),)
	@if [ "$$(id -u)" = 0 ] && command -v ldconfig > /dev/null; then ldconfig; fi
endif
endif

# Installs into a temporary prefix, builds every example out of tree against the static and the shared
# library through pkg-config, runs each briefly, and checks that uninstall leaves the prefix as it was.
installcheck: lib
	CC="$(CC)" tests/install/installcheck.sh

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
