/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DFOTA I/O front end (path resolution inside the namespace, helpers) and
 * the POSIX backend. The simulated backend is in upd-sim.c.
 */
#include "dfota/dfio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/hash.h"

/* Symlinks followed while resolving one path (Linux uses 40 too). */
#define MAX_LINKS 40
#define TREE_MAX_DEPTH 64

/* ---- resolution ---- */

static bool is_part_path(const char *p)
{
	size_t n = strlen(MFW_DFIO_PART_DIR);
	return !strncmp(p, MFW_DFIO_PART_DIR, n) && (p[n] == '/' || p[n] == 0);
}

int mfw_dfio_resolve(struct mfw_dfio *io, const char *path, bool follow_last, char *out,
		     size_t cap)
{
	char bufa[MFW_DFIO_PATH_MAX * 2], bufb[MFW_DFIO_PATH_MAX * 2];
	char cur[MFW_DFIO_PATH_MAX], tgt[MFW_DFIO_PATH_MAX];
	char *rest = bufa, *spare = bufb, *p;
	size_t clen = 0;
	unsigned links = 0;
	bool via_link = false;

	if (!path || path[0] != '/')
		return MFW_E_INVAL;
	if (strlen(path) >= sizeof(bufa))
		return MFW_E_RANGE;
	strcpy(rest, path);
	cur[0] = 0;
	p = rest;
	for (;;) {
		struct mfw_dfio_stat st;
		char *e, *q;
		size_t n;
		bool last;
		int r;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchr(p, '/');
		n = e ? (size_t)(e - p) : strlen(p);
		q = p + n;
		while (*q == '/')
			q++;
		last = !*q;
		if (n == 1 && p[0] == '.') {
			p = q;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (clen == 0)
				return MFW_E_RANGE; /* would leave the root */
			while (clen > 0 && cur[clen - 1] != '/')
				clen--;
			if (clen > 0)
				clen--;
			cur[clen] = 0;
			p = q;
			continue;
		}
		if (clen + 1 + n >= sizeof(cur))
			return MFW_E_RANGE;
		cur[clen++] = '/';
		memcpy(cur + clen, p, n);
		clen += n;
		cur[clen] = 0;
		p = q;
		if (last && !follow_last)
			continue;
		r = io->ops->lstat(io->be, cur, &st);
		if (r < 0 || st.type != MFW_DFIO_LNK)
			continue;
		if (++links > MAX_LINKS)
			return MFW_E_RANGE;
		r = io->ops->readlink(io->be, cur, tgt, sizeof(tgt));
		if (r < 0)
			return r;
		/* drop the link itself; an absolute target restarts at the root */
		while (clen > 0 && cur[clen - 1] != '/')
			clen--;
		if (clen > 0)
			clen--;
		if (tgt[0] == '/')
			clen = 0;
		cur[clen] = 0;
		{
			size_t tl = strlen(tgt), pl = strlen(p);
			if (tl + 1 + pl >= sizeof(bufa))
				return MFW_E_RANGE;
			memmove(spare + tl + 1, p, pl + 1);
			memcpy(spare, tgt, tl);
			spare[tl] = '/';
		}
		rest = spare;
		spare = (rest == bufa) ? bufb : bufa;
		p = rest;
		via_link = true;
	}
	if (clen == 0) {
		cur[0] = '/';
		cur[1] = 0;
		clen = 1;
	}
	if (via_link && is_part_path(cur))
		return MFW_E_RANGE;
	if (clen >= cap)
		return MFW_E_RANGE;
	memcpy(out, cur, clen + 1);
	return 0;
}

/* ---- front end ---- */

#define RESOLVE(io, path, follow, buf)                                              \
	do {                                                                        \
		int r_ = mfw_dfio_resolve((io), (path), (follow), (buf), sizeof(buf)); \
		if (r_ < 0)                                                         \
			return r_;                                                  \
	} while (0)

int mfw_dfio_open(struct mfw_dfio *io, const char *path, int flags, uint32_t mode, int *fd)
{
	char c[MFW_DFIO_PATH_MAX];
	RESOLVE(io, path, true, c);
	return io->ops->open(io->be, c, flags, mode, fd);
}

int mfw_dfio_pread(struct mfw_dfio *io, int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
	return io->ops->pread(io->be, fd, buf, len, off, got);
}

