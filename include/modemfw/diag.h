/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MODEMFW_DIAG_H
#define MODEMFW_DIAG_H

/*
 * DIAG (QCDM) over a module's diagnostic port: version, NV items (IMEI),
 * EFS2 files, switch to EDL; whole-unit backup and restore of NV items and
 * the EFS2 tree; xQCN (QPST XML backup) export and import.
 * Protocol notes: docs/diag.md.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mfw_ctx;
struct mfw_transport;

/* ---- shared value types ---- */

#define MFW_NV_DATA_LEN 128
#define MFW_NV_ITEM_IMEI 550     /* NV_UE_IMEI_I */
#define MFW_IMEI_DIGITS 15

/* NV status word of a read/write response (reference diag.md §3). */
enum mfw_nv_status {
	MFW_NV_DONE = 0,
	MFW_NV_BUSY = 1,
	MFW_NV_BADCMD = 2,
	MFW_NV_FULL = 3,
	MFW_NV_FAIL = 4,
	MFW_NV_NOTACTIVE = 5,   /* never written */
	MFW_NV_BADPARM = 6,     /* item does not exist on this firmware */
	MFW_NV_READONLY = 7,
};

/* One numbered NV item. index 0 = the plain item, >= 1 = subscription (SIM) index. */
struct mfw_nv_record {
	uint16_t item;
	uint16_t index;
	uint16_t status;
	uint8_t data[MFW_NV_DATA_LEN];
};

/* VERNO (0x00) answer; strings are NUL-terminated, printable ASCII. */
struct mfw_diag_version {
	char comp_date[12];  /* "Mmm dd yyyy" */
	char comp_time[9];   /* "hh:mm:ss" */
	char rel_date[12];
	char rel_time[9];
	char ver_dir[9];     /* model / build directory string */
	uint8_t scm;
	uint8_t cai_rev;
	uint8_t model;       /* mobile model number */
	uint16_t firm_rev;
	uint8_t slot_cycle;
	uint8_t hw_major;    /* MSM version */
	uint8_t hw_minor;
	unsigned fields;     /* how many of the fields above the device sent (short answers happen) */
};

/* EFS2 file modes (mode & MFW_EFS_S_IFMT). */
#define MFW_EFS_S_IFMT 0170000u
#define MFW_EFS_S_IFREG 0100000u
#define MFW_EFS_S_IFDIR 0040000u
#define MFW_EFS_S_IFLNK 0120000u
#define MFW_EFS_S_IFITM 0160000u   /* Qualcomm item file */

/* POSIX-style open flags as EFS2 takes them. */
#define MFW_EFS_O_RDONLY 0x0
#define MFW_EFS_O_WRONLY 0x1
#define MFW_EFS_O_RDWR 0x2
#define MFW_EFS_O_CREAT 0x40
#define MFW_EFS_O_TRUNC 0x200

#define MFW_EFS_PATH_MAX 1024   /* longest path we send or accept */
#define MFW_EFS_CHUNK 1024      /* bytes per read/write request (all known tools) */

struct mfw_efs_stat {
	uint32_t mode, size, nlink, atime, mtime, ctime;
};

struct mfw_efs_dirent {
	int32_t type;        /* entry_type as the device sends it */
	uint32_t mode, size, atime, mtime, ctime;
	char name[256];
};

/* ---- session ---- */
struct mfw_diag;

/* Wrap an open transport (the session does not own it). */
int mfw_diag_open(struct mfw_ctx *ctx, struct mfw_transport *t, struct mfw_diag **ret);
void mfw_diag_close(struct mfw_diag *d);
/* Per-request response deadline; 0 restores the default (MFW_DIAG_RSP_TIMEOUT_MS). */
void mfw_diag_set_timeout(struct mfw_diag *d, int ms);
/* Counters: unsolicited packets skipped, other unmatched frames skipped, CRC errors. */
void mfw_diag_stats(const struct mfw_diag *d, uint64_t *unsolicited, uint64_t *unmatched,
		    uint64_t *crc_errors);

int mfw_diag_version(struct mfw_diag *d, struct mfw_diag_version *out);
/*
 * Read/write a numbered NV item; index < 0 uses the plain commands
 * (0x26/0x27), index >= 0 the subscription-indexed ones (4B 30 01/02).
 * The device status lands in *status (may be NULL). Returns 0 when it is
 * MFW_NV_DONE, else the mapped error (NOENT for inactive/bad parameter,
 * NAK for read-only, ...) with a detail sentence naming item and status.
 * write: len <= 128, the rest of the 128 bytes is zero.
 */
int mfw_diag_nv_read(struct mfw_diag *d, uint16_t item, int index, uint8_t data[MFW_NV_DATA_LEN],
		     uint16_t *status);
