/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Targetfiles reader: lists a directory (lstat, so symlinks and empty
 * directories survive) or a zip (unix modes from the external attributes)
 * into a metadata-only model, and hashes every file by streaming it.
 */
#include "dfota/targetfiles.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "core/core.h"
#include "fmt/package.h"
#include "util/hash.h"

#define TF_MAX_DEPTH 64
#define TF_IO_CHUNK (64u << 10)

struct mfw_tf_src {
	bool zip;
	zip_t *za;
	char *dir;
};

/* One member of the targetfiles as listed, before it becomes a model entry. */
struct raw {
	char *rel;
	enum mfw_tf_type type;
	uint32_t mode;
	uint32_t uid, gid;       /* owner on disk (directory targetfiles), 0 in zips */
	uint64_t size;
	char *link;
	zip_int64_t index;
};

struct raw_list {
	struct raw *v;
	size_t n, cap;
};

struct mfw_tf_file {
	struct mfw_tf_src *src;
	int fd;
	zip_file_t *zf;
	const char *mem;
	size_t mem_len, mem_off;
	char name[MFW_TF_PATH_MAX];
};

/* ---- small helpers ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct mfw_tf_entry *)a)->path, ((const struct mfw_tf_entry *)b)->path);
}

static int cmp_part(const void *a, const void *b)
{
	return strcmp(((const struct mfw_tf_part *)a)->name, ((const struct mfw_tf_part *)b)->name);
}

static int cmp_raw(const void *a, const void *b)
{
	return strcmp(((const struct raw *)a)->rel, ((const struct raw *)b)->rel);
}

static bool starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* ---- list parsers ---- */

/* Split text into lines without copying the whole text; calls fn per trimmed, non-comment line. */
typedef int (*line_fn)(struct mfw_ctx *ctx, const char *what, unsigned lineno, char *line,
		       void *user);

static int for_each_line(struct mfw_ctx *ctx, const char *what, const char *text, size_t len,
			 line_fn fn, void *user)
{
	size_t i = 0;
	unsigned lineno = 0;

	if (len > MFW_TF_LIST_MAX)
		return mfw_fail(ctx, MFW_E_RANGE, "'%s' is larger than %u bytes", what, MFW_TF_LIST_MAX);
	while (i < len) {
		char buf[MFW_TF_PATH_MAX + 128];
		size_t j = i, n;
		char *s, *e, *hash;
		int r;

		while (j < len && text[j] != '\n')
			j++;
		n = j - i;
		lineno++;
		if (n >= sizeof(buf))
			return mfw_fail(ctx, MFW_E_FORMAT, "'%s' line %u is too long", what, lineno);
		memcpy(buf, text + i, n);
		buf[n] = '\0';
		i = j + 1;
		if (memchr(buf, '\0', n))
			return mfw_fail(ctx, MFW_E_FORMAT, "'%s' line %u holds a NUL byte", what, lineno);
		hash = strchr(buf, '#');
		if (hash)
			*hash = '\0';
		s = buf;
		while (*s && isspace((unsigned char)*s))
			s++;
		e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (!*s)
			continue;
		r = fn(ctx, what, lineno, s, user);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Clean a list path: leading '/' dropped, the root itself refused. */
static int clean_list_path(const char *in, char *out, size_t cap, bool *is_prefix)
{
	size_t n;

	while (*in == '/')
		in++;
	n = strlen(in);
	*is_prefix = n && in[n - 1] == '/';
	return mfw_pkg_path_clean(in, out, cap);
}

static int push_str(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		return MFW_E_NOMEM;
	*v = nv;
	nv[*n] = strdup(s);
	if (!nv[*n])
		return MFW_E_NOMEM;
	(*n)++;
	return 0;
}

static int path_line(struct mfw_ctx *ctx, const char *what, unsigned lineno, char *line, void *user)
{
	struct mfw_tf_paths *p = user;
	char clean[MFW_TF_PATH_MAX];
	bool prefix;
	size_t n;

	if (strpbrk(line, " \t"))
		return mfw_fail(ctx, MFW_E_FORMAT, "'%s' line %u: one path per line expected, got '%.100s'",
				what, lineno, line);
	if (clean_list_path(line, clean, sizeof(clean) - 1, &prefix) < 0)
		return mfw_fail(ctx, MFW_E_FORMAT, "'%s' line %u: '%.100s' is not a path below '/'",
				what, lineno, line);
	n = strlen(clean);
	if (prefix) {
		clean[n] = '/';
		clean[n + 1] = '\0';
	}
	return push_str(&p->v, &p->n, clean);
}

int mfw_tf_parse_paths(struct mfw_ctx *ctx, const char *what, const char *text, size_t len,
		       struct mfw_tf_paths *out)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = for_each_line(ctx, what, text, len, path_line, out);
	if (r < 0) {
		mfw_tf_paths_free(out);
		return r;
	}
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_str);
	return 0;
}

void mfw_tf_paths_free(struct mfw_tf_paths *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	memset(p, 0, sizeof(*p));
}

static int parse_octal(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 8);
	if (errno || *end || v > 07777)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_id(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!*s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 0xFFFFFFFEul)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int push_perm(struct mfw_tf_perms *p, const struct mfw_tf_perm *perm)
{
	struct mfw_tf_perm *nv = realloc(p->v, (p->n + 1) * sizeof(*nv));

	if (!nv)
		return MFW_E_NOMEM;
	p->v = nv;
	nv[p->n] = *perm;
	nv[p->n].path = strdup(perm->path);
	if (!nv[p->n].path)
		return MFW_E_NOMEM;
	p->n++;
	return 0;
}