int mfw_dfio_pwrite(struct mfw_dfio *io, int fd, const void *buf, size_t len, uint64_t off)
{
	return io->ops->pwrite(io->be, fd, buf, len, off);
}

int mfw_dfio_fsync(struct mfw_dfio *io, int fd)
{
	return io->ops->fsync(io->be, fd);
}

int mfw_dfio_ftruncate(struct mfw_dfio *io, int fd, uint64_t size)
{
	return io->ops->ftruncate(io->be, fd, size);
}

int mfw_dfio_close(struct mfw_dfio *io, int fd)
{
	return io->ops->close(io->be, fd);
}

int mfw_dfio_rename(struct mfw_dfio *io, const char *from, const char *to)
{
	char a[MFW_DFIO_PATH_MAX], b[MFW_DFIO_PATH_MAX];
	RESOLVE(io, from, false, a);
	RESOLVE(io, to, false, b);
	return io->ops->rename(io->be, a, b);
}

int mfw_dfio_unlink(struct mfw_dfio *io, const char *path)
{
	char c[MFW_DFIO_PATH_MAX];
	RESOLVE(io, path, false, c);
	return io->ops->unlink(io->be, c);
}

int mfw_dfio_mkdir(struct mfw_dfio *io, const char *path, uint32_t mode)
{
	char c[MFW_DFIO_PATH_MAX];
	RESOLVE(io, path, false, c);
	return io->ops->mkdir(io->be, c, mode);
}

int mfw_dfio_rmdir(struct mfw_dfio *io, const char *path)
{
	char c[MFW_DFIO_PATH_MAX];
	RESOLVE(io, path, false, c);
	return io->ops->rmdir(io->be, c);
}

int mfw_dfio_symlink(struct mfw_dfio *io, const char *target, const char *path)
{
	char c[MFW_DFIO_PATH_MAX];
	RESOLVE(io, path, false, c);
	return io->ops->symlink(io->be, target, c);
}

int mfw_dfio_readlink(struct mfw_dfio *io, const char *path, char *buf, size_t cap)
{
	char c[MFW_DFIO_PATH_MAX];
	RESOLVE(io, path, false, c);
	return io->ops->readlink(io->be, c, buf, cap);
}

int mfw_dfio_lstat(struct mfw_dfio *io, const char *path, struct mfw_dfio_stat *st)
{
	char c[MFW_DFIO_PATH_MAX];
	RESOLVE(io, path, false, c);
	return io->ops->lstat(io->be, c, st);
}

int mfw_dfio_stat(struct mfw_dfio *io, const char *path, struct mfw_dfio_stat *st)
{
	char c[MFW_DFIO_PATH_MAX];
	RESOLVE(io, path, true, c);
	return io->ops->lstat(io->be, c, st);
}

int mfw_dfio_chmod(struct mfw_dfio *io, const char *path, uint32_t mode)
{
	char c[MFW_DFIO_PATH_MAX];
	RESOLVE(io, path, false, c);
	return io->ops->chmod(io->be, c, mode);
}

int mfw_dfio_chown(struct mfw_dfio *io, const char *path, uint32_t uid, uint32_t gid)
{
	char c[MFW_DFIO_PATH_MAX];
	RESOLVE(io, path, false, c);
	return io->ops->chown(io->be, c, uid, gid);
}

int mfw_dfio_fsync_path(struct mfw_dfio *io, const char *path)
{
	char c[MFW_DFIO_PATH_MAX];
	RESOLVE(io, path, false, c);
	return io->ops->fsync_path(io->be, c);
}

int mfw_dfio_free_space(struct mfw_dfio *io, const char *path, uint64_t *bytes)
{
	char c[MFW_DFIO_PATH_MAX];
	RESOLVE(io, path, true, c);
	return io->ops->free_space(io->be, c, bytes);
}

int mfw_dfio_list(struct mfw_dfio *io, const char *dir, mfw_dfio_list_fn fn, void *user)
{
	char c[MFW_DFIO_PATH_MAX];
	RESOLVE(io, dir, true, c);
	return io->ops->list(io->be, c, fn, user);
}

void mfw_dfio_free(struct mfw_dfio *io)
{
	if (!io)
		return;
	io->ops->destroy(io->be);
	free(io);
}

/* ---- helpers ---- */

