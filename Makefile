# qat-eval: `make run` (install, build, fetch data, main job) and `make test`.
BUILD      ?= build
BUILD_SAN  ?= build-sanitize
JOBS       ?= 2
QAT        := $(BUILD)/qat
CTEST_ARGS ?= --output-on-failure
# Threads of every test run (unit tests read OMP_NUM_THREADS, CLI tests pass it as --threads).
TEST_THREADS ?= 2

.PHONY: all deps build build-sanitize data run test test-sanitize test-matrix bench bench-engines bench-deploy fixtures clean oracles

all: build

deps:
	@scripts/install_deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-sanitize: deps
	@cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DQAT_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_SAN) -j $(JOBS)

data: build
	@$(QAT) fetch mnist imdb sr ml-1m

# The main job: the 4-bit results table (LSQ, PACT, AdaRound, APoT, QIL x LSTM, SASRec,
# ESPCN), quick preset: about 25 minutes on 2 cores. TABLE_PRESET=full for the default
# configs (hours); TABLE_MODELS=lstm,sasrec,espcn,simple_cnn to choose the models.
TABLE_MODELS ?= lstm,sasrec,espcn
TABLE_PRESET ?= quick
run: data
	$(QAT) table --bits 4 --preset $(TABLE_PRESET) --models $(TABLE_MODELS) --threads 2

# The tests' oracles and counterparts from PyPI (onnx's checker, onnxruntime), in a virtual
# environment of their own: qat itself runs without Python.
ORACLES ?= .venv-oracles
ORACLE_PKGS := onnx==1.23.2 onnxruntime==1.32.0 numpy
oracles: $(ORACLES)/.installed
$(ORACLES)/.installed:
	@scripts/install_deps.sh python3-venv python3-pip
	@python3 -m venv $(ORACLES)
	@$(ORACLES)/bin/pip install -q --disable-pip-version-check $(ORACLE_PKGS)
	@touch $@
export QAT_PYTHON := $(abspath $(ORACLES))/bin/python

test: data oracles
	cd $(BUILD) && OMP_NUM_THREADS=$(TEST_THREADS) ctest $(CTEST_ARGS) -j $(JOBS)

# The whole suite under each OpenBLAS kernel a machine of this kind may pick (AVX-512,
# AVX2, generic) at 1 and 2 threads: tolerances must hold on every CPU, not on this one.
# The Haswell runs also turn off qat's own AVX-512 kernels (QAT_NO_AVX512), as on an
# AVX2-only CPU. A CPU without AVX-512 cannot run the SkylakeX kernels (SIGILL): they are
# skipped there, and the last line says so.
MATRIX_CORES   ?= Haswell SkylakeX Prescott
MATRIX_THREADS ?= 1 2
test-matrix: data oracles
	@start=$$(date +%s); fails=""; skipped=""; \
	for core in $(MATRIX_CORES); do for t in $(MATRIX_THREADS); do \
		if [ $$core = SkylakeX ] && ! grep -qw avx512f /proc/cpuinfo; then \
			echo "=== OPENBLAS_CORETYPE=$$core, $$t thread(s): skipped, this CPU has no AVX-512"; \
			skipped="$$skipped $$core/$$t"; continue; fi; \
		echo "=== OPENBLAS_CORETYPE=$$core, $$t thread(s)"; \
		noavx=0; [ $$core = Haswell ] && noavx=1; \
		( cd $(BUILD) && OPENBLAS_CORETYPE=$$core QAT_NO_AVX512=$$noavx OMP_NUM_THREADS=$$t ctest $(CTEST_ARGS) -j $(JOBS) ) \
			|| fails="$$fails $$core/$$t"; \
	done; done; \
	echo "test-matrix: $$(( $$(date +%s) - start )) s"; \
	if [ -n "$$skipped" ]; then echo "test-matrix: skipped on this CPU:$$skipped"; fi; \
	if [ -n "$$fails" ]; then echo "test-matrix: failed for$$fails"; exit 1; fi

# The same suite built with AddressSanitizer and UndefinedBehaviorSanitizer.
test-sanitize: data build-sanitize oracles
	cd $(BUILD_SAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 QAT_TEST_SANITIZED=1 \
		OMP_NUM_THREADS=$(TEST_THREADS) ctest $(CTEST_ARGS) -j $(JOBS)

bench: data
	@scripts/install_deps.sh python3-torch python3-numpy
	bash bench/run.sh

# Inference: qat's fp32, fake-quant and integer engines and onnxruntime on the same inputs.
bench-engines: data oracles
	bash bench/run_engines.sh

# Trained 4-bit LSQ models of every model (qat table --methods lsq, quick preset): their
# ONNX sizes and the metrics of fake-quant, the integer engine and onnxruntime.
DEPLOY_RUNS ?= runs/deploy
bench-deploy: build data oracles
	$(BUILD)/qat table --bits 4 --preset quick --models simple_cnn,espcn,lstm,sasrec --methods lsq \
		--output-dir $(DEPLOY_RUNS)
	bash bench/run_deploy.sh $(DEPLOY_RUNS)

# Regenerates tests/fixtures from PyTorch (Debian's python3-torch).
fixtures:
	@scripts/install_deps.sh python3-torch python3-numpy
	for f in scripts/gen_fixtures*.py; do /usr/bin/python3 $$f || exit 1; done

clean:
	rm -rf $(BUILD) $(BUILD_SAN)

# ==== Fuzzing (tests/fuzz/) ==============================================================
# libFuzzer harnesses with ASan and UBSan for every parser a user's file reaches (config,
# IDX, tar + IMDB, interaction logs, PNG/BMP, SR cache and sets), built with clang in
# $(BUILD_FUZZ) (a CMake project of their own: tests/fuzz/CMakeLists.txt). `make fuzz` runs
# each for FUZZ_SECONDS (default 20: CI's smoke) on its seed corpus, one after the other,
# with -detect_leaks=1, prints the executions, exec/s and final cov/ft of each, and fails
# on any crash, leak, UB or timeout. New corpus entries and artifacts stay in
# $(BUILD_FUZZ)/work/. FUZZ_TARGETS picks harnesses; FUZZ_FLAGS adds libFuzzer flags.
BUILD_FUZZ   ?= build-fuzz
FUZZ_SECONDS ?= 20
FUZZ_CC      ?= clang-14
FUZZ_TARGETS ?= fuzz_config fuzz_idx fuzz_imdb_tar fuzz_interactions fuzz_image fuzz_sr fuzz_state fuzz_result fuzz_npy
.PHONY: fuzz fuzz-build
fuzz-build:
	@scripts/install_deps.sh clang-14 libclang-rt-14-dev libomp-14-dev
	@cmake -S tests/fuzz -B $(BUILD_FUZZ) -DCMAKE_C_COMPILER=$(FUZZ_CC) >/dev/null
	@cmake --build $(BUILD_FUZZ) -j $(JOBS)

fuzz: fuzz-build
	@bash tests/fuzz/run_fuzz.sh $(BUILD_FUZZ) $(FUZZ_SECONDS) $(FUZZ_TARGETS)
# ==== end of fuzzing =====================================================================
