# Shouli — the two commands: `make run` and `make check`.
BUILD ?= build
PORT ?= 8080
DATA ?= data
JOBS ?= $(shell nproc)

.PHONY: run check deps build web test-unit clean

run: deps build web
	@echo "Starting Shouli on http://127.0.0.1:$(PORT)/ (data in $(DATA)/, Ctrl-C to stop)"
	$(BUILD)/shouli serve --port $(PORT) --data $(DATA) --demo --with-sim

check:
	bash scripts/check.sh

deps:
	bash scripts/install-deps.sh

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	bash scripts/make-font.sh $(BUILD)/fonts

web:
	bash scripts/build-web.sh

test-unit: build
	ctest --test-dir $(BUILD) --output-on-failure

clean:
	rm -rf $(BUILD) build-asan build-fuzz web/dist