static void parent_of(const char *path, char *out, size_t cap)
{
	const char *s = strrchr(path, '/');
	size_t n = s ? (size_t)(s - path) : 0;
	if (n == 0 || n >= cap) {
		snprintf(out, cap, "/");
		return;
	}
	memcpy(out, path, n);
	out[n] = 0;
}

int mfw_dfio_fsync_parent(struct mfw_dfio *io, const char *path)
{
	char c[MFW_DFIO_PATH_MAX], dir[MFW_DFIO_PATH_MAX];
	RESOLVE(io, path, false, c);
	parent_of(c, dir, sizeof(dir));
	return io->ops->fsync_path(io->be, dir);
}

int mfw_dfio_mkdirs_parent(struct mfw_dfio *io, const char *path, uint32_t mode)
{
	char c[MFW_DFIO_PATH_MAX], dir[MFW_DFIO_PATH_MAX];
	size_t i, n;

	RESOLVE(io, path, false, c);
	parent_of(c, dir, sizeof(dir));
	n = strlen(dir);
	for (i = 1; i <= n; i++) {
		struct mfw_dfio_stat st;
		char save;
		int r;

		if (dir[i] != '/' && dir[i] != 0)
			continue;
		save = dir[i];
		dir[i] = 0;
		r = mfw_dfio_stat(io, dir, &st);
		if (r == MFW_E_NOENT) {
			r = mfw_dfio_mkdir(io, dir, mode);
			if (r == 0)
				r = mfw_dfio_fsync_parent(io, dir);
		} else if (r == 0 && st.type != MFW_DFIO_DIR) {
			r = MFW_E_EXIST;
		}
		dir[i] = save;
		if (r < 0)
			return r;
	}
	return 0;
}

int mfw_dfio_read_small(struct mfw_dfio *io, const char *path, char *buf, size_t cap, size_t *len)
{
	size_t got = 0;
	char extra;
	int fd, r;

	r = mfw_dfio_open(io, path, MFW_DFIO_RDONLY, 0, &fd);
	if (r < 0)
		return r;
	r = mfw_dfio_pread(io, fd, buf, cap - 1, 0, &got);
	if (r == 0 && got == cap - 1) {
		size_t more = 0;
		r = mfw_dfio_pread(io, fd, &extra, 1, got, &more);
		if (r == 0 && more)
			r = MFW_E_RANGE;
	}
	mfw_dfio_close(io, fd);
	if (r < 0)
		return r;
	buf[got] = 0;
	if (len)
		*len = got;
	return 0;
}

int mfw_dfio_write_small(struct mfw_dfio *io, const char *path, const void *data, size_t len)
{
	char tmp[MFW_DFIO_PATH_MAX];
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return MFW_E_RANGE;
	r = mfw_dfio_open(io, tmp, MFW_DFIO_WRITE | MFW_DFIO_TRUNC, 0644, &fd);
	if (r < 0)
		return r;
	r = mfw_dfio_pwrite(io, fd, data, len, 0);
	if (r == 0)
		r = mfw_dfio_fsync(io, fd);
	if (r < 0) {
		mfw_dfio_close(io, fd);
		return r;
	}
	r = mfw_dfio_close(io, fd);
	if (r == 0)
		r = mfw_dfio_rename(io, tmp, path);
	if (r == 0)
		r = mfw_dfio_fsync_parent(io, path);
	return r;
}

/* ---- tree digest ---- */

struct names {
	char **v;
	size_t n, cap;
};

static int names_add(void *user, const char *name)
{
	struct names *ns = user;
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 16;
		char **v = realloc(ns->v, cap * sizeof(*v));
		if (!v)
			return MFW_E_NOMEM;
		ns->v = v;
		ns->cap = cap;
	}
	ns->v[ns->n] = strdup(name);
	if (!ns->v[ns->n])
		return MFW_E_NOMEM;
	ns->n++;
	return 0;
}

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct digest_walk {
	struct mfw_dfio *io;
	struct mfw_hash h;
	const char *const *skip;
	size_t base_len;
	void (*line)(void *user, const char *text);
	void *user;
};

