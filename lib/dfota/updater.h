/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_DFOTA_UPDATER_H
#define MFW_DFOTA_UPDATER_H

/*
 * The DFOTA updater on an explicit I/O layer (so tests run it on the
 * simulated power-cut backend) and on a package given as a path or as
 * bytes in memory (fuzzing, tests). The public mfw_dfota_apply() is this
 * with the POSIX backend.
 */
#include <modemfw/dfota.h>
#include <stddef.h>
#include <stdint.h>

#include "dfota/dfio.h"

#define MFW_DFOTA_SCRIPT_ENTRY "META-INF/com/google/android/updater-script"
#define MFW_DFOTA_FOTA_DIR "/cache/fota"
#define MFW_DFOTA_RETRY_FILE "/cache/fota/retry"
#define MFW_DFOTA_STATUS_FILE "/cache/fota/status"
#define MFW_DFOTA_STATE_FILE "/cache/fota/state"
#define MFW_DFOTA_MAX_ENTRIES 100000
/* Patches stored deflated are read into memory (random access); above this, 504. */
#define MFW_DFOTA_MAX_DEFLATED_PATCH (64u << 20)

struct mfw_dfota_pkg {
	const char *path;       /* a zip file, or NULL and: */
	const void *buf;        /* the zip's bytes (not copied; must outlive the call) */
	size_t len;
	/* bound on the bytes one entry may inflate to (0 = none): fuzzing */
	uint64_t max_entry_size;
};

int mfw_dfota_apply_io(struct mfw_ctx *ctx, struct mfw_dfio *io, const struct mfw_dfota_pkg *pkg,
		       const struct mfw_dfota_apply_opts *opts, struct mfw_dfota_apply_result *res);

/*
 * Only the loading steps: zip open with consistency checks, every entry's
 * CRC, script parse and bind. Returns 0 or a negative error; *code gets
 * the Quectel code (504 for a damaged package). For the fuzz harness.
 */
int mfw_dfota_load_check(struct mfw_ctx *ctx, const struct mfw_dfota_pkg *pkg, int *code);

/* Quectel code for a library error from the I/O layer or applypatch. */
int mfw_dfota_code_for(int err);

#endif
