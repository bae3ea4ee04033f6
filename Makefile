# Set-up and entry points; all the work is done by tools/setup.sh (Debian 12, as root).
#   make run  [ARGS='ns:=robot1 config:=/path/to.yaml']   set up, then launch the node
#   make test [PYTEST_ARGS='-k stack -x']                  set up, then everything CI runs: lint, test-311,
#                                                          test-py38 and test-sdk-latest (all of them, even
#                                                          after one fails; fails if any did)
#   make test-311         the whole suite on Debian's python3 (3.11) and its Docker SDK
#   make test-py38        test/core, test/ros, test/clients and the stack's tests on Python 3.8 with the
#                         Docker SDK 4.1.0 (Ubuntu 20.04's); the node runs on that Python 3.8 too
#   make test-sdk-latest  test/core with the newest Docker SDK from PyPI
#   make lint             vermin (Python 3.8) and ruff (ruff.toml) over src, scripts and test/install
#   make setup | deps | build | venvs                      the set-up steps alone
#   make bench [QUICK=1] [BENCH_ARGS='--cases push,pull']  set up, then the node-vs-CLI benchmarks (bench/README)
SHELL := /bin/bash

# Interpreter for test-311. Debian's python3 is the one ROS is built for; the Python 3.8 run is test-py38.
PYTHON ?= /usr/bin/python3
ARGS ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: run test test-311 test-py38 test-sdk-latest lint setup deps build venvs bench

run:
	tools/setup.sh run $(ARGS)

test:
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory -k lint test-311 test-py38 test-sdk-latest; rc=$$?; \
	echo "[make] test: $$( [ $$rc -eq 0 ] && echo passed || echo FAILED ) in $$(( $$(date +%s) - start )) s"; \
	exit $$rc

test-311:
	PYTHON=$(PYTHON) tools/setup.sh test $(PYTEST_ARGS)

test-py38:
	tools/setup.sh test-py38 $(PYTEST_ARGS)

test-sdk-latest:
	tools/setup.sh test-sdk-latest $(PYTEST_ARGS)

lint:
	tools/setup.sh lint

setup:
	tools/setup.sh all

deps:
	tools/setup.sh deps

build:
	tools/setup.sh build

venvs:
	tools/setup.sh venvs

# Its own registries, roscore and node; Debian's python3 and docker CLI first, the workspace's environment sourced.
bench: setup
	source "$${DIM_WS:-$$HOME/.cache/docker_image_manager/ws}/devel/setup.bash" && \
	PATH=/usr/bin:/usr/sbin:/bin:/sbin:$$PATH /usr/bin/python3 bench/run.py $(if $(QUICK),--quick) $(BENCH_ARGS)
