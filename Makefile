# qat-eval: `make run` (install, build, fetch data, main job) and `make test`.
BUILD      ?= build
BUILD_SAN  ?= build-sanitize
JOBS       ?= 2
QAT        := $(BUILD)/qat
CTEST_ARGS ?= --output-on-failure

.PHONY: all deps build build-sanitize data run test test-sanitize bench fixtures clean

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

test: data
	cd $(BUILD) && ctest $(CTEST_ARGS) -j $(JOBS)

# The same suite built with AddressSanitizer and UndefinedBehaviorSanitizer.
test-sanitize: data build-sanitize
	cd $(BUILD_SAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest $(CTEST_ARGS) -j $(JOBS)

bench: data
	@scripts/install_deps.sh python3-torch python3-numpy
	bash bench/run.sh

# Regenerates tests/fixtures from PyTorch (Debian's python3-torch).
fixtures:
	@scripts/install_deps.sh python3-torch python3-numpy
	for f in scripts/gen_fixtures*.py; do /usr/bin/python3 $$f || exit 1; done

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
