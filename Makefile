# govwatch — the two commands: `make demo` runs the suite, `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: demo test lint venv system-deps bench clean locale

$(BIN)/govwatch: pyproject.toml
	@echo "installing govwatch[collector,test] into $(VENV) (log: $(VENV)/install.log)"
	@$(PYTHON) -m venv $(VENV)
	@($(BIN)/pip install -q --upgrade pip && $(BIN)/pip install -q -e '.[collector,test]') >$(VENV)/install.log 2>&1 \
	  || { tail -20 $(VENV)/install.log; exit 1; }
	@touch $@

venv: $(BIN)/govwatch

system-deps:
	bash scripts/system-deps.sh

demo: venv
	@$(BIN)/python scripts/demo.py $(ARGS)

lint: venv
	$(BIN)/ruff check .

test: venv system-deps
	$(BIN)/ruff check .
	$(BIN)/pytest -q -p no:cacheprovider $(ARGS)

bench: venv system-deps
	$(BIN)/python bench/ingest.py

locale:  # compile the message catalogues (collector/locale/*/LC_MESSAGES/govwatch.po -> .mo)
	for po in collector/locale/*/LC_MESSAGES/govwatch.po; do msgfmt --check -o $${po%.po}.mo $$po; done

clean:
	rm -rf $(VENV) .demo .demo-ports.json build *.egg-info test-artifacts
