/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_DFOTA_APPLYPATCH_H
#define MFW_DFOTA_APPLYPATCH_H

/*
 * applypatch with the AOSP semantics (reference §1.1-1.3), on the DFOTA
 * I/O layer and the streaming BSDIFF40 applier:
 *  1. the target already hashes to tgt_sha1: nothing to do;
 *  2. the source hashes to one patch's source SHA-1: patch from it;
 *  3. else the cache copy (/cache/saved.file) does: patch from it
 *     ("killed in the middle of patching");
 *  4. file target: write <target>.patch, fsync, check the SHA-1 computed
 *     while writing, copy the source's metadata, rename over the target,
 *     fsync the directory;
 *     partition target (MTD:name:size1:sha1_1:size2:sha1_2): save the
 *     source prefix to the cache copy (fsync file and /cache) first, then
 *     stream the cache copy through the patch into the partition in
 *     place, fsync, read back and check the SHA-1, drop the cache copy.
 * Memory is the delta applier's bound plus fixed buffers: no file or
 * image is ever held whole.
 */
#include <modemfw/delta.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfota/dfio.h"

#define MFW_AP_CACHE_COPY "/cache/saved.file"
#define MFW_AP_MAX_CANDIDATES 4

struct mfw_ctx;

/* A file path, or a partition with its size list. */
struct mfw_ap_target {
	bool partition;
	char name[64];                    /* partition name */
	char path[MFW_DFIO_PATH_MAX];     /* file path, or /.part/<name> */
	size_t ncand;
	uint64_t size[MFW_AP_MAX_CANDIDATES];
	uint8_t sha1[MFW_AP_MAX_CANDIDATES][20];
};

/* "MTD:boot:1024:<sha1>:2048:<sha1>", "EMMC:..." or "/abs/path". MFW_E_FORMAT. */
int mfw_ap_parse_target(struct mfw_ctx *ctx, const char *spec, struct mfw_ap_target *t);
/* Parse 40 hex digits. MFW_E_FORMAT. */
int mfw_ap_parse_sha1(const char *hex, uint8_t out[20]);

/*
 * What the target holds now: a file's SHA-1 (whole file) or, for a
 * partition, the SHA-1 of the first candidate prefix (by increasing size)
 * whose hash is one of the candidates. *found = false when the file is
 * missing or no prefix matches. MFW_E_IO and friends on read errors.
 */
int mfw_ap_identify(struct mfw_ctx *ctx, struct mfw_dfio *io, const struct mfw_ap_target *t,
		    bool *found, uint8_t sha1[20], uint64_t *size);
/* SHA-1 of a whole file; *found false when it does not exist. */
int mfw_ap_file_sha1(struct mfw_dfio *io, const char *path, bool *found, uint8_t sha1[20],
		     uint64_t *size);
/* SHA-1 of the first len bytes of a file; MFW_E_RANGE when it is shorter. */
int mfw_ap_prefix_sha1(struct mfw_dfio *io, const char *path, uint64_t len, uint8_t sha1[20]);

struct mfw_ap_patch {
	uint8_t src_sha1[20];
	struct mfw_delta_reader reader;   /* the BSDIFF40 patch */
};

enum mfw_ap_outcome {
	MFW_AP_ALREADY = 0,  /* target was there */
	MFW_AP_PATCHED,      /* patched from the source */
	MFW_AP_FROM_CACHE,   /* patched from the cache copy */
};

/*
 * The check applypatch does before anything changes: true when the
 * target (or the cache copy) hashes to one of sha1s (any, when n == 0).
 */
int mfw_ap_check(struct mfw_ctx *ctx, struct mfw_dfio *io, const char *spec,
		 const uint8_t (*sha1s)[20], size_t n, bool *ok);

/*
 * Apply. src_spec names the source (and, with tgt_path NULL, the target
 * too). Errors: MFW_E_MISMATCH when neither target, source nor cache copy
 * match (Quectel 510); MFW_E_VERIFY when the result does not hash to
 * tgt_sha1; MFW_E_NOSPC; MFW_E_IO; MFW_DFIO_E_POWER. ctx gets the detail.
 */
int mfw_ap_apply(struct mfw_ctx *ctx, struct mfw_dfio *io, const char *src_spec,
		 const char *tgt_path, const uint8_t tgt_sha1[20], uint64_t tgt_size,
		 const struct mfw_ap_patch *patches, size_t npatches, enum mfw_ap_outcome *outcome);

#endif
