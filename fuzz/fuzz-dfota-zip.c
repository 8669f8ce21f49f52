/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DFOTA package loading: an arbitrary byte string as update.zip goes
 * through the updater's zip checks (consistency, names, every entry's CRC,
 * inflated size bounded to 1 MiB per entry) and script parse/bind; when it
 * loads, the whole updater runs on a small simulated module. The result
 * must be a clean code, never a crash, leak or escape from the namespace.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dfota/dfio.h"
#include "dfota/updater.h"

static void quiet(void *user, const char *line)
{
	(void)user;
	(void)line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mfw_dfota_pkg pkg = { .buf = data, .len = size, .max_entry_size = 1 << 20 };
	struct mfw_dfota_apply_opts o = { .report = quiet };
	struct mfw_dfota_apply_result res;
	struct mfw_dfio *io;
	int code = 0, fd;

	if (mfw_dfota_load_check(NULL, &pkg, &code) < 0) {
		if (code < 500 || code > 599)
			abort();
		return 0;
	}
	if (mfw_dfio_sim_new(&io) < 0)
		return 0;
	mfw_dfio_mkdir(io, "/cache", 0755);
	mfw_dfio_mkdir(io, MFW_DFIO_PART_DIR, 0755);
	mfw_dfio_mkdir(io, "/etc", 0755);
	if (mfw_dfio_open(io, "/etc/quectel-project-version.prop", MFW_DFIO_WRITE, 0644, &fd) == 0) {
		mfw_dfio_pwrite(io, fd, "version=A\n", 10, 0);
		mfw_dfio_close(io, fd);
	}
	if (mfw_dfio_open(io, MFW_DFIO_PART_DIR "/boot", MFW_DFIO_WRITE, 0600, &fd) == 0) {
		mfw_dfio_pwrite(io, fd, "BOOTBOOT", 8, 0);
		mfw_dfio_close(io, fd);
	}
	mfw_dfio_sim_set_cache_quota(io, 1 << 20);
	mfw_dfio_sim_sync_all(io);
	if (mfw_dfota_apply_io(NULL, io, &pkg, &o, &res) < 0 && res.code == 0)
		abort();
	mfw_dfio_free(io);
	return 0;
}
