/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_OPS_PLAN_H
#define MFW_OPS_PLAN_H

/*
 * A flash plan: the package's manifests turned into an ordered list of
 * steps, checked against the package before any device I/O.
 */
#include "fmt/package.h"
#include "fmt/rawprogram.h"
#include <modemfw/flash.h>

enum mfw_step_kind {
	MFW_STEP_ERASE,
	MFW_STEP_PROGRAM,
	MFW_STEP_PATCH, /* DISK patch, sent to the device */
};

struct mfw_step {
	enum mfw_step_kind kind;
	const struct mfw_rp_elem *e;
	unsigned manifest;             /* index in plan->files (rawprogram or patch file) */
	char file[MFW_PKG_PATH_MAX];   /* resolved package path; "" when none */
	uint64_t file_size;            /* on disk (sparse: the sparse file) */
	uint64_t data_size;            /* bytes to send before padding (sparse: expanded) */
	uint8_t *patched;              /* file patched in memory (file-targeted patches), or NULL */
};

struct mfw_plan {
	struct mfw_pkg *pkg;
	struct mfw_pkg_layout layout;
	size_t nfiles;
	struct mfw_rp_file files[2 * MFW_PKG_MAX_LUNS];
	unsigned file_lun[2 * MFW_PKG_MAX_LUNS];
	size_t nsteps;
	struct mfw_step *steps;
	unsigned skipped;          /* program elements without a file */
	uint8_t *programmer;
	size_t programmer_len;
	bool nand;
};

int mfw_plan_build(struct mfw_ctx *ctx, const struct mfw_flash_opts *opts, struct mfw_plan *plan);
void mfw_plan_free(struct mfw_plan *plan);
/* Human label of a step for messages: the element's label, else its file, else "sector N". */
const char *mfw_step_name(const struct mfw_step *s, char *buf, size_t cap);

#endif
