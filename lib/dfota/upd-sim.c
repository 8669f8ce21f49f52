/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Simulated power-cut backend for the DFOTA I/O layer (model in dfio.h).
 * Every inode keeps two states: v (volatile, what the running system sees)
 * and d (durable, what a power cut leaves). fsync copies v to d for one
 * inode; a power cycle copies d back to v for all of them. Directory
 * entries live in the directory inode, so a rename or unlink is only
 * durable once the directory itself was synced.
 */
#include "dfota/dfio.h"

#include <stdlib.h>
#include <string.h>

#define NO_INO UINT32_MAX
#define MAX_DEPTH 64

struct dent {
	char *name;
	uint32_t ino;
};

struct state {
	enum mfw_dfio_type type;
	uint32_t mode, uid, gid;
	uint8_t *data;       /* REG */
	size_t size, cap;
	char *link;          /* LNK */
	struct dent *ents;   /* DIR */
	size_t nents, ecap;
};

struct inode {
	bool used;
	bool in_cache;       /* created below /cache: counts against the quota */
	struct state v, d;
};

struct sfile {
	bool used;
	uint32_t ino;
	char *path;
};

struct sim {
	struct inode *ino;
	size_t nino, icap;
	struct sfile *fds;
	size_t nfds;
	uint64_t ops, cut_at;
	bool dead, cut_happened;
	/* the last write that is not yet covered by an fsync of its inode */
	struct {
		bool valid;
		uint32_t ino;
		uint64_t off;
		uint8_t *buf;
		size_t len, cap;
	} last;
	char *eio_path;
	unsigned eio_ops, eio_count;
	uint64_t quota;
};

/* ---- state helpers ---- */

static void state_free(struct state *s)
{
	free(s->data);
	free(s->link);
	for (size_t i = 0; i < s->nents; i++)
		free(s->ents[i].name);
	free(s->ents);
	memset(s, 0, sizeof(*s));
}

static int state_copy(struct state *dst, const struct state *src)
{
	struct state n = *src;
	n.data = NULL;
	n.link = NULL;
	n.ents = NULL;
	n.cap = n.ecap = 0;
	if (src->size) {
		n.data = malloc(src->size);
		if (!n.data)
			goto fail;
		memcpy(n.data, src->data, src->size);
		n.cap = src->size;
	}
	if (src->link && !(n.link = strdup(src->link)))
		goto fail;
	if (src->nents) {
		n.ents = calloc(src->nents, sizeof(*n.ents));
		if (!n.ents)
			goto fail;
		n.ecap = src->nents;
		for (size_t i = 0; i < src->nents; i++) {
			n.ents[i].ino = src->ents[i].ino;
			n.ents[i].name = strdup(src->ents[i].name);
			if (!n.ents[i].name) {
				n.nents = i;
				goto fail;
			}
		}
	}
	state_free(dst);
	*dst = n;
	return 0;
fail:
	state_free(&n);
	return MFW_E_NOMEM;
}

static int data_write(struct state *s, uint64_t off, const void *buf, size_t len)
{
	uint64_t end = off + len;
	if (end > SIZE_MAX / 2)
		return MFW_E_NOSPC;
	if (end > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		uint8_t *p;
		while (cap < end)
			cap *= 2;
		p = realloc(s->data, cap);
		if (!p)
			return MFW_E_NOMEM;
		s->data = p;
		s->cap = cap;
	}
	if (off > s->size)
		memset(s->data + s->size, 0, (size_t)off - s->size);
	memcpy(s->data + off, buf, len);
	if (end > s->size)
		s->size = (size_t)end;
	return 0;
}

/* ---- lookup ---- */

static struct dent *dir_find(struct state *dir, const char *name, size_t n)
{
	for (size_t i = 0; i < dir->nents; i++)
		if (strlen(dir->ents[i].name) == n && !memcmp(dir->ents[i].name, name, n))
			return &dir->ents[i];
	return NULL;
}

