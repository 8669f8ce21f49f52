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
	/*
	 * With expect: after the checker's own run, the real updater
	 * (mfw_dfota_apply, when built in) also applies the package to a copy of
	 * SRC on disk and the tree it leaves is compared with expect (owners only
	 * when running as root). true = only the checker's own run.
	 */
	bool model_only;
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

/* ======== updater (lib/dfota/updater.c, applypatch.c, edify.c, dfio.c) ======== */

/*
 * Result codes of an update, in Quectel's numbering (reference §2); the
 * value printed in +QIND: "FOTA","END",<code> and the status file.
 */
enum mfw_dfota_code {
	MFW_DFOTA_CODE_OK = 0,
	MFW_DFOTA_CODE_UNEXPECTED = 502,  /* assert/abort without a code, patch gave wrong data */
	MFW_DFOTA_CODE_DAMAGED = 504,     /* zip damaged (consistency, CRC), script malformed, entry missing */
	MFW_DFOTA_CODE_VERSION = 505,     /* wrong source version (the script's pre-check) */
	MFW_DFOTA_CODE_SOURCE = 510,      /* a file or partition matches neither source nor target */
	MFW_DFOTA_CODE_SPACE = 511,       /* not enough space (cache copy, apply_patch_space) */
	MFW_DFOTA_CODE_WRITE = 520,       /* read/write/fsync/rename failed on the module */
	MFW_DFOTA_CODE_RETRIES = 521,     /* ours: the retry limit was reached before this attempt */
};

/* One line in the module's own words, without newline: +QIND: "FOTA","START" ... */
typedef void (*mfw_dfota_report_fn)(void *user, const char *line);

struct mfw_dfota_apply_opts {
	const char *root;         /* directory that is "/" */
	const char *cache;        /* directory that is "/cache" (cache copy, fota/ state) */
	const char *partitions;   /* directory with one file (or device node) per partition */
	/* "key=value" properties for getprop(), NULL-terminated; NULL = none */
	const char *const *props;
	mfw_dfota_report_fn report;
	void *report_user;
	/* Attempts allowed per package before code 521; 0 = 5 (Qualcomm LE's limit). */
	unsigned max_attempts;
};

struct mfw_dfota_apply_result {
	int code;                 /* enum mfw_dfota_code */
	unsigned attempt;         /* this run's attempt number, from <cache>/fota/retry */
	bool resumed;             /* an earlier attempt had begun changing the system */
	bool already_applied;     /* this package had been applied completely before (apply pass re-verified it) */
	size_t entries;           /* zip entries CRC-checked */
	size_t statements;        /* top-level script statements run in the apply pass */
	size_t patched;           /* apply_patch: patched from the source */
	size_t from_cache;        /* apply_patch: patched from the cache copy */
	size_t already;           /* apply_patch: target already present */
	size_t extracted;         /* files/images written from the package */
	size_t skipped;           /* extractions skipped because the data was already there */
	char message[512];        /* the failure in one sentence; "" on success */
};

/*
 * Apply update.zip to the module's file system and partitions. In order:
 * START; the persisted retry counter (<cache>/fota/retry, at most
 * max_attempts, else 521); zip integrity (ZIP_CHECKCONS + every entry's
 * CRC, 504); parse and bind the updater-script (504); a check pass that
 * runs the script without changing anything (version 505, hashes 510,
 * space 511); then the apply pass; END with the code. A run cut at any
 * point converges to the target when rerun (docs/dfota-updater.md).
 * Returns 0 when res->code is 0, else a negative enum mfw_err with the
 * detail on ctx (res->code says which Quectel code).
 */
int mfw_dfota_apply(struct mfw_ctx *ctx, const char *package, const struct mfw_dfota_apply_opts *opts,
		    struct mfw_dfota_apply_result *res);

/* ======== end of updater ======== */

/* ======== send over AT (lib/quectel/fota.c; recovery faults: lib/dfota/recovery.c) ======== */

/*
 * modemfw dfota send (docs/dfota.md, "Sending an update over AT"): upload
 * update.zip into the module's user file system with AT+QFUPL (ack mode,
 * size and checksum verified), start AT+QFOTADL, follow the +QIND: "FOTA"
 * URCs through the module's reboot, confirm the new firmware with AT+QGMR.
 */

/* What a step of a send reports (every step; the CLI prints them with --json). */
struct mfw_fota_event {
	const char *step;     /* "identify", "space", "delete", "upload", "start", "urc",
			       * "reboot", "reconnect", "malformed", "end", "confirm" */
	const char *text;     /* the line or a sentence; never NULL */
	int code;             /* "end": the result code; "urc" UPDATING: the percentage; else -1 */
	uint64_t a, b;        /* "space": free, total; "upload": size, checksum */
};
typedef void (*mfw_fota_event_fn)(void *user, const struct mfw_fota_event *ev);

struct mfw_fota_send_opts {
	/* transport spec of the AT port; reopened (bounded) after the module's reboots */
	const char *port;
	/* file name in the user file system; NULL = MFW_FOTA_DEFAULT_NAME */
	const char *name;
	/* AT+QFOTADL="<url>" instead of an upload (package then unused, may be NULL) */
	const char *url;
	mfw_fota_event_fn on_event;
	void *event_user;
};
#define MFW_FOTA_DEFAULT_NAME "dfota_update.zip"

struct mfw_fota_send_result {
	int code;                 /* +QIND: "FOTA","END" (or HTTPEND/FTPEND) code; -1 = none seen */
	uint64_t size;            /* bytes uploaded */
	uint16_t checksum;        /* mfw_fota_checksum() of the package, as the module confirmed */
	uint64_t free_bytes, total_bytes; /* AT+QFLDS="UFS" before the upload */
	unsigned reconnects;      /* times the port went away and came back */
	unsigned malformed;       /* malformed +QIND: "FOTA" lines tolerated */
	int last_pct;
	char firmware_before[160];
	char firmware_after[160];
};

/*
 * Send package over the AT port and follow the update to its end. Returns
 * 0 when the update ran to an END (res->code says how it went: 0 or a
 * Quectel error code), a negative enum mfw_err when the send itself
 * failed (port gone for good, upload refused or corrupted, timeout), with
 * the detail on ctx.
 */
int mfw_fota_send(struct mfw_ctx *ctx, const char *package, const struct mfw_fota_send_opts *opts,
		  struct mfw_fota_send_result *res);

/*
 * The result code in words; *verified (may be NULL) is false for the codes
 * whose meaning no public source confirms (501, 503, 506-509).
 */
const char *mfw_fota_code_text(int code, bool *verified);

/*
 * The module's recovery with injected faults (the virtual modem's, in
 * emu/fota.c): mfw_dfota_apply() on the same directories, with power lost
 * at the cut_at_op-th mutating I/O operation of this run (that operation
 * does not happen; everything before it stays on disk) and/or a cache that
 * reports only cache_free bytes free. On a cut: MFW_E_NODEV and
 * *power_lost = true (res is then not meaningful). *ops (may be NULL) gets
 * the mutating operations counted.
 */
struct mfw_dfota_recovery_faults {
	uint64_t cut_at_op;       /* 0 = no power loss */
	bool cache_limited;
	uint64_t cache_free;
};
int mfw_dfota_apply_faults(struct mfw_ctx *ctx, const char *package,
			   const struct mfw_dfota_apply_opts *opts,
			   const struct mfw_dfota_recovery_faults *faults, bool *power_lost,
			   uint64_t *ops, struct mfw_dfota_apply_result *res);

/* ======== end of send over AT ======== */

#endif
