/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * xQCN reader on hostile files. Whatever it accepts must write back out and
 * read again to the same model (NV items and EFS files).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "core/core.h"
#include "fmt/xqcn.h"

static void silent(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mfw_diag_backup b, back;
	char *xml;
	size_t len;

	xmlSetGenericErrorFunc(NULL, silent);
	mfw_diag_backup_init(&b);
	mfw_diag_backup_init(&back);
	if (mfw_xqcn_read(NULL, (const char *)data, size, &b) == 0) {
		if (b.n_nv > MFW_XQCN_MAX_NV || b.n_efs > MFW_XQCN_MAX_EFS)
			abort();
		for (size_t i = 0; i < b.n_efs; i++)
			if (b.efs[i].path[0] != '/')
				abort();
		if (mfw_xqcn_write(NULL, &b, "fuzz", &xml, &len) != 0)
			abort();
		if (mfw_xqcn_read(NULL, xml, len, &back) != 0 || back.n_nv != b.n_nv ||
		    back.n_efs != b.n_efs)
			abort();
		for (size_t i = 0; i < b.n_efs; i++)
			if (strcmp(b.efs[i].path, back.efs[i].path) || b.efs[i].len != back.efs[i].len ||
			    (b.efs[i].len && memcmp(b.efs[i].data, back.efs[i].data, b.efs[i].len)))
				abort();
		free(xml);
	}
	mfw_diag_backup_free(&b);
	mfw_diag_backup_free(&back);
	return 0;
}