/* Walk a canonical path; *parent gets the containing directory (NO_INO for "/"). */
static int lookup(struct sim *s, const char *path, uint32_t *ino, uint32_t *parent,
		  const char **base)
{
	uint32_t cur = 0, par = NO_INO;
	const char *p = path, *last = "";

	if (parent)
		*parent = NO_INO;
	while (*p == '/')
		p++;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		struct dent *de;
		if (cur == NO_INO || s->ino[cur].v.type != MFW_DFIO_DIR) {
			*ino = NO_INO;
			return MFW_E_NOENT;
		}
		par = cur;
		last = p;
		de = dir_find(&s->ino[cur].v, p, n);
		cur = de ? de->ino : NO_INO;
		p += n;
		while (*p == '/')
			p++;
		if (cur == NO_INO && *p) {
			*ino = NO_INO;
			return MFW_E_NOENT;
		}
	}
	*ino = cur;
	if (parent)
		*parent = par;
	if (base)
		*base = last;
	return cur == NO_INO ? MFW_E_NOENT : 0;
}

static int new_inode(struct sim *s, enum mfw_dfio_type type, uint32_t mode, bool in_cache,
		     uint32_t *out)
{
	struct inode *in;
	if (s->nino == s->icap) {
		size_t cap = s->icap ? s->icap * 2 : 64;
		struct inode *p = realloc(s->ino, cap * sizeof(*p));
		if (!p)
			return MFW_E_NOMEM;
		memset(p + s->icap, 0, (cap - s->icap) * sizeof(*p));
		s->ino = p;
		s->icap = cap;
	}
	in = &s->ino[s->nino];
	memset(in, 0, sizeof(*in));
	in->used = true;
	in->in_cache = in_cache;
	in->v.type = in->d.type = type;
	in->v.mode = in->d.mode = mode & 07777;
	*out = (uint32_t)s->nino++;
	return 0;
}

static int dir_add(struct state *dir, const char *name, uint32_t ino)
{
	if (dir->nents == dir->ecap) {
		size_t cap = dir->ecap ? dir->ecap * 2 : 8;
		struct dent *p = realloc(dir->ents, cap * sizeof(*p));
		if (!p)
			return MFW_E_NOMEM;
		dir->ents = p;
		dir->ecap = cap;
	}
	dir->ents[dir->nents].name = strdup(name);
	if (!dir->ents[dir->nents].name)
		return MFW_E_NOMEM;
	dir->ents[dir->nents++].ino = ino;
	return 0;
}

static void dir_del(struct state *dir, struct dent *de)
{
	size_t i = (size_t)(de - dir->ents);
	free(de->name);
	memmove(dir->ents + i, dir->ents + i + 1, (dir->nents - i - 1) * sizeof(*de));
	dir->nents--;
}

static bool in_cache_path(const char *p)
{
	return !strncmp(p, "/cache/", 7);
}

/* ---- counting, faults ---- */

static int tick(struct sim *s)
{
	if (s->dead)
		return MFW_DFIO_E_POWER;
	s->ops++;
	if (s->cut_at && s->ops >= s->cut_at) {
		s->dead = true;
		s->cut_happened = true;
		return MFW_DFIO_E_POWER;
	}
	return 0;
}

static struct sfile *get_fd(struct sim *s, int fd)
{
	if (fd < 0 || (size_t)fd >= s->nfds || !s->fds[fd].used)
		return NULL;
	return &s->fds[fd];
}

static bool eio_hit(struct sim *s, struct sfile *f, unsigned op)
{
	if (!s->eio_count || !(s->eio_ops & op) || !s->eio_path || strcmp(s->eio_path, f->path))
		return false;
	s->eio_count--;
	return true;
}