static int file_sha1(struct mfw_dfio *io, const char *path, char hex[41])
{
	uint8_t buf[16384], d[20];
	struct mfw_hash h;
	uint64_t off = 0;
	int fd, r;

	r = mfw_dfio_open(io, path, MFW_DFIO_RDONLY, 0, &fd);
	if (r < 0)
		return r;
	r = mfw_hash_init(&h, MFW_HASH_SHA1);
	if (r < 0)
		goto close_fd;
	for (;;) {
		size_t got = 0;
		r = mfw_dfio_pread(io, fd, buf, sizeof(buf), off, &got);
		if (r < 0 || !got)
			break;
		mfw_hash_update(&h, buf, got);
		off += got;
	}
	if (r < 0) {
		mfw_hash_free(&h);
		goto close_fd;
	}
	r = mfw_hash_final(&h, d, sizeof(d));
	if (r >= 0) {
		mfw_hex_encode(d, 20, hex);
		r = 0;
	}
close_fd:
	mfw_dfio_close(io, fd);
	return r;
}

static bool skipped(const struct digest_walk *w, const char *rel)
{
	for (const char *const *s = w->skip; s && *s; s++)
		if (!strcmp(*s, rel))
			return true;
	return false;
}

static int walk(struct digest_walk *w, const char *dir, unsigned depth)
{
	struct names ns = { 0 };
	int r;

	if (depth > TREE_MAX_DEPTH)
		return MFW_E_RANGE;
	r = mfw_dfio_list(w->io, dir, names_add, &ns);
	if (r < 0)
		goto free_names;
	if (ns.n > 1)
		qsort(ns.v, ns.n, sizeof(*ns.v), cmp_name);
	for (size_t i = 0; i < ns.n && r == 0; i++) {
		char path[MFW_DFIO_PATH_MAX], content[MFW_DFIO_PATH_MAX], text[MFW_DFIO_PATH_MAX * 3];
		struct mfw_dfio_stat st;
		const char *rel;

		if (snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") ? dir : "", ns.v[i]) >=
		    (int)sizeof(path)) {
			r = MFW_E_RANGE;
			break;
		}
		rel = path + w->base_len;
		while (*rel == '/')
			rel++;
		if (skipped(w, rel))
			continue;
		r = mfw_dfio_lstat(w->io, path, &st);
		if (r < 0)
			break;
		content[0] = 0;
		if (st.type == MFW_DFIO_REG)
			r = file_sha1(w->io, path, content);
		else if (st.type == MFW_DFIO_LNK)
			r = mfw_dfio_readlink(w->io, path, content, sizeof(content));
		if (r < 0)
			break;
		snprintf(text, sizeof(text), "%s %c %04o %u %u %s", rel,
			 "-fdlo"[st.type], st.type == MFW_DFIO_LNK ? 0777 : st.mode, st.uid, st.gid,
			 content);
		mfw_hash_update(&w->h, text, strlen(text) + 1);
		if (w->line)
			w->line(w->user, text);
		if (st.type == MFW_DFIO_DIR)
			r = walk(w, path, depth + 1);
	}
free_names:
	names_free(&ns);
	return r;
}

int mfw_dfio_tree_digest(struct mfw_dfio *io, const char *dir, const char *const *skip,
			 uint8_t out[32], void (*line)(void *user, const char *text), void *user)
{
	struct digest_walk w = { .io = io, .skip = skip, .line = line, .user = user };
	char c[MFW_DFIO_PATH_MAX];
	int r;

	RESOLVE(io, dir, true, c);
	w.base_len = strcmp(c, "/") ? strlen(c) : 0;
	r = mfw_hash_init(&w.h, MFW_HASH_SHA256);
	if (r < 0)
		return r;
	r = walk(&w, c, 0);
	if (r < 0) {
		mfw_hash_free(&w.h);
		return r;
	}
	r = mfw_hash_final(&w.h, out, 32);
	return r < 0 ? r : 0;
}

/* ---- POSIX backend ---- */

struct posix_be {
	char *root, *cache, *parts;
};

static int err_of(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return MFW_E_NOENT;
	case EEXIST:
	case ENOTEMPTY:
		return MFW_E_EXIST;
	case ENOSPC:
	case EDQUOT:
		return MFW_E_NOSPC;
	case ENOMEM:
		return MFW_E_NOMEM;
	case ENAMETOOLONG:
	case ELOOP:
		return MFW_E_RANGE;
	case EINVAL:
		return MFW_E_INVAL;
	default:
		return MFW_E_IO;
	}
}

