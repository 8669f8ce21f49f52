/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * File-backed flash. The image file holds the data area only (no spare/OOB
 * bytes): sector N at byte N * sector size, so a test can compare image
 * bytes with what it flashed. I/O is pread/pwrite in large batches.
 */
#include "emu-internal.h"
#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Sidecar line recording that erased pages of this image are holes (they read 0xFF). */
#define SPARSE_MARK "# erased pages are holes"

/* Largest single pread/pwrite: big enough to stream, small enough for the stack of buffers. */
#define FILL_CHUNK (1u << 20)

bool emu_all_bytes(const void *buf, size_t len, uint8_t value)
{
	const uint8_t *p = buf;
	uint64_t pat;
	size_t i = 0;

	memset(&pat, value, sizeof(pat));
	/* word compare: erased checks run over every programmed page */
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		if (w != pat)
			return false;
	}
	for (; i < len; i++)
		if (p[i] != value)
			return false;
	return true;
}

/* Sparse-erased NAND: the holes in [off, off + len) read as erased 0xFF. */
static int fill_holes(struct emu_store *st, uint64_t off, uint8_t *buf, size_t len)
{
	uint64_t pos = off, end = off + len;

	while (pos < end) {
		off_t h = lseek(st->fd, (off_t)pos, SEEK_HOLE), d;

		if (h < 0)
			return MFW_E_IO;
		if ((uint64_t)h >= end)
			break;
		d = lseek(st->fd, h, SEEK_DATA);
		if (d < 0) {
			if (errno != ENXIO)
				return MFW_E_IO;
			d = (off_t)end; /* a hole up to the end of the file */
		}
		if ((uint64_t)d > end)
			d = (off_t)end;
		memset(buf + ((uint64_t)h - off), 0xFF, (size_t)((uint64_t)d - (uint64_t)h));
		pos = (uint64_t)d;
	}
	return 0;
}