/* Split a line into at most max whitespace-separated fields. */
static size_t split_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == max)
			return max + 1;
		f[n++] = t;
	}
	return n;
}

static int perm_line(struct mfw_ctx *ctx, const char *what, unsigned lineno, char *line, void *user)
{
	struct mfw_tf_perm perm = { .dmode = 0755 };
	char clean[MFW_TF_PATH_MAX];
	char *f[5];
	size_t n = split_fields(line, f, 5);
	bool prefix;

	if (n < 4 || n > 5)
		return mfw_fail(ctx, MFW_E_FORMAT,
				"'%s' line %u: expected 'path mode uid gid [dmode]', got %zu fields",
				what, lineno, n);
	if (clean_list_path(f[0], clean, sizeof(clean), &prefix) < 0)
		return mfw_fail(ctx, MFW_E_FORMAT, "'%s' line %u: '%.100s' is not a path below '/'",
				what, lineno, f[0]);
	if (parse_octal(f[1], &perm.mode) < 0 || parse_id(f[2], &perm.uid) < 0 ||
	    parse_id(f[3], &perm.gid) < 0 || (n == 5 && parse_octal(f[4], &perm.dmode) < 0))
		return mfw_fail(ctx, MFW_E_FORMAT,
				"'%s' line %u: bad mode, uid, gid or dmode for '%.100s' (octal modes <= 07777, decimal ids)",
				what, lineno, f[0]);
	perm.path = clean;
	return push_perm(user, &perm);
}

int mfw_tf_parse_perms(struct mfw_ctx *ctx, const char *what, const char *text, size_t len,
		       struct mfw_tf_perms *out)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = for_each_line(ctx, what, text, len, perm_line, out);
	if (r < 0)
		mfw_tf_perms_free(out);
	return r;
}

static int fs_config_line(struct mfw_ctx *ctx, const char *what, unsigned lineno, char *line,
			  void *user)
{
	struct mfw_tf_perm perm = { .has_mode = true };
	char clean[MFW_TF_PATH_MAX];
	char *f[8];
	size_t n = split_fields(line, f, 8);
	bool prefix;

	if (n < 4 || n > 8)
		return mfw_fail(ctx, MFW_E_FORMAT, "'%s' line %u: expected 'path uid gid mode [key=value...]'",
				what, lineno);
	/* Android writes the root of the tree as "/" or an empty-looking name: skip it. */
	if (!strcmp(f[0], "/") || !strcmp(f[0], "."))
		return 0;
	if (clean_list_path(f[0], clean, sizeof(clean), &prefix) < 0)
		return mfw_fail(ctx, MFW_E_FORMAT, "'%s' line %u: '%.100s' is not a path below '/'",
				what, lineno, f[0]);
	if (parse_id(f[1], &perm.uid) < 0 || parse_id(f[2], &perm.gid) < 0 ||
	    parse_octal(f[3], &perm.mode) < 0)
		return mfw_fail(ctx, MFW_E_FORMAT, "'%s' line %u: bad uid, gid or mode for '%.100s'",
				what, lineno, f[0]);
	for (size_t i = 4; i < n; i++) {
		if (!strchr(f[i], '='))
			return mfw_fail(ctx, MFW_E_FORMAT, "'%s' line %u: '%.60s' is not key=value",
					what, lineno, f[i]);
	}
	perm.dmode = perm.mode;
	perm.path = clean;
	return push_perm(user, &perm);
}

int mfw_tf_parse_fs_config(struct mfw_ctx *ctx, const char *what, const char *text, size_t len,
			   struct mfw_tf_perms *out)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = for_each_line(ctx, what, text, len, fs_config_line, out);
	if (r < 0)
		mfw_tf_perms_free(out);
	return r;
}

void mfw_tf_perms_free(struct mfw_tf_perms *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].path);
	free(p->v);
	memset(p, 0, sizeof(*p));
}

bool mfw_tf_paths_match(const struct mfw_tf_paths *p, const char *path)
{
	size_t plen = strlen(path);

	for (size_t i = 0; i < p->n; i++) {
		const char *s = p->v[i];
		size_t n = strlen(s);

		if (n && s[n - 1] == '/') {
			/* "dir/" covers dir itself and everything below it */
			if ((plen == n - 1 && !strncmp(path, s, n - 1)) ||
			    (plen >= n && !strncmp(path, s, n)))
				return true;
			continue;
		}
		if (!strcmp(path, s) || (plen > n && !strncmp(path, s, n) && path[n] == '/'))
			return true;
	}
	return false;
}

bool mfw_tf_perms_lookup(const struct mfw_tf_perms *p, const char *path, bool is_dir,
			 uint32_t *mode, uint32_t *uid, uint32_t *gid)
{
	const struct mfw_tf_perm *best = NULL;
	size_t best_len = 0, plen = strlen(path);

	for (size_t i = 0; i < p->n; i++) {
		const struct mfw_tf_perm *r = &p->v[i];
		size_t n = strlen(r->path);

		if (strcmp(path, r->path) && !(plen > n && !strncmp(path, r->path, n) && path[n] == '/'))
			continue;
		if (!best || n >= best_len) {
			best = r;
			best_len = n;
		}
	}
	if (!best)
		return false;
	*mode = is_dir ? best->dmode : best->mode;
	*uid = best->uid;
	*gid = best->gid;
	return true;
}

