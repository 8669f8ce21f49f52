/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_DFOTA_DFIO_H
#define MFW_DFOTA_DFIO_H

/*
 * The DFOTA updater's I/O layer: every byte the updater reads or writes on
 * the module goes through one small vtable, so that a test backend can cut
 * power at any mutating operation and inject faults (the AOSP ota_io idea).
 *
 * One namespace of absolute paths:
 *   /...          the root filesystem (--root)
 *   /cache/...    the cache partition (--cache): source copies, retry/status
 *   /.part/NAME   raw partition NAME (--partitions DIR/NAME)
 *
 * The front-end functions (mfw_dfio_*) resolve a path before handing it to
 * the backend: "." and "//" are dropped, ".." that would leave "/" is
 * refused (MFW_E_RANGE), symlinks in directory components (and in the last
 * component for open/stat-follow) are followed *inside* the namespace: an
 * absolute link target is relative to the root, as on the module, and a
 * relative one may not climb above "/". A path reached through a symlink
 * may not land in /.part. Backends therefore only see canonical paths with
 * no symlink before the last component.
 *
 * Errors are negative enum mfw_err (MFW_E_IO, MFW_E_NOENT, MFW_E_NOSPC,
 * MFW_E_EXIST ...). MFW_DFIO_E_POWER is what the simulated backend returns
 * once its power was cut: the updater must stop at once.
 */
#include <modemfw/error.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MFW_DFIO_E_POWER MFW_E_NODEV
#define MFW_DFIO_PATH_MAX 1024
#define MFW_DFIO_PART_DIR "/.part"

enum mfw_dfio_type {
	MFW_DFIO_NONE = 0,
	MFW_DFIO_REG,
	MFW_DFIO_DIR,
	MFW_DFIO_LNK,
	MFW_DFIO_OTHER,  /* device node, fifo: partitions may be block devices */
};

struct mfw_dfio_stat {
	enum mfw_dfio_type type;
	uint32_t mode;   /* permission bits only (07777) */
	uint32_t uid, gid;
	uint64_t size;
};

/* open flags */
#define MFW_DFIO_RDONLY 0x0
#define MFW_DFIO_WRITE 0x1   /* read/write; create with mode when missing */
#define MFW_DFIO_TRUNC 0x2   /* with WRITE: truncate to 0 */

typedef int (*mfw_dfio_list_fn)(void *user, const char *name);

/* Backend operations on canonical paths. Every member is required. */
struct mfw_dfio_ops {
	int (*open)(void *be, const char *path, int flags, uint32_t mode, int *fd);
	/* *got < len only at end of file */
	int (*pread)(void *be, int fd, void *buf, size_t len, uint64_t off, size_t *got);
	int (*pwrite)(void *be, int fd, const void *buf, size_t len, uint64_t off);
	int (*fsync)(void *be, int fd);
	int (*ftruncate)(void *be, int fd, uint64_t size);
	int (*close)(void *be, int fd);
	int (*rename)(void *be, const char *from, const char *to);
	int (*unlink)(void *be, const char *path);
	int (*mkdir)(void *be, const char *path, uint32_t mode);
	int (*rmdir)(void *be, const char *path);
	int (*symlink)(void *be, const char *target, const char *path);
	int (*readlink)(void *be, const char *path, char *buf, size_t cap);
	int (*lstat)(void *be, const char *path, struct mfw_dfio_stat *st);
	/* never follow the last component (lchown; chmod of a link is a no-op) */
	int (*chmod)(void *be, const char *path, uint32_t mode);
	int (*chown)(void *be, const char *path, uint32_t uid, uint32_t gid);
	/* make the inode at path durable: a file's data + metadata, a directory's entries */
	int (*fsync_path)(void *be, const char *path);
	int (*free_space)(void *be, const char *path, uint64_t *bytes);
	/* names of a directory's entries, any order, without "." and ".." */
	int (*list)(void *be, const char *dir, mfw_dfio_list_fn fn, void *user);
	void (*destroy)(void *be);
};

struct mfw_dfio {
	const struct mfw_dfio_ops *ops;
	void *be;
};

/* ---- front end (resolves paths, then calls the backend) ---- */
int mfw_dfio_resolve(struct mfw_dfio *io, const char *path, bool follow_last, char *out,
		     size_t cap);
int mfw_dfio_open(struct mfw_dfio *io, const char *path, int flags, uint32_t mode, int *fd);
int mfw_dfio_pread(struct mfw_dfio *io, int fd, void *buf, size_t len, uint64_t off, size_t *got);
int mfw_dfio_pwrite(struct mfw_dfio *io, int fd, const void *buf, size_t len, uint64_t off);
int mfw_dfio_fsync(struct mfw_dfio *io, int fd);
int mfw_dfio_ftruncate(struct mfw_dfio *io, int fd, uint64_t size);
int mfw_dfio_close(struct mfw_dfio *io, int fd);
int mfw_dfio_rename(struct mfw_dfio *io, const char *from, const char *to);
int mfw_dfio_unlink(struct mfw_dfio *io, const char *path);
int mfw_dfio_mkdir(struct mfw_dfio *io, const char *path, uint32_t mode);
int mfw_dfio_rmdir(struct mfw_dfio *io, const char *path);
int mfw_dfio_symlink(struct mfw_dfio *io, const char *target, const char *path);
int mfw_dfio_readlink(struct mfw_dfio *io, const char *path, char *buf, size_t cap);
int mfw_dfio_lstat(struct mfw_dfio *io, const char *path, struct mfw_dfio_stat *st);
int mfw_dfio_stat(struct mfw_dfio *io, const char *path, struct mfw_dfio_stat *st);
int mfw_dfio_chmod(struct mfw_dfio *io, const char *path, uint32_t mode);
int mfw_dfio_chown(struct mfw_dfio *io, const char *path, uint32_t uid, uint32_t gid);
int mfw_dfio_fsync_path(struct mfw_dfio *io, const char *path);
int mfw_dfio_free_space(struct mfw_dfio *io, const char *path, uint64_t *bytes);
int mfw_dfio_list(struct mfw_dfio *io, const char *dir, mfw_dfio_list_fn fn, void *user);
void mfw_dfio_free(struct mfw_dfio *io);

