/* SPDX-License-Identifier: BSD-3-Clause */
#include "transport/transport.h"

void mfw_transport_close(struct mfw_transport *t)
{
	if (t)
		t->ops->close(t);
}

int mfw_transport_read_full(struct mfw_transport *t, void *buf, size_t len,
			    mfw_deadline_t deadline)
{
	unsigned char *p = buf;
	size_t got = 0;
	while (got < len) {
		int r = mfw_transport_read(t, p + got, len - got, deadline);
		if (r < 0)
			return r;
		got += (size_t)r;
	}
	return 0;
}

bool mfw_zlp_needed_out(size_t len, size_t max_packet, bool zlp_aware)
{
	return zlp_aware && max_packet > 0 && len > 0 && len % max_packet == 0;
}

bool mfw_zlp_expected_in(size_t got, size_t requested, size_t max_packet)
{
	return max_packet > 0 && got > 0 && got == requested && got % max_packet == 0;
}

void mfw_transport_set_ctx(struct mfw_transport *t, struct mfw_ctx *ctx)
{
	t->ctx = ctx;
}
