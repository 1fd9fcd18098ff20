# sealine: top-level build and test entry points. See README.md.
#
#   make            build the module, sealctl and the test tools
#   make check      install what is missing, build, run every test
#   make demo       install what is missing, build, show sealine in a VM
#   make bench      measure goodput, latency and throughput (VM)
#   make lint       checkpatch --strict and sparse on the kernel code

all: kmod agent tools

deps:
	@scripts/install-deps

kmod:
	$(MAKE) -C kmod

agent:
	$(MAKE) -C agent

tools:
	$(MAKE) -C tests/line
	$(MAKE) -C tests/vm
	$(MAKE) -C tests/bench

lint: kmod
	scripts/lint

check: deps
	$(MAKE) all
	scripts/check

demo: deps
	$(MAKE) all
	scripts/demo

bench: deps
	$(MAKE) all
	scripts/bench

clean:
	$(MAKE) -C kmod clean
	$(MAKE) -C agent clean
	$(MAKE) -C tests/line clean
	$(MAKE) -C tests/vm clean
	$(MAKE) -C tests/bench clean
	$(MAKE) -C tests/unit clean
	$(MAKE) -C tests/fuzz clean
	rm -rf build

.PHONY: all deps kmod agent tools lint check demo bench clean
