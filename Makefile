# align: make builds build/libalign.a and build/align; make test runs the suite;
# make test SAN=1 runs it under AddressSanitizer and UndefinedBehaviorSanitizer; make test RERUN=1,
# once make test has passed here, runs it again under another OpenBLAS kernel (OPENBLAS_CORETYPE)
# without the tests that depend on no CPU (tests/test.h, test_skip_in_a_rerun).

CC      ?= cc
PREFIX  ?= /usr/local
# non-empty when CC is clang (as given on the command line, or for CROSS)
CLANG    = $(findstring clang,$(CC))

# ---- CROSS: make [test] CROSS=aarch64-linux-gnu builds with Debian's <triplet>-gcc against the
# <triplet> -dev packages (dpkg --add-architecture arm64) into build/<triplet>, beside the native
# build, and runs the tests under qemu-<cpu>-static. EMULATOR runs a built program: empty natively.
# A macOS or BSD port is a change here too: CC, PKG_CONFIG, BUILD_ROOT.
ifneq ($(CROSS),)
CC          := $(CROSS)-gcc
AR          := $(CROSS)-ar
PKG_CONFIG  := PKG_CONFIG_LIBDIR=/usr/lib/$(CROSS)/pkgconfig:/usr/share/pkgconfig pkg-config
EMULATOR    := qemu-$(firstword $(subst -, ,$(CROSS)))-static
ifeq ($(CLANG),)
BUILD_ROOT  := build/$(CROSS)
# GCC 12's aarch64 compiler dies at -O3 on tests/test_checkpoints.c (internal compiler error in
# vect_transform_reduction); the tests' own loops need no vectorising, the library keeps it.
TEST_CFLAGS := -fno-tree-loop-vectorize
else
# CC="clang --target=<triplet>" on the command line: clang for the target (Apple silicon's compiler)
BUILD_ROOT  := build/$(CROSS)-clang
endif
endif
# ---- end CROSS
# ---- EMULATE: make test EMULATE=epyc-avx2 runs the native build's suite under qemu-x86_64-static
# posing as another x86-64 CPU. Its cpuid is what align's level detection and OpenBLAS's kernel
# choice read, so the whole dispatch runs as on that machine: epyc-avx2 is an AMD EPYC with AVX2 and
# FMA but no AVX-512 (Zen 2: OpenBLAS picks its Zen kernel), haswell an Intel one (the Haswell
# kernel), sandybridge an Intel with AVX but no AVX2 and nehalem one without AVX (align's baseline
# loops; OpenBLAS's Sandybridge and Nehalem kernels). Each model's features that qemu's TCG cannot
# give are switched off, or qemu would warn of each into align's stderr; align reads none of them.
# TCG has no AVX-512 at all, so no emulated CPU stands in for an AVX-512 one. Each CPU: qemu's model,
# then the ISA level and OpenBLAS kernel the suite checks that align chose. The suite runs without
# any OPENBLAS_CORETYPE the environment sets (some machines come with one): the choice is the CPU's.
EMULATE_CPU_epyc-avx2      := EPYC-Rome-v1,-rdseed,-sha-ni,-rdpid,-xsavec,-xsaves,-3dnowprefetch,-misalignsse,-osvw,-perfctr-core,-topoext,-fxsr-opt,-amd-stibp,-clzero,-ibpb,-wbnoinvd,-xsaveerptr,-nrip-save
EMULATE_CPU_haswell        := Haswell-v4,-pcid,-tsc-deadline,-x2apic,-invpcid,-spec-ctrl
EMULATE_CPU_sandybridge    := SandyBridge-v2,-tsc-deadline,-x2apic,-spec-ctrl
EMULATE_CPU_nehalem        := Nehalem-v2,-spec-ctrl
EMULATE_EXPECT_epyc-avx2   := ALIGN_EXPECT_ISA=avx2 ALIGN_EXPECT_BLAS=Zen
EMULATE_EXPECT_haswell     := ALIGN_EXPECT_ISA=avx2 ALIGN_EXPECT_BLAS=Haswell
EMULATE_EXPECT_sandybridge := ALIGN_EXPECT_ISA=baseline ALIGN_EXPECT_BLAS=Sandybridge
EMULATE_EXPECT_nehalem     := ALIGN_EXPECT_ISA=baseline ALIGN_EXPECT_BLAS=Nehalem
ifneq ($(EMULATE),)
ifeq ($(EMULATE_CPU_$(EMULATE)),)
$(error EMULATE=$(EMULATE): the CPUs this Makefile emulates are epyc-avx2, haswell, sandybridge and nehalem)
endif
ifneq ($(CROSS),)
$(error EMULATE is for the native x86-64 build; CROSS has its own emulator)
endif
EMULATOR      := qemu-x86_64-static -cpu $(EMULATE_CPU_$(EMULATE))
EMULATOR_NAME := qemu-x86_64-static as $(EMULATE)
# a rerun of the native suite where the host has AVX2: the native run covered every level the
# emulated CPU has (tests/test.h, test_skip_in_a_rerun)
RERUN         ?= $(shell grep -qw avx2 /proc/cpuinfo && echo 1)
endif
EMULATOR_NAME ?= $(EMULATOR)
# ---- end EMULATE
# ---- CC=clang (the compiler macOS and the BSDs ship; .ci/run runs the suite with it): its own
# build directory, beside GCC's
ifneq ($(CLANG),)
BUILD_ROOT ?= build/clang
endif
PKG_CONFIG ?= pkg-config
BUILD_ROOT ?= build
PKGS    := openblas libcjson libutf8proc stb sqlite3 libjpeg libwebp libwebpdemux libtiff-4 lcms2 libopenjp2
ifneq ($(MAKECMDGOALS),clean)
ifneq ($(shell $(PKG_CONFIG) --exists $(PKGS) && echo found),found)
$(error pkg-config cannot find all of $(PKGS): install the -dev packages the README lists)
endif
endif
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS))

