/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_EMU_NVSTORE_H
#define MFW_EMU_NVSTORE_H

/*
 * The virtual modem's radio identity: numbered NV items and an EFS2 file
 * tree, kept in memory while the module runs in normal mode and persisted
 * as one blob (docs/emulator.md, "NV store format") in the efs2 region:
 * the first good block of the NAND partition 0:EFS2, or modemst1 (and
 * modemst2) on eMMC. An erased or corrupt region is a module whose EFS was
 * wiped: no items (NV status 5, inactive) and an empty tree.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mfw_ctx;
struct emu_store;

#define EMU_NV_DATA 128u
/* Bounds that keep a hostile host (or a corrupt region) from growing the model without end. */
#define EMU_NV_MAX_ITEMS 8192u
#define EMU_EFS_MAX_NODES 4096u
#define EMU_EFS_PATH_MAX 1023u     /* bytes without the NUL (fs_diag: FS_PATH_MAX 1024) */
#define EMU_EFS_NAME_MAX 255u
#define EMU_EFS_FILE_MAX (512u * 1024u) /* largest file: one store record */
/* Largest blob the store writes: one 256 KiB NAND block, well below modemst1 (2 MiB). */
#define EMU_NVSTORE_CAP_MAX (1u << 20)

#define EMU_EFS_S_IFMT 0170000u
#define EMU_EFS_S_IFDIR 0040000u
#define EMU_EFS_S_IFREG 0100000u
#define EMU_EFS_S_IFITM 0160000u

struct emu_nv_item {
	uint16_t item, index, len;  /* len: bytes kept (1..128); reads pad with zeros */
	uint8_t data[EMU_NV_DATA];
};

struct emu_efs_node {
	char *path;       /* absolute, normalised, never "/" (the root is implicit) */
	uint32_t mode;    /* type | permissions */
	uint32_t mtime;
	uint8_t *data;
	uint32_t len;
};

struct emu_nvstore {
	struct emu_nv_item *nv;
	size_t n_nv, cap_nv;
	struct emu_efs_node *efs;  /* sorted by path */
	size_t n_efs, cap_efs;
	bool present;     /* the region held a valid store (or it has been written since) */
	size_t capacity;  /* bytes the region can hold: encode beyond this is MFW_E_NOSPC */
};

void emu_nvstore_init(struct emu_nvstore *s);
void emu_nvstore_free(struct emu_nvstore *s);
/* The factory identity: IMEI in NV 550 plus a few items and item files. */
int emu_nvstore_factory(struct emu_nvstore *s, const char *imei);

/* Blob form (docs/emulator.md). encode mallocs *out; size is what it would take. */
size_t emu_nvstore_size(const struct emu_nvstore *s);
int emu_nvstore_encode(const struct emu_nvstore *s, uint8_t **out, size_t *len);
/* MFW_E_FORMAT when buf does not start with a valid NV section; s is left empty then. */
int emu_nvstore_decode(struct emu_nvstore *s, const uint8_t *buf, size_t len);

/*
 * From / to the device storage. load never fails on a wiped or corrupt
 * region (that is a module without identity), only on I/O errors or a
 * missing partition table. save writes the region immediately.
 */
int emu_nvstore_load(struct mfw_ctx *ctx, struct emu_store *st, struct emu_nvstore *s);
int emu_nvstore_save(struct mfw_ctx *ctx, struct emu_store *st, struct emu_nvstore *s);

/* NV items: get returns MFW_E_NOENT for an item never written. */
int emu_nv_get(const struct emu_nvstore *s, uint16_t item, uint16_t index,
	       uint8_t out[EMU_NV_DATA]);
int emu_nv_set(struct emu_nvstore *s, uint16_t item, uint16_t index,
	       const uint8_t data[EMU_NV_DATA]);

/*
 * EFS tree. Paths are normalised first (emu_efs_normalise): absolute,
 * no empty, "." or ".." components. Errors are device errno values
 * (positive, reference diag.md §4.2), 0 on success.
 */
int emu_efs_normalise(const char *in, char *out, size_t cap);
struct emu_efs_node *emu_efs_find(const struct emu_nvstore *s, const char *path);
/* 0 when path's parent is "/" or an existing directory; else ENOENT / ENOTDIR. */
int emu_efs_parent_ok(const struct emu_nvstore *s, const char *path);
/* New empty node (mkdir or file create); the caller checked the parent. */
int emu_efs_add(struct emu_nvstore *s, const char *path, uint32_t mode,
		struct emu_efs_node **ret);
void emu_efs_remove(struct emu_nvstore *s, struct emu_efs_node *n);
/* Is there any node below dir ("/" for the root)? */
bool emu_efs_has_children(const struct emu_nvstore *s, const char *dir);
/* The k-th (0-based) direct child of dir in path order; NULL past the end. */
const struct emu_efs_node *emu_efs_child(const struct emu_nvstore *s, const char *dir, size_t k);

#define EMU_EPERM 1
#define EMU_ENOENT 2
#define EMU_EBADF 9
#define EMU_ENOMEM 12
#define EMU_EACCES 13
#define EMU_EEXIST 17
#define EMU_ENOTDIR 20
#define EMU_EISDIR 21
#define EMU_EINVAL 22
#define EMU_EMFILE 24
#define EMU_EFBIG 27
#define EMU_ENOSPC 28
#define EMU_ENAMETOOLONG 36
#define EMU_ENOTEMPTY 39
#define EMU_FS_DIAG_INVALID_SEQ 0x40000002
#define EMU_FS_DIAG_DIR_NOT_OPEN 0x40000003
#define EMU_FS_DIAG_INVALID_PATH 0x40000005
#define EMU_FS_DIAG_PATH_TOO_LONG 0x40000006
#define EMU_FS_DIAG_TOO_MANY_DIRS 0x40000007

#endif