static uint64_t tree_bytes(struct sim *s, uint32_t ino, unsigned depth)
{
	struct state *st = &s->ino[ino].v;
	uint64_t sum = 0;
	if (st->type == MFW_DFIO_REG)
		return st->size;
	if (st->type != MFW_DFIO_DIR || depth > MAX_DEPTH)
		return 0;
	for (size_t i = 0; i < st->nents; i++)
		sum += tree_bytes(s, st->ents[i].ino, depth + 1);
	return sum;
}

static uint64_t cache_used(struct sim *s)
{
	uint32_t ino;
	if (lookup(s, "/cache", &ino, NULL, NULL) < 0)
		return 0;
	return tree_bytes(s, ino, 0);
}

static void remember_write(struct sim *s, uint32_t ino, uint64_t off, const void *buf, size_t len)
{
	if (len > s->last.cap) {
		uint8_t *p = realloc(s->last.buf, len);
		if (!p) {
			s->last.valid = false;
			return;
		}
		s->last.buf = p;
		s->last.cap = len;
	}
	memcpy(s->last.buf, buf, len);
	s->last.valid = true;
	s->last.ino = ino;
	s->last.off = off;
	s->last.len = len;
}

/* ---- ops ---- */

static int sim_open(void *be, const char *path, int flags, uint32_t mode, int *fd)
{
	struct sim *s = be;
	uint32_t ino, par;
	const char *base;
	size_t i;
	int r;

	if (s->dead)
		return MFW_DFIO_E_POWER;
	r = lookup(s, path, &ino, &par, &base);
	if (flags & MFW_DFIO_WRITE) {
		if (r < 0 && (par == NO_INO || ino != NO_INO))
			return r;
		r = tick(s);
		if (r < 0)
			return r;
		if (ino == NO_INO) {
			r = new_inode(s, MFW_DFIO_REG, mode, in_cache_path(path), &ino);
			if (r < 0)
				return r;
			r = dir_add(&s->ino[par].v, base, ino);
			if (r < 0)
				return r;
		} else if (s->ino[ino].v.type != MFW_DFIO_REG) {
			return MFW_E_INVAL;
		} else if (flags & MFW_DFIO_TRUNC) {
			s->ino[ino].v.size = 0;
		}
	} else {
		if (r < 0)
			return r;
		if (s->ino[ino].v.type != MFW_DFIO_REG)
			return MFW_E_INVAL;
	}
	for (i = 0; i < s->nfds; i++)
		if (!s->fds[i].used)
			break;
	if (i == s->nfds) {
		size_t n = s->nfds ? s->nfds * 2 : 16;
		struct sfile *p = realloc(s->fds, n * sizeof(*p));
		if (!p)
			return MFW_E_NOMEM;
		memset(p + s->nfds, 0, (n - s->nfds) * sizeof(*p));
		s->fds = p;
		s->nfds = n;
	}
	s->fds[i].path = strdup(path);
	if (!s->fds[i].path)
		return MFW_E_NOMEM;
	s->fds[i].used = true;
	s->fds[i].ino = ino;
	*fd = (int)i;
	return 0;
}

static int sim_pread(void *be, int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
	struct sim *s = be;
	struct sfile *f = get_fd(s, fd);
	struct state *st;
	if (s->dead)
		return MFW_DFIO_E_POWER;
	if (!f)
		return MFW_E_INVAL;
	if (eio_hit(s, f, MFW_DFIO_FAULT_READ))
		return MFW_E_IO;
	st = &s->ino[f->ino].v;
	*got = 0;
	if (off < st->size) {
		size_t n = st->size - (size_t)off;
		*got = n < len ? n : len;
		memcpy(buf, st->data + off, *got);
	}
	return 0;
}