int emu_store_read(struct emu_store *st, uint64_t off, void *buf, size_t len)
{
	uint8_t *p = buf;
	uint64_t off0 = off;
	size_t len0 = len;

	if (off > st->size || len > st->size - off)
		return MFW_E_RANGE;
	while (len) {
		ssize_t n = pread(st->fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return MFW_E_IO;
		}
		if (n == 0) {
			/* past the end of a short file: reads as a hole */
			memset(p, 0, len);
			break;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return st->sparse_erased ? fill_holes(st, off0, buf, len0) : 0;
}

int emu_store_write(struct emu_store *st, uint64_t off, const void *buf, size_t len)
{
	if (off > st->size || len > st->size - off)
		return MFW_E_RANGE;
	return mfw_pwrite_all(st->fd, buf, len, off);
}

int emu_store_fill(struct emu_store *st, uint64_t off, uint64_t len, uint8_t value)
{
	uint8_t *buf;
	int r = 0;

	if (off > st->size || len > st->size - off)
		return MFW_E_RANGE;
	if (!len)
		return 0;
	/*
	 * Holes cost no disk: a 4 GiB eMMC erase leaves a sparse file. In a
	 * sparse-erased NAND a hole means 0xFF instead, and only whole file
	 * system blocks can be holes.
	 */
	if (st->sparse_erased ? value == 0xFF && off % 4096 == 0 && len % 4096 == 0 : value == 0) {
		if (fallocate(st->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			      (off_t)len) == 0)
			return 0;
		/* no hole punching here: real bytes read the same */
	}
	buf = malloc(FILL_CHUNK);
	if (!buf)
		return MFW_E_NOMEM;
	memset(buf, value, FILL_CHUNK);
	while (len && r == 0) {
		size_t n = len > FILL_CHUNK ? FILL_CHUNK : (size_t)len;
		r = emu_store_write(st, off, buf, n);
		off += n;
		len -= n;
	}
	free(buf);
	return r;
}

int emu_store_flush(struct emu_store *st)
{
	if (st->fd < 0)
		return 0;
	if (fsync(st->fd) < 0 && errno != EINVAL && errno != EROFS)
		return MFW_E_IO;
	return 0;
}

bool emu_store_is_bad(const struct emu_store *st, uint64_t block)
{
	if (!st->nand || !st->bad || block >= st->nblocks)
		return false;
	return st->bad[block / 8] & (1u << (block % 8));
}

static int set_bad(struct mfw_ctx *ctx, struct emu_store *st, uint64_t block)
{
	if (block >= st->nblocks)
		return mfw_fail(ctx, MFW_E_RANGE, "bad block %" PRIu64 " is past the last block %u",
				block, st->nblocks - 1);
	st->bad[block / 8] |= (uint8_t)(1u << (block % 8));
	return 0;
}

/* Sidecar "IMAGE.badblocks": one decimal block number per line; '#' starts a comment. */
static int load_sidecar(struct mfw_ctx *ctx, struct emu_store *st)
{
	char line[64];
	FILE *f;
	int r = 0;

	f = fopen(st->bb_path, "r");
	if (!f)
		return errno == ENOENT ? 0 : mfw_fail(ctx, MFW_E_IO, "cannot read '%s': %s",
						      st->bb_path, strerror(errno));
	while (r == 0 && fgets(line, sizeof(line), f)) {
		char *end;
		unsigned long long v;
		char *s = line;
		while (*s == ' ' || *s == '\t')
			s++;
		if (!strncmp(s, SPARSE_MARK, strlen(SPARSE_MARK)))
			st->sparse_erased = true;
		if (*s == '#' || *s == '\n' || *s == '\0')
			continue;
		errno = 0;
		v = strtoull(s, &end, 10);
		if (errno || end == s || (*end != '\n' && *end != '\0' && *end != ' ')) {
			r = mfw_fail(ctx, MFW_E_FORMAT, "'%s': not a block number: %s", st->bb_path,
				     line);
			break;
		}
		r = set_bad(ctx, st, v);
	}
	fclose(f);
	return r;
}

static int save_sidecar(struct emu_store *st)
{
	char *tmp;
	FILE *f;
	int r = 0;

	if (!st->bb_path)
		return 0;
	if (asprintf(&tmp, "%s.tmp", st->bb_path) < 0)
		return MFW_E_NOMEM;
	f = fopen(tmp, "w");
	if (!f) {
		r = MFW_E_IO;
		goto out_free_tmp;
	}
	fprintf(f, "# bad blocks of the virtual modem image (block numbers)\n");
	if (st->sparse_erased)
		fprintf(f, "%s\n", SPARSE_MARK);
	for (uint32_t b = 0; b < st->nblocks; b++)
		if (emu_store_is_bad(st, b))
			fprintf(f, "%u\n", b);
	if (fclose(f) != 0 || rename(tmp, st->bb_path) != 0)
		r = MFW_E_IO;
out_free_tmp:
	free(tmp);
	return r;
}

int emu_store_mark_bad(struct emu_store *st, uint32_t block)
{
	int r;

	if (!st->nand)
		return MFW_E_UNSUPPORTED;
	if (block >= st->nblocks)
		return MFW_E_RANGE;
	if (emu_store_is_bad(st, block))
		return 0;
	st->bad[block / 8] |= (uint8_t)(1u << (block % 8));
	r = save_sidecar(st);
	if (r < 0)
		return r;
	/* our bad-block marking: a bad block reads as all 0x00 (docs/emulator.md) */
	return emu_store_fill(st, (uint64_t)block * st->block, st->block, 0x00);
}

static int open_anonymous(struct mfw_ctx *ctx)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
#endif
	snprintf(path, sizeof(path), "%s/modemfw-emu-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0)
		return mfw_fail(ctx, MFW_E_IO, "cannot create a temporary image in '%s': %s", dir,
				strerror(errno));
	unlink(path);
	return fd;
}

static int check_geometry(struct mfw_ctx *ctx, const struct mfw_emu_config *cfg)
{
	if (cfg->storage == MFW_EMU_NAND) {
		if (cfg->page_size < 512 || cfg->page_size > 65536 ||
		    (cfg->page_size & (cfg->page_size - 1)))
			return mfw_fail(ctx, MFW_E_INVAL, "page size %u is not a power of two in 512..65536",
					cfg->page_size);
		if (cfg->block_size < cfg->page_size || cfg->block_size % cfg->page_size ||
		    cfg->block_size / cfg->page_size > 4096)
			return mfw_fail(ctx, MFW_E_INVAL,
					"block size %u is not a multiple of the page size %u",
					cfg->block_size, cfg->page_size);
		if (!cfg->size || cfg->size % cfg->block_size)
			return mfw_fail(ctx, MFW_E_INVAL,
					"size %" PRIu64 " is not a whole number of %u-byte blocks",
					cfg->size, cfg->block_size);
		if (cfg->size / cfg->block_size > UINT32_MAX)
			return mfw_fail(ctx, MFW_E_INVAL, "too many blocks");
	} else {
		if (cfg->sector_size != 512 && cfg->sector_size != 4096)
			return mfw_fail(ctx, MFW_E_INVAL, "sector size %u is neither 512 nor 4096",
					cfg->sector_size);
		if (!cfg->size || cfg->size % cfg->sector_size)
			return mfw_fail(ctx, MFW_E_INVAL,
					"size %" PRIu64 " is not a whole number of %u-byte sectors",
					cfg->size, cfg->sector_size);
	}
	return 0;
}

int emu_store_open(struct mfw_ctx *ctx, const struct mfw_emu_config *cfg, struct emu_store *st,
		   bool *created)
{
	struct stat sb;
	int r;

	memset(st, 0, sizeof(*st));
	st->fd = -1;
	*created = false;
	r = check_geometry(ctx, cfg);
	if (r < 0)
		return r;
	st->nand = cfg->storage == MFW_EMU_NAND;
	st->size = cfg->size;
	if (st->nand) {
		st->sector = cfg->page_size;
		st->block = cfg->block_size;
		st->ppb = cfg->block_size / cfg->page_size;
		st->nblocks = (uint32_t)(cfg->size / cfg->block_size);
		st->erased = 0xFF;
		st->bad = calloc((st->nblocks + 7) / 8, 1);
		if (!st->bad)
			return MFW_E_NOMEM;
	} else {
		st->sector = cfg->sector_size;
		st->block = cfg->sector_size;
		st->ppb = 1;
		st->nblocks = 0;
		st->erased = 0x00;
	}
	st->nsectors = cfg->size / st->sector;

	if (cfg->image_path) {
		st->fd = open(cfg->image_path, O_RDWR | O_CLOEXEC);
		if (st->fd < 0 && errno == ENOENT) {
			st->fd = open(cfg->image_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			*created = st->fd >= 0;
		}
		if (st->fd < 0) {
			r = mfw_fail(ctx, errno == EACCES ? MFW_E_BUSY : MFW_E_IO,
				     "cannot open image '%s': %s", cfg->image_path, strerror(errno));
			goto out_free_bad;
		}
		if (st->nand && asprintf(&st->bb_path, "%s.badblocks", cfg->image_path) < 0) {
			r = MFW_E_NOMEM;
			goto out_close_fd;
		}
	} else {
		r = open_anonymous(ctx);
		if (r < 0)
			goto out_free_bad;
		st->fd = r;
		*created = true;
	}
	if (fstat(st->fd, &sb) < 0) {
		r = mfw_fail(ctx, MFW_E_IO, "cannot stat the image: %s", strerror(errno));
		goto out_free_path;
	}
	if (!*created && (uint64_t)sb.st_size != cfg->size) {
		r = mfw_fail(ctx, MFW_E_MISMATCH,
			     "image '%s' is %" PRIu64 " bytes, the device is %" PRIu64 " bytes",
			     cfg->image_path, (uint64_t)sb.st_size, cfg->size);
		goto out_free_path;
	}
	if (*created && ftruncate(st->fd, (off_t)cfg->size) < 0) {
		r = mfw_fail(ctx, errno == ENOSPC || errno == EFBIG ? MFW_E_NOSPC : MFW_E_IO,
			     "cannot size the image to %" PRIu64 " bytes: %s", cfg->size,
			     strerror(errno));
		goto out_unlink;
	}

	if (st->nand) {
		for (size_t i = 0; i < cfg->n_bad_blocks; i++) {
			r = set_bad(ctx, st, cfg->bad_blocks[i]);
			if (r < 0)
				goto out_unlink;
		}
		if (st->bb_path && !*created) {
			r = load_sidecar(ctx, st);
			if (r < 0)
				goto out_free_path;
		}
		if (*created && (cfg->sparse_erased || !cfg->image_path)) {
			/* the file system must report holes, or erased pages would read 0x00 */
			errno = 0;
			if (lseek(st->fd, 0, SEEK_DATA) < 0 && errno == ENXIO)
				st->sparse_erased = true;
		} else if (!*created && cfg->sparse_erased) {
			st->sparse_erased = true;
		}
		if (*created) {
			/* a new chip: every page erased, bad blocks marked */
			r = st->sparse_erased ? 0 : emu_store_fill(st, 0, st->size, 0xFF);
			for (uint32_t b = 0; r == 0 && b < st->nblocks; b++)
				if (emu_store_is_bad(st, b))
					r = emu_store_fill(st, (uint64_t)b * st->block, st->block, 0x00);
			if (r == 0)
				r = save_sidecar(st);
			if (r < 0) {
				r = mfw_fail(ctx, r, "cannot write the erased image: %s", mfw_strerror(r));
				goto out_unlink;
			}
		} else if (cfg->n_bad_blocks) {
			/* factory bad blocks given again on an existing image: keep the sidecar complete */
			r = save_sidecar(st);
			if (r < 0)
				goto out_free_path;
		}
	}
	return 0;

out_unlink:
	if (*created && cfg->image_path)
		unlink(cfg->image_path);
out_free_path:
	free(st->bb_path);
	st->bb_path = NULL;
out_close_fd:
	close(st->fd);
	st->fd = -1;
out_free_bad:
	free(st->bad);
	st->bad = NULL;
	return r;
}

void emu_store_close(struct emu_store *st)
{
	if (st->fd >= 0)
		close(st->fd);
	st->fd = -1;
	free(st->bad);
	st->bad = NULL;
	free(st->bb_path);
	st->bb_path = NULL;
}

/* ---- NAND page cursor ---- */

static void skip_bad(const struct emu_store *st, struct emu_nand_cursor *c)
{
	while (!c->linear && c->page < c->end && emu_store_is_bad(st, c->page / st->ppb))
		c->page = (c->page / st->ppb + 1) * st->ppb;
}

int emu_nand_cursor_init(const struct emu_store *st, struct emu_nand_cursor *c, uint64_t win_start,
			 uint64_t win_end, uint64_t logical, bool linear)
{
	c->page = win_start;
	c->end = win_end > st->nsectors ? st->nsectors : win_end;
	c->linear = linear || !st->nand;
	if (c->linear) {
		c->page = win_start + logical;
		return c->page <= c->end ? 0 : MFW_E_NOSPC;
	}
	skip_bad(st, c);
	while (logical) {
		uint64_t in_block = st->ppb - c->page % st->ppb;
		uint64_t step = in_block < logical ? in_block : logical;
		if (c->page >= c->end)
			return MFW_E_NOSPC;
		c->page += step;
		logical -= step;
		if (c->page % st->ppb == 0)
			skip_bad(st, c);
	}
	skip_bad(st, c);
	return c->page <= c->end ? 0 : MFW_E_NOSPC;
}

uint64_t emu_nand_cursor_run(const struct emu_store *st, struct emu_nand_cursor *c, uint64_t max,
			     uint64_t *phys)
{
	uint64_t n;

	skip_bad(st, c);
	if (c->page >= c->end)
		return 0;
	*phys = c->page;
	if (c->linear)
		n = c->end - c->page;
	else
		n = st->ppb - c->page % st->ppb;
	if (n > c->end - c->page)
		n = c->end - c->page;
	if (n > max)
		n = max;
	c->page += n;
	return n;
}
