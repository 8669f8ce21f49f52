/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sahara packet parser on an arbitrary byte stream, packet after packet,
 * as the host reads them from a hostile device. Every parsed packet must
 * rebuild to its fixed wire length.
 */
#include <stdint.h>
#include <stdlib.h>

#include "proto/sahara.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;

	while (pos < size) {
		struct mfw_sahara_pkt p;
		uint8_t buf[MFW_SAHARA_MAX_PKT + 64];
		int n = mfw_sahara_parse(data + pos, size - pos, &p);
		int b;

		if (n <= 0)
			break;
		if ((size_t)n > size - pos || (uint32_t)n != p.len)
			abort();
		b = mfw_sahara_build(&p, buf, sizeof(buf));
		if (b < 0 || (uint32_t)b != mfw_sahara_cmd_len(p.cmd))
			abort();
		(void)mfw_sahara_cmd_name(p.cmd);
		if (p.cmd == MFW_SAHARA_END_OF_IMAGE)
			(void)mfw_sahara_status_str(p.u.eoi.status);
		pos += (size_t)n;
	}
	return 0;
}
