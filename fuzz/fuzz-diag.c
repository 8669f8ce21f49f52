/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DIAG response decoders on hostile packets: every parser the session uses
 * sees the same bytes (as the deframer would hand them over), plus the
 * matcher against the requests the host sends. Outputs are checked for the
 * invariants callers rely on (strings terminated, read data inside the packet).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/diag.h"

static void check_str(const char *s, size_t cap)
{
	if (!memchr(s, 0, cap))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t ss[] = { MFW_DIAG_SS_FS, MFW_DIAG_SS_FS_ALT };
	struct mfw_diag_version v;
	struct mfw_nv_record rec;
	struct mfw_efs_rsp r;
	uint8_t req[160];
	char imei[16];
	int n;

	if (mfw_diag_parse_verno(data, size, &v) == 0) {
		check_str(v.comp_date, sizeof(v.comp_date));
		check_str(v.ver_dir, sizeof(v.ver_dir));
		if (v.fields > 12)
			abort();
	}
	(void)mfw_diag_parse_nv(MFW_DIAG_NV_READ, data, size, &rec);
	(void)mfw_diag_parse_nv(MFW_DIAG_NV_WRITE, data, size, &rec);
	(void)mfw_diag_parse_nv_ext(MFW_DIAG_NV_EXT_READ, data, size, &rec);
	(void)mfw_diag_parse_ack(MFW_DIAG_SPC, data, size);
	if (mfw_imei_decode(data, size, imei) == 0) {
		uint8_t back[MFW_NV_DATA_LEN];
		if (strlen(imei) != 15 || mfw_imei_encode(imei, back) || memcmp(back, data, 9))
			abort();
		(void)mfw_imei_check(imei, NULL);
	}
	for (size_t s = 0; s < sizeof(ss); s++) {
		for (uint16_t cmd = 0; cmd <= MFW_EFS_STAT; cmd++) {
			int pr = mfw_efs_parse(ss[s], cmd, data, size, &r);
			if (pr == 0 && cmd == MFW_EFS_READ) {
				if (r.u.read.bytes < 0 ||
				    r.u.read.data + r.u.read.bytes > data + size)
					abort();
			}
			if (pr == 0 && cmd == MFW_EFS_READDIR)
				check_str(r.u.readdir.ent.name, sizeof(r.u.readdir.ent.name));
			(void)mfw_efs_errno_name(r.err);
		}
	}
	n = mfw_diag_build_nv(MFW_DIAG_NV_READ, 550, NULL, 0, req, sizeof(req));
	(void)mfw_diag_match(req, (size_t)n, data, size);
	n = mfw_efs_build_readdir(MFW_DIAG_SS_FS_ALT, 1, 1, req, sizeof(req));
	(void)mfw_diag_match(req, (size_t)n, data, size);
	if (size)
		(void)mfw_diag_cmd_name(data[0]);
	return 0;
}
