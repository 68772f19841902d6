# Two commands do all setup on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-raw-vs check-same bench-cold bench-memory bench-batch java check lint clean serve bench-serve fuzz fuzz-rules fuzz-facts facts-schema bench-facts

$(STAMP): pyproject.toml setup.py engine/runtime/_logline.c
	$(PYTHON) -m venv $(VENV)
	# durable-rules ships no wheels: build it with -O2 (its setup.py drops CFLAGS; CPPFLAGS survive),
	# measured ~25% faster than the default unoptimized build.
	CPPFLAGS=-O2 $(BIN)/pip install --quiet --no-cache-dir --no-binary durable-rules "durable-rules==2.0.28"
	$(BIN)/pip install --quiet -e '.[dev]'
	# the engine's bytecode, written once: with PYTHONDONTWRITEBYTECODE set every gongji command
	# would otherwise compile the whole package again (~55 ms of a ~170 ms cold `gongji decide`)
	$(BIN)/python -m compileall -q engine
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/gongji demo

# The console's browser tests drive Debian's Chromium (never Playwright's own download); CI runs as
# root on a fresh machine, so apt installs it (and CJK fonts, so Chinese renders) when missing.
.PHONY: browser
browser:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk; fi

test: $(STAMP) java browser
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m compileall -q engine
	$(BIN)/python -m engine.tools.bench

# Raw durable_rules on the payment rulesets against those an older commit compiles (AGAINST=, by
# default the compiler before issue 10's work: 11 asserts per payment), each in its own process,
# their rounds alternating; prints both rates and the ratio (issue 10's target: >= 2x).
AGAINST ?= f3a516f
bench-raw-vs: $(STAMP)
	@dir=$$(mktemp -d) && git worktree add --detach --quiet $$dir/against $(AGAINST) && \
	$(BIN)/python -m engine.tools.bench raw-vs --against $$dir/against --request payment --count 4000 --rounds 15; \
	status=$$?; git worktree remove --force $$dir/against; rm -rf $$dir; exit $$status

# Same decisions as another commit (AGAINST=, default main): the property corpus (COUNT=2500 per
# request and city, as many again with random dates and switches: 12 x COUNT) decided by both trees,
# to_json() and explanations compared byte for byte; this tree runs with the verify oracle.
check-same: $(STAMP)
	@dir=$$(mktemp -d) && git worktree add --detach --quiet $$dir/against $(or $(AGAINST),main) && \
	$(BIN)/python -m tests.fuzz.differential --against $$dir/against --count $(or $(COUNT),2500); \
	status=$$?; git worktree remove --force $$dir/against; rm -rf $$dir; exit $$status

# Cold start: `gongji decide examples/chuzhou-payment.yaml` as whole processes (median of 6).
bench-cold: $(STAMP)
	$(BIN)/python -m compileall -q engine
	@if command -v hyperfine >/dev/null 2>&1; then hyperfine --warmup 1 --runs 6 '$(BIN)/gongji decide examples/chuzhou-payment.yaml'; \
	else $(BIN)/python -m engine.tools.bench cold --load-runs 6; fi

# The decision service on http://127.0.0.1:8080 (one worker per core); PORT=, WORKERS= override.
serve: $(STAMP)
	$(BIN)/gongji serve rulesets --port $(or $(PORT),8080) $(if $(WORKERS),--workers $(WORKERS))

# Loopback load test of `gongji serve` (1 and 2 workers); stops by itself (~1 min).
bench-serve: $(STAMP)
	$(BIN)/python -m engine.service.bench

# Spark (gongji batch --engine spark, its tests) needs a Java 17 runtime: installed here when missing
# (CI runs as root on a fresh Debian machine).
java:
	@command -v java >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless; }

# gongji batch end to end on N synthetic documents: 1 worker, 2 workers, Spark local[2] (quiet machine!).
N ?= 1000000
bench-batch: $(STAMP) java
	$(BIN)/python -m engine.batch.bench --n $(N)

# Both fuzzers, one after the other, SECONDS each (COUNT=, WORKERS=, SEED= pass through).
fuzz: fuzz-facts fuzz-rules

# Ruleset mutation fuzzing for SECONDS seconds (forked batches with fresh seeds; see tests/fuzz/).
SECONDS ?= 300
fuzz-rules: $(STAMP)
	$(BIN)/python -m tests.fuzz.test_ruleset_mutants --seconds $(SECONDS) $(if $(COUNT),--count $(COUNT)) $(if $(WORKERS),--workers $(WORKERS)) $(if $(SEED),--seed $(SEED))
# RSS after 100k and 1M mixed decisions (random dates and switches, both requests); about an hour of CPU
bench-memory: $(STAMP)
	$(BIN)/python -m engine.tools.bench memory --checkpoints 100000 1000000

check: $(STAMP)
	$(BIN)/gongji check rulesets

lint: $(STAMP)
	$(BIN)/gongji lint rulesets --strict

# Fact-document fuzzing for SECONDS seconds (SEED=N replays a run); `make test` runs a bounded part.
fuzz-facts: $(STAMP)
	$(BIN)/python tests/fuzz/fact_fuzz.py --seconds $(SECONDS) $(if $(COUNT),--count $(COUNT)) $(if $(WORKERS),--workers $(WORKERS)) $(if $(SEED),--seed $(SEED))

# Fact-document normalizer: CPU µs per document over examples/*.yaml (best of 9).
bench-facts: $(STAMP)
	$(BIN)/python -c "import glob,time,timeit; from engine.core.load import load_file; from engine.runtime.facts import normalize; d=[load_file(p).data for p in sorted(glob.glob('examples/*.yaml'))]; print(round(min(timeit.repeat(lambda: [normalize(x) for x in d], number=2500, repeat=9, timer=time.process_time))/(2500*len(d))*1e6, 2), 'us/doc')"

# schemas/facts.schema.json is generated from the fact catalog (engine/core/catalog.py); a test checks it.
facts-schema: $(STAMP)
	$(BIN)/python -c "import sys; from engine.core.catalog import main; sys.exit(main())"

clean:
	rm -rf $(VENV) build engine/runtime/_logline*.so
