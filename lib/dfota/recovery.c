/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The updater as a module's recovery runs it, with the two faults a real
 * module meets that the host cannot cause: power lost in the middle of the
 * update, and a cache partition too small for the update. It is the
 * public mfw_dfota_apply() (same POSIX backend, same directories) behind
 * a thin I/O wrapper that counts the mutating operations and, at the
 * chosen one, behaves as the simulated backend does once its power was
 * cut: that operation does not happen and every later one fails with
 * MFW_DFIO_E_POWER. Unlike the simulated backend nothing done before the
 * cut is lost (the files are real files on the host); the strict
 * durability model is proved by the updater's own power-cut tests.
 * Used by the virtual modem (emu/fota.c).
 */
#include <modemfw/dfota.h>

#include "core/core.h"
#include "dfota/dfio.h"
#include "dfota/updater.h"

#include <stdlib.h>
#include <string.h>

struct cut_be {
	struct mfw_dfio *inner;
	uint64_t cut_at;     /* 0 = never */
	uint64_t ops;        /* mutating operations seen */
	bool cut;
	bool cache_limited;
	uint64_t cache_free;
};

/* Count one mutating operation: MFW_DFIO_E_POWER from the cut on. */
static int count(struct cut_be *b)
{
	if (b->cut)
		return MFW_DFIO_E_POWER;
	b->ops++;
	if (b->cut_at && b->ops >= b->cut_at) {
		b->cut = true;
		return MFW_DFIO_E_POWER;
	}
	return 0;
}

#define INNER(b) ((struct cut_be *)(b))->inner
#define DEAD(b) do { if (((struct cut_be *)(b))->cut) return MFW_DFIO_E_POWER; } while (0)
#define MUT(b) do { int c_ = count(b); if (c_ < 0) return c_; } while (0)

static int cb_open(void *be, const char *path, int flags, uint32_t mode, int *fd)
{
	struct mfw_dfio *in = INNER(be);

	if (flags & MFW_DFIO_WRITE)
		MUT(be);
	else
		DEAD(be);
	return in->ops->open(in->be, path, flags, mode, fd);
}

static int cb_pread(void *be, int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
	DEAD(be);
	return INNER(be)->ops->pread(INNER(be)->be, fd, buf, len, off, got);
}

static int cb_pwrite(void *be, int fd, const void *buf, size_t len, uint64_t off)
{
	MUT(be);
	return INNER(be)->ops->pwrite(INNER(be)->be, fd, buf, len, off);
}

static int cb_fsync(void *be, int fd)
{
	MUT(be);
	return INNER(be)->ops->fsync(INNER(be)->be, fd);
}

static int cb_ftruncate(void *be, int fd, uint64_t size)
{
	MUT(be);
	return INNER(be)->ops->ftruncate(INNER(be)->be, fd, size);
}

static int cb_close(void *be, int fd)
{
	/* a file is closed even after the cut: the host must not leak descriptors */
	int r = INNER(be)->ops->close(INNER(be)->be, fd);

	return ((struct cut_be *)be)->cut ? MFW_DFIO_E_POWER : r;
}

static int cb_rename(void *be, const char *from, const char *to)
{
	MUT(be);
	return INNER(be)->ops->rename(INNER(be)->be, from, to);
}

static int cb_unlink(void *be, const char *path)
{
	MUT(be);
	return INNER(be)->ops->unlink(INNER(be)->be, path);
}

static int cb_mkdir(void *be, const char *path, uint32_t mode)
{
	MUT(be);
	return INNER(be)->ops->mkdir(INNER(be)->be, path, mode);
}

static int cb_rmdir(void *be, const char *path)
{
	MUT(be);
	return INNER(be)->ops->rmdir(INNER(be)->be, path);
}

static int cb_symlink(void *be, const char *target, const char *path)
{
	MUT(be);
	return INNER(be)->ops->symlink(INNER(be)->be, target, path);
}

static int cb_readlink(void *be, const char *path, char *buf, size_t cap)
{
	DEAD(be);
	return INNER(be)->ops->readlink(INNER(be)->be, path, buf, cap);
}

