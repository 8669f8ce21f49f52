/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MIBIB parser. The first byte picks the page size (512 << (b % 4)), the
 * rest is the image. Invariants on success: every partition's range lookup
 * is ordered and inside the device, and rebuilding the parsed system table
 * (package form) parses back to the same table.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <modemfw/error.h>
#include "fmt/mibib.h"

#define TOTAL_BLOCKS 1000000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mfw_mibib m, again;
	static uint8_t img[MFW_MIBIB_PAGES * 4096];
	uint32_t page;
	int n;

	if (size < 1)
		return 0;
	page = 512u << (data[0] % 4);
	if (mfw_mibib_parse(NULL, data + 1, size - 1, page, &m) < 0)
		return 0;
	for (size_t i = 0; i < m.nparts; i++) {
		uint64_t a, b;
		char label[MFW_MIBIB_NAME_LEN + 1];

		memcpy(label, m.parts[i].name, sizeof(label));
		if (!mfw_mibib_find(&m, label))
			abort();
		if (mfw_mibib_range(NULL, &m, label, 64, TOTAL_BLOCKS, &a, &b) == 0 &&
		    (a > b || b >= (uint64_t)TOTAL_BLOCKS * 64))
			abort();
	}
	if (!m.nparts)
		return 0;
	n = mfw_mibib_build(NULL, page, m.parts, m.nparts, 0, MFW_MIBIB_FORM_PACKAGE, img, sizeof(img));
	if (n != (int)(MFW_MIBIB_PAGES * page))
		abort();
	if (mfw_mibib_parse(NULL, img, (size_t)n, page, &again) < 0 || again.nparts != m.nparts ||
	    memcmp(again.parts, m.parts, m.nparts * sizeof(m.parts[0])))
		abort();
	return 0;
}
