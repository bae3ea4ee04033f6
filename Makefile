# Set-up and entry points; all the work is done by tools/setup.sh (Debian 12, as root).
#   make run  [ARGS='ns:=robot1 config:=/path/to.yaml']   set up, then launch the node
#   make test [PYTEST_ARGS='-k stack -x']                  set up, then run the whole test suite
#   make setup | deps | build                              the set-up steps alone
SHELL := /bin/bash

# Interpreter for the tests. Debian's python3 is the one ROS is built for; other versions
# (e.g. a Python 3.8 run) are selected here: make test PYTHON=/path/to/python3.8
PYTHON ?= /usr/bin/python3
ARGS ?=
PYTEST_ARGS ?=

.PHONY: run test setup deps build

run:
	tools/setup.sh run $(ARGS)

test:
	PYTHON=$(PYTHON) tools/setup.sh test $(PYTEST_ARGS)

setup:
	tools/setup.sh all

deps:
	tools/setup.sh deps

build:
	tools/setup.sh build