static int host_path(struct posix_be *b, const char *p, char *out, size_t cap)
{
	const char *base = b->root, *rest = p;
	size_t n = strlen(MFW_DFIO_PART_DIR);

	if (!strncmp(p, "/cache", 6) && (p[6] == '/' || p[6] == 0)) {
		base = b->cache;
		rest = p + 6;
	} else if (!strncmp(p, MFW_DFIO_PART_DIR, n) && (p[n] == '/' || p[n] == 0)) {
		base = b->parts;
		rest = p + n;
	}
	if (!strcmp(rest, "/"))
		rest = "";
	if (snprintf(out, cap, "%s%s", base, rest) >= (int)cap)
		return MFW_E_RANGE;
	return 0;
}

#define HOST(b, p, buf)                                                \
	do {                                                           \
		int r_ = host_path((b), (p), (buf), sizeof(buf));      \
		if (r_ < 0)                                            \
			return r_;                                     \
	} while (0)

static int px_open(void *be, const char *path, int flags, uint32_t mode, int *fd)
{
	char h[MFW_DFIO_PATH_MAX * 2];
	int of = O_CLOEXEC;
	HOST(be, path, h);
	if (flags & MFW_DFIO_WRITE)
		of |= O_RDWR | O_CREAT | O_NOFOLLOW | ((flags & MFW_DFIO_TRUNC) ? O_TRUNC : 0);
	else
		of |= O_RDONLY;
	*fd = open(h, of, (mode_t)mode);
	return *fd < 0 ? err_of(errno) : 0;
}

static int px_pread(void *be, int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
	size_t done = 0;
	(void)be;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_of(errno);
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*got = done;
	return 0;
}

static int px_pwrite(void *be, int fd, const void *buf, size_t len, uint64_t off)
{
	int r = mfw_pwrite_all(fd, buf, len, off);
	(void)be;
	return r == MFW_E_IO ? err_of(errno) : r;
}

static int px_fsync(void *be, int fd)
{
	(void)be;
	return fsync(fd) < 0 ? err_of(errno) : 0;
}

static int px_ftruncate(void *be, int fd, uint64_t size)
{
	(void)be;
	return ftruncate(fd, (off_t)size) < 0 ? err_of(errno) : 0;
}

static int px_close(void *be, int fd)
{
	(void)be;
	return close(fd) < 0 ? err_of(errno) : 0;
}

static int px_rename(void *be, const char *from, const char *to)
{
	char a[MFW_DFIO_PATH_MAX * 2], b[MFW_DFIO_PATH_MAX * 2];
	HOST(be, from, a);
	HOST(be, to, b);
	return rename(a, b) < 0 ? err_of(errno) : 0;
}

static int px_unlink(void *be, const char *path)
{
	char h[MFW_DFIO_PATH_MAX * 2];
	HOST(be, path, h);
	return unlink(h) < 0 ? err_of(errno) : 0;
}

static int px_mkdir(void *be, const char *path, uint32_t mode)
{
	char h[MFW_DFIO_PATH_MAX * 2];
	HOST(be, path, h);
	return mkdir(h, (mode_t)mode) < 0 ? err_of(errno) : 0;
}

static int px_rmdir(void *be, const char *path)
{
	char h[MFW_DFIO_PATH_MAX * 2];
	HOST(be, path, h);
	return rmdir(h) < 0 ? err_of(errno) : 0;
}

static int px_symlink(void *be, const char *target, const char *path)
{
	char h[MFW_DFIO_PATH_MAX * 2];
	HOST(be, path, h);
	return symlink(target, h) < 0 ? err_of(errno) : 0;
}

static int px_readlink(void *be, const char *path, char *buf, size_t cap)
{
	char h[MFW_DFIO_PATH_MAX * 2];
	ssize_t n;
	HOST(be, path, h);
	n = readlink(h, buf, cap);
	if (n < 0)
		return err_of(errno);
	if ((size_t)n >= cap)
		return MFW_E_RANGE;
	buf[n] = 0;
	return 0;
}

static int px_lstat(void *be, const char *path, struct mfw_dfio_stat *st)
{
	char h[MFW_DFIO_PATH_MAX * 2];
	struct stat s;
	HOST(be, path, h);
	if (lstat(h, &s) < 0)
		return err_of(errno);
	st->type = S_ISREG(s.st_mode) ? MFW_DFIO_REG : S_ISDIR(s.st_mode) ? MFW_DFIO_DIR :
		   S_ISLNK(s.st_mode) ? MFW_DFIO_LNK : MFW_DFIO_OTHER;
	st->mode = s.st_mode & 07777;
	st->uid = s.st_uid;
	st->gid = s.st_gid;
	st->size = (uint64_t)s.st_size;
	return 0;
}

