/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * applypatch on the DFOTA I/O layer (semantics in applypatch.h). Files
 * and partitions are only ever streamed: the streaming BSDIFF40 applier
 * reads the old data by offset through a callback and writes the new data
 * in order, so memory does not grow with image sizes.
 */
#include "dfota/applypatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "util/hash.h"

#define IO_CHUNK (64 * 1024)

int mfw_ap_parse_sha1(const char *hex, uint8_t out[20])
{
	if (!hex || strlen(hex) != 40)
		return MFW_E_FORMAT;
	return mfw_hex_decode(hex, 40, out, 20) < 0 ? MFW_E_FORMAT : 0;
}

static bool part_name_ok(const char *s, size_t n)
{
	if (n == 0 || n >= 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return !(n <= 2 && s[0] == '.' && (n == 1 || s[1] == '.'));
}

int mfw_ap_parse_target(struct mfw_ctx *ctx, const char *spec, struct mfw_ap_target *t)
{
	const char *p, *q;
	size_t n;

	memset(t, 0, sizeof(*t));
	if (!strncmp(spec, "MTD:", 4) || !strncmp(spec, "EMMC:", 5)) {
		p = strchr(spec, ':') + 1;
		q = strchr(p, ':');
		n = q ? (size_t)(q - p) : strlen(p);
		if (!part_name_ok(p, n))
			return mfw_fail(ctx, MFW_E_FORMAT, "bad partition name in '%.80s'", spec);
		t->partition = true;
		memcpy(t->name, p, n);
		snprintf(t->path, sizeof(t->path), "%s/%s", MFW_DFIO_PART_DIR, t->name);
		while (q) {
			char num[24], hex[48];
			char *end;
			const char *s = q + 1, *c = strchr(s, ':');
			if (!c)
				return mfw_fail(ctx, MFW_E_FORMAT, "'%.80s': a size without a sha1", spec);
			if ((size_t)(c - s) >= sizeof(num) || c == s)
				return mfw_fail(ctx, MFW_E_FORMAT, "'%.80s': bad size", spec);
			memcpy(num, s, (size_t)(c - s));
			num[c - s] = 0;
			q = strchr(c + 1, ':');
			n = q ? (size_t)(q - c - 1) : strlen(c + 1);
			if (n >= sizeof(hex))
				return mfw_fail(ctx, MFW_E_FORMAT, "'%.80s': bad sha1", spec);
			memcpy(hex, c + 1, n);
			hex[n] = 0;
			if (t->ncand == MFW_AP_MAX_CANDIDATES)
				return mfw_fail(ctx, MFW_E_FORMAT, "'%.80s': more than %d sizes", spec,
						MFW_AP_MAX_CANDIDATES);
			t->size[t->ncand] = strtoull(num, &end, 10);
			if (*end || num[0] == '-' || mfw_ap_parse_sha1(hex, t->sha1[t->ncand]) < 0)
				return mfw_fail(ctx, MFW_E_FORMAT, "'%.80s': bad size or sha1", spec);
			t->ncand++;
		}
		if (!t->ncand)
			return mfw_fail(ctx, MFW_E_FORMAT, "'%.80s': no size:sha1 pair", spec);
		return 0;
	}
	if (spec[0] != '/' || strlen(spec) >= sizeof(t->path))
		return mfw_fail(ctx, MFW_E_FORMAT, "'%.80s' is neither an absolute path nor MTD:/EMMC:",
				spec);
	snprintf(t->path, sizeof(t->path), "%s", spec);
	return 0;
}

/* ---- hashing ---- */

int mfw_ap_file_sha1(struct mfw_dfio *io, const char *path, bool *found, uint8_t sha1[20],
		     uint64_t *size)
{
	uint8_t *buf;
	struct mfw_hash h;
	uint64_t off = 0;
	int fd, r;

	*found = false;
	r = mfw_dfio_open(io, path, MFW_DFIO_RDONLY, 0, &fd);
	if (r == MFW_E_NOENT || r == MFW_E_INVAL)
		return 0; /* missing, or a directory: nothing to match */
	if (r < 0)
		return r;
	buf = malloc(IO_CHUNK);
	if (!buf) {
		r = MFW_E_NOMEM;
		goto close_fd;
	}
	r = mfw_hash_init(&h, MFW_HASH_SHA1);
	if (r < 0)
		goto free_buf;
	for (;;) {
		size_t got = 0;
		r = mfw_dfio_pread(io, fd, buf, IO_CHUNK, off, &got);
		if (r < 0 || !got)
			break;
		mfw_hash_update(&h, buf, got);
		off += got;
	}
	if (r < 0) {
		mfw_hash_free(&h);
		goto free_buf;
	}
	r = mfw_hash_final(&h, sha1, 20);
	if (r >= 0) {
		r = 0;
		*found = true;
		if (size)
			*size = off;
	}
free_buf:
	free(buf);
close_fd:
	mfw_dfio_close(io, fd);
	return r;
}

/*
 * One pass over the first max(sizes) bytes, feeding one SHA-1 per
 * candidate up to its size. done[i] is false when the file is shorter.
 */
static int prefix_hashes(struct mfw_dfio *io, const char *path, const uint64_t *sizes, size_t n,
			 uint8_t (*out)[20], bool *done, bool *exists)
{
	struct mfw_hash h[MFW_AP_MAX_CANDIDATES];
	uint64_t off = 0, max = 0;
	uint8_t *buf = NULL;
	size_t i;
	int fd, r;

	*exists = false;
	memset(h, 0, sizeof(h));
	for (i = 0; i < n; i++) {
		done[i] = false;
		if (sizes[i] > max)
			max = sizes[i];
	}
	r = mfw_dfio_open(io, path, MFW_DFIO_RDONLY, 0, &fd);
	if (r == MFW_E_NOENT)
		return 0;
	if (r < 0)
		return r;
	*exists = true;
	buf = malloc(IO_CHUNK);
	if (!buf) {
		r = MFW_E_NOMEM;
		goto close_fd;
	}
	for (i = 0; i < n; i++) {
		r = mfw_hash_init(&h[i], MFW_HASH_SHA1);
		if (r < 0)
			goto free_hashes;
	}
	for (;;) {
		size_t got = 0, want = IO_CHUNK;
		if (max - off < want)
			want = (size_t)(max - off);
		for (i = 0; i < n; i++)
			if (sizes[i] == off && !done[i]) {
				r = mfw_hash_final(&h[i], out[i], 20);
				if (r < 0)
					goto free_hashes;
				done[i] = true;
			}
		if (!want)
			break;
		r = mfw_dfio_pread(io, fd, buf, want, off, &got);
		if (r < 0)
			goto free_hashes;
		if (!got)
			break;
		for (i = 0; i < n; i++) {
			if (done[i] || sizes[i] <= off)
				continue;
			uint64_t take = sizes[i] - off < got ? sizes[i] - off : got;
			mfw_hash_update(&h[i], buf, (size_t)take);
		}
		off += got;
	}
	r = 0;
free_hashes:
	for (i = 0; i < n; i++)
		mfw_hash_free(&h[i]);
	free(buf);
close_fd:
	mfw_dfio_close(io, fd);
	return r;
}

int mfw_ap_prefix_sha1(struct mfw_dfio *io, const char *path, uint64_t len, uint8_t sha1[20])
{
	bool done, exists;
	int r = prefix_hashes(io, path, &len, 1, (uint8_t(*)[20])sha1, &done, &exists);
	if (r < 0)
		return r;
	if (!exists)
		return MFW_E_NOENT;
	return done ? 0 : MFW_E_RANGE;
}

int mfw_ap_identify(struct mfw_ctx *ctx, struct mfw_dfio *io, const struct mfw_ap_target *t,
		    bool *found, uint8_t sha1[20], uint64_t *size)
{
	uint8_t got[MFW_AP_MAX_CANDIDATES][20];
	bool done[MFW_AP_MAX_CANDIDATES], exists;
	size_t order[MFW_AP_MAX_CANDIDATES];
	int r;

	(void)ctx;
	if (!t->partition)
		return mfw_ap_file_sha1(io, t->path, found, sha1, size);
	*found = false;
	r = prefix_hashes(io, t->path, t->size, t->ncand, got, done, &exists);
	if (r < 0 || !exists)
		return r;
	/* the AOSP loader tries sizes in increasing order */
	for (size_t i = 0; i < t->ncand; i++)
		order[i] = i;
	for (size_t i = 1; i < t->ncand; i++)
		for (size_t j = i; j > 0 && t->size[order[j]] < t->size[order[j - 1]]; j--) {
			size_t x = order[j];
			order[j] = order[j - 1];
			order[j - 1] = x;
		}
	for (size_t k = 0; k < t->ncand; k++) {
		size_t i = order[k];
		if (done[i] && !memcmp(got[i], t->sha1[i], 20)) {
			*found = true;
			memcpy(sha1, got[i], 20);
			if (size)
				*size = t->size[i];
			return 0;
		}
	}
	return 0;
}

static int find_sha1(const uint8_t sha1[20], const uint8_t (*list)[20], size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(sha1, list[i], 20))
			return (int)i;
	return -1;
}

