# libFuzzer targets (included by the Makefile). See tests/fuzz/README.md.
#
#   make fuzz                          build every target, run each for FUZZ_SECONDS (30)
#   make -j2 fuzz                      the same, two targets at a time
#   make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS="image pytorch"
#   make fuzz-build                    build only (build/fuzz/fuzz_<target>)
#
# The targets and the library code they reach are compiled by clang with libFuzzer's coverage
# instrumentation, AddressSanitizer and UndefinedBehaviorSanitizer, into build/fuzz/ (objects of
# their own, apart from build/ and build/san/). They need cJSON and utf8proc, not OpenBLAS: only
# the parsers are linked. stb_image is compiled from its header (tests/fuzz/stb_image_impl.c) so
# that its code is instrumented too. A run fails on any crash, sanitizer report, leak, timeout or
# over-limit allocation, and leaves the input in build/fuzz/artifacts/.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?= safetensors pytorch config tokenizer vocab image inputs jpeg webp jp2 tiff orientation query resume
FUZZ_DIR     := build/fuzz

FUZZ_PKGS    := libcjson libutf8proc stb libjpeg libwebp libwebpdemux libtiff-4 lcms2 libopenjp2
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -O1 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -pthread \
                $(shell pkg-config --cflags $(FUZZ_PKGS)) -Ilib -Icli $(FUZZ_SAN) \
                -DALIGN_FUZZ_FIXTURES='"$(CURDIR)/tests/fixtures"'
FUZZ_LDLIBS  := $(shell pkg-config --libs libcjson libutf8proc libjpeg libwebp libwebpdemux libtiff-4 lcms2 libopenjp2) -lm -pthread

# Only what the targets reach: the towers (and with them OpenBLAS) stay out.
FUZZ_LIB_SRC := lib/error.c lib/fileio.c lib/jsonutil.c lib/config.c lib/tensors.c lib/safetensors.c \
                lib/checkpoint.c lib/zip.c lib/pickle.c \
                lib/pytorch.c lib/tokenizer.c lib/utf8.c lib/image_decode.c lib/image_limits.c lib/orientation.c lib/netpbm.c \
                lib/jpeg_decode.c lib/webp_decode.c lib/jp2_decode.c lib/tiff_decode.c lib/png_orientation.c \
                lib/png_chunks.c lib/stb_decode.c lib/resample.c lib/fitted_load.c lib/preprocess.c cli/inputs.c cli/shard.c cli/strlist.c cli/query.c cli/resume.c cli/record_shape.c cli/records.c \
                lib/bmp.c lib/ico.c lib/cur.c lib/tga.c lib/gif.c lib/psd.c lib/icns.c lib/sgi.c lib/pcx.c lib/dds.c \
                lib/bcn.c lib/xbm.c lib/xpm.c lib/sun.c lib/msp.c lib/gbr.c lib/blp.c lib/ftex.c lib/pcd.c lib/imt.c lib/im.c lib/pixar.c \
                lib/xvthumb.c lib/fli.c lib/fits.c lib/spider.c lib/mcidas.c lib/eps.c lib/iptc.c lib/pyint.c \
                lib/pil_convert.c lib/memory.c lib/resample_row.c \
                lib/resample_row_reference.c cli/outfile.c cli/signals.c \
                tests/fuzz/stb_image_impl.c
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

# -timeout: seconds for one input; -rss_limit_mb also caps any single malloc (malloc_limit_mb).
FUZZ_RUN_FLAGS := -timeout=10 -rss_limit_mb=2048 -error_exitcode=77 -timeout_exitcode=78 \
                  -print_final_stats=1

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BINS)