/* fs_config applies to the exact path only. */
static const struct mfw_tf_perm *fs_config_find(const struct mfw_tf_perms *p, const char *path)
{
	const struct mfw_tf_perm *hit = NULL;

	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->v[i].path, path))
			hit = &p->v[i];
	return hit;
}

int mfw_tf_read_text(struct mfw_ctx *ctx, const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	*text = NULL;
	*len = 0;
	if (!f)
		return mfw_fail(ctx, errno == ENOENT ? MFW_E_NOENT : MFW_E_IO, "cannot open '%s': %s",
				path, strerror(errno));
	buf = malloc(MFW_TF_LIST_MAX + 1);
	if (!buf) {
		fclose(f);
		return MFW_E_NOMEM;
	}
	n = fread(buf, 1, MFW_TF_LIST_MAX + 1, f);
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return mfw_fail(ctx, MFW_E_IO, "cannot read '%s'", path);
	}
	fclose(f);
	if (n > MFW_TF_LIST_MAX) {
		free(buf);
		return mfw_fail(ctx, MFW_E_RANGE, "'%s' is larger than %u bytes", path, MFW_TF_LIST_MAX);
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
}

/* ---- listing ---- */

static int raw_push(struct mfw_ctx *ctx, struct raw_list *l, const char *rel, enum mfw_tf_type type,
		    uint32_t mode, uint64_t size, const char *link, zip_int64_t index)
{
	struct raw *e;

	if (l->n >= MFW_TF_MAX_ENTRIES)
		return mfw_fail(ctx, MFW_E_RANGE, "targetfiles hold more than %u entries",
				MFW_TF_MAX_ENTRIES);
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 256;
		struct raw *nv = realloc(l->v, ncap * sizeof(*nv));

		if (!nv)
			return MFW_E_NOMEM;
		l->v = nv;
		l->cap = ncap;
	}
	e = &l->v[l->n];
	memset(e, 0, sizeof(*e));
	e->rel = strdup(rel);
	e->link = link ? strdup(link) : NULL;
	if (!e->rel || (link && !e->link)) {
		free(e->rel);
		free(e->link);
		return MFW_E_NOMEM;
	}
	e->type = type;
	e->mode = mode & 07777;
	e->size = size;
	e->index = index;
	l->n++;
	return 0;
}

static void raw_free(struct raw_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].rel);
		free(l->v[i].link);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void raw_owner(struct raw_list *l, const struct stat *st)
{
	l->v[l->n - 1].uid = st->st_uid;
	l->v[l->n - 1].gid = st->st_gid;
}

static int walk_dir(struct mfw_ctx *ctx, const char *root, const char *rel, int depth,
		    struct raw_list *l)
{
	char abs[PATH_MAX];
	struct dirent **names = NULL;
	int n, r = 0;

	if (depth > TF_MAX_DEPTH)
		return mfw_fail(ctx, MFW_E_RANGE, "'%s/%s' is nested deeper than %d directories", root,
				rel, TF_MAX_DEPTH);
	if ((size_t)snprintf(abs, sizeof(abs), "%s%s%s", root, rel[0] ? "/" : "", rel) >= sizeof(abs))
		return mfw_fail(ctx, MFW_E_RANGE, "path '%s/%s' is too long", root, rel);
	/* scandir + alphasort-free sorting later: the model is sorted by strcmp anyway. */
	n = scandir(abs, &names, NULL, NULL);
	if (n < 0)
		return mfw_fail(ctx, MFW_E_IO, "cannot list '%s': %s", abs, strerror(errno));
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		char child[MFW_TF_PATH_MAX], cabs[PATH_MAX], link[MFW_TF_LINK_MAX];
		struct stat st;
		ssize_t ln;

		if (r < 0 || !strcmp(nm, ".") || !strcmp(nm, ".."))
			continue;
		if ((size_t)snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "", nm) >=
		    sizeof(child)) {
			r = mfw_fail(ctx, MFW_E_RANGE, "path '%s/%s' is too long", rel, nm);
			continue;
		}
		if (strchr(nm, '\\') || strchr(nm, '\n')) {
			r = mfw_fail(ctx, MFW_E_FORMAT, "'%s': name with a backslash or newline", child);
			continue;
		}
		snprintf(cabs, sizeof(cabs), "%s/%s", root, child);
		if (lstat(cabs, &st) < 0) {
			r = mfw_fail(ctx, MFW_E_IO, "cannot stat '%s': %s", cabs, strerror(errno));
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			r = raw_push(ctx, l, child, MFW_TF_DIR, st.st_mode, 0, NULL, -1);
			if (r >= 0)
				raw_owner(l, &st);
			if (r >= 0)
				r = walk_dir(ctx, root, child, depth + 1, l);
		} else if (S_ISLNK(st.st_mode)) {
			ln = readlink(cabs, link, sizeof(link) - 1);
			if (ln < 0 || (size_t)ln >= sizeof(link) - 1) {
				r = mfw_fail(ctx, MFW_E_IO, "cannot read link '%s'", cabs);
				continue;
			}
			link[ln] = '\0';
			r = raw_push(ctx, l, child, MFW_TF_SYMLINK, 0777, 0, link, -1);
		} else if (S_ISREG(st.st_mode)) {
			r = raw_push(ctx, l, child, MFW_TF_FILE, st.st_mode, (uint64_t)st.st_size, NULL, -1);
			if (r >= 0)
				raw_owner(l, &st);
		} else {
			mfw_dbg(ctx, "targetfiles: skipping '%s' (not a file, directory or symlink)", child);
		}
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