int mfw_diag_nv_write(struct mfw_diag *d, uint16_t item, int index, const uint8_t *data,
		      size_t len, uint16_t *status);
/* NV 550 (index < 0 plain, 1 = second IMEI), decoded and checked (15 digits, Luhn, no placeholder). */
int mfw_diag_read_imei(struct mfw_diag *d, int index, char imei[MFW_IMEI_DIGITS + 1]);
/* Service programming code: 6 digits. MFW_E_NAK when the device rejects it. Never retried. */
int mfw_diag_spc(struct mfw_diag *d, const char *code);
/* Security password: 8 bytes (default FF FF FF FF FF FF FF FE). */
int mfw_diag_password(struct mfw_diag *d, const uint8_t pw[8]);
/* CONTROL (0x29) mode: MFW_DIAG_MODE_*. */
#define MFW_DIAG_MODE_OFFLINE_A 0
#define MFW_DIAG_MODE_OFFLINE_D 1
#define MFW_DIAG_MODE_RESET 2
#define MFW_DIAG_MODE_FTM 3
#define MFW_DIAG_MODE_ONLINE 4
#define MFW_DIAG_MODE_LPM 5
#define MFW_DIAG_MODE_POWER_OFF 6
int mfw_diag_control(struct mfw_diag *d, uint16_t mode);
/*
 * Send 4B 65 01 00. Success when the device echoes it or the port goes
 * away (it is rebooting into EDL, 05c6:9008). Bounded retries.
 */
int mfw_diag_switch_to_edl(struct mfw_diag *d);

/* EFS2. Negative errors map the device errno; the detail sentence names path and errno. */
int mfw_diag_efs_hello(struct mfw_diag *d);
int mfw_diag_efs_open(struct mfw_diag *d, const char *path, int32_t oflag, int32_t mode,
		      int32_t *fd);
/* Returns bytes read (0 = end of file), at most n (<= MFW_EFS_CHUNK is what devices honour). */
int mfw_diag_efs_read(struct mfw_diag *d, int32_t fd, uint32_t offset, void *buf, size_t n);
int mfw_diag_efs_write(struct mfw_diag *d, int32_t fd, uint32_t offset, const void *buf, size_t n);
int mfw_diag_efs_close(struct mfw_diag *d, int32_t fd);
int mfw_diag_efs_stat(struct mfw_diag *d, const char *path, struct mfw_efs_stat *st);
int mfw_diag_efs_opendir(struct mfw_diag *d, const char *path, uint32_t *dirp);
/* seq starts at 1. Returns 1 with *ent filled, 0 at the end of the directory. */
int mfw_diag_efs_readdir(struct mfw_diag *d, uint32_t dirp, int32_t seq,
			 struct mfw_efs_dirent *ent);
int mfw_diag_efs_closedir(struct mfw_diag *d, uint32_t dirp);
int mfw_diag_efs_mkdir(struct mfw_diag *d, const char *path, uint16_t mode);
int mfw_diag_efs_unlink(struct mfw_diag *d, const char *path);
int mfw_diag_efs_rmdir(struct mfw_diag *d, const char *path);
/* Whole file into a malloc'd buffer (free()); MFW_E_RANGE beyond max bytes. */
int mfw_diag_efs_get(struct mfw_diag *d, const char *path, size_t max, uint8_t **data,
		     size_t *len);
/* Create/truncate path with mode (0 = 0644 regular) and write data in 1024-byte chunks. */
int mfw_diag_efs_put(struct mfw_diag *d, const char *path, const void *data, size_t len,
		     uint32_t mode);
/*
 * Recursive listing from root, depth-first; fn is called for every entry
 * (path is absolute). A non-zero return from fn stops the walk and is
 * returned. Bounded by max_depth and max_entries (MFW_E_RANGE beyond).
 */
typedef int (*mfw_efs_walk_fn)(void *user, const char *path, const struct mfw_efs_dirent *ent);
int mfw_diag_efs_walk(struct mfw_diag *d, const char *root, unsigned max_depth,
		      unsigned max_entries, mfw_efs_walk_fn fn, void *user);

/* ---- IMEI helpers (pure) ---- */
/* Encode 15 digits into NV 550 data (128 bytes, BCD, reference §3.1). MFW_E_INVAL on bad input. */
int mfw_imei_encode(const char *imei, uint8_t data[MFW_NV_DATA_LEN]);
/* Decode NV 550 data into 15 digits; MFW_E_FORMAT when the encoding is malformed. */
int mfw_imei_decode(const uint8_t *data, size_t len, char imei[MFW_IMEI_DIGITS + 1]);
/* 0 when 15 digits, Luhn valid and not a known placeholder; else MFW_E_FORMAT and *why. */
int mfw_imei_check(const char *imei, const char **why);