static int sim_pwrite(void *be, int fd, const void *buf, size_t len, uint64_t off)
{
	struct sim *s = be;
	struct sfile *f = get_fd(s, fd);
	struct inode *in;
	int r;

	if (s->dead)
		return MFW_DFIO_E_POWER;
	if (!f)
		return MFW_E_INVAL;
	in = &s->ino[f->ino];
	r = tick(s);
	if (r < 0) {
		/* the interrupted write: the power cycle decides how much of it landed */
		remember_write(s, f->ino, off, buf, len);
		return r;
	}
	if (eio_hit(s, f, MFW_DFIO_FAULT_WRITE))
		return MFW_E_IO;
	if (s->quota && in->in_cache && off + len > in->v.size &&
	    cache_used(s) + (off + len - in->v.size) > s->quota)
		return MFW_E_NOSPC;
	r = data_write(&in->v, off, buf, len);
	if (r == 0)
		remember_write(s, f->ino, off, buf, len);
	return r;
}

static int sync_ino(struct sim *s, uint32_t ino)
{
	int r = state_copy(&s->ino[ino].d, &s->ino[ino].v);
	if (r == 0 && s->last.valid && s->last.ino == ino)
		s->last.valid = false;
	return r;
}

static int sim_fsync(void *be, int fd)
{
	struct sim *s = be;
	struct sfile *f = get_fd(s, fd);
	int r;
	if (s->dead)
		return MFW_DFIO_E_POWER;
	if (!f)
		return MFW_E_INVAL;
	r = tick(s);
	if (r < 0)
		return r;
	if (eio_hit(s, f, MFW_DFIO_FAULT_FSYNC))
		return MFW_E_IO;
	return sync_ino(s, f->ino);
}

static int sim_ftruncate(void *be, int fd, uint64_t size)
{
	struct sim *s = be;
	struct sfile *f = get_fd(s, fd);
	struct state *st;
	int r;
	if (s->dead)
		return MFW_DFIO_E_POWER;
	if (!f)
		return MFW_E_INVAL;
	r = tick(s);
	if (r < 0)
		return r;
	st = &s->ino[f->ino].v;
	if (size > st->size) {
		uint8_t z = 0;
		return data_write(st, size - 1, &z, 1);
	}
	st->size = (size_t)size;
	return 0;
}

static int sim_close(void *be, int fd)
{
	struct sim *s = be;
	struct sfile *f = get_fd(s, fd);
	if (!f)
		return MFW_E_INVAL;
	free(f->path);
	f->path = NULL;
	f->used = false;
	return 0;
}

/* Entry ops: look up the parent directory of a path that must be new or exist. */
static int parent_dir(struct sim *s, const char *path, uint32_t *ino, uint32_t *par,
		      const char **base)
{
	int r = lookup(s, path, ino, par, base);
	if (*par == NO_INO)
		return r < 0 ? r : MFW_E_INVAL; /* "/" itself, or a missing directory */
	return 0;
}

static int sim_rename(void *be, const char *from, const char *to)
{
	struct sim *s = be;
	uint32_t fi, fp, ti, tp;
	const char *fb, *tb;
	struct dent *de;
	int r;

	if (s->dead)
		return MFW_DFIO_E_POWER;
	r = lookup(s, from, &fi, &fp, &fb);
	if (r < 0)
		return r;
	if (fp == NO_INO)
		return MFW_E_INVAL;
	r = parent_dir(s, to, &ti, &tp, &tb);
	if (r < 0)
		return r;
	if (ti == fi)
		return tick(s);
	if (ti != NO_INO && s->ino[ti].v.type == MFW_DFIO_DIR &&
	    (s->ino[fi].v.type != MFW_DFIO_DIR || s->ino[ti].v.nents))
		return MFW_E_EXIST;
	r = tick(s);
	if (r < 0)
		return r;
	if (ti != NO_INO) {
		de = dir_find(&s->ino[tp].v, tb, strlen(tb));
		dir_del(&s->ino[tp].v, de);
	}
	r = dir_add(&s->ino[tp].v, tb, fi);
	if (r < 0)
		return r;
	de = dir_find(&s->ino[fp].v, fb, strlen(fb));
	/* fb points into `from`, which stays valid; the new entry has its own copy */
	if (de && !(fp == tp && !strcmp(fb, tb)))
		dir_del(&s->ino[fp].v, de);
	return 0;
}