int mfw_ap_check(struct mfw_ctx *ctx, struct mfw_dfio *io, const char *spec,
		 const uint8_t (*sha1s)[20], size_t n, bool *ok)
{
	struct mfw_ap_target t;
	uint8_t d[20];
	bool found;
	int r;

	*ok = false;
	r = mfw_ap_parse_target(ctx, spec, &t);
	if (r < 0)
		return r;
	r = mfw_ap_identify(ctx, io, &t, &found, d, NULL);
	if (r < 0)
		return r;
	if (found && (n == 0 || find_sha1(d, sha1s, n) >= 0)) {
		*ok = true;
		return 0;
	}
	if (n == 0 && t.partition) {
		/* "killed in the middle of patching": the copy of any listed image counts */
		sha1s = (const uint8_t(*)[20])t.sha1;
		n = t.ncand;
	}
	if (n == 0)
		return 0;
	r = mfw_ap_file_sha1(io, MFW_AP_CACHE_COPY, &found, d, NULL);
	if (r < 0)
		return r;
	*ok = found && find_sha1(d, sha1s, n) >= 0;
	return 0;
}

/* ---- streaming glue ---- */

struct old_src {
	struct mfw_dfio *io;
	int fd;
};

static int old_read(void *user, uint64_t off, void *buf, size_t len)
{
	struct old_src *o = user;
	size_t got = 0;
	int r = mfw_dfio_pread(o->io, o->fd, buf, len, off, &got);
	if (r < 0)
		return r;
	return got == len ? 0 : MFW_E_RANGE;
}