$(FUZZ_DIR)/obj/%.o: %.c $(wildcard lib/*.h cli/*.h tests/fuzz/*.h) tests/fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_EXTRA) -c $< -o $@

# stb_image is not our code: its own warnings are not ours to fix, and it adds 0 to a NULL pointer
# and passes it to memcpy for an empty IDAT chunk (undefined, harmless: nothing is copied), which
# would stop every run
$(FUZZ_DIR)/obj/tests/fuzz/stb_image_impl.o: FUZZ_EXTRA := -w -fno-sanitize=pointer-overflow,nonnull-attribute

# the resize's tuned rows (a kernel file, lib/kernels.h) once, at the level this machine's compiler
# targets: fuzz_image checks them against the reference's
$(FUZZ_DIR)/obj/lib/resample_row.o: FUZZ_EXTRA := -march=native -DKERNEL_LEVEL=native

$(FUZZ_DIR)/libalign-fuzz.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard tests/fuzz/*.h) $(FUZZ_DIR)/libalign-fuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_DIR)/libalign-fuzz.a $(FUZZ_LDLIBS) -o $@

# Each target a rule of its own, so that make -jN fuzz runs N at once (they are CPU-bound: one a
# core). New inputs go to build/fuzz/corpus/<target>; the seeds in tests/fuzz/corpus/<target> are
# only read. The targets run with a PATH that has no Ghostscript: an EPS that gets past its header is
# then refused where it would be rendered (Ghostscript's interpreter is not ours to fuzz, and a
# PostScript loop would run into libFuzzer's timeout).
FUZZ_RUNS := $(FUZZ_TARGETS:%=fuzz-run-%)
.PHONY: $(FUZZ_RUNS)
fuzz: $(FUZZ_RUNS)

$(FUZZ_RUNS): fuzz-run-%: $(FUZZ_DIR)/fuzz_%
	@set -e; t=$*; sym=$$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true); \
	mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/artifacts $(FUZZ_DIR)/no-gs; \
	dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
	if ! env PATH=$(CURDIR)/$(FUZZ_DIR)/no-gs $${sym:+ASAN_SYMBOLIZER_PATH=$$sym} $(FUZZ_DIR)/fuzz_$$t $(FUZZ_RUN_FLAGS) $$dict -max_total_time=$(FUZZ_SECONDS) \
	        -artifact_prefix=$(FUZZ_DIR)/artifacts/$$t- \
	        $(FUZZ_DIR)/corpus/$$t tests/fuzz/corpus/$$t >$(FUZZ_DIR)/fuzz_$$t.log 2>&1; then \
	    tail -n 60 $(FUZZ_DIR)/fuzz_$$t.log; \
	    echo "fuzz_$$t FAILED: the input is in $(FUZZ_DIR)/artifacts/"; exit 1; \
	fi; \
	echo "fuzz_$$t: $(FUZZ_SECONDS) s, $$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_DIR)/fuzz_$$t.log) runs (log: $(FUZZ_DIR)/fuzz_$$t.log)"

# ---- allocation failures: make oom-check [OOM_OPS="config tokenizer checkpoints images model"] ----
# Every library object (the towers too) built with AddressSanitizer and UndefinedBehaviorSanitizer
# and linked with malloc, calloc, realloc, strdup and mmap wrapped, so that tests/fuzz/oom_check.c
# can refuse the library's k-th allocation, for every k, and check that the call fails cleanly.
OOM_DIR    := build/oom
OOM_CFLAGS := -O1 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -pthread $(PKG_CFLAGS) -Ilib -Icli $(FUZZ_SAN) -DALIGN_OOM_CHECK \
              -DALIGN_FUZZ_FIXTURES='"$(CURDIR)/tests/fixtures"'
OOM_OBJ    := $(LIB_SRC:%.c=$(OOM_DIR)/obj/%.o) $(OOM_DIR)/obj/tests/fuzz/stb_image_impl.o \
              $(foreach l,$(KERNEL_LEVELS),$(KERNEL_SRC:%.c=$(OOM_DIR)/obj/%.$(l).o))
OOM_WRAP   := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=mmap
OOM_LIBS   := $(shell pkg-config --libs openblas libcjson libutf8proc sqlite3 libjpeg libwebp libwebpdemux libtiff-4 lcms2 libopenjp2) -lm -pthread

.PHONY: oom-check
$(OOM_DIR)/obj/%.o: %.c $(wildcard lib/*.h tests/fuzz/*.h) tests/fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(CC) $(OOM_CFLAGS) $(OOM_EXTRA) -c $< -o $@

$(OOM_DIR)/obj/tests/fuzz/stb_image_impl.o: OOM_EXTRA := -w -fno-sanitize=pointer-overflow,nonnull-attribute

# the kernel files once per ISA level, as the library has them (the Makefile's kernel_rule)
define oom_kernel_rule
$(OOM_DIR)/obj/lib/%.$(1).o: lib/%.c $(wildcard lib/*.h) tests/fuzz/fuzz.mk
	@mkdir -p $$(dir $$@)
	$$(CC) $$(OOM_CFLAGS) $$(KERNEL_FLAGS_$(1)) -DKERNEL_LEVEL=$(1) -c $$< -o $$@
endef
$(foreach l,$(KERNEL_LEVELS),$(eval $(call oom_kernel_rule,$(l))))

$(OOM_DIR)/oom_check: tests/fuzz/oom_check.c tests/fuzz/fuzz_util.h $(OOM_OBJ)
	$(CC) $(OOM_CFLAGS) $< $(OOM_OBJ) $(OOM_WRAP) $(OOM_LIBS) -o $@

oom-check: $(OOM_DIR)/oom_check
	$(OOM_DIR)/oom_check $(OOM_OPS)