static int sim_remove(struct sim *s, const char *path, bool dir)
{
	uint32_t ino, par;
	const char *base;
	int r;

	if (s->dead)
		return MFW_DFIO_E_POWER;
	r = lookup(s, path, &ino, &par, &base);
	if (r < 0)
		return r;
	if (par == NO_INO)
		return MFW_E_INVAL;
	if (dir && s->ino[ino].v.type != MFW_DFIO_DIR)
		return MFW_E_INVAL;
	if (!dir && s->ino[ino].v.type == MFW_DFIO_DIR)
		return MFW_E_INVAL;
	if (dir && s->ino[ino].v.nents)
		return MFW_E_EXIST;
	r = tick(s);
	if (r < 0)
		return r;
	dir_del(&s->ino[par].v, dir_find(&s->ino[par].v, base, strlen(base)));
	return 0;
}

static int sim_unlink(void *be, const char *path)
{
	return sim_remove(be, path, false);
}

static int sim_rmdir(void *be, const char *path)
{
	return sim_remove(be, path, true);
}

static int sim_create(struct sim *s, const char *path, enum mfw_dfio_type type, uint32_t mode,
		      const char *target)
{
	uint32_t ino, par;
	const char *base;
	int r;

	if (s->dead)
		return MFW_DFIO_E_POWER;
	r = parent_dir(s, path, &ino, &par, &base);
	if (r < 0)
		return r;
	if (ino != NO_INO)
		return MFW_E_EXIST;
	r = tick(s);
	if (r < 0)
		return r;
	r = new_inode(s, type, mode, in_cache_path(path), &ino);
	if (r < 0)
		return r;
	if (target) {
		/* a symlink's target is written with its inode: durable with it */
		s->ino[ino].v.link = strdup(target);
		s->ino[ino].d.link = strdup(target);
		if (!s->ino[ino].v.link || !s->ino[ino].d.link)
			return MFW_E_NOMEM;
	}
	return dir_add(&s->ino[par].v, base, ino);
}

static int sim_mkdir(void *be, const char *path, uint32_t mode)
{
	return sim_create(be, path, MFW_DFIO_DIR, mode, NULL);
}

static int sim_symlink(void *be, const char *target, const char *path)
{
	return sim_create(be, path, MFW_DFIO_LNK, 0777, target);
}

/*
 * The start every operation on an existing path shares: no power, no answer;
 * the path must exist; a mutating operation is one cut point (tick).
 */
static int path_op(struct sim *s, const char *path, bool mutating, uint32_t *ino)
{
	int r;

	if (s->dead)
		return MFW_DFIO_E_POWER;
	r = lookup(s, path, ino, NULL, NULL);
	if (r < 0)
		return r;
	return mutating ? tick(s) : 0;
}

static int sim_readlink(void *be, const char *path, char *buf, size_t cap)
{
	struct sim *s = be;
	uint32_t ino;
	int r;
	r = path_op(s, path, false, &ino);
	if (r < 0)
		return r;
	if (s->ino[ino].v.type != MFW_DFIO_LNK)
		return MFW_E_INVAL;
	if (strlen(s->ino[ino].v.link) >= cap)
		return MFW_E_RANGE;
	strcpy(buf, s->ino[ino].v.link);
	return 0;
}

static int sim_lstat(void *be, const char *path, struct mfw_dfio_stat *st)
{
	struct sim *s = be;
	struct state *v;
	uint32_t ino;
	int r;
	r = path_op(s, path, false, &ino);
	if (r < 0)
		return r;
	v = &s->ino[ino].v;
	st->type = v->type;
	st->mode = v->mode;
	st->uid = v->uid;
	st->gid = v->gid;
	st->size = v->type == MFW_DFIO_LNK ? strlen(v->link) : v->size;
	return 0;
}