struct new_sink {
	struct mfw_dfio *io;
	int fd;
	uint64_t off;
	struct mfw_hash h;
};

static int new_write(void *user, const void *buf, size_t len)
{
	struct new_sink *s = user;
	int r = mfw_dfio_pwrite(s->io, s->fd, buf, len, s->off);
	if (r < 0)
		return r;
	mfw_hash_update(&s->h, buf, len);
	s->off += len;
	return 0;
}

/* Run one patch: old from old_fd, new into out_fd from offset 0; checks size and SHA-1. */
static int run_patch(struct mfw_ctx *ctx, struct mfw_dfio *io, int old_fd, uint64_t old_size,
		     const struct mfw_ap_patch *p, int out_fd, const uint8_t tgt_sha1[20],
		     uint64_t tgt_size, const char *what)
{
	struct old_src os = { .io = io, .fd = old_fd };
	struct mfw_delta_reader old = { .read = old_read, .size = old_size, .user = &os };
	struct new_sink ns = { .io = io, .fd = out_fd };
	struct mfw_delta_writer w = { .write = new_write, .user = &ns };
	struct mfw_delta_apply_opts ao = { .max_new_size = tgt_size };
	uint8_t d[20];
	char hex[41];
	int r;

	r = mfw_hash_init(&ns.h, MFW_HASH_SHA1);
	if (r < 0)
		return r;
	r = mfw_delta_apply_io(ctx, &old, &p->reader, &w, &ao, NULL);
	if (r < 0) {
		mfw_hash_free(&ns.h);
		char inner[256];
		if (r == MFW_DFIO_E_POWER)
			return r;
		snprintf(inner, sizeof(inner), "%s", ctx ? mfw_ctx_detail(ctx) : "");
		return mfw_fail(ctx, r, "patching '%s' failed: %s (%s)", what, inner, mfw_strerror(r));
	}
	r = mfw_hash_final(&ns.h, d, sizeof(d));
	if (r < 0)
		return r;
	if (ns.off != tgt_size || memcmp(d, tgt_sha1, 20)) {
		mfw_hex_encode(d, 20, hex);
		return mfw_fail(ctx, MFW_E_VERIFY,
				"patching '%s' gave %llu bytes with sha1 %s, not the expected target",
				what, (unsigned long long)ns.off, hex);
	}
	return 0;
}