static int zip_fail(struct mfw_ctx *ctx, zip_t *za, const char *root, const char *what)
{
	return mfw_fail(ctx, MFW_E_FORMAT, "zip '%s': %s: %s", root, what, zip_strerror(za));
}

static int read_zip_small(struct mfw_ctx *ctx, zip_t *za, zip_int64_t idx, const char *root,
			  char *buf, size_t cap)
{
	zip_file_t *zf = zip_fopen_index(za, (zip_uint64_t)idx, 0);
	zip_int64_t got;

	if (!zf)
		return zip_fail(ctx, za, root, "cannot open a symlink member");
	got = zip_fread(zf, buf, cap - 1);
	zip_fclose(zf);
	if (got < 0 || (size_t)got >= cap - 1)
		return mfw_fail(ctx, MFW_E_FORMAT, "zip '%s': a symlink member is unreadable or too long", root);
	buf[got] = '\0';
	return 0;
}

static int list_zip(struct mfw_ctx *ctx, struct mfw_tf *tf, struct raw_list *l)
{
	zip_t *za = tf->src->za;
	zip_int64_t count = zip_get_num_entries(za, 0);

	for (zip_int64_t i = 0; i < count; i++) {
		char clean[MFW_TF_PATH_MAX], link[MFW_TF_LINK_MAX];
		zip_uint8_t opsys = 0;
		zip_uint32_t attr = 0;
		zip_stat_t st;
		enum mfw_tf_type type = MFW_TF_FILE;
		uint32_t mode = 0644;
		size_t nlen;
		int r;

		zip_stat_init(&st);
		if (zip_stat_index(za, (zip_uint64_t)i, 0, &st) < 0 || !(st.valid & ZIP_STAT_NAME))
			return zip_fail(ctx, za, tf->root, "cannot read a member");
		nlen = strlen(st.name);
		/* absolute names and backslashes are refused here, escapes by the cleaner */
		if (!nlen || st.name[0] == '/' || strchr(st.name, '\\'))
			return mfw_fail(ctx, MFW_E_FORMAT, "zip '%s': member '%.200s' escapes the targetfiles",
					tf->root, st.name);
		r = mfw_pkg_path_clean(st.name, clean, sizeof(clean));
		if (r < 0)
			return mfw_fail(ctx, MFW_E_FORMAT, "zip '%s': bad member name '%.200s'", tf->root,
					st.name);
		if (zip_file_get_external_attributes(za, (zip_uint64_t)i, 0, &opsys, &attr) == 0 &&
		    opsys == ZIP_OPSYS_UNIX && (attr >> 16)) {
			uint32_t m = attr >> 16;

			mode = m & 07777;
			if (S_ISLNK(m))
				type = MFW_TF_SYMLINK;
			else if (S_ISDIR(m))
				type = MFW_TF_DIR;
		}
		if (st.name[nlen - 1] == '/') {
			type = MFW_TF_DIR;
			if (!(attr >> 16))
				mode = 0755;
		}
		if (type == MFW_TF_SYMLINK) {
			r = read_zip_small(ctx, za, i, tf->root, link, sizeof(link));
			if (r < 0)
				return r;
			r = raw_push(ctx, l, clean, type, 0777, 0, link, i);
		} else {
			r = raw_push(ctx, l, clean, type, mode, type == MFW_TF_FILE ? st.size : 0, NULL, i);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static const struct raw *raw_find(const struct raw_list *l, const char *rel)
{
	struct raw key = { .rel = (char *)rel };

	return l->n ? bsearch(&key, l->v, l->n, sizeof(*l->v), cmp_raw) : NULL;
}

/* ---- reading members ---- */

static int open_member(struct mfw_ctx *ctx, struct mfw_tf *tf, const struct raw *m,
		       struct mfw_tf_file **out)
{
	struct mfw_tf_file *f = calloc(1, sizeof(*f));

	if (!f)
		return MFW_E_NOMEM;
	f->src = tf->src;
	f->fd = -1;
	snprintf(f->name, sizeof(f->name), "%s", m->rel);
	if (tf->src->zip) {
		f->zf = zip_fopen_index(tf->src->za, (zip_uint64_t)m->index, 0);
		if (!f->zf) {
			free(f);
			return zip_fail(ctx, tf->src->za, tf->root, m->rel);
		}
	} else {
		char abs[PATH_MAX];

		snprintf(abs, sizeof(abs), "%s/%s", tf->src->dir, m->rel);
		f->fd = open(abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (f->fd < 0) {
			int e = errno;

			free(f);
			return mfw_fail(ctx, MFW_E_IO, "cannot open '%s': %s", abs, strerror(e));
		}
	}
	*out = f;
	return 0;
}

int mfw_tf_file_read(struct mfw_ctx *ctx, struct mfw_tf_file *f, void *buf, size_t cap, size_t *got)
{
	*got = 0;
	if (f->mem) {
		size_t n = f->mem_len - f->mem_off;

		if (n > cap)
			n = cap;
		memcpy(buf, f->mem + f->mem_off, n);
		f->mem_off += n;
		*got = n;
		return 0;
	}
	if (f->zf) {
		zip_int64_t n = zip_fread(f->zf, buf, cap);

		if (n < 0) {
			zip_error_t *ze = zip_file_get_error(f->zf);

			return mfw_fail(ctx, zip_error_code_zip(ze) == ZIP_ER_CRC ? MFW_E_VERIFY : MFW_E_IO,
					"cannot read '%s' from the zip: %s", f->name, zip_error_strerror(ze));
		}
		*got = (size_t)n;
		return 0;
	}
	for (;;) {
		ssize_t n = read(f->fd, buf, cap);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return mfw_fail(ctx, MFW_E_IO, "cannot read '%s': %s", f->name, strerror(errno));
		*got = (size_t)n;
		return 0;
	}
}

void mfw_tf_file_close(struct mfw_tf_file *f)
{
	if (!f)
		return;
	if (f->zf)
		zip_fclose(f->zf);
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

static int read_member_text(struct mfw_ctx *ctx, struct mfw_tf *tf, const struct raw *m, char **text,
			    size_t *len)
{
	struct mfw_tf_file *f;
	char *buf;
	size_t n = 0;
	int r;

	if (m->size > MFW_TF_LIST_MAX)
		return mfw_fail(ctx, MFW_E_RANGE, "'%s' is larger than %u bytes", m->rel, MFW_TF_LIST_MAX);
	buf = malloc(m->size + 1);
	if (!buf)
		return MFW_E_NOMEM;
	r = open_member(ctx, tf, m, &f);
	if (r < 0)
		goto free_buf;
	while (n < m->size) {
		size_t got;

		r = mfw_tf_file_read(ctx, f, buf + n, m->size - n, &got);
		if (r < 0)
			break;
		if (!got) {
			r = mfw_fail(ctx, MFW_E_IO, "'%s' ended early", m->rel);
			break;
		}
		n += got;
	}
	mfw_tf_file_close(f);
	if (r < 0)
		goto free_buf;
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
free_buf:
	free(buf);
	return r;
}

static int hash_member(struct mfw_ctx *ctx, struct mfw_tf *tf, const struct raw *m, uint8_t *sha1,
		       uint64_t *size)
{
	struct mfw_tf_file *f;
	struct mfw_hash h;
	uint8_t *buf;
	uint64_t total = 0;
	int r;

	buf = malloc(TF_IO_CHUNK);
	if (!buf)
		return MFW_E_NOMEM;
	r = mfw_hash_init(&h, MFW_HASH_SHA1);
	if (r < 0)
		goto free_buf;
	r = open_member(ctx, tf, m, &f);
	if (r < 0)
		goto free_hash;
	for (;;) {
		size_t got;

		r = mfw_tf_file_read(ctx, f, buf, TF_IO_CHUNK, &got);
		if (r < 0 || !got)
			break;
		total += got;
		r = mfw_hash_update(&h, buf, got);
		if (r < 0)
			break;
	}
	mfw_tf_file_close(f);
	if (r < 0)
		goto free_hash;
	r = mfw_hash_final(&h, sha1, 20);
	if (r >= 0)
		r = 0;
	*size = total;
	goto free_buf;
free_hash:
	mfw_hash_free(&h);
free_buf:
	free(buf);
	return r;
}

/* ---- model ---- */

static int add_entry(struct mfw_ctx *ctx, struct mfw_tf *tf, size_t *cap, const char *path,
		     enum mfw_tf_type type)
{
	struct mfw_tf_entry *e;

	if (tf->nent == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		struct mfw_tf_entry *nv = realloc(tf->ent, ncap * sizeof(*nv));

		if (!nv)
			return MFW_E_NOMEM;
		tf->ent = nv;
		*cap = ncap;
	}
	e = &tf->ent[tf->nent];
	memset(e, 0, sizeof(*e));
	e->path = strdup(path);
	if (!e->path)
		return MFW_E_NOMEM;
	e->type = type;
	tf->nent++;
	(void)ctx;
	return 0;
}

static int load_list(struct mfw_ctx *ctx, struct mfw_tf *tf, const struct raw_list *l,
		     const char *rel, int kind)
{
	const struct raw *m = raw_find(l, rel);
	char what[MFW_TF_PATH_MAX + 64];
	char *text;
	size_t len;
	int r;

	if (!m || m->type != MFW_TF_FILE)
		return 0;
	r = read_member_text(ctx, tf, m, &text, &len);
	if (r < 0)
		return r;
	snprintf(what, sizeof(what), "%s/%s", tf->root, rel);
	switch (kind) {
	case 0:
		r = mfw_tf_parse_paths(ctx, what, text, len, &tf->full);
		break;
	case 1:
		r = mfw_tf_parse_paths(ctx, what, text, len, &tf->preserve);
		break;
	case 2:
		r = mfw_tf_parse_perms(ctx, what, text, len, &tf->perms);
		break;
	default:
		r = mfw_tf_parse_fs_config(ctx, what, text, len, &tf->fs_config);
		break;
	}
	free(text);
	return r;
}

static int load_version(struct mfw_ctx *ctx, struct mfw_tf *tf, const struct raw_list *l)
{
	const struct raw *m = raw_find(l, "SYSTEM/" MFW_TF_VERSION_FILE);
	char *text, *s, *e;
	size_t len;
	int r;

	if (!m || m->type != MFW_TF_FILE)
		return mfw_fail(ctx, MFW_E_FORMAT, "targetfiles '%s' have no SYSTEM/%s (the firmware version)",
				tf->root, MFW_TF_VERSION_FILE);
	r = read_member_text(ctx, tf, m, &text, &len);
	if (r < 0)
		return r;
	s = text;
	while (*s && isspace((unsigned char)*s))
		s++;
	e = s;
	while (*e && *e != '\n' && *e != '\r')
		e++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	*e = '\0';
	r = 0;
	if (!*s || (size_t)(e - s) >= sizeof(tf->version) || strpbrk(s, "\"\\"))
		r = mfw_fail(ctx, MFW_E_FORMAT, "'%s/SYSTEM/%s': the version line is empty, too long or has quotes",
			     tf->root, MFW_TF_VERSION_FILE);
	else
		memcpy(tf->version, s, (size_t)(e - s) + 1);
	free(text);
	return r;
}

static void resolve_meta(const struct mfw_tf *tf, const struct mfw_tf_perms *perms,
			 struct mfw_tf_entry *e, uint32_t disk_mode)
{
	const struct mfw_tf_perm *fc;
	uint32_t mode, uid, gid;

	e->uid = 0;
	e->gid = 0;
	if (e->type == MFW_TF_SYMLINK) {
		e->mode = 0777;
		return;
	}
	if (mfw_tf_perms_lookup(perms, e->path, e->type == MFW_TF_DIR, &mode, &uid, &gid)) {
		e->mode = mode;
		e->uid = uid;
		e->gid = gid;
		return;
	}
	fc = fs_config_find(&tf->fs_config, e->path);
	if (fc) {
		e->mode = fc->mode;
		e->uid = fc->uid;
		e->gid = fc->gid;
		return;
	}
	/* Defaults as the vendor tool: 755 directories, executables 755, the rest 644, root. */
	if (e->type == MFW_TF_DIR)
		e->mode = 0755;
	else
		e->mode = (disk_mode & 0111) ? 0755 : 0644;
}

static int part_add(struct mfw_ctx *ctx, struct mfw_tf *tf, const struct raw *m, const char *name)
{
	struct mfw_tf_part *nv, *p;
	int r;

	for (const char *c = name; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.')
			return mfw_fail(ctx, MFW_E_FORMAT, "'%s': partition name '%s' has characters other than [A-Za-z0-9_.-]",
					m->rel, name);
	if (strlen(name) >= sizeof(p->name))
		return mfw_fail(ctx, MFW_E_FORMAT, "'%s': partition name too long", m->rel);
	nv = realloc(tf->part, (tf->npart + 1) * sizeof(*nv));
	if (!nv)
		return MFW_E_NOMEM;
	tf->part = nv;
	p = &nv[tf->npart];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->rel, sizeof(p->rel), "%s", m->rel);
	r = hash_member(ctx, tf, m, p->sha1, &p->size);
	if (r < 0)
		return r;
	tf->npart++;
	return 0;
}

/* Look up path among the first n0 (sorted) entries, then the ones appended after them. */
static bool have_path(const struct mfw_tf *tf, size_t n0, const char *path)
{
	struct mfw_tf_entry key = { .path = (char *)path };

	if (n0 && bsearch(&key, tf->ent, n0, sizeof(*tf->ent), cmp_entry))
		return true;
	for (size_t i = n0; i < tf->nent; i++)
		if (!strcmp(tf->ent[i].path, path))
			return true;
	return false;
}

/* Parent directories that a zip did not list explicitly become entries with the rules' metadata. */
static int add_implicit_dirs(struct mfw_ctx *ctx, struct mfw_tf *tf, const struct mfw_tf_perms *perms,
			     size_t *cap)
{
	size_t n0 = tf->nent;
	int r;

	for (size_t i = 0; i < n0; i++) {
		const char *path = tf->ent[i].path;

		for (const char *slash = strchr(path, '/'); slash; slash = strchr(slash + 1, '/')) {
			char parent[MFW_TF_PATH_MAX];

			snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
			if (have_path(tf, n0, parent))
				continue;
			r = add_entry(ctx, tf, cap, parent, MFW_TF_DIR);
			if (r < 0)
				return r;
			/* add_entry may have moved the array */
			path = tf->ent[i].path;
			slash = path + strlen(parent);
			resolve_meta(tf, perms, &tf->ent[tf->nent - 1], 0755);
		}
	}
	if (tf->nent > n0)
		qsort(tf->ent, tf->nent, sizeof(*tf->ent), cmp_entry);
	return 0;
}

static int build_model(struct mfw_ctx *ctx, struct mfw_tf *tf, const struct raw_list *l,
		       const struct mfw_tf_opts *opts)
{
	const struct mfw_tf_perms *perms = opts && opts->perms ? opts->perms : &tf->perms;
	size_t cap = 0, rcap = 0;
	bool have_prop = false;
	int r;

	r = load_version(ctx, tf, l);
	if (r >= 0)
		r = load_list(ctx, tf, l, "OTA/fullota.txt", 0);
	if (r >= 0)
		r = load_list(ctx, tf, l, "OTA/noota.txt", 1);
	if (r >= 0)
		r = load_list(ctx, tf, l, "OTA/chmod.txt", 2);
	if (r >= 0)
		r = load_list(ctx, tf, l, "META/filesystem_config.txt", 3);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l->n; i++) {
		const struct raw *m = &l->v[i];
		struct mfw_tf_entry *e;
		if (starts_with(m->rel, "SYSTEM/")) {
			const char *path = m->rel + 7;

			r = add_entry(ctx, tf, &cap, path, m->type);
			if (r < 0)
				return r;
			e = &tf->ent[tf->nent - 1];
			if (m->type == MFW_TF_SYMLINK) {
				e->link = strdup(m->link);
				if (!e->link)
					return MFW_E_NOMEM;
			} else if (m->type == MFW_TF_FILE) {
				r = hash_member(ctx, tf, m, e->sha1, &e->size);
				if (r < 0)
					return r;
			}
			if (opts && opts->disk_meta && m->type != MFW_TF_SYMLINK) {
				e->mode = m->mode;
				e->uid = m->uid;
				e->gid = m->gid;
			} else {
				resolve_meta(tf, perms, e, m->mode);
			}
			if (!strcmp(path, MFW_TF_VERSION_PROP))
				have_prop = true;
			mfw_progress(ctx, "scan", tf->root, i + 1, l->n);
		} else if (!strcmp(m->rel, "BOOTABLE_IMAGES/boot.img") && m->type == MFW_TF_FILE) {
			r = part_add(ctx, tf, m, "boot");
		} else if (!strcmp(m->rel, "RADIO/NON-HLOS.ubi") && m->type == MFW_TF_FILE) {
			r = part_add(ctx, tf, m, "modem");
		} else if (starts_with(m->rel, "MULTIFOTA/") && m->type == MFW_TF_FILE &&
			   !strchr(m->rel + 10, '/')) {
			r = part_add(ctx, tf, m, m->rel + 10);
		} else if (starts_with(m->rel, "RECOVERY/") && m->type == MFW_TF_FILE) {
			struct mfw_tf_entry *nv;

			if (tf->nrec == rcap) {
				rcap = rcap ? rcap * 2 : 16;
				nv = realloc(tf->rec, rcap * sizeof(*nv));
				if (!nv)
					return MFW_E_NOMEM;
				tf->rec = nv;
			}
			e = &tf->rec[tf->nrec];
			memset(e, 0, sizeof(*e));
			e->path = strdup(m->rel + 9);
			if (!e->path)
				return MFW_E_NOMEM;
			tf->nrec++;
			e->mode = 0644;
			r = hash_member(ctx, tf, m, e->sha1, &e->size);
		}
		if (r < 0)
			return r;
	}
	if (!have_prop) {
		/* The pre-check reads version=<v> from this file (docs/dfota-format.md, ours). */
		char text[MFW_TF_VERSION_MAX + 16];
		struct mfw_tf_entry *e;

		snprintf(text, sizeof(text), "version=%s\n", tf->version);
		r = add_entry(ctx, tf, &cap, MFW_TF_VERSION_PROP, MFW_TF_FILE);
		if (r < 0)
			return r;
		e = &tf->ent[tf->nent - 1];
		e->synth = strdup(text);
		if (!e->synth)
			return MFW_E_NOMEM;
		e->size = strlen(text);
		r = mfw_hash_buf(MFW_HASH_SHA1, text, e->size, e->sha1);
		if (r < 0)
			return r;
		resolve_meta(tf, perms, e, 0644);
	}
	qsort(tf->ent, tf->nent, sizeof(*tf->ent), cmp_entry);
	r = add_implicit_dirs(ctx, tf, perms, &cap);
	if (r < 0)
		return r;
	if (tf->npart)
		qsort(tf->part, tf->npart, sizeof(*tf->part), cmp_part);
	for (size_t i = 1; i < tf->npart; i++)
		if (!strcmp(tf->part[i - 1].name, tf->part[i].name))
			return mfw_fail(ctx, MFW_E_FORMAT, "targetfiles '%s' hold partition '%s' twice",
					tf->root, tf->part[i].name);
	for (size_t i = 1; i < tf->nent; i++)
		if (!strcmp(tf->ent[i - 1].path, tf->ent[i].path))
			return mfw_fail(ctx, MFW_E_FORMAT, "targetfiles '%s' hold 'SYSTEM/%s' twice",
					tf->root, tf->ent[i].path);
	return 0;
}

int mfw_tf_open(struct mfw_ctx *ctx, const char *path, const struct mfw_tf_opts *opts,
		struct mfw_tf **out)
{
	struct raw_list l = { 0 };
	struct mfw_tf *tf;
	struct stat st;
	int r;

	*out = NULL;
	if (stat(path, &st) < 0)
		return mfw_fail(ctx, errno == ENOENT ? MFW_E_NOENT : MFW_E_IO,
				"cannot open targetfiles '%s': %s", path, strerror(errno));
	tf = calloc(1, sizeof(*tf));
	if (!tf)
		return MFW_E_NOMEM;
	tf->src = calloc(1, sizeof(*tf->src));
	tf->root = strdup(path);
	if (!tf->src || !tf->root) {
		r = MFW_E_NOMEM;
		goto close_tf;
	}
	if (S_ISDIR(st.st_mode)) {
		tf->src->dir = strdup(path);
		if (!tf->src->dir) {
			r = MFW_E_NOMEM;
			goto close_tf;
		}
		r = walk_dir(ctx, path, "", 0, &l);
	} else {
		int ze = 0;

		tf->src->zip = true;
		tf->src->za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
		if (!tf->src->za) {
			zip_error_t zerr;

			zip_error_init_with_code(&zerr, ze);
			r = mfw_fail(ctx, MFW_E_FORMAT, "cannot open targetfiles zip '%s': %s", path,
				     zip_error_strerror(&zerr));
			zip_error_fini(&zerr);
			goto close_tf;
		}
		r = list_zip(ctx, tf, &l);
	}
	if (r < 0)
		goto free_raw;
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), cmp_raw);
	for (size_t i = 1; i < l.n; i++) {
		if (!strcmp(l.v[i - 1].rel, l.v[i].rel)) {
			r = mfw_fail(ctx, MFW_E_FORMAT, "targetfiles '%s' hold '%s' twice", path, l.v[i].rel);
			goto free_raw;
		}
	}
	r = build_model(ctx, tf, &l, opts);
	if (r < 0)
		goto free_raw;
	raw_free(&l);
	*out = tf;
	return 0;
free_raw:
	raw_free(&l);
close_tf:
	mfw_tf_close(tf);
	return r;
}

static void entries_free(struct mfw_tf_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].link);
		free(v[i].synth);
	}
	free(v);
}