static int sim_chmod(void *be, const char *path, uint32_t mode)
{
	struct sim *s = be;
	uint32_t ino;
	int r;
	r = path_op(s, path, true, &ino);
	if (r < 0)
		return r;
	if (s->ino[ino].v.type != MFW_DFIO_LNK)
		s->ino[ino].v.mode = mode & 07777;
	return 0;
}

static int sim_chown(void *be, const char *path, uint32_t uid, uint32_t gid)
{
	struct sim *s = be;
	uint32_t ino;
	int r;
	r = path_op(s, path, true, &ino);
	if (r < 0)
		return r;
	s->ino[ino].v.uid = uid;
	s->ino[ino].v.gid = gid;
	return 0;
}

static int sim_fsync_path(void *be, const char *path)
{
	struct sim *s = be;
	uint32_t ino;
	int r;
	r = path_op(s, path, true, &ino);
	if (r < 0)
		return r;
	return sync_ino(s, ino);
}

static int sim_free_space(void *be, const char *path, uint64_t *bytes)
{
	struct sim *s = be;
	if (s->dead)
		return MFW_DFIO_E_POWER;
	if (s->quota && (!strcmp(path, "/cache") || in_cache_path(path))) {
		uint64_t used = cache_used(s);
		*bytes = used >= s->quota ? 0 : s->quota - used;
	} else {
		*bytes = (uint64_t)1 << 40;
	}
	return 0;
}

static int sim_list(void *be, const char *dir, mfw_dfio_list_fn fn, void *user)
{
	struct sim *s = be;
	uint32_t ino;
	struct state *v;
	int r;
	r = path_op(s, dir, false, &ino);
	if (r < 0)
		return r;
	v = &s->ino[ino].v;
	if (v->type != MFW_DFIO_DIR)
		return MFW_E_INVAL;
	for (size_t i = 0; i < v->nents; i++) {
		r = fn(user, v->ents[i].name);
		if (r < 0)
			return r;
	}
	return 0;
}

static void close_all(struct sim *s)
{
	for (size_t i = 0; i < s->nfds; i++)
		if (s->fds[i].used)
			sim_close(s, (int)i);
}

static void sim_destroy(void *be)
{
	struct sim *s = be;
	if (!s)
		return;
	close_all(s);
	for (size_t i = 0; i < s->nino; i++) {
		state_free(&s->ino[i].v);
		state_free(&s->ino[i].d);
	}
	free(s->ino);
	free(s->fds);
	free(s->last.buf);
	free(s->eio_path);
	free(s);
}

static const struct mfw_dfio_ops sim_ops = {
	.open = sim_open,
	.pread = sim_pread,
	.pwrite = sim_pwrite,
	.fsync = sim_fsync,
	.ftruncate = sim_ftruncate,
	.close = sim_close,
	.rename = sim_rename,
	.unlink = sim_unlink,
	.mkdir = sim_mkdir,
	.rmdir = sim_rmdir,
	.symlink = sim_symlink,
	.readlink = sim_readlink,
	.lstat = sim_lstat,
	.chmod = sim_chmod,
	.chown = sim_chown,
	.fsync_path = sim_fsync_path,
	.free_space = sim_free_space,
	.list = sim_list,
	.destroy = sim_destroy,
};

static struct sim *sim_of(const struct mfw_dfio *io)
{
	return io->ops == &sim_ops ? io->be : NULL;
}

int mfw_dfio_sim_new(struct mfw_dfio **out)
{
	struct mfw_dfio *io = calloc(1, sizeof(*io));
	struct sim *s = calloc(1, sizeof(*s));
	uint32_t root;

	if (!io || !s || new_inode(s, MFW_DFIO_DIR, 0755, false, &root) < 0) {
		free(io);
		sim_destroy(s);
		return MFW_E_NOMEM;
	}
	io->ops = &sim_ops;
	io->be = s;
	*out = io;
	return 0;
}

