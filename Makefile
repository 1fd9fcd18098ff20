# sealine: top-level build and test entry points. See README.md.
#
#   make            build the module, sealctl and the test tools
#   make check      install what is missing, build, run every test
#   make demo       install what is missing, build, show sealine in a VM
#   make bench      measure goodput, latency and throughput (VM)
#   make lint       checkpatch --strict and sparse on the kernel code
#   make debug-kernel   build (once, cached outside the clone) the debug kernel
#   make fuzz-long  10^8 fuzzing executions (1-2 h)
#   make churn      1,000 attach/detach/unload cycles on the debug kernel
#   make install    install (DESTDIR, PREFIX, SYSCONFDIR, ...: agent/dirs.mk)
#   make uninstall  remove what make install put there

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

debug-kernel:
	scripts/debug-kernel --module

fuzz-long: deps
	$(MAKE) -C tests/fuzz long

churn: deps
	$(MAKE) all
	scripts/vm-run --debug-kernel --env SL_CHURN_CYCLES=1000 --test-timeout 14400 \
		--out build/vm/churn tests/vm/66-churn.sh tests/vm/99-kmemleak.sh

install:
	$(MAKE) -C agent install

uninstall:
	$(MAKE) -C agent uninstall

clean:
	$(MAKE) -C kmod clean
	$(MAKE) -C agent clean
	$(MAKE) -C tests/line clean
	$(MAKE) -C tests/vm clean
	$(MAKE) -C tests/bench clean
	$(MAKE) -C tests/unit clean
	$(MAKE) -C tests/fuzz clean
	rm -rf build

.PHONY: all deps kmod agent tools lint check demo bench clean debug-kernel \
	fuzz-long churn install uninstall
