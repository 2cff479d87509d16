# The two commands a fresh machine needs: `make run` and `make test`. Targets stay thin;
# the work is in scripts/.
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: setup run test test-sanitize lint bench loadtest kafka-up kafka-down clean

# Reinstall (and so rebuild the native modules) when the package definition, the Cython or
# the hot path's training run changes; the hot path is then built again, profile-guided.
$(INSTALLED): pyproject.toml setup.py $(wildcard native/*.pyx native/*.pxd native/*.h) \
		scripts/build-native scripts/train_native.py
	scripts/install-native-libs
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 'setuptools>=77' 'cython>=3.1,<4'
	$(PY) -m pip install -q -e '.[test,bench]'
	scripts/build-native
	touch $@

setup: $(INSTALLED)

run: setup
	scripts/run

test: setup
	scripts/test

test-sanitize: setup
	scripts/test-sanitize

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: setup
	scripts/bench

kafka-up: setup
	scripts/kafka start

kafka-down:
	scripts/kafka stop

clean:
	scripts/kafka wipe
	rm -rf build collector/*.so native/*.c
