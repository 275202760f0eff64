# make            library (float and double builds), ./sasrec, benchmarks, examples, tests
# make test       every Check suite
# make sanitize   the suites under AddressSanitizer + UndefinedBehaviorSanitizer
# make valgrind   the suites under valgrind (CK_FORK=no)
# make bench      the benchmarks
# make fuzz       the libFuzzer harnesses (clang), FUZZ_SECONDS each
# make coverage   gcov line coverage of autograd/ nn/ tensor/ under the gradient and golden suites (python3, clang)
# make mutate     a 1.01x error planted in each floating-point assignment of the backward pass in turn; the
#                 gradient and golden suites must catch every one (python3, clang); MUTATE_SHARE=k/n: a fixed share
# make clean
# Options: OPENMP=0 (serial build), NATIVE=1 (-march=native), BUILD=dir, SAN=1.

CC ?= gcc
OPENMP ?= 1
NATIVE ?= 0
SAN ?= 0
BUILD ?= build
OPT ?= -O3

CFLAGS_BASE := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -I. -g -ffp-contract=fast -fno-math-errno -fno-trapping-math
ifeq ($(OPENMP),1)
  CFLAGS_BASE += -fopenmp
else
  CFLAGS_BASE += -Wno-unknown-pragmas
endif
ifeq ($(NATIVE),1)
  CFLAGS_BASE += -march=native
endif
ifeq ($(SAN),1)
  CFLAGS_BASE += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
endif
CFLAGS_ALL := $(CFLAGS_BASE) $(OPT) $(CFLAGS)
LDLIBS_ALL := -lm -lpthread $(LDLIBS)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm -pthread)

LIB_DIRS := base tensor autograd io nn
LIB_SRC := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c))
SASREC_SRC := $(filter-out models/sasrec/cli/main.c,$(wildcard models/sasrec/*.c models/sasrec/data/*.c models/sasrec/cli/*.c))
LIB32 := $(BUILD)/libnn.a
LIB64 := $(BUILD)/libnn64.a
LIBSASREC := $(BUILD)/libsasrec.a

OBJ32 := $(LIB_SRC:%.c=$(BUILD)/f32/%.o)
OBJ64 := $(LIB_SRC:%.c=$(BUILD)/f64/%.o)
OBJSASREC := $(SASREC_SRC:%.c=$(BUILD)/f32/%.o)

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

.PHONY: all lib test sanitize valgrind bench fuzz coverage mutate clean
all: lib $(BUILD)/sasrec $(BENCH_BINS) $(EXAMPLES) $(TESTS) $(ROOT_COPIES)
lib: $(LIB32) $(LIB64)

$(BUILD)/f32/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@
$(BUILD)/f64/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DNN_DOUBLE -MMD -MP -c $< -o $@

$(LIB32): $(OBJ32)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(LIB64): $(OBJ64)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
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

# Every float suite links the golden fixture reader (tests/nn/golden.c) beside tests/support.c.
$(TESTS32): $(BUILD)/tests/%: $(BUILD)/f32/tests/%.o $(BUILD)/f32/tests/support.o $(BUILD)/f32/tests/nn/golden.o \
  $(LIBSASREC) $(LIB32)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(filter %.o,$^) $(filter %.a,$^) -o $@ $(CHECK_LIBS) $(LDLIBS_ALL)
# The SASRec suites also link their shared fixture (a temporary folder per test, files written into it).
$(filter $(BUILD)/tests/sasrec/%,$(TESTS32)): $(BUILD)/f32/tests/sasrec/fixture.o
$(TESTS64): $(BUILD)/tests/%: $(BUILD)/f64/tests/%.o $(BUILD)/f64/tests/support.o $(LIB64)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(CHECK_LIBS) $(LDLIBS_ALL)

# Runs every suite; stops at the first failing one. Each ends with Check's summary line.
# NN_SASREC is the program the command-line tests run.
test: $(TESTS) sasrec
	@set -e; for t in $(TESTS); do echo "== $$t"; NN_SASREC=./sasrec $$t; done

SAN_TESTS := $(patsubst $(BUILD)/%,build/san/%,$(TESTS))
sanitize:
	$(MAKE) BUILD=build/san SAN=1 OPT=-O1 lib build/san/sasrec $(SAN_TESTS)
	@set -e; for t in $(SAN_TESTS); do echo "== $$t"; \
	  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 CK_TIMEOUT_MULTIPLIER=20 \
	  NN_SASREC=build/san/sasrec $$t; done

VALGRIND := valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect -q
valgrind: $(TESTS) sasrec
	@set -e; for t in $(TESTS); do echo "== $$t"; CK_FORK=no CK_TIMEOUT_MULTIPLIER=100 NN_TEST_QUICK=1 \
	  NN_SASREC="valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect -q ./sasrec" \
	  $(VALGRIND) $$t; done

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
FUZZ_FLAGS := -g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -I. -fsanitize=fuzzer,address,undefined \
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
coverage:
	python3 tests/tools/coverage.py
mutate:
	python3 tests/tools/mutate.py $(if $(MUTATE_SHARE),--share $(MUTATE_SHARE))

clean:
	rm -rf build sasrec $(BENCHES)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