/* Helpers built on the vtable. */
/* fsync the directory that holds path (makes a create/rename/unlink durable). */
int mfw_dfio_fsync_parent(struct mfw_dfio *io, const char *path);
/* mkdir -p of the directories above path (each new one made durable). */
int mfw_dfio_mkdirs_parent(struct mfw_dfio *io, const char *path, uint32_t mode);
/* Whole small file into buf (NUL-terminated); MFW_E_RANGE when larger than cap - 1. */
int mfw_dfio_read_small(struct mfw_dfio *io, const char *path, char *buf, size_t cap,
			size_t *len);
/* Write a small file durably: path.tmp, fsync, rename, fsync dir. */
int mfw_dfio_write_small(struct mfw_dfio *io, const char *path, const void *data, size_t len);
/*
 * SHA-256 over a tree: every entry below dir in name order with its type,
 * mode, uid, gid and content (file bytes / link target). Names listed in
 * skip (NULL-terminated, relative to dir, exact) are left out. When list
 * is not NULL, one line per entry ("path type mode uid gid sha1") is
 * appended to it through the callback (diagnostics in tests).
 */
int mfw_dfio_tree_digest(struct mfw_dfio *io, const char *dir, const char *const *skip,
			 uint8_t out[32], void (*line)(void *user, const char *text), void *user);

/* ---- backends ---- */
/*
 * Real files: / -> root, /cache -> cache, /.part -> parts (each a host
 * directory). Host symlinks are never followed by the host kernel in a
 * way that leaves these directories: the front end resolves them, and
 * the last component is opened with O_NOFOLLOW when it should not be
 * followed. chown is applied only when running as root (else ignored).
 */
int mfw_dfio_posix_new(const char *root, const char *cache, const char *parts,
		       struct mfw_dfio **out);

/*
 * Simulated power-cut backend: an in-memory filesystem whose every inode
 * has a volatile state (what reads see) and a durable state (what
 * survives a power cut). The model, stricter than AOSP's assumptions:
 *  - file data and metadata (mode, uid, gid) become durable only by
 *    fsync of that file (fd or path);
 *  - directory entries (create, mkdir, symlink, rename, unlink, rmdir)
 *    become durable only by fsync of the directory that holds them;
 *    a rename between directories needs both;
 *  - a new inode that becomes reachable durably before its own fsync
 *    has its creation metadata and empty content.
 * Mutating operations (open with WRITE, pwrite, fsync, ftruncate, rename,
 * unlink, mkdir, rmdir, symlink, chmod, chown, fsync_path) are counted;
 * with a cut set at N, operation N does not happen (or, for a pwrite, is
 * recorded as the torn write) and it and everything after it return
 * MFW_DFIO_E_POWER. mfw_dfio_sim_power_cycle() then discards volatile
 * state, optionally keeping the last unsynced write whole or a prefix.
 */
enum mfw_dfio_tear {
	MFW_DFIO_TEAR_DROP = 0,  /* last unsynced write lost (with all volatile state) */
	MFW_DFIO_TEAR_KEEP,      /* it reached the medium whole */
	MFW_DFIO_TEAR_PREFIX,    /* its first half reached the medium */
};

int mfw_dfio_sim_new(struct mfw_dfio **out);
/* Deep copy (volatile and durable state; no open files, no faults). */
int mfw_dfio_sim_clone(struct mfw_dfio *io, struct mfw_dfio **out);
/* Cut power at the n-th mutating operation from now (1 = the next); 0 = never. */
void mfw_dfio_sim_set_cut(struct mfw_dfio *io, uint64_t n);
/* Mutating operations counted since creation or the last power cycle. */
uint64_t mfw_dfio_sim_ops(const struct mfw_dfio *io);
bool mfw_dfio_sim_cut_happened(const struct mfw_dfio *io);
/* Reboot: drop volatile state (tear applied), close files, clear the cut. */
void mfw_dfio_sim_power_cycle(struct mfw_dfio *io, enum mfw_dfio_tear tear);
/* Make everything durable (a clean sync, used to build fixtures). */
void mfw_dfio_sim_sync_all(struct mfw_dfio *io);
/*
 * Fail the next `count` read/write/fsync operations on files opened at
 * path (exact canonical path) with MFW_E_IO. ops: bit 0 read, 1 write,
 * 2 fsync. count 0 clears.
 */
#define MFW_DFIO_FAULT_READ 1
#define MFW_DFIO_FAULT_WRITE 2
#define MFW_DFIO_FAULT_FSYNC 4
void mfw_dfio_sim_inject_eio(struct mfw_dfio *io, const char *path, unsigned ops, unsigned count);
/* Bytes allowed for regular files below /cache (0 = unlimited); beyond: MFW_E_NOSPC. */
void mfw_dfio_sim_set_cache_quota(struct mfw_dfio *io, uint64_t bytes);

#endif
