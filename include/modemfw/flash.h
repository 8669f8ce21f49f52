/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MODEMFW_FLASH_H
#define MODEMFW_FLASH_H

/*
 * Whole operations over an EDL transport: identify a device, flash a
 * firmware package.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mfw_ctx;
struct mfw_transport;

/* ---- identify (Sahara command mode) ---- */
struct mfw_edl_info {
	bool firehose_running;  /* a programmer already runs: Sahara identity unavailable */
	uint32_t sahara_version;
	bool have_serial;
	uint32_t serial;
	bool have_hw_id;
	uint64_t hw_id;          /* msm_id << 32 | oem_id << 16 | model_id */
	size_t pk_hash_len;
	uint8_t pk_hash[64];
};

int mfw_edl_info(struct mfw_ctx *ctx, struct mfw_transport *t, struct mfw_edl_info *out);

/* ---- flash ---- */
enum mfw_flash_pick {
	MFW_FLASH_PICK_UPDATE = 0, /* *_update.xml (default) */
	MFW_FLASH_PICK_FACTORY,    /* *_factory.xml */
	MFW_FLASH_PICK_FILE,       /* opts.rawprogram */
};

enum mfw_flash_order {
	MFW_FLASH_ORDER_SAFE = 0,  /* NAND: every erase, then programs, sector 0 (SBL) last */
	MFW_FLASH_ORDER_DOCUMENT,  /* manifest order, as qdl does (dangerous on Quectel NAND) */
};

enum mfw_verify_mode {
	MFW_VERIFY_AUTO = 0,       /* device digest when the programmer lists it, else read-back */
	MFW_VERIFY_DIGEST,
	MFW_VERIFY_READBACK,
	MFW_VERIFY_NONE,
};

struct mfw_flash_opts {
	const char *package;            /* directory or .zip */
	enum mfw_flash_pick pick;
	const char *rawprogram;         /* PICK_FILE */
	enum mfw_flash_order order;
	enum mfw_verify_mode verify;
	bool skip_md5;                  /* do not check md5.txt (not recommended) */
	bool no_reset;                  /* leave the programmer running at the end */
	uint32_t max_payload;           /* configure proposal; 0 = 1 MiB */
	int stall_ms;                   /* raw-transfer watchdog; 0 = default */
	const char *const *allow_protected; /* labels the user allowed (--allow-protected) */
	size_t n_allow_protected;
	/*
	 * Journal directory (e.g. $XDG_STATE_HOME/modemfw/flash); NULL = no
	 * journal. restart: ignore the journal and skip nothing.
	 */
	const char *journal_dir;
	bool restart;
	/*
	 * Backups: before anything is erased, the protected partitions are
	 * backed up into backup_dir/<device>/<time>/ and proven; NULL = no
	 * backup (--no-backup). Also where --allow-protected looks for a
	 * verified backup of the device.
	 */
	const char *backup_dir;
	bool no_backup;                 /* do not make one (backup_dir is still searched) */
	/*
	 * After the device disconnects (unplug, reset, power cut), get a new
	 * transport to it: close *t, wait (bounded) for the device to come
	 * back, open it and store it in *t. NULL = no automatic recovery.
	 */
	int (*reconnect)(void *user, struct mfw_transport **t);
	void *reconnect_user;
	unsigned max_recoveries;        /* 0 = default (5) */
};

struct mfw_flash_summary {
	char manifest_note[512];   /* which manifest and why */
	char storage[8];           /* "nand" / "emmc" */
	char programmer[512];
	bool programmer_uploaded;  /* false when one was already running */
	unsigned erases;
	unsigned programs;
	unsigned patches;
	unsigned skipped;          /* elements without a file */
	unsigned verified;         /* ranges verified */
	unsigned units;            /* partitions (erase + programs) in the plan */
	unsigned units_skipped;    /* proven unchanged (digest) or done in an earlier run (journal) */
	unsigned recoveries;       /* reconnects after a disconnect */
	char device_key[64];       /* serial-hwid from Sahara, or "unknown" */
	char journal[1024];        /* journal file, "" when none */
	char backup[1024];         /* backup made before writing, "" when none */
	const char *verify_method; /* "digest", "readback", "none" */
	uint64_t bytes;            /* bytes programmed */
	double seconds;            /* device phase */
};

/*
 * Check the package (md5.txt, manifests, files, protected labels) before
 * touching the device, then load the programmer, configure, check the
 * geometry against getstorageinfo, and run the plan with progress.
 */
int mfw_flash(struct mfw_ctx *ctx, struct mfw_transport *t, const struct mfw_flash_opts *opts,
	      struct mfw_flash_summary *summary);

/* What a package holds, without touching a device (to pick an emulator, show a plan). */
struct mfw_package_info {
	bool nand;                 /* NAND manifest (else eMMC/UFS) */
	uint32_t page_size;        /* NAND geometry from the file names; 0 unknown */
	uint32_t block_size;
	char note[512];            /* which manifest and why */
};
int mfw_package_probe(struct mfw_ctx *ctx, const char *path, enum mfw_flash_pick pick,
		      const char *rawprogram, struct mfw_package_info *out);

/* Labels protected by default (identity and calibration); NULL-terminated. */
extern const char *const mfw_protected_labels[];

#endif
