/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The answers a module sends during a DFOTA send (lib/quectel/fota.c):
 * +QIND: "FOTA" URCs, +QFUPL: and +QFLDS: lines, split from arbitrary
 * bytes at line breaks as the AT session does. A parsed URC must carry a
 * value in range; the checksum must be streaming-consistent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quectel/fota.h"

static char line[520];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t start = 0;

	for (size_t i = 0; i <= size; i++) {
		struct mfw_fota_urc u;
		uint64_t a, b;
		uint16_t sum;
		size_t n;
		int r;

		if (i < size && data[i] != '\r' && data[i] != '\n')
			continue;
		n = i - start < sizeof(line) - 1 ? i - start : sizeof(line) - 1;
		memcpy(line, data + start, n);
		line[n] = 0;
		start = i + 1;
		r = mfw_fota_urc_parse(line, &u);
		if (r == 1 && (u.kind == MFW_FOTA_URC_UPDATING || u.kind == MFW_FOTA_URC_RESTORE) &&
		    (u.value < 0 || u.value > 100))
			abort();
		if (r == 1 && u.kind == MFW_FOTA_URC_END && (u.value < 0 || u.value > 99999))
			abort();
		if (mfw_fota_parse_qflds(line, &a, &b) == 0 && a > b)
			abort();
		(void)mfw_fota_parse_qfupl(line, &a, &sum);
	}
	/* streaming in even chunks equals one call */
	if (size) {
		size_t half = (size / 2) & ~(size_t)1;
		uint16_t whole = mfw_fota_checksum(0, data, size);
		uint16_t part = mfw_fota_checksum(mfw_fota_checksum(0, data, half), data + half,
						  size - half);

		if (whole != part)
			abort();
	}
	return 0;
}