int mfw_dfio_sim_clone(struct mfw_dfio *io, struct mfw_dfio **out)
{
	struct sim *src = sim_of(io), *s;
	struct mfw_dfio *n;
	int r;

	if (!src)
		return MFW_E_INVAL;
	r = mfw_dfio_sim_new(&n);
	if (r < 0)
		return r;
	s = n->be;
	s->quota = src->quota;
	free(s->ino);
	s->ino = calloc(src->nino ? src->nino : 1, sizeof(*s->ino));
	s->nino = s->icap = 0;
	if (!s->ino)
		goto fail;
	s->icap = src->nino ? src->nino : 1;
	for (size_t i = 0; i < src->nino; i++) {
		s->ino[i].used = src->ino[i].used;
		s->ino[i].in_cache = src->ino[i].in_cache;
		s->nino = i + 1;
		if (state_copy(&s->ino[i].v, &src->ino[i].v) < 0 ||
		    state_copy(&s->ino[i].d, &src->ino[i].d) < 0)
			goto fail;
	}
	if (src->last.valid) {
		/* the pending unsynced write goes along: a clone can be torn like the original */
		remember_write(s, src->last.ino, src->last.off, src->last.buf, src->last.len);
		s->last.valid = s->last.buf != NULL;
	}
	*out = n;
	return 0;
fail:
	mfw_dfio_free(n);
	return MFW_E_NOMEM;
}

void mfw_dfio_sim_set_cut(struct mfw_dfio *io, uint64_t n)
{
	struct sim *s = sim_of(io);
	if (s)
		s->cut_at = n ? s->ops + n : 0;
}

uint64_t mfw_dfio_sim_ops(const struct mfw_dfio *io)
{
	struct sim *s = sim_of(io);
	return s ? s->ops : 0;
}

bool mfw_dfio_sim_cut_happened(const struct mfw_dfio *io)
{
	struct sim *s = sim_of(io);
	return s && s->cut_happened;
}

void mfw_dfio_sim_power_cycle(struct mfw_dfio *io, enum mfw_dfio_tear tear)
{
	struct sim *s = sim_of(io);
	if (!s)
		return;
	close_all(s);
	if (s->last.valid && tear != MFW_DFIO_TEAR_DROP) {
		struct state *d = &s->ino[s->last.ino].d;
		size_t n = tear == MFW_DFIO_TEAR_KEEP ? s->last.len : s->last.len / 2;
		if (d->type == MFW_DFIO_REG)
			data_write(d, s->last.off, s->last.buf, n);
	}
	for (size_t i = 0; i < s->nino; i++)
		state_copy(&s->ino[i].v, &s->ino[i].d);
	s->last.valid = false;
	s->dead = false;
	s->cut_happened = false;
	s->cut_at = 0;
	s->ops = 0;
}

void mfw_dfio_sim_sync_all(struct mfw_dfio *io)
{
	struct sim *s = sim_of(io);
	if (!s)
		return;
	for (size_t i = 0; i < s->nino; i++)
		state_copy(&s->ino[i].d, &s->ino[i].v);
	s->last.valid = false;
}

void mfw_dfio_sim_inject_eio(struct mfw_dfio *io, const char *path, unsigned ops, unsigned count)
{
	struct sim *s = sim_of(io);
	if (!s)
		return;
	free(s->eio_path);
	s->eio_path = (count && path) ? strdup(path) : NULL;
	s->eio_ops = ops;
	s->eio_count = s->eio_path ? count : 0;
}

void mfw_dfio_sim_set_cache_quota(struct mfw_dfio *io, uint64_t bytes)
{
	struct sim *s = sim_of(io);
	if (s)
		s->quota = bytes;
}