void mfw_tf_close(struct mfw_tf *tf)
{
	if (!tf)
		return;
	if (tf->src) {
		if (tf->src->za)
			zip_discard(tf->src->za);
		free(tf->src->dir);
		free(tf->src);
	}
	entries_free(tf->ent, tf->nent);
	entries_free(tf->rec, tf->nrec);
	free(tf->part);
	mfw_tf_paths_free(&tf->full);
	mfw_tf_paths_free(&tf->preserve);
	mfw_tf_perms_free(&tf->perms);
	mfw_tf_perms_free(&tf->fs_config);
	free(tf->root);
	free(tf);
}

bool mfw_tf_is_zip(const struct mfw_tf *tf)
{
	return tf->src && tf->src->zip;
}

const struct mfw_tf_entry *mfw_tf_find(const struct mfw_tf *tf, const char *path)
{
	struct mfw_tf_entry key = { .path = (char *)path };

	return tf->nent ? bsearch(&key, tf->ent, tf->nent, sizeof(*tf->ent), cmp_entry) : NULL;
}

const struct mfw_tf_part *mfw_tf_find_part(const struct mfw_tf *tf, const char *name)
{
	struct mfw_tf_part key;

	snprintf(key.name, sizeof(key.name), "%s", name);
	return tf->npart ? bsearch(&key, tf->part, tf->npart, sizeof(*tf->part), cmp_part) : NULL;
}