/* Copy the first len bytes of src to dst durably (the cache copy). */
static int save_copy(struct mfw_ctx *ctx, struct mfw_dfio *io, const char *src, uint64_t len,
		     const char *dst, const uint8_t sha1[20])
{
	uint8_t *buf, d[20];
	uint64_t off = 0;
	int in, out, r;

	r = mfw_dfio_mkdirs_parent(io, dst, 0755);
	if (r < 0)
		return r;
	r = mfw_dfio_open(io, src, MFW_DFIO_RDONLY, 0, &in);
	if (r < 0)
		return r;
	r = mfw_dfio_open(io, dst, MFW_DFIO_WRITE | MFW_DFIO_TRUNC, 0600, &out);
	if (r < 0)
		goto close_in;
	buf = malloc(IO_CHUNK);
	if (!buf) {
		r = MFW_E_NOMEM;
		goto close_out;
	}
	while (off < len) {
		size_t got = 0, want = len - off < IO_CHUNK ? (size_t)(len - off) : IO_CHUNK;
		r = mfw_dfio_pread(io, in, buf, want, off, &got);
		if (r == 0 && got != want)
			r = MFW_E_RANGE;
		if (r == 0)
			r = mfw_dfio_pwrite(io, out, buf, got, off);
		if (r < 0)
			break;
		off += got;
	}
	free(buf);
	if (r == 0)
		r = mfw_dfio_fsync(io, out);
close_out:
	mfw_dfio_close(io, out);
close_in:
	mfw_dfio_close(io, in);
	if (r == 0)
		r = mfw_dfio_fsync_parent(io, dst);
	if (r < 0) {
		if (r == MFW_DFIO_E_POWER)
			return r;
		return mfw_fail_keep(ctx, r, "saving the source of '%s' to %s failed: %s", src, dst,
				     mfw_strerror(r));
	}
	/* the copy is the only source left once the partition is rewritten: read it back */
	r = mfw_ap_prefix_sha1(io, dst, len, d);
	if (r == 0 && memcmp(d, sha1, 20))
		r = MFW_E_VERIFY;
	if (r < 0 && r != MFW_DFIO_E_POWER)
		return mfw_fail(ctx, r, "the cache copy %s of '%s' does not read back: %s", dst, src,
				mfw_strerror(r));
	return r;
}

static int drop_cache_copy(struct mfw_dfio *io)
{
	int r = mfw_dfio_unlink(io, MFW_AP_CACHE_COPY);
	if (r == MFW_E_NOENT)
		return 0;
	if (r == 0)
		r = mfw_dfio_fsync_parent(io, MFW_AP_CACHE_COPY);
	return r;
}

static int match_patch(const uint8_t sha1[20], const struct mfw_ap_patch *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(sha1, p[i].src_sha1, 20))
			return (int)i;
	return -1;
}

/* Make a regular-file partition exactly size bytes long (block devices keep theirs). */
static int fit_partition(struct mfw_dfio *io, const char *path, int fd, uint64_t size)
{
	struct mfw_dfio_stat st;
	int r = mfw_dfio_lstat(io, path, &st);
	if (r < 0)
		return r;
	if (st.type == MFW_DFIO_REG && st.size > size)
		return mfw_dfio_ftruncate(io, fd, size);
	return 0;
}

static int apply_partition(struct mfw_ctx *ctx, struct mfw_dfio *io, struct mfw_ap_target *t,
			   const uint8_t tgt_sha1[20], uint64_t tgt_size,
			   const struct mfw_ap_patch *patches, size_t npatches,
			   enum mfw_ap_outcome *outcome)
{
	uint8_t cur[20];
	uint64_t cur_size = 0, src_size = 0;
	bool found, have_tgt = false;
	int k = -1, in = -1, fd = -1, r;

