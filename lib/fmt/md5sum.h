/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_FMT_MD5SUM_H
#define MFW_FMT_MD5SUM_H

/*
 * md5.txt as shipped at the root of Quectel packages (md5sum(1) output):
 *   "<32 hex>  <path>"   text mode
 *   "<32 hex> *<path>"   binary mode
 * Paths may be Windows paths ("update\\sbl1.mbn", ".\\update\\tz.mbn");
 * CRLF line ends, blank lines and a UTF-8 BOM are accepted. Paths are
 * stored normalised (mfw_pkg_path_clean(): '/' separators, no "./", no
 * "..", not absolute) and relative to md5.txt's directory.
 */
#include <stddef.h>
#include <stdint.h>

struct mfw_ctx;

#define MFW_MD5SUM_MAX_FILE (1024u * 1024u) /* bytes */
#define MFW_MD5SUM_MAX_ENTRIES 4096
#define MFW_MD5SUM_MAX_PATH 1024

struct mfw_md5_entry {
	char *path;          /* normalised relative path */
	uint8_t md5[16];
	unsigned line;       /* source line, for messages */
};

struct mfw_md5sum {
	size_t n;
	struct mfw_md5_entry *entries; /* file order */
};

/*
 * Parse md5.txt text. name is used in details ("md5.txt line 3: ...").
 * MFW_E_FORMAT for a malformed line (bad hex, no separator, empty or
 * escaping path, duplicate path), MFW_E_RANGE beyond the bounds above,
 * MFW_E_NOMEM. On failure *out is left empty.
 */
int mfw_md5sum_parse(struct mfw_ctx *ctx, const char *name, const void *text, size_t len,
		     struct mfw_md5sum *out);
void mfw_md5sum_free(struct mfw_md5sum *m);

/*
 * Entry for a relative path (normalised before comparing, so "update\\tz.mbn"
 * and "./update/tz.mbn" both find "update/tz.mbn"). Exact match first, then
 * a case-insensitive one (packages are made on Windows). NULL when absent.
 */
const struct mfw_md5_entry *mfw_md5sum_find(const struct mfw_md5sum *m, const char *relpath);

#endif
