/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * HDLC deframer on an arbitrary byte stream, fed in uneven pieces as a port
 * delivers them. Every frame it returns must re-encode to a frame that
 * deframes to the same payload.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/hdlc.h"

static struct mfw_hdlc_deframer d1, d2;
static uint8_t wire[2 * (MFW_HDLC_MAX_FRAME + 2) + 2];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0, step = size ? 1 + data[0] % 17 : 1;

	/* a small bound as well, so the oversize path is reached by short inputs */
	mfw_hdlc_deframer_init(&d1, size && (data[0] & 0x80) ? 32 : 0);
	while (pos < size) {
		size_t chunk = size - pos < step ? size - pos : step, used;
		const uint8_t *f;
		size_t fl;
		int r = mfw_hdlc_feed(&d1, data + pos, chunk, &used, &f, &fl);

		if (used == 0 || used > chunk)
			abort();
		pos += used;
		if (r == 1) {
			int n;
			size_t u2;
			const uint8_t *f2;
			size_t fl2;

			if (fl == 0 || fl > d1.max)
				abort();
			n = mfw_hdlc_encode(f, fl, true, wire, sizeof(wire));
			if (n <= 0 || (size_t)n > mfw_hdlc_encoded_max(fl))
				abort();
			mfw_hdlc_deframer_init(&d2, 0);
			if (mfw_hdlc_feed(&d2, wire, (size_t)n, &u2, &f2, &fl2) != 1 ||
			    u2 != (size_t)n || fl2 != fl || memcmp(f, f2, fl))
				abort();
		}
	}
	return 0;
}
