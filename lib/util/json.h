/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_UTIL_JSON_H
#define MFW_UTIL_JSON_H

/*
 * The library writes a few JSON manifests (backups); this is their string
 * escaping. The tool has its own for its output (cli/output.c): it sees only
 * the public API.
 */
#include <stdio.h>

/* s as a JSON string literal, quotes included: ", \ and control characters (and DEL) escaped. */
void mfw_json_put_str(FILE *f, const char *s);

#endif
