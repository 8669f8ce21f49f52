/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rawprogram/patch manifest parser on arbitrary bytes. Invariants on
 * success: every convenience pointer points at an attribute value of its
 * own element, numbers respect their documented ranges, and the
 * replace-one-attribute copy keeps the count and order.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <modemfw/error.h>
#include "fmt/rawprogram.h"

static void check_ptr(const struct mfw_rp_elem *e, const char *p, const char *name)
{
	if (!p)
		return;
	if (p[0] == '\0' && !mfw_rp_attr(e, name))
		return; /* the static "" for an absent attribute */
	if (p != mfw_rp_attr(e, name))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mfw_rp_file f;

	if (mfw_rp_parse(NULL, "fuzz.xml", data, size, &f) < 0) {
		if (f.nelem || f.elems)
			abort();
		return 0;
	}
	for (size_t i = 0; i < f.nelem; i++) {
		const struct mfw_rp_elem *e = &f.elems[i];
		struct mfw_fh_attr *copy;
		size_t n;

		if (!e->tag || !e->filename || e->nattr > MFW_RP_MAX_ATTRS)
			abort();
		for (size_t k = 0; k < e->nattr; k++)
			if (!e->attrs[k].name || !e->attrs[k].value)
				abort();
		if (e->kind != MFW_RP_OTHER && (e->sector_size < 512 || (e->sector_size & (e->sector_size - 1))))
			abort();
		if (strchr(e->filename, '\\'))
			abort();
		check_ptr(e, e->start_sector, "start_sector");
		check_ptr(e, e->label, "label");
		if (e->kind == MFW_RP_PATCH) {
			if (e->size_in_bytes < 1 || e->size_in_bytes > 8 || !e->value)
				abort();
			check_ptr(e, e->value, "value");
			check_ptr(e, e->what, "what");
		}
		if (mfw_rp_attrs_replace(e->attrs, e->nattr, "num_partition_sectors", "1", &copy, &n) == 0) {
			if (n != e->nattr + (mfw_rp_attr(e, "num_partition_sectors") ? 0 : 1))
				abort();
			for (size_t k = 0; k < e->nattr; k++)
				if (strcmp(copy[k].name, e->attrs[k].name))
					abort();
			mfw_rp_attrs_free(copy, n);
		}
	}
	mfw_rp_file_free(&f);
	return 0;
}