int mfw_tf_entry_rel(const struct mfw_tf_entry *e, char *out, size_t cap)
{
	if ((size_t)snprintf(out, cap, "SYSTEM/%s", e->path) >= cap)
		return MFW_E_RANGE;
	return 0;
}

int mfw_tf_file_open(struct mfw_ctx *ctx, struct mfw_tf *tf, const char *rel,
		     struct mfw_tf_file **out)
{
	const struct mfw_tf_entry *e = starts_with(rel, "SYSTEM/") ? mfw_tf_find(tf, rel + 7) : NULL;
	struct raw m = { .rel = (char *)rel, .index = -1 };

	*out = NULL;
	if (e && e->synth) {
		struct mfw_tf_file *f = calloc(1, sizeof(*f));

		if (!f)
			return MFW_E_NOMEM;
		f->fd = -1;
		f->mem = e->synth;
		f->mem_len = strlen(e->synth);
		snprintf(f->name, sizeof(f->name), "%s", rel);
		*out = f;
		return 0;
	}
	if (tf->src->zip) {
		m.index = zip_name_locate(tf->src->za, rel, ZIP_FL_ENC_RAW);
		if (m.index < 0)
			return mfw_fail(ctx, MFW_E_NOENT, "'%s' is not in targetfiles '%s'", rel, tf->root);
	}
	return open_member(ctx, tf, &m, out);
}