/* ---- backup model (DIAG backup, xQCN) ---- */
struct mfw_efs_file {
	char *path;          /* absolute EFS path */
	uint32_t mode;
	uint8_t *data;
	size_t len;
};

struct mfw_diag_backup {
	struct mfw_nv_record *nv;
	size_t n_nv, cap_nv;
	struct mfw_efs_file *efs;
	size_t n_efs, cap_efs;
};

void mfw_diag_backup_init(struct mfw_diag_backup *b);
void mfw_diag_backup_free(struct mfw_diag_backup *b);
int mfw_diag_backup_add_nv(struct mfw_diag_backup *b, const struct mfw_nv_record *rec);
/* Copies path and data. */
int mfw_diag_backup_add_efs(struct mfw_diag_backup *b, const char *path, uint32_t mode,
			    const uint8_t *data, size_t len);

/* xQCN: write the model as QPST XML (buffer malloc'd, free()); read one (bounded). */
int mfw_xqcn_write(struct mfw_ctx *ctx, const struct mfw_diag_backup *b, const char *root_name,
		   char **xml, size_t *len);
int mfw_xqcn_read(struct mfw_ctx *ctx, const char *xml, size_t len, struct mfw_diag_backup *b);
int mfw_xqcn_save(struct mfw_ctx *ctx, const struct mfw_diag_backup *b, const char *path);
int mfw_xqcn_load(struct mfw_ctx *ctx, const char *path, struct mfw_diag_backup *b);

/* ---- whole-unit DIAG backup / restore ---- */
struct mfw_diag_backup_opts {
	const char *dir;            /* output directory (created; must be empty or absent) */
	unsigned nv_first, nv_last; /* items scanned; last 0 = MFW_DIAG_NV_SCAN_DEFAULT */
	bool nv_sim1;               /* also read index 1 of items found (dual SIM) */
	bool no_efs;                /* NV items only */
	const char *efs_root;       /* NULL = "/" */
	unsigned efs_max_depth;     /* 0 = 16 */
	unsigned efs_max_entries;   /* 0 = 20000 */
	size_t efs_max_file;        /* 0 = 4 MiB */
	int timeout_ms;             /* per-answer deadline; 0 = MFW_DIAG_RSP_TIMEOUT_MS (5 s) */
};
#define MFW_DIAG_NV_SCAN_DEFAULT 7500u

struct mfw_diag_backup_summary {
	struct mfw_diag_version version;
	bool have_version;
	char imei[MFW_IMEI_DIGITS + 1];   /* "" when unreadable */
	char imei2[MFW_IMEI_DIGITS + 1];
	const char *imei_note;            /* why IMEI is missing or suspicious; NULL when fine */
	unsigned nv_items, nv_scanned;
	unsigned efs_files, efs_dirs, efs_skipped;
	uint64_t efs_bytes;
	bool efs_unavailable;             /* the device refused EFS2 HELLO: NV items only */
	char manifest[1024];              /* path of manifest.json */
};

int mfw_diag_backup_run(struct mfw_ctx *ctx, struct mfw_transport *t,
			const struct mfw_diag_backup_opts *opts,
			struct mfw_diag_backup_summary *summary);

struct mfw_diag_restore_opts {
	const char *source;     /* a backup directory (checked against manifest.json) or an .xqcn file */
	bool write_imei;        /* restore NV 550 too: only lawful for the unit's own IMEI */
	bool no_efs;
	bool no_nv;
	const char *spc;        /* send this SPC first (NULL = do not) */
	bool offline;           /* put the modem offline (CONTROL mode 1) first */
	int timeout_ms;         /* per-answer deadline; 0 = default (5 s) */
};

struct mfw_diag_restore_summary {
	unsigned nv_written, nv_verified, nv_skipped, nv_failed;
	unsigned efs_written, efs_verified, efs_failed;
	bool imei_skipped;
};

/*
 * Write every NV item and EFS file of the backup, then read each back and
 * compare. Items the device refuses are counted, not fatal; a read-back
 * mismatch makes the result MFW_E_VERIFY.
 */
int mfw_diag_restore_run(struct mfw_ctx *ctx, struct mfw_transport *t,
			 const struct mfw_diag_restore_opts *opts,
			 struct mfw_diag_restore_summary *summary);

/* Load a backup directory (manifest hashes checked) or an .xqcn file into b. */
int mfw_diag_backup_load(struct mfw_ctx *ctx, const char *source, struct mfw_diag_backup *b);

#endif
