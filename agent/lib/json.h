/* SPDX-License-Identifier: GPL-2.0 OR MIT */
#ifndef SEALINE_AGENT_JSON_H
#define SEALINE_AGENT_JSON_H

#include <stdio.h>

void sl_json_string(FILE *f, const char *s);

#endif