	for (size_t i = 0; i < t->ncand; i++)
		if (t->size[i] == tgt_size && !memcmp(t->sha1[i], tgt_sha1, 20))
			have_tgt = true;
	if (!have_tgt) {
		if (t->ncand == MFW_AP_MAX_CANDIDATES)
			return mfw_fail(ctx, MFW_E_FORMAT, "partition '%s': too many sizes", t->name);
		t->size[t->ncand] = tgt_size;
		memcpy(t->sha1[t->ncand++], tgt_sha1, 20);
	}
	r = mfw_ap_identify(ctx, io, t, &found, cur, &cur_size);
	if (r < 0)
		return r;
	if (found && cur_size == tgt_size && !memcmp(cur, tgt_sha1, 20)) {
		/* already the target; a cut may have come between the write and the trim */
		struct mfw_dfio_stat st;
		r = mfw_dfio_lstat(io, t->path, &st);
		if (r == 0 && st.type == MFW_DFIO_REG && st.size > tgt_size) {
			r = mfw_dfio_open(io, t->path, MFW_DFIO_WRITE, 0600, &fd);
			if (r < 0)
				return r;
			r = mfw_dfio_ftruncate(io, fd, tgt_size);
			if (r == 0)
				r = mfw_dfio_fsync(io, fd);
			mfw_dfio_close(io, fd);
		}
		*outcome = MFW_AP_ALREADY;
		return r;
	}
	if (found && (k = match_patch(cur, patches, npatches)) >= 0) {
		src_size = cur_size;
		r = save_copy(ctx, io, t->path, src_size, MFW_AP_CACHE_COPY, cur);
		if (r < 0)
			return r;
		*outcome = MFW_AP_PATCHED;
	} else {
		r = mfw_ap_file_sha1(io, MFW_AP_CACHE_COPY, &found, cur, &src_size);
		if (r < 0)
			return r;
		if (!found || (k = match_patch(cur, patches, npatches)) < 0)
			return mfw_fail(ctx, MFW_E_MISMATCH,
					"partition '%s' matches neither the source nor the target, and no cache copy of the source exists",
					t->name);
		*outcome = MFW_AP_FROM_CACHE;
	}
	/* stream the cache copy through the patch into the partition, in place */
	r = mfw_dfio_open(io, MFW_AP_CACHE_COPY, MFW_DFIO_RDONLY, 0, &in);
	if (r < 0)
		return r;
	r = mfw_dfio_open(io, t->path, MFW_DFIO_WRITE, 0600, &fd);
	if (r < 0)
		goto close_in;
	r = run_patch(ctx, io, in, src_size, &patches[k], fd, tgt_sha1, tgt_size, t->name);
	if (r == 0)
		r = fit_partition(io, t->path, fd, tgt_size);
	if (r == 0)
		r = mfw_dfio_fsync(io, fd);
	mfw_dfio_close(io, fd);
close_in:
	mfw_dfio_close(io, in);
	if (r < 0)
		return r == MFW_E_VERIFY ? r : mfw_fail_keep(ctx, r, "writing partition '%s' failed: %s",
							       t->name, mfw_strerror(r));
	/* read back what the medium holds before the source copy goes */
	r = mfw_ap_prefix_sha1(io, t->path, tgt_size, cur);
	if (r == 0 && memcmp(cur, tgt_sha1, 20))
		r = MFW_E_VERIFY;
	if (r < 0)
		return r == MFW_DFIO_E_POWER ? r :
		       mfw_fail(ctx, r, "partition '%s' does not read back as the target", t->name);
	return drop_cache_copy(io);
}

static int apply_file(struct mfw_ctx *ctx, struct mfw_dfio *io, const struct mfw_ap_target *t,
		      const char *tgt, const uint8_t tgt_sha1[20], uint64_t tgt_size,
		      const struct mfw_ap_patch *patches, size_t npatches,
		      enum mfw_ap_outcome *outcome)
{
	char tmp[MFW_DFIO_PATH_MAX];
	struct mfw_dfio_stat st = { .mode = 0644 };
	const char *from = t->path;
	uint8_t cur[20];
	uint64_t src_size = 0, sz = 0;
	bool found;
	int k = -1, in = -1, fd = -1, r;

