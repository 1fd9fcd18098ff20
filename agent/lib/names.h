/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Names for the numbers in <linux/sealine.h>: what users type and read, and
 * the keys of the JSON output. One table per enum, so that a new counter in
 * the header needs one new line here and nothing else.
 */
#ifndef SEALINE_AGENT_NAMES_H
#define SEALINE_AGENT_NAMES_H

#include <stdint.h>

const char *sl_state_name(uint8_t state);
const char *sl_cipher_name(uint8_t cipher);
int sl_cipher_parse(const char *name, uint8_t *cipher);
const char *sl_limit_name(uint8_t limit);
const char *sl_mode_name(uint8_t mode);
const char *sl_event_name(uint8_t cmd);

const char *sl_stat_name(unsigned int stat);
const char *sl_stat_help(unsigned int stat);
int sl_stat_lookup(const char *name);
int sl_name_cmp(const char *typed, const char *name);

#endif
