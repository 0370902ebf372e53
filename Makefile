# Two entry points for a fresh Debian machine, as root:
#   make demo   lab up, scan, findings, HTML report, lab down
#   make test   the whole test suite against the simulated lab
# Both install what they need first (Debian packages, a venv, camaudit itself).

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
APT_RUNTIME = nmap tcpdump iproute2 procps nftables
APT_TEST    = postgresql chromium
# Two workers, a test file each at a time, one per core: every worker builds its own lab
# (names carry the pid), and a third worker left the simulated devices too little CPU to
# answer a sweep within its window.
PYTEST_ARGS ?= -n 2 --dist loadfile
# make bench BENCH_ARGS="--quick --rounds 1" (options: bench/run.py --help)
BENCH_ARGS  ?=

.PHONY: demo test bench fuzz deps-runtime deps-test clean

# Install Debian packages only when one is missing, so repeated runs stay fast and offline.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
endef

deps-runtime:
	$(call apt_install,$(APT_RUNTIME))
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || $(call apt_install,python3 python3-venv python3-pip)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,postgres]'
	touch $@

deps-test: deps-runtime
	$(call apt_install,$(APT_TEST))

demo: deps-runtime $(VENV)/.installed
	$(VENV)/bin/camaudit demo

test: deps-test $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

bench: deps-runtime $(VENV)/.installed
	$(PY) bench/run.py $(BENCH_ARGS)

fuzz: deps-runtime $(VENV)/.installed
	CAMAUDIT_FUZZ_EXAMPLES=20000 $(PY) -m pytest tests -m fuzz -p no:cacheprovider

clean:
	-$(VENV)/bin/camaudit lab down --all 2>/dev/null
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