	r = mfw_ap_file_sha1(io, tgt, &found, cur, &sz);
	if (r < 0)
		return r;
	if (found && sz == tgt_size && !memcmp(cur, tgt_sha1, 20)) {
		*outcome = MFW_AP_ALREADY;
		return 0;
	}
	r = mfw_ap_file_sha1(io, t->path, &found, cur, &src_size);
	if (r < 0)
		return r;
	if (found && (k = match_patch(cur, patches, npatches)) >= 0) {
		*outcome = MFW_AP_PATCHED;
		r = mfw_dfio_stat(io, t->path, &st);
		if (r < 0)
			return r;
	} else {
		r = mfw_ap_file_sha1(io, MFW_AP_CACHE_COPY, &found, cur, &src_size);
		if (r < 0)
			return r;
		if (!found || (k = match_patch(cur, patches, npatches)) < 0)
			return mfw_fail(ctx, MFW_E_MISMATCH,
					"'%s' has unexpected contents (neither source nor target) and no cache copy matches",
					t->path);
		from = MFW_AP_CACHE_COPY;
		*outcome = MFW_AP_FROM_CACHE;
		if (mfw_dfio_stat(io, tgt, &st) < 0)
			st = (struct mfw_dfio_stat){ .mode = 0644 };
	}
	if (snprintf(tmp, sizeof(tmp), "%s.patch", tgt) >= (int)sizeof(tmp))
		return MFW_E_RANGE;
	r = mfw_dfio_open(io, from, MFW_DFIO_RDONLY, 0, &in);
	if (r < 0)
		return r;
	r = mfw_dfio_open(io, tmp, MFW_DFIO_WRITE | MFW_DFIO_TRUNC, 0600, &fd);
	if (r < 0)
		goto close_in;
	r = run_patch(ctx, io, in, src_size, &patches[k], fd, tgt_sha1, tgt_size, tgt);
	/* the source's metadata, set before the one fsync that makes it all durable */
	if (r == 0)
		r = mfw_dfio_chown(io, tmp, st.uid, st.gid);
	if (r == 0)
		r = mfw_dfio_chmod(io, tmp, st.mode);
	if (r == 0)
		r = mfw_dfio_fsync(io, fd);
	mfw_dfio_close(io, fd);
close_in:
	mfw_dfio_close(io, in);
	if (r == 0)
		r = mfw_dfio_rename(io, tmp, tgt);
	if (r == 0)
		r = mfw_dfio_fsync_parent(io, tgt);
	if (r < 0) {
		if (r != MFW_DFIO_E_POWER && fd >= 0)
			mfw_dfio_unlink(io, tmp);
		return r == MFW_DFIO_E_POWER || r == MFW_E_VERIFY ? r :
		       mfw_fail_keep(ctx, r, "writing '%s' failed: %s", tgt, mfw_strerror(r));
	}
	if (*outcome == MFW_AP_FROM_CACHE)
		return drop_cache_copy(io);
	return 0;
}

int mfw_ap_apply(struct mfw_ctx *ctx, struct mfw_dfio *io, const char *src_spec,
		 const char *tgt_path, const uint8_t tgt_sha1[20], uint64_t tgt_size,
		 const struct mfw_ap_patch *patches, size_t npatches, enum mfw_ap_outcome *outcome)
{
	struct mfw_ap_target t;
	int r = mfw_ap_parse_target(ctx, src_spec, &t);
	if (r < 0)
		return r;
	if (t.partition) {
		if (tgt_path && strcmp(tgt_path, src_spec))
			return mfw_fail(ctx, MFW_E_UNSUPPORTED,
					"patching partition '%s' into another target is not supported",
					t.name);
		return apply_partition(ctx, io, &t, tgt_sha1, tgt_size, patches, npatches, outcome);
	}
	return apply_file(ctx, io, &t, tgt_path ? tgt_path : t.path, tgt_sha1, tgt_size, patches,
			  npatches, outcome);
}