int mfw_tf_extract(struct mfw_ctx *ctx, struct mfw_tf *tf, const char *rel, const char *dest)
{
	struct mfw_tf_file *f;
	uint8_t *buf;
	int fd, r;

	r = mfw_tf_file_open(ctx, tf, rel, &f);
	if (r < 0)
		return r;
	buf = malloc(TF_IO_CHUNK);
	fd = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (!buf || fd < 0) {
		r = buf ? mfw_fail(ctx, MFW_E_IO, "cannot create '%s': %s", dest, strerror(errno))
			: MFW_E_NOMEM;
		goto close_all;
	}
	for (;;) {
		size_t got, off = 0;

		r = mfw_tf_file_read(ctx, f, buf, TF_IO_CHUNK, &got);
		if (r < 0 || !got)
			break;
		while (off < got) {
			ssize_t w = write(fd, buf + off, got - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				r = mfw_fail(ctx, MFW_E_IO, "cannot write '%s': %s", dest, strerror(errno));
				goto close_all;
			}
			off += (size_t)w;
		}
	}
close_all:
	if (fd >= 0 && close(fd) < 0 && r >= 0)
		r = mfw_fail(ctx, MFW_E_IO, "cannot write '%s': %s", dest, strerror(errno));
	free(buf);
	mfw_tf_file_close(f);
	return r;
}

int mfw_tf_local_path(struct mfw_ctx *ctx, struct mfw_tf *tf, const char *rel,
		      const char *tmp_path, char *out, size_t cap)
{
	const struct mfw_tf_entry *e = starts_with(rel, "SYSTEM/") ? mfw_tf_find(tf, rel + 7) : NULL;

	if (!tf->src->zip && !(e && e->synth)) {
		if ((size_t)snprintf(out, cap, "%s/%s", tf->src->dir, rel) >= cap)
			return mfw_fail(ctx, MFW_E_RANGE, "path '%s/%s' is too long", tf->src->dir, rel);
		return 0;
	}
	if ((size_t)snprintf(out, cap, "%s", tmp_path) >= cap)
		return MFW_E_RANGE;
	return mfw_tf_extract(ctx, tf, rel, tmp_path);
}