# -fno-trapping-math lets GCC turn the activations' range checks into vector selects (align never
# inspects floating-point exception flags); -ffp-contract=fast lets it fuse a * b + c into one
# rounding, as PyTorch's own kernels and OpenBLAS do.
OPT     ?= -O3 -fno-trapping-math -ffp-contract=fast
CFLAGS  ?= $(OPT)
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -g -pthread $(PKG_CFLAGS) -Ilib \
           -DALIGN_SHARE_DIR='"$(PREFIX)/share/align"'
LDLIBS  := $(PKG_LIBS) -lm -pthread

ifeq ($(SAN),1)
BUILD   := $(BUILD_ROOT)/san
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# GCC's truncation analysis sees the sanitizers' null checks as null buffers (cli/output.c); the
# plain build keeps the warning (clang has neither)
ifeq ($(CLANG),)
CFLAGS  += -Wno-format-truncation
endif
LDFLAGS += -fsanitize=address,undefined
else
BUILD   := $(BUILD_ROOT)
endif

RANDOM_MODEL := build/align-base-random

# The kernel files (lib/kernels.h) are compiled once per ISA level, -DKERNEL_LEVEL naming the level
# in their functions' names: on x86-64 baseline (the compiler's x86-64 default), avx2 and avx512;
# on any other target one level, generic, with the target's defaults.
KERNEL_SRC := lib/channel_scale.c lib/depthwise.c lib/epilogue.c lib/gemm_dot.c lib/attention.c lib/layer_norm.c \
              lib/resample_row.c
