# PreciMed: `make run` starts the app, `make test` runs every test. Both install first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
ORTHANC  ?= /usr/sbin/Orthanc
ORTHANC_DICOMWEB ?= /usr/share/orthanc/plugins/libOrthancDicomWeb.so
export TF_CPP_MIN_LOG_LEVEL ?= 3
export TF_ENABLE_ONEDNN_OPTS ?= 0

.PHONY: install run test test-fast browser pacs-deps oidc-provider models lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# `python app.py` = `streamlit run app.py` plus the warm-up thread (precimed/warmup.py).
run: install
	$(PY) app.py --server.address 127.0.0.1

# Debian's chromium for the Playwright tests (never `playwright install`: no downloads here).
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "installing Debian chromium for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi
	@$(CHROMIUM) --version

# A real OpenID Connect provider for the login browser test (npm's certified oidc-provider,
# pinned by tests/auth/oidc/package-lock.json; install scripts are not run).
OIDC_DIR := tests/auth/oidc
oidc-provider: $(OIDC_DIR)/node_modules/.package-lock.json

$(OIDC_DIR)/node_modules/.package-lock.json: $(OIDC_DIR)/package.json $(OIDC_DIR)/package-lock.json
	@if ! command -v npm >/dev/null; then \
		echo "installing Debian nodejs + npm for the OIDC provider test"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq nodejs npm >/dev/null; \
	fi
	cd $(OIDC_DIR) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error

# Debian's Orthanc with its DICOMweb plugin (a real PACS for tests/pacs), and dicom3tools'
# dciodvfy (validates the DICOM objects PreciMed writes). The package's service is not started.
pacs-deps:
	@if [ ! -x $(ORTHANC) ] || [ ! -f $(ORTHANC_DICOMWEB) ] || ! command -v dciodvfy >/dev/null; then \
		echo "installing Debian orthanc, orthanc-dicomweb and dicom3tools for the PACS tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends \
			orthanc orthanc-dicomweb dicom3tools >/dev/null; \
	fi
	@$(ORTHANC) --version | head -n 1

test: install browser pacs-deps oidc-provider lint
	$(PY) -m pytest -q --durations=25

test-fast: install
	$(PY) -m pytest -q -m "not browser and not slow"

lint: install
	$(VENV)/bin/ruff check precimed pages app.py tests benchmarks
	$(VENV)/bin/mypy

models: install
	$(PY) -m precimed.training

bench: install
	@for b in benchmarks/bench_*.py; do $(PY) $$b --json; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