static int cb_lstat(void *be, const char *path, struct mfw_dfio_stat *st)
{
	DEAD(be);
	return INNER(be)->ops->lstat(INNER(be)->be, path, st);
}

static int cb_chmod(void *be, const char *path, uint32_t mode)
{
	MUT(be);
	return INNER(be)->ops->chmod(INNER(be)->be, path, mode);
}

static int cb_chown(void *be, const char *path, uint32_t uid, uint32_t gid)
{
	MUT(be);
	return INNER(be)->ops->chown(INNER(be)->be, path, uid, gid);
}

static int cb_fsync_path(void *be, const char *path)
{
	MUT(be);
	return INNER(be)->ops->fsync_path(INNER(be)->be, path);
}

static int cb_free_space(void *be, const char *path, uint64_t *bytes)
{
	struct cut_be *b = be;
	int r;

	DEAD(be);
	r = b->inner->ops->free_space(b->inner->be, path, bytes);
	/* the cache partition of a module is small; the host's disk is not */
	if (r == 0 && b->cache_limited && !strncmp(path, "/cache", 6) &&
	    (path[6] == 0 || path[6] == '/') && *bytes > b->cache_free)
		*bytes = b->cache_free;
	return r;
}

static int cb_list(void *be, const char *dir, mfw_dfio_list_fn fn, void *user)
{
	DEAD(be);
	return INNER(be)->ops->list(INNER(be)->be, dir, fn, user);
}

static void cb_destroy(void *be)
{
	struct cut_be *b = be;

	if (!b)
		return;
	mfw_dfio_free(b->inner);
	free(b);
}

static const struct mfw_dfio_ops cut_ops = {
	.open = cb_open,
	.pread = cb_pread,
	.pwrite = cb_pwrite,
	.fsync = cb_fsync,
	.ftruncate = cb_ftruncate,
	.close = cb_close,
	.rename = cb_rename,
	.unlink = cb_unlink,
	.mkdir = cb_mkdir,
	.rmdir = cb_rmdir,
	.symlink = cb_symlink,
	.readlink = cb_readlink,
	.lstat = cb_lstat,
	.chmod = cb_chmod,
	.chown = cb_chown,
	.fsync_path = cb_fsync_path,
	.free_space = cb_free_space,
	.list = cb_list,
	.destroy = cb_destroy,
};

int mfw_dfota_apply_faults(struct mfw_ctx *ctx, const char *package,
			   const struct mfw_dfota_apply_opts *opts,
			   const struct mfw_dfota_recovery_faults *faults, bool *power_lost,
			   uint64_t *ops, struct mfw_dfota_apply_result *res)
{
	struct mfw_dfota_pkg pkg = { .path = package };
	struct mfw_dfio *io;
	struct cut_be *b;
	int r;

	if (power_lost)
		*power_lost = false;
	if (!package || !opts || !opts->root || !opts->cache || !opts->partitions || !res)
		return mfw_fail(ctx, MFW_E_INVAL,
				"the recovery needs a package, a root, a cache and a partition directory");
	b = calloc(1, sizeof(*b));
	io = calloc(1, sizeof(*io));
	if (!b || !io) {
		r = mfw_fail(ctx, MFW_E_NOMEM, "no memory for the recovery");
		goto out_free;
	}
	r = mfw_dfio_posix_new(opts->root, opts->cache, opts->partitions, &b->inner);
	if (r < 0) {
		r = mfw_fail(ctx, r, "cannot open the module's file systems: %s", mfw_strerror(r));
		goto out_free;
	}
	if (faults) {
		b->cut_at = faults->cut_at_op;
		b->cache_limited = faults->cache_limited;
		b->cache_free = faults->cache_free;
	}
	io->ops = &cut_ops;
	io->be = b;
	r = mfw_dfota_apply_io(ctx, io, &pkg, opts, res);
	if (power_lost)
		*power_lost = b->cut;
	if (ops)
		*ops = b->ops;
	if (b->cut)
		r = mfw_fail(ctx, MFW_E_NODEV, "power lost at I/O operation %llu of the update",
			     (unsigned long long)b->ops);
	mfw_dfio_free(io);
	return r;

out_free:
	free(b);
	free(io);
	return r;
}