# On x86-64 the test binary also links avx512_on_avx2: the avx512 level's loops, 16-float vectors and
# all, built for AVX2 (lib/vec.h, KERNEL_VW), so that a machine without AVX-512 still tests them.
ifneq ($(filter x86_64%,$(shell $(CC) -dumpmachine)),)
KERNEL_LEVELS := baseline avx2 avx512
TEST_KERNEL_LEVELS := avx512_on_avx2
else
KERNEL_LEVELS := generic
endif
KERNEL_FLAGS_avx2   := -mavx2 -mfma
KERNEL_FLAGS_avx512 := -mavx512f -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma -mprefer-vector-width=512
# -Wno-psabi: GCC notes that 64-byte vectors pass differently without AVX-512; none crosses a file
KERNEL_FLAGS_avx512_on_avx2 := -mavx2 -mfma -DKERNEL_VW=16 -Wno-psabi
LIB_SRC  := $(filter-out $(KERNEL_SRC),$(sort $(wildcard lib/*.c)))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) \
            $(foreach l,$(KERNEL_LEVELS),$(KERNEL_SRC:%.c=$(BUILD)/%.$(l).o))
CLI_SRC  := $(sort $(wildcard cli/*.c))
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(sort $(wildcard tests/*.c))
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o) $(foreach l,$(TEST_KERNEL_LEVELS),$(KERNEL_SRC:%.c=$(BUILD)/%.$(l).o))

.PHONY: all test install clean random-model weights bench FORCE
all: $(BUILD)/libalign.a $(BUILD)/align
random-model: $(RANDOM_MODEL)/model.safetensors

$(BUILD)/%.o: %.c $(wildcard lib/*.h cli/*.h tests/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

define kernel_rule
$(BUILD)/lib/%.$(1).o: lib/%.c $(wildcard lib/*.h) Makefile
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(KERNEL_FLAGS_$(1)) -DKERNEL_LEVEL=$(1) -c $$< -o $$@
endef
$(foreach l,$(KERNEL_LEVELS) $(TEST_KERNEL_LEVELS),$(eval $(call kernel_rule,$(l))))

$(BUILD)/tests/%.o: CFLAGS += $(TEST_CFLAGS)

$(BUILD)/libalign.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# The command has PREFIX's share directory compiled in (the model it looks for last): a file that
# changes with PREFIX rebuilds it, so `make install PREFIX=...` after `make` installs the right one.
$(BUILD)/share-dir: FORCE
	@mkdir -p $(dir $@)
	@echo '$(PREFIX)/share/align' | cmp -s - $@ || echo '$(PREFIX)/share/align' > $@
$(CLI_OBJ): $(BUILD)/share-dir
FORCE:

$(BUILD)/align: $(CLI_OBJ) $(BUILD)/libalign.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/test_align: $(TEST_OBJ) $(BUILD)/libalign.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/random-model: scripts/random_model.c $(BUILD)/libalign.a
	$(CC) $(CFLAGS) -ffp-contract=off $(LDFLAGS) -o $@ $^ $(LDLIBS)

# A synthetic index of random embeddings, for timing search and merge at 100,000 and 1,000,000 images.
$(BUILD)/make-index: scripts/make_index.c $(BUILD)/libalign.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# The loaded OpenBLAS kernel's row period (lib/cpu.c keeps the measured ones).
$(BUILD)/blas-periods: scripts/blas_periods.c $(BUILD)/libalign.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# make bench times search over indexes it makes with it (beside --align's binary)
bench: $(BUILD)/make-index

# A full-size align-base with random weights, for the full-size test and the benchmark. Remade when
# the generator's source changes, not when the library it links does.
$(RANDOM_MODEL)/model.safetensors: scripts/random_model.c | $(BUILD)/random-model
	$(if $(CROSS),$(EMULATOR)) $(BUILD)/random-model $(RANDOM_MODEL)

# The CLI tests run ALIGN_BIN through a shell: under an emulator, a script that runs it there (the
# emulator by its full path: a test may run the script with another PATH), one per emulated CPU.
ALIGN_RUN := $(BUILD)/align-run$(if $(EMULATE),-$(EMULATE))
$(ALIGN_RUN): Makefile
	@mkdir -p $(dir $@)
	printf '#!/bin/sh\nexec %s %s %s "$$@"\n' "$$(command -v $(firstword $(EMULATOR)) || echo $(firstword $(EMULATOR)))" \
	    '$(wordlist 2,$(words $(EMULATOR)),$(EMULATOR))' '$(CURDIR)/$(BUILD)/align' > $@.tmp
	chmod +x $@.tmp && mv $@.tmp $@

test: $(BUILD)/test_align $(BUILD)/align $(if $(EMULATOR),$(ALIGN_RUN)) $(RANDOM_MODEL)/model.safetensors
	$(if $(EMULATE),env -u OPENBLAS_CORETYPE) ALIGN_BIN=$(if $(EMULATOR),$(ALIGN_RUN),$(BUILD)/align) ALIGN_EMULATOR='$(EMULATOR_NAME)' $(EMULATE_EXPECT_$(EMULATE)) \
	    $(if $(CROSS),,ALIGN_RERUN=$(RERUN)) \
	    ALIGN_RANDOM_MODEL=$(RANDOM_MODEL) $(EMULATOR) $(BUILD)/test_align $(T)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include \
	    $(DESTDIR)$(PREFIX)/share/align
	install -m 755 $(BUILD)/align $(DESTDIR)$(PREFIX)/bin/align
	install -m 644 $(BUILD)/libalign.a $(DESTDIR)$(PREFIX)/lib/libalign.a
	install -m 644 lib/align.h $(DESTDIR)$(PREFIX)/include/align.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/^#define ALIGN_VERSION "\(.*\)"/\1/p' lib/align.h)|' \
	    -e 's|@REQUIRES@|$(PKGS)|' align.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/align.pc

$(BUILD)/bench: bench/bench.c $(BUILD)/libalign.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench-decode: bench/decode.c $(BUILD)/libalign.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Timings on the full-size random model, as ratios to this machine's sgemm peak, then image
# decoding against stb_image (never in make test).
bench: $(BUILD)/bench $(BUILD)/bench-decode $(BUILD)/align $(RANDOM_MODEL)/model.safetensors
	$(BUILD)/bench --model $(RANDOM_MODEL) --align $(BUILD)/align
	$(BUILD)/bench-decode --align $(BUILD)/align --model $(RANDOM_MODEL)

# Downloads kakaobrain/align-base (about 690 MB) into weights/align-base/: resumable, verified,
# skipping what is already there; then checks it with build/align info.
weights: $(BUILD)/align
	ALIGN_BIN=$(BUILD)/align scripts/download-weights

clean:
	rm -rf build

# libFuzzer targets (clang): make fuzz [FUZZ_SECONDS=N]
-include tests/fuzz/fuzz.mk
