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
#   make deb        the packages sealine and sealine-dkms, checked by lintian

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

# ---------------------------------------------------------------- install
include agent/dirs.mk
VERSION := $(shell cat VERSION)
BUILD ?= build

# Manual pages from reStructuredText (rst2man, python3-docutils), with the
# version and the installation's directories filled in.
MAN_PAGES := sealctl.8 sealined.8 sealtspd.8 sealine-ui.8 sealined.conf.5
MAN_OUT := $(addprefix $(BUILD)/man/,$(MAN_PAGES))
MAN_SUBST = sed -e 's|@VERSION@|$(VERSION)|g' \
	-e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	-e 's|@LOCALSTATEDIR@|$(LOCALSTATEDIR)|g' \
	-e 's|@RUNSTATEDIR@|$(RUNSTATEDIR)|g'

man: $(MAN_OUT)

$(BUILD)/man/%: Documentation/man/%.rst VERSION $(BUILD)/man/.dirs
	@mkdir -p $(dir $@)
	$(MAN_SUBST) $< | rst2man --halt=warning >$@.tmp
	mv $@.tmp $@

# Rebuild the pages when the directories change.
$(BUILD)/man/.dirs: FORCE
	@mkdir -p $(dir $@)
	@echo '$(VERSION) $(SYSCONFDIR) $(LOCALSTATEDIR) $(RUNSTATEDIR)' | \
		cmp -s - $@ || \
		echo '$(VERSION) $(SYSCONFDIR) $(LOCALSTATEDIR) $(RUNSTATEDIR)' >$@

# The module's source for DKMS, in the repository's layout (kmod/,
# uapi/linux/sealine.h, VERSION) with dkms.conf on top.
DKMS_TREE = $(DESTDIR)$(DKMSSRCDIR)/sealine-$(VERSION)
# (Not Kbuild's generated sealine.mod.c of a module built in the tree.)
KMOD_SRCS := $(filter-out %.mod.c,$(wildcard kmod/*.c kmod/*.h)) kmod/Kbuild \
	kmod/Makefile

install-dkms:
	$(INSTALL) -d $(DKMS_TREE)/kmod $(DKMS_TREE)/uapi/linux
	$(INSTALL) -m 0644 $(KMOD_SRCS) $(DKMS_TREE)/kmod/
	$(INSTALL) -m 0644 uapi/linux/sealine.h $(DKMS_TREE)/uapi/linux/
	$(INSTALL) -m 0644 VERSION $(DKMS_TREE)/VERSION
	sed 's|#MODULE_VERSION#|$(VERSION)|g' kmod/dkms.conf >$(DKMS_TREE)/dkms.conf
	chmod 0644 $(DKMS_TREE)/dkms.conf

install-tools: man
	$(MAKE) -C agent install
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(BASHCOMPDIR)
	$(INSTALL) -m 0644 $(filter %.8,$(MAN_OUT)) $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 0644 $(filter %.5,$(MAN_OUT)) $(DESTDIR)$(MANDIR)/man5/
	$(INSTALL) -m 0644 agent/dist/sealctl.bash-completion \
		$(DESTDIR)$(BASHCOMPDIR)/sealctl
	$(INSTALL) -m 0644 agent/dist/sealine-ui.bash-completion \
		$(DESTDIR)$(BASHCOMPDIR)/sealine-ui

install: install-tools install-dkms

deb:
	scripts/deb

uninstall:
	$(MAKE) -C agent uninstall
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(filter %.8,$(MAN_PAGES))) \
		$(addprefix $(DESTDIR)$(MANDIR)/man5/,$(filter %.5,$(MAN_PAGES))) \
		$(DESTDIR)$(BASHCOMPDIR)/sealctl $(DESTDIR)$(BASHCOMPDIR)/sealine-ui
	rm -rf $(DKMS_TREE)

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
	fuzz-long churn man install install-tools install-dkms uninstall deb FORCE
