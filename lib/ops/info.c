/* SPDX-License-Identifier: BSD-3-Clause */
#include "core/core.h"
#include "qcom/edl.h"
#include <modemfw/flash.h>

#include <string.h>

int mfw_edl_info(struct mfw_ctx *ctx, struct mfw_transport *t, struct mfw_edl_info *out)
{
	struct mfw_edl edl;
	struct mfw_edl_identity id;
	int r;

	memset(out, 0, sizeof(*out));
	mfw_edl_init(&edl, ctx, t);
	r = mfw_edl_connect(&edl);
	if (r < 0)
		return r;
	if (edl.firehose_running) {
		out->firehose_running = true;
		return 0;
	}
	r = mfw_edl_identify(&edl, &id);
	if (r < 0)
		return r;
	out->sahara_version = id.sahara_version;
	out->have_serial = id.have_serial;
	out->serial = id.serial;
	out->have_hw_id = id.have_hw_id;
	out->hw_id = id.hw_id;
	out->pk_hash_len = id.pk_hash_len;
	memcpy(out->pk_hash, id.pk_hash, sizeof(out->pk_hash));
	return 0;
}