static int px_chmod(void *be, const char *path, uint32_t mode)
{
	char h[MFW_DFIO_PATH_MAX * 2];
	struct stat s;
	HOST(be, path, h);
	if (lstat(h, &s) < 0)
		return err_of(errno);
	if (S_ISLNK(s.st_mode))
		return 0; /* Linux links have no mode of their own */
	return chmod(h, (mode_t)mode) < 0 ? err_of(errno) : 0;
}

static int px_chown(void *be, const char *path, uint32_t uid, uint32_t gid)
{
	char h[MFW_DFIO_PATH_MAX * 2];
	HOST(be, path, h);
	if (geteuid() != 0)
		return 0; /* ownership needs root; the modes still apply */
	return lchown(h, uid, gid) < 0 ? err_of(errno) : 0;
}

static int px_fsync_path(void *be, const char *path)
{
	char h[MFW_DFIO_PATH_MAX * 2];
	int fd, r = 0;
	HOST(be, path, h);
	fd = open(h, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ELOOP) {
		/* a symlink cannot be opened: sync the filesystem that holds it */
		char *s = strrchr(h, '/');
		if (s)
			*s = 0;
		fd = open(*h ? h : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return err_of(errno);
		if (syncfs(fd) < 0)
			r = err_of(errno);
		close(fd);
		return r;
	}
	if (fd < 0)
		return err_of(errno);
	if (fsync(fd) < 0 && errno != EINVAL)
		r = err_of(errno);
	close(fd);
	return r;
}

static int px_free_space(void *be, const char *path, uint64_t *bytes)
{
	char h[MFW_DFIO_PATH_MAX * 2];
	struct statvfs v;
	HOST(be, path, h);
	if (statvfs(h, &v) < 0)
		return err_of(errno);
	*bytes = (uint64_t)v.f_bavail * v.f_frsize;
	return 0;
}

static int px_list(void *be, const char *dir, mfw_dfio_list_fn fn, void *user)
{
	char h[MFW_DFIO_PATH_MAX * 2];
	struct dirent *de;
	DIR *d;
	int r = 0;
	HOST(be, dir, h);
	d = opendir(h);
	if (!d)
		return err_of(errno);
	while ((de = readdir(d)) && r == 0) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r = fn(user, de->d_name);
	}
	closedir(d);
	return r;
}

static void px_destroy(void *be)
{
	struct posix_be *b = be;
	if (!b)
		return;
	free(b->root);
	free(b->cache);
	free(b->parts);
	free(b);
}

static const struct mfw_dfio_ops posix_ops = {
	.open = px_open,
	.pread = px_pread,
	.pwrite = px_pwrite,
	.fsync = px_fsync,
	.ftruncate = px_ftruncate,
	.close = px_close,
	.rename = px_rename,
	.unlink = px_unlink,
	.mkdir = px_mkdir,
	.rmdir = px_rmdir,
	.symlink = px_symlink,
	.readlink = px_readlink,
	.lstat = px_lstat,
	.chmod = px_chmod,
	.chown = px_chown,
	.fsync_path = px_fsync_path,
	.free_space = px_free_space,
	.list = px_list,
	.destroy = px_destroy,
};

static char *strip_slash(const char *s)
{
	char *d = strdup(s);
	size_t n;
	if (!d)
		return NULL;
	n = strlen(d);
	while (n > 1 && d[n - 1] == '/')
		d[--n] = 0;
	return d;
}

int mfw_dfio_posix_new(const char *root, const char *cache, const char *parts,
		       struct mfw_dfio **out)
{
	struct posix_be *b;
	struct mfw_dfio *io;

	if (!root || !cache || !parts)
		return MFW_E_INVAL;
	b = calloc(1, sizeof(*b));
	io = calloc(1, sizeof(*io));
	if (!b || !io)
		goto free_all;
	b->root = strip_slash(root);
	b->cache = strip_slash(cache);
	b->parts = strip_slash(parts);
	if (!b->root || !b->cache || !b->parts)
		goto free_all;
	io->ops = &posix_ops;
	io->be = b;
	*out = io;
	return 0;
free_all:
	px_destroy(b);
	free(io);
	return MFW_E_NOMEM;
}
