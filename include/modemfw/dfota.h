/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MODEMFW_DFOTA_H
#define MODEMFW_DFOTA_H

/*
 * DFOTA update packages (docs/dfota-format.md, docs/dfota.md): the builder
 * turns two targetfiles into an update.zip, the checker proves a package
 * against its source before it ships, the updater applies it power-fail
 * safely. Two engineers own this header: add sections, do not rewrite
 * another's.
 */
#include <modemfw/context.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ======== builder and checker (lib/dfota/build.c, lib/dfota/check.c) ======== */

/* What the package updates. */
enum mfw_dfota_scope {
	MFW_DFOTA_SCOPE_ALL = 0,  /* rootfs, boot, modem, MULTIFOTA partitions, RECOVERY */
	MFW_DFOTA_SCOPE_ROOTFS,   /* SYSTEM/ tree only */
	MFW_DFOTA_SCOPE_MODEM,    /* the modem partition only */
	MFW_DFOTA_SCOPE_KERNEL,   /* the boot partition only */
};

/* "all", "rootfs", "modem", "kernel"; MFW_E_INVAL for anything else. */
int mfw_dfota_scope_parse(const char *s, enum mfw_dfota_scope *out);
const char *mfw_dfota_scope_name(enum mfw_dfota_scope scope);

struct mfw_dfota_build_opts {
	enum mfw_dfota_scope scope;
	/*
	 * Host files replacing the target's OTA/fullota.txt, OTA/noota.txt and
	 * OTA/chmod.txt; NULL = use the target's own (or none).
	 */
	const char *full_list;
	const char *preserve_list;
	const char *perms_list;
	/* ed25519 private key (PEM) to sign the package with; NULL = unsigned. */
	const char *key_pem;
	/* Scratch directory for patches; NULL = a temporary one next to the output. */
	const char *workdir;
};

struct mfw_dfota_build_stats {
	size_t patched;        /* files shipped as BSDIFF40 patches */
	size_t added;          /* new files shipped whole */
	size_t full;           /* changed files shipped whole (full-replace list or patch not smaller) */
	size_t removed;        /* files, links and directories deleted */
	size_t symlinks;       /* symlinks created or changed */
	size_t metadata;       /* set_metadata statements */
	size_t preserved;      /* differences left alone because of the preserve list */
	size_t partitions;     /* partitions patched or written */
	size_t recovery;       /* RECOVERY/ files shipped */
	uint64_t required_cache; /* bytes: largest partition + largest patched file */
	uint64_t required_root;  /* bytes the root file system grows by (0 when it shrinks) */
	uint64_t package_size;
	bool signed_;
};

/*
 * Build update.zip (out_path) that turns targetfiles src into dst. Both are
 * a directory or a .zip. The output is a pure function of the inputs and
 * options: building twice gives the same bytes. Progress phases "scan",
 * "diff". stats may be NULL.
 */
int mfw_dfota_build(struct mfw_ctx *ctx, const char *src, const char *dst, const char *out_path,
		    const struct mfw_dfota_build_opts *opts, struct mfw_dfota_build_stats *stats);

/* Quectel result codes (reference §2) as the checker reports them. */
enum mfw_dfota_check_code {
	MFW_DFOTA_CHECK_OK = 0,
	MFW_DFOTA_CHECK_UNEXPECTED = 502, /* applying did not give the target */
	MFW_DFOTA_CHECK_DAMAGED = 504,    /* zip damaged, entry missing, signature bad */
	MFW_DFOTA_CHECK_VERSION = 505,    /* pre-version is not the source's version */
	MFW_DFOTA_CHECK_SOURCE = 510,     /* a file or partition of the source does not match */
	MFW_DFOTA_CHECK_SPACE = 511,
};

struct mfw_dfota_check_opts {
	/* Targetfiles the result must equal (byte- and metadata-identical); NULL = skip. */
	const char *expect;
	/* ed25519 public key (PEM): the package must carry a valid signature by it. */
	const char *pubkey_pem;
	/*
	 * The lists the package was built with when they were given on the
	 * build command line (NULL = the expected target's OTA/ lists): the
	 * permissions shape the expected metadata, preserved paths keep the
	 * source's state.
	 */
	const char *perms_list;
	const char *preserve_list;
	/* Scratch directory; NULL = $TMPDIR or /tmp. */
	const char *workdir;
};

struct mfw_dfota_check_result {
	int code;                   /* enum mfw_dfota_check_code */
	char what[512];             /* the file/partition/entry the code is about, "" when none */
	char message[512];          /* one sentence */
	char pre_version[128];
	char post_version[128];
	char scope[16];
	bool is_signed;
	bool signature_checked;     /* a --pubkey was given and the signature verified */
	bool expect_checked;        /* the result was compared with opts.expect and matched */
	size_t entries;             /* zip entries read and CRC-checked */
	size_t statements;          /* script statements run */
	size_t patches_applied;
	uint64_t required_cache;    /* from the package metadata */
	uint64_t required_root;
	/* Space a run actually needed in the check: cache and root growth. */
	uint64_t measured_cache;
	uint64_t measured_root;
	bool used_updater;          /* the result came from the real updater (lib/dfota/updater) */
};

/*
 * Check package pkg_path against the source targetfiles src: zip integrity
 * (consistency and every entry's CRC), the signature when asked, the
 * version pre-check, every apply_patch_check source hash, then apply the
 * package to a model of src and compare with opts->expect. Returns 0 when
 * the verdict is in res->code (which may be non-zero), a negative enum
 * mfw_err when the check itself could not run (I/O, memory, bad source).
 */
int mfw_dfota_check(struct mfw_ctx *ctx, const char *pkg_path, const char *src,
		    const struct mfw_dfota_check_opts *opts, struct mfw_dfota_check_result *res);

/* ======== end of builder and checker ======== */

#endif
