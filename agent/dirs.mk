# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Where "make install" puts things, GNU style: override any of these on
# the command line (make install DESTDIR=/tmp/stage PREFIX=/usr). The
# daemons compile SYSCONFDIR, LOCALSTATEDIR and RUNSTATEDIR in (their
# default configuration, state and socket paths: lib/config.h), so give
# the same values to "make" and "make install". Included by the top-level
# Makefile and agent/Makefile.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
# Not under PREFIX, as for wireguard-tools: the configuration lives in
# /etc and the state in /var/lib whatever the programs' prefix.
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var
RUNSTATEDIR ?= /run
# systemd and udev read /usr/local/lib as well as /usr/lib and /lib.
LIBDIR_SYSTEM ?= $(if $(filter /usr,$(PREFIX)),/lib,$(PREFIX)/lib)
UNITDIR ?= $(LIBDIR_SYSTEM)/systemd/system
UDEVRULESDIR ?= $(LIBDIR_SYSTEM)/udev/rules.d
MODULESLOADDIR ?= $(LIBDIR_SYSTEM)/modules-load.d
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
# The module's source, for DKMS: $(DKMSSRCDIR)/sealine-VERSION (dkms
# looks in /usr/src only).
DKMSSRCDIR ?= /usr/src
INSTALL ?= install
