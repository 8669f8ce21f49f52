/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * GPT parsers. The first byte selects: bit 0 the sector size (512/4096),
 * bits 1-2 the parser (primary, backup, whole disk), bit 3 MFW_GPT_NO_CRC,
 * bit 4 MFW_GPT_NO_MBR. Invariants on success: names are found again, and
 * a strictly parsed primary rebuilds into an image that parses strictly to
 * the same partitions.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <modemfw/error.h>
#include "fmt/gpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mfw_gpt g, again;
	static uint8_t img[6 * 4096 > 34 * 512 ? 6 * 4096 : 34 * 512];
	uint32_t ss;
	unsigned mode, flags = 0;
	int r;

	if (size < 1)
		return 0;
	ss = (data[0] & 1) ? 4096 : 512;
	mode = (data[0] >> 1) & 3;
	if (data[0] & 8)
		flags |= MFW_GPT_NO_CRC;
	if (data[0] & 16)
		flags |= MFW_GPT_NO_MBR;
	data++;
	size--;
	if (mode == 0)
		r = mfw_gpt_parse(NULL, data, size, ss, flags, &g);
	else if (mode == 1)
		r = mfw_gpt_parse_backup(NULL, data, size, ss, flags, &g);
	else
		r = mfw_gpt_parse_disk(NULL, data, size, ss, &g);
	if (r < 0)
		return 0;
	for (size_t i = 0; i < g.nparts; i++)
		if (!mfw_gpt_find(&g, g.parts[i].name))
			abort();
	if (mode != 0 || (flags & MFW_GPT_NO_CRC))
		return 0;
	r = mfw_gpt_build_primary(NULL, &g, 0, img, sizeof(img));
	if (r != (int)mfw_gpt_primary_size(ss))
		abort();
	if (mfw_gpt_parse(NULL, img, (size_t)r, ss, 0, &again) < 0 || again.nparts != g.nparts)
		abort();
	for (size_t i = 0; i < g.nparts; i++)
		if (again.parts[i].first_lba != g.parts[i].first_lba ||
		    again.parts[i].last_lba != g.parts[i].last_lba ||
		    strcmp(again.parts[i].name, g.parts[i].name))
			abort();
	return 0;
}
