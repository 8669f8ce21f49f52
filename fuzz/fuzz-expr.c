/* SPDX-License-Identifier: BSD-3-Clause */
/* Manifest expressions: parse and evaluate arbitrary text against a fixed disk. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <modemfw/error.h>
#include "proto/expr.h"

static int fake_crc(void *user, uint64_t start, uint64_t len, uint32_t *out)
{
	(void)user;
	*out = (uint32_t)(start * 2654435761u) ^ (uint32_t)len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct mfw_expr_env envs[] = {
		{ .num_disk_sectors = 8388608, .sector_size = 512, .crc32 = fake_crc },
		{ .num_disk_sectors = 131072, .num_disk_blocks = 2048, .sector_size = 4096 },
		{ .num_disk_sectors = UINT64_MAX, .num_disk_blocks = 1, .crc32 = fake_crc },
		{ 0 },
	};
	struct mfw_expr e;
	char *s = malloc(size + 1);
	uint64_t v;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (mfw_expr_parse(NULL, s, &e) == 0) {
		/* a parsed expression never holds a negative literal or length */
		if (e.kind == MFW_EXPR_LITERAL && e.value < 0)
			abort();
		for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
			int r = mfw_expr_eval(NULL, &e, &envs[i], &v);

			if (r != 0 && r != MFW_E_RANGE && r != MFW_E_UNSUPPORTED)
				abort();
		}
	}
	mfw_expr_eval_text(NULL, s, &envs[0], &v);
	mfw_expr_eval_text(NULL, s, NULL, &v);
	free(s);
	return 0;
}
