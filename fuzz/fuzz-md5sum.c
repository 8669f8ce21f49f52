/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * md5.txt parser on arbitrary bytes. Invariants on success: every stored
 * path is already clean (cleaning it again changes nothing) and finds an
 * entry with that path (case-insensitively) again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <modemfw/error.h>
#include "fmt/md5sum.h"
#include "fmt/package.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mfw_md5sum m;

	if (mfw_md5sum_parse(NULL, "md5.txt", data, size, &m) < 0) {
		if (m.n || m.entries)
			abort();
		return 0;
	}
	for (size_t i = 0; i < m.n; i++) {
		char clean[MFW_MD5SUM_MAX_PATH];
		const struct mfw_md5_entry *e;

		if (mfw_pkg_path_clean(m.entries[i].path, clean, sizeof(clean)) < 0 ||
		    strcmp(clean, m.entries[i].path))
			abort();
		e = mfw_md5sum_find(&m, m.entries[i].path);
		if (!e || strcasecmp(e->path, m.entries[i].path))
			abort();
	}
	mfw_md5sum_free(&m);
	return 0;
}
