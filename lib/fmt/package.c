/* SPDX-License-Identifier: BSD-3-Clause */
#include "fmt/package.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

#include "core/core.h"
#include "fmt/md5sum.h"
#include "fmt/rawprogram.h"
#include "util/hash.h"

/* Deeper trees than this are not firmware packages (and could be symlink loops). */
#define PKG_MAX_DEPTH 16
/* Streaming chunk for hashing and skipping. */
#define PKG_CHUNK (256u * 1024u)

struct pkg_entry {
	char *name;          /* clean relative path */
	uint64_t size;
	zip_uint64_t index;  /* zip member index */
};

struct mfw_pkg {
	char *root;
	char *verify_cache;  /* path of the verified-file cache, or NULL */
	bool zip;
	zip_t *za;
	size_t n;
	size_t cap;
	struct pkg_entry *files;
};

struct mfw_pkg_file {
	struct mfw_pkg *pkg;
	int fd;              /* directory package */
	zip_file_t *zf;      /* zip package */
	uint64_t size;
	uint64_t pos;
	const uint8_t *map; /* mfw_pkg_file_map(), or NULL */
	char name[MFW_PKG_PATH_MAX];
};

/* ---- paths ---- */

int mfw_pkg_path_clean(const char *in, char *out, size_t cap)
{
	size_t olen = 0;
	const char *p = in;

	if (!cap)
		return MFW_E_RANGE;
	out[0] = '\0';
	if (!in || !in[0])
		return MFW_E_FORMAT;
	/* Absolute in either world: "/x", "\\x", "\\\\server\\x", "C:x". */
	if (in[0] == '/' || in[0] == '\\' || (isalpha((unsigned char)in[0]) && in[1] == ':'))
		return MFW_E_FORMAT;
	while (*p) {
		const char *c = p;
		size_t clen;

		while (*p && *p != '/' && *p != '\\')
			p++;
		clen = (size_t)(p - c);
		if (*p)
			p++;
		if (clen == 0 || (clen == 1 && c[0] == '.'))
			continue;
		if (clen == 2 && c[0] == '.' && c[1] == '.') {
			char *slash;

			if (olen == 0)
				return MFW_E_FORMAT;
			slash = strrchr(out, '/');
			olen = slash ? (size_t)(slash - out) : 0;
			out[olen] = '\0';
			continue;
		}
		if (olen + (olen ? 1 : 0) + clen + 1 > cap)
			return MFW_E_RANGE;
		if (olen)
			out[olen++] = '/';
		memcpy(out + olen, c, clen);
		olen += clen;
		out[olen] = '\0';
	}
	return olen ? 0 : MFW_E_FORMAT;
}

int mfw_pkg_resolve(struct mfw_ctx *ctx, const char *manifest_rel, const char *ref, char *out,
		    size_t cap)
{
	char joined[2 * MFW_PKG_PATH_MAX + 2];
	const char *slash = strrchr(manifest_rel, '/');
	size_t dlen = slash ? (size_t)(slash - manifest_rel) : 0;
	int r;

	if (!ref || !ref[0])
		return mfw_fail(ctx, MFW_E_FORMAT, "'%s' references a file with an empty name",
				manifest_rel);
	if (ref[0] == '/' || ref[0] == '\\' || (isalpha((unsigned char)ref[0]) && ref[1] == ':'))
		return mfw_fail(ctx, MFW_E_FORMAT, "'%s' references '%.200s', an absolute path",
				manifest_rel, ref);
	if (dlen >= MFW_PKG_PATH_MAX || strlen(ref) >= MFW_PKG_PATH_MAX)
		return mfw_fail(ctx, MFW_E_RANGE, "'%s': reference '%.200s' is too long",
				manifest_rel, ref);
	snprintf(joined, sizeof(joined), "%.*s%s%s", (int)dlen, manifest_rel, dlen ? "/" : "", ref);
	r = mfw_pkg_path_clean(joined, out, cap);
	if (r == MFW_E_FORMAT)
		return mfw_fail(ctx, r, "'%s' references '%.200s', which is outside the package",
				manifest_rel, ref);
	if (r < 0)
		return mfw_fail(ctx, r, "'%s': reference '%.200s' is too long", manifest_rel, ref);
	return 0;
}

static const char *base_name(const char *rel)
{
	const char *s = strrchr(rel, '/');

	return s ? s + 1 : rel;
}

/* ---- open / list ---- */

static int add_entry(struct mfw_ctx *ctx, struct mfw_pkg *pkg, const char *name, uint64_t size,
		     zip_uint64_t index)
{
	struct pkg_entry *e;

	if (pkg->n >= MFW_PKG_MAX_FILES)
		return mfw_fail(ctx, MFW_E_RANGE, "package '%s' has more than %u files", pkg->root,
				MFW_PKG_MAX_FILES);
	if (pkg->n == pkg->cap) {
		size_t ncap = pkg->cap ? pkg->cap * 2 : 64;
		struct pkg_entry *nf = realloc(pkg->files, ncap * sizeof(*nf));

		if (!nf)
			return MFW_E_NOMEM;
		pkg->files = nf;
		pkg->cap = ncap;
	}
	e = &pkg->files[pkg->n];
	e->name = strdup(name);
	if (!e->name)
		return MFW_E_NOMEM;
	e->size = size;
	e->index = index;
	pkg->n++;
	return 0;
}

static int walk_dir(struct mfw_ctx *ctx, struct mfw_pkg *pkg, const char *rel, int depth)
{
	char abs[PATH_MAX];
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (depth > PKG_MAX_DEPTH)
		return mfw_fail(ctx, MFW_E_RANGE, "package '%s' is nested deeper than %d directories at '%s'",
				pkg->root, PKG_MAX_DEPTH, rel);
	if ((size_t)snprintf(abs, sizeof(abs), "%s%s%s", pkg->root, rel[0] ? "/" : "", rel) >= sizeof(abs))
		return mfw_fail(ctx, MFW_E_RANGE, "path '%s/%s' is too long", pkg->root, rel);
	d = opendir(abs);
	if (!d)
		return mfw_fail(ctx, MFW_E_IO, "cannot list '%s': %s", abs, strerror(errno));
	while ((de = readdir(d))) {
		char child[MFW_PKG_PATH_MAX];
		char cabs[PATH_MAX];
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((size_t)snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "",
				     de->d_name) >= sizeof(child)) {
			mfw_dbg(ctx, "package: skipping '%s/%s': path too long", rel, de->d_name);
			continue;
		}
		if ((size_t)snprintf(cabs, sizeof(cabs), "%s/%s", pkg->root, child) >= sizeof(cabs))
			continue;
		if (lstat(cabs, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			r = walk_dir(ctx, pkg, child, depth + 1);
			if (r < 0)
				break;
			continue;
		}
		/* Follow a symlink to a regular file, but never into a directory (loops). */
		if (S_ISLNK(st.st_mode) && stat(cabs, &st) < 0)
			continue;
		if (!S_ISREG(st.st_mode))
			continue;
		/* A name that cleaning would change ("a\\b") could not be looked up. */
		if (strchr(de->d_name, '\\')) {
			mfw_dbg(ctx, "package: skipping '%s': backslash in a file name", child);
			continue;
		}
		r = add_entry(ctx, pkg, child, (uint64_t)st.st_size, 0);
		if (r < 0)
			break;
	}
	closedir(d);
	return r;
}

static int zip_err_to_mfw(int ze)
{
	switch (ze) {
	case ZIP_ER_MEMORY:
		return MFW_E_NOMEM;
	case ZIP_ER_NOENT:
		return MFW_E_NOENT;
	case ZIP_ER_NOZIP:
	case ZIP_ER_INCONS:
		return MFW_E_FORMAT;
	case ZIP_ER_CRC:
		return MFW_E_VERIFY;
	case ZIP_ER_ENCRNOTSUPP:
	case ZIP_ER_COMPNOTSUPP:
	case ZIP_ER_NOPASSWD:
		return MFW_E_UNSUPPORTED;
	default:
		return MFW_E_IO;
	}
}

static int open_zip(struct mfw_ctx *ctx, struct mfw_pkg *pkg)
{
	zip_int64_t count;
	int ze = 0;

	/* Read-only, and check consistency so a truncated or doctored archive is refused up front. */
	pkg->za = zip_open(pkg->root, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
	if (!pkg->za) {
		zip_error_t zerr;
		int r;

		zip_error_init_with_code(&zerr, ze);
		r = mfw_fail(ctx, zip_err_to_mfw(ze), "cannot open zip '%s': %s", pkg->root,
			     zip_error_strerror(&zerr));
		zip_error_fini(&zerr);
		return r;
	}
	count = zip_get_num_entries(pkg->za, 0);
	if (count < 0 || count > MFW_PKG_MAX_FILES)
		return mfw_fail(ctx, MFW_E_RANGE, "zip '%s' has %lld members (at most %u)", pkg->root,
				(long long)count, MFW_PKG_MAX_FILES);
	for (zip_int64_t i = 0; i < count; i++) {
		char clean[MFW_PKG_PATH_MAX];
		zip_stat_t st;
		size_t nlen;
		int r;

		zip_stat_init(&st);
		if (zip_stat_index(pkg->za, (zip_uint64_t)i, 0, &st) < 0 || !(st.valid & ZIP_STAT_NAME))
			return mfw_fail(ctx, MFW_E_FORMAT, "zip '%s': cannot read member %lld",
					pkg->root, (long long)i);
		nlen = strlen(st.name);
		r = mfw_pkg_path_clean(st.name, clean, sizeof(clean));
		/* Only the archive root itself ("./") may clean to nothing. */
		if (r == MFW_E_FORMAT && nlen && (st.name[0] == '/' || st.name[0] == '\\' ||
						  strstr(st.name, "..") || st.name[1] == ':'))
			return mfw_fail(ctx, MFW_E_FORMAT,
					"zip '%s': member '%.200s' is an absolute path or escapes the package",
					pkg->root, st.name);
		if (r == MFW_E_RANGE)
			return mfw_fail(ctx, MFW_E_FORMAT, "zip '%s': member name '%.200s...' is too long",
					pkg->root, st.name);
		if (r < 0 || (nlen && (st.name[nlen - 1] == '/' || st.name[nlen - 1] == '\\')))
			continue; /* a directory entry */
		if (!(st.valid & ZIP_STAT_SIZE))
			return mfw_fail(ctx, MFW_E_FORMAT, "zip '%s': member '%s' has no size",
					pkg->root, clean);
		r = add_entry(ctx, pkg, clean, st.size, (zip_uint64_t)i);
		if (r < 0)
			return r;
	}
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct pkg_entry *)a)->name, ((const struct pkg_entry *)b)->name);
}

int mfw_pkg_open(struct mfw_ctx *ctx, const char *path, struct mfw_pkg **out)
{
	struct mfw_pkg *pkg;
	struct stat st;
	int r;

	*out = NULL;
	if (stat(path, &st) < 0)
		return mfw_fail(ctx, errno == ENOENT ? MFW_E_NOENT : MFW_E_IO,
				"cannot open package '%s': %s", path, strerror(errno));
	pkg = calloc(1, sizeof(*pkg));
	if (!pkg)
		return MFW_E_NOMEM;
	pkg->root = strdup(path);
	if (!pkg->root) {
		r = MFW_E_NOMEM;
		goto free_pkg;
	}
	if (S_ISDIR(st.st_mode)) {
		r = walk_dir(ctx, pkg, "", 0);
	} else if (S_ISREG(st.st_mode)) {
		pkg->zip = true;
		r = open_zip(ctx, pkg);
	} else {
		r = mfw_fail(ctx, MFW_E_FORMAT, "package '%s' is neither a directory nor a zip file", path);
	}
	if (r < 0)
		goto free_pkg;
	qsort(pkg->files, pkg->n, sizeof(*pkg->files), cmp_entry);
	for (size_t i = 1; i < pkg->n; i++) {
		if (!strcmp(pkg->files[i - 1].name, pkg->files[i].name)) {
			r = mfw_fail(ctx, MFW_E_FORMAT, "package '%s' holds '%s' twice", path,
				     pkg->files[i].name);
			goto free_pkg;
		}
	}
	*out = pkg;
	return 0;
free_pkg:
	mfw_pkg_close(pkg);
	return r;
}

void mfw_pkg_close(struct mfw_pkg *pkg)
{
	if (!pkg)
		return;
	if (pkg->za)
		zip_discard(pkg->za);
	for (size_t i = 0; i < pkg->n; i++)
		free(pkg->files[i].name);
	free(pkg->files);
	free(pkg->verify_cache);
	free(pkg->root);
	free(pkg);
}

bool mfw_pkg_is_zip(const struct mfw_pkg *pkg)
{
	return pkg->zip;
}

const char *mfw_pkg_root(const struct mfw_pkg *pkg)
{
	return pkg->root;
}

size_t mfw_pkg_count(const struct mfw_pkg *pkg)
{
	return pkg->n;
}

const char *mfw_pkg_name(const struct mfw_pkg *pkg, size_t i)
{
	return i < pkg->n ? pkg->files[i].name : NULL;
}

/* Exact match by binary search, then a unique case-insensitive match (packages are made on Windows). */
static const struct pkg_entry *lookup(const struct mfw_pkg *pkg, const char *rel)
{
	char clean[MFW_PKG_PATH_MAX];
	struct pkg_entry key = { .name = clean };
	const struct pkg_entry *hit = NULL;

	if (mfw_pkg_path_clean(rel, clean, sizeof(clean)) < 0)
		return NULL;
	hit = pkg->n ? bsearch(&key, pkg->files, pkg->n, sizeof(*pkg->files), cmp_entry) : NULL;
	if (hit)
		return hit;
	for (size_t i = 0; i < pkg->n; i++) {
		if (strcasecmp(pkg->files[i].name, clean))
			continue;
		if (hit)
			return NULL;
		hit = &pkg->files[i];
	}
	return hit;
}

bool mfw_pkg_exists(const struct mfw_pkg *pkg, const char *rel)
{
	return lookup(pkg, rel) != NULL;
}

int mfw_pkg_stat(struct mfw_ctx *ctx, const struct mfw_pkg *pkg, const char *rel, uint64_t *size)
{
	const struct pkg_entry *e = lookup(pkg, rel);

	if (!e)
		return mfw_fail(ctx, MFW_E_NOENT, "'%s' is not in package '%s'", rel, pkg->root);
	*size = e->size;
	return 0;
}

/* ---- streaming ---- */

int mfw_pkg_file_open(struct mfw_ctx *ctx, struct mfw_pkg *pkg, const char *rel,
		      struct mfw_pkg_file **out)
{
	const struct pkg_entry *e = lookup(pkg, rel);
	struct mfw_pkg_file *f;
	int r;

	*out = NULL;
	if (!e)
		return mfw_fail(ctx, MFW_E_NOENT, "'%s' is not in package '%s'", rel, pkg->root);
	f = calloc(1, sizeof(*f));
	if (!f)
		return MFW_E_NOMEM;
	f->pkg = pkg;
	f->fd = -1;
	snprintf(f->name, sizeof(f->name), "%s", e->name);
	if (pkg->zip) {
		f->zf = zip_fopen_index(pkg->za, e->index, 0);
		if (!f->zf) {
			zip_error_t *ze = zip_get_error(pkg->za);

			r = mfw_fail(ctx, zip_err_to_mfw(zip_error_code_zip(ze)),
				     "cannot open '%s' in zip '%s': %s", e->name, pkg->root,
				     zip_error_strerror(ze));
			goto free_file;
		}
		f->size = e->size;
	} else {
		char abs[PATH_MAX];
		struct stat st;

		if ((size_t)snprintf(abs, sizeof(abs), "%s/%s", pkg->root, e->name) >= sizeof(abs)) {
			r = mfw_fail(ctx, MFW_E_RANGE, "path of '%s' is too long", e->name);
			goto free_file;
		}
		f->fd = open(abs, O_RDONLY | O_CLOEXEC);
		if (f->fd < 0) {
			r = mfw_fail(ctx, errno == ENOENT ? MFW_E_NOENT : MFW_E_IO,
				     "cannot open '%s': %s", abs, strerror(errno));
			goto free_file;
		}
		if (fstat(f->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			r = mfw_fail(ctx, MFW_E_IO, "'%s' is no longer a regular file", abs);
			goto close_fd;
		}
		f->size = (uint64_t)st.st_size;
	}
	*out = f;
	return 0;
close_fd:
	close(f->fd);
free_file:
	free(f);
	return r;
}

int mfw_pkg_file_read(struct mfw_ctx *ctx, struct mfw_pkg_file *f, void *buf, size_t cap,
		      size_t *got)
{
	*got = 0;
	if (f->pos >= f->size || !cap)
		return 0;
	/* Never hand out more than the size announced at open (a growing file, a lying zip). */
	if (cap > f->size - f->pos)
		cap = (size_t)(f->size - f->pos);
	if (f->zf) {
		zip_int64_t n = zip_fread(f->zf, buf, cap);

		if (n < 0) {
			zip_error_t *ze = zip_file_get_error(f->zf);

			return mfw_fail(ctx, zip_err_to_mfw(zip_error_code_zip(ze)),
					"cannot read '%s' at byte %llu from zip '%s': %s", f->name,
					(unsigned long long)f->pos, f->pkg->root, zip_error_strerror(ze));
		}
		if (n == 0)
			return mfw_fail(ctx, MFW_E_FORMAT, "'%s' in zip '%s' ends at byte %llu, %llu announced",
					f->name, f->pkg->root, (unsigned long long)f->pos,
					(unsigned long long)f->size);
		*got = (size_t)n;
	} else {
		ssize_t n;

		do
			n = read(f->fd, buf, cap);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return mfw_fail(ctx, MFW_E_IO, "cannot read '%s' at byte %llu: %s", f->name,
					(unsigned long long)f->pos, strerror(errno));
		if (n == 0)
			return mfw_fail(ctx, MFW_E_IO, "'%s' shrank to %llu bytes while reading (%llu expected)",
					f->name, (unsigned long long)f->pos, (unsigned long long)f->size);
		*got = (size_t)n;
	}
	f->pos += *got;
	return 0;
}

int mfw_pkg_file_skip(struct mfw_ctx *ctx, struct mfw_pkg_file *f, uint64_t n)
{
	uint8_t *tmp;
	int r = 0;

	if (n > f->size - f->pos)
		return mfw_fail(ctx, MFW_E_RANGE, "cannot skip %llu bytes in '%s': only %llu left",
				(unsigned long long)n, f->name,
				(unsigned long long)(f->size - f->pos));
	if (f->fd >= 0) {
		if (lseek(f->fd, (off_t)(f->pos + n), SEEK_SET) < 0)
			return mfw_fail(ctx, MFW_E_IO, "cannot seek in '%s': %s", f->name,
					strerror(errno));
		f->pos += n;
		return 0;
	}
	/* Compressed members cannot seek: read and drop. */
	tmp = malloc(PKG_CHUNK);
	if (!tmp)
		return MFW_E_NOMEM;
	while (n) {
		size_t got;

		r = mfw_pkg_file_read(ctx, f, tmp, n < PKG_CHUNK ? (size_t)n : PKG_CHUNK, &got);
		if (r < 0)
			break;
		n -= got;
	}
	free(tmp);
	return r;
}

uint64_t mfw_pkg_file_size(const struct mfw_pkg_file *f)
{
	return f->size;
}

/*
 * Map a directory package's file read-only. Meant for bytes that only the
 * kernel reads (a transport write): a file truncated behind our back then
 * fails that write with EFAULT, where touching the mapping ourselves would
 * raise SIGBUS. Zip members and files that cannot be mapped (empty, or too
 * large for a 32-bit address space) say MFW_E_UNSUPPORTED: read them.
 */
int mfw_pkg_file_map(struct mfw_pkg_file *f, const uint8_t **data)
{
	void *p;

	*data = NULL;
	if (f->map) {
		*data = f->map;
		return 0;
	}
	if (f->fd < 0 || !f->size || f->size > SIZE_MAX / 2)
		return MFW_E_UNSUPPORTED;
	p = mmap(NULL, (size_t)f->size, PROT_READ, MAP_SHARED, f->fd, 0);
	if (p == MAP_FAILED)
		return MFW_E_UNSUPPORTED;
	(void)madvise(p, (size_t)f->size, MADV_SEQUENTIAL);
	f->map = p;
	*data = f->map;
	return 0;
}

int mfw_pkg_file_claim(struct mfw_ctx *ctx, struct mfw_pkg_file *f, uint64_t n, int *fd,
		       uint64_t *off)
{
	uint64_t at = f->pos;
	int r;

	if (f->fd < 0)
		return MFW_E_UNSUPPORTED;
	r = mfw_pkg_file_skip(ctx, f, n);
	if (r < 0)
		return r;
	*fd = f->fd;
	*off = at;
	return 0;
}

void mfw_pkg_file_close(struct mfw_pkg_file *f)
{
	if (!f)
		return;
	if (f->map)
		munmap((void *)f->map, (size_t)f->size);
	if (f->zf)
		zip_fclose(f->zf);
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

int mfw_pkg_read_all(struct mfw_ctx *ctx, struct mfw_pkg *pkg, const char *rel, size_t max,
		     void **data, size_t *len)
{
	struct mfw_pkg_file *f;
	uint8_t *buf;
	size_t off = 0;
	int r;

	*data = NULL;
	*len = 0;
	r = mfw_pkg_file_open(ctx, pkg, rel, &f);
	if (r < 0)
		return r;
	if (f->size > max) {
		r = mfw_fail(ctx, MFW_E_RANGE, "'%s' is %llu bytes, more than the %zu allowed for it",
			     f->name, (unsigned long long)f->size, max);
		goto close_file;
	}
	buf = malloc((size_t)f->size + 1);
	if (!buf) {
		r = MFW_E_NOMEM;
		goto close_file;
	}
	while (off < f->size) {
		size_t got;

		r = mfw_pkg_file_read(ctx, f, buf + off, (size_t)f->size - off, &got);
		if (r < 0)
			goto free_buf;
		off += got;
	}
	buf[off] = '\0';
	*data = buf;
	*len = off;
	mfw_pkg_file_close(f);
	return 0;
free_buf:
	free(buf);
close_file:
	mfw_pkg_file_close(f);
	return r;
}

/* ---- layout ---- */

int mfw_pkg_parse_geometry(const char *name, uint32_t *page_size, uint32_t *block_size)
{
	for (const char *s = name; *s; s++) {
		unsigned long pg, blk;
		char pu, bu;
		int used = 0;

		if (*s != '_' || (s[1] != 'p' && s[1] != 'P'))
			continue;
		/* "_p4K_b256K" followed by '_', '.' or the end */
		if (sscanf(s + 2, "%5lu%c_%*[bB]%7lu%c%n", &pg, &pu, &blk, &bu, &used) != 4 || !used)
			continue;
		if (!isdigit((unsigned char)s[2]) || (s[2 + used] && s[2 + used] != '_' && s[2 + used] != '.'))
			continue;
		if ((pu != 'K' && pu != 'k') || (bu != 'K' && bu != 'k' && bu != 'M' && bu != 'm'))
			continue;
		pg *= 1024;
		blk *= (bu == 'M' || bu == 'm') ? 1024 * 1024 : 1024;
		if (!pg || !blk || blk % pg || blk > UINT32_MAX)
			continue;
		*page_size = (uint32_t)pg;
		*block_size = (uint32_t)blk;
		return 1;
	}
	return 0;
}

static bool glob_base(const char *rel, const char *pattern)
{
	return fnmatch(pattern, base_name(rel), FNM_CASEFOLD) == 0;
}

static void find_programmer(const struct mfw_pkg *pkg, struct mfw_pkg_layout *out)
{
	/* QFirehose's order (reference §5.1); patterns in one tier share a rank. */
	static const char *const tiers[][2] = {
		{ "prog_nand_firehose_*.mbn", NULL },
		{ "prog_emmc_firehose_*.mbn", NULL },
		{ "prog_firehose_*.mbn", "prog_firehose_*.elf" },
		{ "firehose-prog*.mbn", NULL },
		{ "prog_*.mbn", NULL },
	};

	for (size_t t = 0; t < MFW_ARRAY_SIZE(tiers); t++) {
		for (size_t i = 0; i < pkg->n; i++) {
			const char *name = pkg->files[i].name;

			if (glob_base(name, tiers[t][0]) || (tiers[t][1] && glob_base(name, tiers[t][1]))) {
				snprintf(out->programmer, sizeof(out->programmer), "%s", name);
				return;
			}
		}
	}
}

/* Shallowest file with this base name (root md5.txt before a nested one). */
static void find_named(const struct mfw_pkg *pkg, const char *base, char *out, size_t cap)
{
	int best = INT_MAX;

	for (size_t i = 0; i < pkg->n; i++) {
		const char *name = pkg->files[i].name;
		int depth = 0;

		if (strcasecmp(base_name(name), base))
			continue;
		for (const char *c = name; *c; c++)
			depth += *c == '/';
		if (depth < best) {
			best = depth;
			snprintf(out, cap, "%s", name);
		}
	}
}

/* "rawprogram<N>.xml" or "rawprogram_unsparse<N>.xml" (prefix given) -> N, else -1. */
static int lun_number(const char *rel, const char *prefix)
{
	const char *b = base_name(rel);
	size_t plen = strlen(prefix);
	unsigned long n;
	char *end;

	if (strncasecmp(b, prefix, plen) || !isdigit((unsigned char)b[plen]))
		return -1;
	n = strtoul(b + plen, &end, 10);
	if (strcasecmp(end, ".xml") || n > 255)
		return -1;
	return (int)n;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcasecmp(s + a - b, suffix);
}

struct cand {
	size_t n;
	const char *v[16];
	size_t total;       /* may exceed MFW_ARRAY_SIZE(v) */
};

static void cand_add(struct cand *c, const char *name)
{
	if (c->n < MFW_ARRAY_SIZE(c->v))
		c->v[c->n++] = name;
	c->total++;
}

static void cand_list(const struct cand *c, char *buf, size_t cap)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < c->n && off < cap; i++)
		off += (size_t)snprintf(buf + off, cap - off, "%s'%s'", i ? ", " : "", c->v[i]);
	if (c->total > c->n && off < cap)
		snprintf(buf + off, cap - off, ", ...");
}

static int ambiguous(struct mfw_ctx *ctx, const char *what, const struct cand *c)
{
	char list[1024];

	cand_list(c, list, sizeof(list));
	return mfw_fail(ctx, MFW_E_FORMAT, "%s is ambiguous: %s; name the manifest to use explicitly",
			what, list);
}

static bool same_dir(const char *a, const char *b)
{
	const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
	size_t la = sa ? (size_t)(sa - a) : 0, lb = sb ? (size_t)(sb - b) : 0;

	return la == lb && !strncmp(a, b, la);
}

/* The patch XML that goes with one rawprogram manifest, "" when the package has none for it. */
static int find_patch(struct mfw_ctx *ctx, const struct mfw_pkg *pkg, struct mfw_pkg_manifest *m,
		      bool by_lun)
{
	struct cand all = { 0 }, geo = { 0 };
	uint32_t pg, blk, pg2, blk2;
	bool has_geo = mfw_pkg_parse_geometry(base_name(m->rawprogram), &pg, &blk);

	for (size_t i = 0; i < pkg->n; i++) {
		const char *name = pkg->files[i].name;

		if (!same_dir(name, m->rawprogram) || !glob_base(name, "patch*.xml"))
			continue;
		if (by_lun) {
			if (lun_number(name, "patch") == (int)m->lun) {
				snprintf(m->patch, sizeof(m->patch), "%s", name);
				return 0;
			}
			continue;
		}
		cand_add(&all, name);
		if (has_geo && mfw_pkg_parse_geometry(base_name(name), &pg2, &blk2) && pg2 == pg &&
		    blk2 == blk)
			cand_add(&geo, name);
	}
	if (by_lun)
		return 0;
	if (geo.total == 1) {
		snprintf(m->patch, sizeof(m->patch), "%s", geo.v[0]);
		return 0;
	}
	if (geo.total > 1)
		return ambiguous(ctx, "the patch manifest", &geo);
	if (all.total == 1) {
		snprintf(m->patch, sizeof(m->patch), "%s", all.v[0]);
		return 0;
	}
	if (all.total > 1)
		return ambiguous(ctx, "the patch manifest", &all);
	return 0;
}

static int pick_explicit(struct mfw_ctx *ctx, const struct mfw_pkg *pkg, const char *want,
			 struct mfw_pkg_layout *out)
{
	const struct pkg_entry *e = lookup(pkg, want);
	struct cand c = { 0 };

	if (!e && !strchr(want, '/') && !strchr(want, '\\')) {
		for (size_t i = 0; i < pkg->n; i++)
			if (!strcasecmp(base_name(pkg->files[i].name), want))
				cand_add(&c, pkg->files[i].name);
		if (c.total > 1)
			return ambiguous(ctx, "the requested manifest name", &c);
		if (c.total == 1)
			e = lookup(pkg, c.v[0]);
	}
	if (!e)
		return mfw_fail(ctx, MFW_E_NOENT, "manifest '%s' is not in package '%s'", want,
				pkg->root);
	snprintf(out->manifests[0].rawprogram, MFW_PKG_PATH_MAX, "%s", e->name);
	out->nmanifest = 1;
	if (lun_number(e->name, "rawprogram") >= 0)
		out->manifests[0].lun = (unsigned)lun_number(e->name, "rawprogram");
	snprintf(out->note, sizeof(out->note), "using %.200s (chosen explicitly)", base_name(e->name));
	return 0;
}

static int pick_luns(struct mfw_ctx *ctx, const struct mfw_pkg *pkg, const char *prefix,
		     struct mfw_pkg_layout *out)
{
	for (size_t i = 0; i < pkg->n; i++) {
		const char *name = pkg->files[i].name;
		int lun = lun_number(name, prefix);
		size_t k;

		if (lun < 0)
			continue;
		for (k = 0; k < out->nmanifest; k++) {
			if (out->manifests[k].lun == (unsigned)lun)
				return mfw_fail(ctx, MFW_E_FORMAT,
						"package has two manifests for LUN %d: '%s' and '%s'",
						lun, out->manifests[k].rawprogram, name);
		}
		if (out->nmanifest >= MFW_PKG_MAX_LUNS)
			return mfw_fail(ctx, MFW_E_RANGE, "package has more than %d rawprogram manifests",
					MFW_PKG_MAX_LUNS);
		/* Keep the array ordered by LUN. */
		for (k = out->nmanifest; k > 0 && out->manifests[k - 1].lun > (unsigned)lun; k--)
			out->manifests[k] = out->manifests[k - 1];
		memset(&out->manifests[k], 0, sizeof(out->manifests[k]));
		out->manifests[k].lun = (unsigned)lun;
		snprintf(out->manifests[k].rawprogram, MFW_PKG_PATH_MAX, "%s", name);
		out->nmanifest++;
	}
	if (out->nmanifest == 1)
		snprintf(out->note, sizeof(out->note), "using %.200s (LUN %u)",
			 base_name(out->manifests[0].rawprogram), out->manifests[0].lun);
	else
		snprintf(out->note, sizeof(out->note), "using %.200s .. %.200s (one per LUN, %zu manifests)",
			 base_name(out->manifests[0].rawprogram),
			 base_name(out->manifests[out->nmanifest - 1].rawprogram), out->nmanifest);
	return 0;
}

static int pick_manifests(struct mfw_ctx *ctx, const struct mfw_pkg *pkg,
			  const struct mfw_pkg_layout_opts *opts, struct mfw_pkg_layout *out)
{
	struct cand upd = { 0 }, fac = { 0 }, other = { 0 };
	size_t luns = 0, unsparse = 0;
	const char *chosen;

	if (opts->pick == MFW_PKG_PICK_FILE) {
		if (!opts->rawprogram || !opts->rawprogram[0])
			return mfw_fail(ctx, MFW_E_INVAL, "no manifest file named for an explicit choice");
		return pick_explicit(ctx, pkg, opts->rawprogram, out);
	}
	for (size_t i = 0; i < pkg->n; i++) {
		const char *name = pkg->files[i].name;

		if (!glob_base(name, "rawprogram*.xml"))
			continue;
		if (lun_number(name, "rawprogram") >= 0)
			luns++;
		else if (lun_number(name, "rawprogram_unsparse") >= 0)
			unsparse++;
		else if (ends_with(name, "_update.xml"))
			cand_add(&upd, name);
		else if (ends_with(name, "_factory.xml"))
			cand_add(&fac, name);
		else
			cand_add(&other, name);
	}
	if (opts->pick == MFW_PKG_PICK_FACTORY) {
		if (fac.total == 0)
			return mfw_fail(ctx, MFW_E_NOENT, "package '%s' has no *_factory.xml manifest",
					pkg->root);
		if (fac.total > 1)
			return ambiguous(ctx, "the factory manifest", &fac);
		chosen = fac.v[0];
		snprintf(out->note, sizeof(out->note), "using %.200s (factory chosen explicitly%s)",
			 base_name(chosen), upd.total ? "; update manifest also present, not used" : "");
		goto one;
	}
	if (upd.total > 1)
		return ambiguous(ctx, "the update manifest", &upd);
	if (upd.total == 1) {
		chosen = upd.v[0];
		snprintf(out->note, sizeof(out->note), "using %.200s (default: update%s)", base_name(chosen),
			 fac.total ? "; factory manifest also present, not used" : "");
		goto one;
	}
	if (luns)
		return pick_luns(ctx, pkg, "rawprogram", out);
	if (unsparse) {
		int r = pick_luns(ctx, pkg, "rawprogram_unsparse", out);

		if (r >= 0 && strlen(out->note) + 40 < sizeof(out->note))
			strcat(out->note, " (no plain rawprogramN.xml present)");
		return r;
	}
	if (other.total == 1) {
		chosen = other.v[0];
		snprintf(out->note, sizeof(out->note), "using %.200s (the only rawprogram manifest%s)",
			 base_name(chosen), fac.total ? "; factory manifest also present, not used" : "");
		goto one;
	}
	if (other.total > 1)
		return ambiguous(ctx, "the rawprogram manifest", &other);
	if (fac.total)
		/* A factory manifest may erase more than an update should: never pick it silently. */
		return mfw_fail(ctx, MFW_E_NOENT,
				"package '%s' has only a factory manifest ('%s'); choose it explicitly",
				pkg->root, fac.v[0]);
	return mfw_fail(ctx, MFW_E_NOENT, "package '%s' has no rawprogram*.xml manifest", pkg->root);
one:
	snprintf(out->manifests[0].rawprogram, MFW_PKG_PATH_MAX, "%s", chosen);
	out->nmanifest = 1;
	return 0;
}

int mfw_pkg_detect(struct mfw_ctx *ctx, const struct mfw_pkg *pkg,
		   const struct mfw_pkg_layout_opts *opts, struct mfw_pkg_layout *out)
{
	static const struct mfw_pkg_layout_opts defaults = { .pick = MFW_PKG_PICK_UPDATE };
	bool by_lun;
	int r;

	memset(out, 0, sizeof(*out));
	if (!opts)
		opts = &defaults;
	find_programmer(pkg, out);
	find_named(pkg, "md5.txt", out->md5sum, sizeof(out->md5sum));
	find_named(pkg, "contents.xml", out->contents, sizeof(out->contents));
	r = pick_manifests(ctx, pkg, opts, out);
	if (r < 0)
		return r;
	by_lun = lun_number(out->manifests[0].rawprogram, "rawprogram") >= 0 ||
		 lun_number(out->manifests[0].rawprogram, "rawprogram_unsparse") >= 0;
	for (size_t i = 0; i < out->nmanifest; i++) {
		r = find_patch(ctx, pkg, &out->manifests[i], by_lun);
		if (r < 0)
			return r;
	}
	if (mfw_pkg_parse_geometry(base_name(out->manifests[0].rawprogram), &out->page_size,
				   &out->block_size) ||
	    strcasestr(base_name(out->manifests[0].rawprogram), "nand"))
		out->storage = MFW_PKG_STORAGE_NAND;
	else if (by_lun)
		out->storage = MFW_PKG_STORAGE_EMMC;
	mfw_dbg(ctx, "package '%s': %s; programmer '%s'", pkg->root, out->note, out->programmer);
	return 0;
}

/* ---- md5 verification ---- */

void mfw_pkg_verify_report_free(struct mfw_pkg_verify_report *report)
{
	if (!report)
		return;
	for (size_t i = 0; i < report->nunlisted; i++)
		free(report->unlisted[i]);
	free(report->unlisted);
	memset(report, 0, sizeof(*report));
}

/* Path of a md5.txt entry relative to the package root. */
static int md5_rel(struct mfw_ctx *ctx, const char *md5_path, const char *entry, char *out, size_t cap)
{
	return mfw_pkg_resolve(ctx, md5_path, entry, out, cap);
}

static int report_unlisted(struct mfw_ctx *ctx, struct mfw_pkg_verify_report *rep, const char *rel)
{
	char **nl;

	for (size_t i = 0; i < rep->nunlisted; i++)
		if (!strcmp(rep->unlisted[i], rel))
			return 0;
	if (rep->nunlisted >= MFW_PKG_MAX_FILES)
		return 0;
	nl = realloc(rep->unlisted, (rep->nunlisted + 1) * sizeof(*nl));
	if (!nl)
		return MFW_E_NOMEM;
	rep->unlisted = nl;
	rep->unlisted[rep->nunlisted] = strdup(rel);
	if (!rep->unlisted[rep->nunlisted])
		return MFW_E_NOMEM;
	rep->nunlisted++;
	mfw_warn(ctx, "'%s' is used by the manifests but md5.txt does not list it: not verified", rel);
	return 0;
}

/* Manifest references (program files, patched files) that md5.txt does not cover. */
static int check_references(struct mfw_ctx *ctx, struct mfw_pkg *pkg,
			    const struct mfw_pkg_layout *layout, const struct mfw_md5sum *sums,
			    struct mfw_pkg_verify_report *rep)
{
	const char *md5dir_end = strrchr(layout->md5sum, '/');
	size_t dlen = md5dir_end ? (size_t)(md5dir_end - layout->md5sum) : 0;

	for (size_t m = 0; m < layout->nmanifest; m++) {
		const char *files[2] = { layout->manifests[m].rawprogram, layout->manifests[m].patch };

		for (size_t k = 0; k < 2; k++) {
			struct mfw_rp_file rp;
			void *xml;
			size_t len;
			int r;

			if (!files[k][0])
				continue;
			r = mfw_pkg_read_all(ctx, pkg, files[k], MFW_RP_MAX_FILE, &xml, &len);
			if (r < 0)
				return r;
			r = mfw_rp_parse(ctx, files[k], xml, len, &rp);
			free(xml);
			if (r < 0)
				return r;
			for (size_t i = 0; i < rp.nelem && r >= 0; i++) {
				const struct mfw_rp_elem *e = &rp.elems[i];
				char rel[MFW_PKG_PATH_MAX];
				const char *in_md5 = rel;

				if (!e->filename[0] || !strcmp(e->filename, "DISK"))
					continue;
				r = mfw_pkg_resolve(ctx, files[k], e->filename, rel, sizeof(rel));
				if (r < 0)
					break;
				/* md5.txt paths are relative to its own directory. */
				if (dlen) {
					if (strncmp(rel, layout->md5sum, dlen) || rel[dlen] != '/') {
						r = report_unlisted(ctx, rep, rel);
						continue;
					}
					in_md5 = rel + dlen + 1;
				}
				if (!mfw_md5sum_find(sums, in_md5))
					r = report_unlisted(ctx, rep, rel);
			}
			mfw_rp_file_free(&rp);
			if (r < 0)
				return r;
		}
	}
	return 0;
}


/* ---- verified-file cache ---- */
#define VCACHE_MAX_BYTES (8u * 1024u * 1024u)

void mfw_pkg_set_verify_cache(struct mfw_pkg *pkg, const char *cache_path)
{
	free(pkg->verify_cache);
	pkg->verify_cache = cache_path ? strdup(cache_path) : NULL;
}

/* The identity line of a package file, without the md5: "dev ino size mtime ctime member path". */
static int vcache_key(const struct mfw_pkg *pkg, const char *rel, char *out, size_t cap)
{
	char path[PATH_MAX + MFW_PKG_PATH_MAX + 2];
	struct stat st;
	if (pkg->zip)
		snprintf(path, sizeof(path), "%s", pkg->root);
	else
		snprintf(path, sizeof(path), "%s/%s", pkg->root, rel);
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return -1;
	{
		char abs[PATH_MAX];
		const char *p = realpath(path, abs) ? abs : path;
		if ((size_t)snprintf(out, cap, "%llu %llu %llu %lld.%09ld %lld.%09ld %s %s",
				     (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
				     (unsigned long long)st.st_size, (long long)st.st_mtim.tv_sec,
				     st.st_mtim.tv_nsec, (long long)st.st_ctim.tv_sec,
				     st.st_ctim.tv_nsec, pkg->zip ? rel : "-", p) >= cap)
			return -1;
	}
	return 0;
}

/* The cache for reading; NULL when there is none (or it is past its bound: it is started over). */
static FILE *vcache_open_read(const struct mfw_pkg *pkg)
{
	struct stat st;
	FILE *f = fopen(pkg->verify_cache, "r");

	if (f && (fstat(fileno(f), &st) < 0 || st.st_size > VCACHE_MAX_BYTES)) {
		fclose(f);
		f = NULL;
	}
	return f;
}

/* The cache for one more line; a cache that grew past its bound starts over. */
static FILE *vcache_open_append(const struct mfw_pkg *pkg)
{
	struct stat st;

	if (stat(pkg->verify_cache, &st) == 0 && st.st_size > VCACHE_MAX_BYTES)
		unlink(pkg->verify_cache);
	return fopen(pkg->verify_cache, "a");
}

/* True when the cache says this exact file was verified with this md5. */
static bool vcache_hit(const struct mfw_pkg *pkg, const char *rel, const uint8_t md5[16])
{
	char key[PATH_MAX * 2], hex[33], line[PATH_MAX * 2 + 64];
	size_t klen;
	bool hit = false;
	FILE *f;

	if (!pkg->verify_cache || vcache_key(pkg, rel, key, sizeof(key)) < 0)
		return false;
	f = vcache_open_read(pkg);
	if (!f)
		return false;
	mfw_hex_encode(md5, 16, hex);
	klen = strlen(key);
	while (!hit && fgets(line, sizeof(line), f)) {
		/* "v1 <md5> <key>\n" */
		size_t l = strlen(line);
		if (l < 3 + 33 + klen + 1 || line[l - 1] != '\n')
			continue;
		line[l - 1] = '\0';
		hit = !strncmp(line, "v1 ", 3) && !strncmp(line + 3, hex, 32) && line[35] == ' ' &&
		      !strcmp(line + 36, key);
	}
	fclose(f);
	return hit;
}

static void vcache_store(const struct mfw_pkg *pkg, const char *rel, const uint8_t md5[16])
{
	char key[PATH_MAX * 2], hex[33];
	FILE *f;

	if (!pkg->verify_cache || vcache_key(pkg, rel, key, sizeof(key)) < 0)
		return;
	f = vcache_open_append(pkg);
	if (!f)
		return; /* a cache that cannot be written only costs time */
	mfw_hex_encode(md5, 16, hex);
	fprintf(f, "v1 %s %s\n", hex, key);
	fclose(f);
}

/*
 * Digests of parts of package files share the cache: "d1 <sha256> <what>
 * <identity>". what names the part and how it was hashed (the caller's
 * words, no spaces); the identity is the file's, as for md5 lines, so an
 * edited file never matches an old line.
 */
static bool digest_what_ok(const char *what)
{
	return what && *what && !strchr(what, ' ') && !strchr(what, '\n') && strlen(what) < 200;
}

bool mfw_pkg_cached_digest(const struct mfw_pkg *pkg, const char *rel, const char *what,
			   uint8_t out[32])
{
	char key[PATH_MAX * 2], line[PATH_MAX * 2 + 300];
	size_t klen, wlen;
	bool hit = false;
	FILE *f;

	if (!pkg->verify_cache || !digest_what_ok(what) || vcache_key(pkg, rel, key, sizeof(key)) < 0)
		return false;
	f = vcache_open_read(pkg);
	if (!f)
		return false;
	klen = strlen(key);
	wlen = strlen(what);
	/* the last line wins: a digest found stale is appended again, corrected */
	while (fgets(line, sizeof(line), f)) {
		size_t l = strlen(line);
		if (l != 3 + 65 + wlen + 1 + klen + 1 || line[l - 1] != '\n' || strncmp(line, "d1 ", 3))
			continue;
		line[l - 1] = '\0';
		if (line[67] != ' ' || strncmp(line + 68, what, wlen) || line[68 + wlen] != ' ' ||
		    strcmp(line + 69 + wlen, key))
			continue;
		if (mfw_hex_decode(line + 3, 64, out, 32) == 0)
			hit = true;
	}
	fclose(f);
	return hit;
}

void mfw_pkg_cache_digest(const struct mfw_pkg *pkg, const char *rel, const char *what,
			  const uint8_t digest[32])
{
	char key[PATH_MAX * 2], hex[65];
	FILE *f;

	if (!pkg->verify_cache || !digest_what_ok(what) || vcache_key(pkg, rel, key, sizeof(key)) < 0)
		return;
	f = vcache_open_append(pkg);
	if (!f)
		return;
	mfw_hex_encode(digest, 32, hex);
	fprintf(f, "d1 %s %s %s\n", hex, what, key);
	fclose(f);
}

/* Progress of the md5.txt check, to the caller's callback or else the context's. */
static void md5_progress(struct mfw_ctx *ctx, mfw_progress_fn fn, void *user, uint64_t done,
			 uint64_t total)
{
	if (fn)
		fn(user, "md5", "package", done, total);
	else
		mfw_progress(ctx, "md5", "package", done, total);
}

/* 0 when got is what md5.txt lists for rel; else the error naming the file, both md5s and the line. */
static int md5_compare(struct mfw_ctx *ctx, const char *rel, const uint8_t got[16],
		       const struct mfw_md5_entry *want, const char *md5name)
{
	char a[33], b[33];

	if (!memcmp(got, want->md5, 16))
		return 0;
	mfw_hex_encode(got, 16, a);
	mfw_hex_encode(want->md5, 16, b);
	return mfw_fail(ctx, MFW_E_VERIFY, "'%s' is corrupt: its md5 is %s, %s line %u says %s", rel,
			a, md5name, want->line, b);
}

static int hash_one(struct mfw_ctx *ctx, struct mfw_pkg *pkg, const char *rel,
		    const struct mfw_md5_entry *want, const char *md5name, uint8_t *buf,
		    mfw_progress_fn fn, void *user, uint64_t *done, uint64_t total)
{
	struct mfw_pkg_file *f;
	struct mfw_hash h;
	uint8_t got[16];
	int r;

	r = mfw_pkg_file_open(ctx, pkg, rel, &f);
	if (r < 0)
		return r;
	r = mfw_hash_init(&h, MFW_HASH_MD5);
	if (r < 0) {
		mfw_fail(ctx, r, "md5 is not available from libcrypto");
		goto close_file;
	}
	for (;;) {
		size_t n;

		if (mfw_cancelled(ctx)) {
			r = mfw_fail(ctx, MFW_E_CANCELLED, "verification cancelled at '%s'", rel);
			goto free_hash;
		}
		r = mfw_pkg_file_read(ctx, f, buf, PKG_CHUNK, &n);
		if (r < 0)
			goto free_hash;
		if (!n)
			break;
		r = mfw_hash_update(&h, buf, n);
		if (r < 0)
			goto free_hash;
		*done += n;
		md5_progress(ctx, fn, user, *done, total);
	}
	r = mfw_hash_final(&h, got, sizeof(got));
	if (r >= 0)
		r = md5_compare(ctx, rel, got, want, md5name);
	goto close_file;
free_hash:
	mfw_hash_free(&h);
close_file:
	mfw_pkg_file_close(f);
	return r;
}

/*
 * md5.txt of a directory package on several threads: one file per thread at
 * a time, largest first. MD5 cannot be split within a file, but a package is
 * mostly two or three large images, so two cores halve the wait before the
 * device is touched. Workers never touch ctx (not thread-safe): they leave
 * their result or errno in their job, and the calling thread reports, in
 * md5.txt order, exactly what the one-thread path would.
 */
#define MD5_THREADS_MAX 4

struct md5_job {
	char rel[MFW_PKG_PATH_MAX];
	const struct mfw_md5_entry *want;
	uint64_t size;
	uint8_t got[16];
	int err;       /* 0, or the mfw_err of what failed */
	int sys_errno; /* for MFW_E_IO / MFW_E_NOENT */
	const char *what; /* "open", "read", "hash" */
};

struct md5_pool {
	const struct mfw_pkg *pkg;
	struct md5_job **order; /* largest first */
	size_t n;
	pthread_mutex_t lock;
	size_t next;
	atomic_uint_fast64_t done_bytes;
	atomic_bool stop;
	atomic_int running; /* worker threads not finished yet */
};

static void md5_job_run(struct md5_pool *p, struct md5_job *j, uint8_t *buf,
			void (*tick)(void *), void *tick_user)
{
	const struct pkg_entry *e = lookup(p->pkg, j->rel);
	char path[PATH_MAX];
	struct mfw_hash h;
	int fd;

	j->what = "open";
	if (!e || (size_t)snprintf(path, sizeof(path), "%s/%s", p->pkg->root, e->name) >= sizeof(path)) {
		j->err = MFW_E_NOENT;
		j->sys_errno = ENOENT;
		return;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		j->err = errno == ENOENT ? MFW_E_NOENT : MFW_E_IO;
		j->sys_errno = errno;
		return;
	}
	j->what = "hash";
	if (mfw_hash_init(&h, MFW_HASH_MD5) < 0) {
		j->err = MFW_E_UNSUPPORTED;
		close(fd);
		return;
	}
	j->what = "read";
	for (;;) {
		ssize_t n = read(fd, buf, PKG_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			j->err = MFW_E_IO;
			j->sys_errno = errno;
			break;
		}
		if (n == 0)
			break;
		if (atomic_load(&p->stop)) {
			j->err = MFW_E_CANCELLED;
			break;
		}
		if (mfw_hash_update(&h, buf, (size_t)n) < 0) {
			j->err = MFW_E_UNSUPPORTED;
			break;
		}
		atomic_fetch_add(&p->done_bytes, (uint64_t)n);
		if (tick)
			tick(tick_user);
	}
	close(fd);
	if (j->err)
		mfw_hash_free(&h);
	else if (mfw_hash_final(&h, j->got, sizeof(j->got)) < 0)
		j->err = MFW_E_UNSUPPORTED;
}

static struct md5_job *md5_take(struct md5_pool *p)
{
	struct md5_job *j = NULL;

	pthread_mutex_lock(&p->lock);
	if (p->next < p->n && !atomic_load(&p->stop))
		j = p->order[p->next++];
	pthread_mutex_unlock(&p->lock);
	return j;
}

static void *md5_worker(void *user)
{
	struct md5_pool *p = user;
	uint8_t *buf = malloc(PKG_CHUNK);
	struct md5_job *j;

	if (!buf) {
		atomic_store(&p->stop, true);
		atomic_fetch_sub(&p->running, 1);
		return NULL;
	}
	while ((j = md5_take(p)))
		md5_job_run(p, j, buf, NULL, NULL);
	free(buf);
	atomic_fetch_sub(&p->running, 1);
	return NULL;
}

struct md5_progress {
	struct mfw_ctx *ctx;
	struct md5_pool *pool;
	mfw_progress_fn fn;
	void *user;
	uint64_t base, total;
};

/* The calling thread's tick: progress for all threads, and Ctrl-C for all. */
static void md5_tick(void *user)
{
	struct md5_progress *m = user;
	uint64_t done = m->base + atomic_load(&m->pool->done_bytes);

	if (mfw_cancelled(m->ctx))
		atomic_store(&m->pool->stop, true);
	md5_progress(m->ctx, m->fn, m->user, done, m->total);
}

static int cmp_job_size(const void *a, const void *b)
{
	const struct md5_job *x = *(struct md5_job *const *)a, *y = *(struct md5_job *const *)b;

	return x->size < y->size ? 1 : x->size > y->size ? -1 : 0;
}

static int md5_job_error(struct mfw_ctx *ctx, const struct mfw_pkg *pkg, const struct md5_job *j,
			 const char *md5name)
{
	switch (j->err) {
	case 0:
		break;
	case MFW_E_CANCELLED:
		return mfw_fail(ctx, MFW_E_CANCELLED, "verification cancelled at '%s'", j->rel);
	case MFW_E_UNSUPPORTED:
		return mfw_fail(ctx, MFW_E_UNSUPPORTED, "md5 is not available from libcrypto");
	case MFW_E_NOMEM:
		return mfw_fail(ctx, MFW_E_NOMEM, "out of memory");
	default:
		return mfw_fail(ctx, j->err, "cannot %s '%s/%s': %s", j->what, pkg->root, j->rel,
				strerror(j->sys_errno));
	}
	return md5_compare(ctx, j->rel, j->got, j->want, md5name);
}

/*
 * Hash jobs[0..n) (in md5.txt order) on up to MD5_THREADS_MAX threads, the
 * calling one with buf (PKG_CHUNK bytes); report the first failure in that
 * order. *done counts the bytes for progress.
 */
static int md5_jobs_run(struct mfw_ctx *ctx, struct mfw_pkg *pkg, struct md5_job *jobs, size_t n,
			const char *md5name, uint8_t *buf, mfw_progress_fn fn, void *user,
			uint64_t *done, uint64_t total)
{
	struct md5_pool pool = { .pkg = pkg, .n = n };
	struct md5_progress prog = { .ctx = ctx, .pool = &pool, .fn = fn, .user = user,
				     .base = *done, .total = total };
	pthread_t th[MD5_THREADS_MAX - 1];
	size_t nth = 0, want_threads;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int r = 0;

	pool.order = calloc(n ? n : 1, sizeof(*pool.order));
	if (!pool.order)
		return mfw_fail(ctx, MFW_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		pool.order[i] = &jobs[i];
	qsort(pool.order, n, sizeof(*pool.order), cmp_job_size);
	pthread_mutex_init(&pool.lock, NULL);
	atomic_init(&pool.done_bytes, 0);
	atomic_init(&pool.stop, false);
	want_threads = cpus > 1 ? (size_t)cpus : 1;
	if (want_threads > MD5_THREADS_MAX)
		want_threads = MD5_THREADS_MAX;
	if (want_threads > n)
		want_threads = n;
	atomic_init(&pool.running, 0);
	/* the calling thread is one of them; a thread that cannot start is only slower */
	while (nth + 1 < want_threads) {
		atomic_fetch_add(&pool.running, 1);
		if (pthread_create(&th[nth], NULL, md5_worker, &pool) != 0) {
			atomic_fetch_sub(&pool.running, 1);
			break;
		}
		nth++;
	}
	for (struct md5_job *j; (j = md5_take(&pool));)
		md5_job_run(&pool, j, buf, md5_tick, &prog);
	/* the others' last files: keep the progress moving (and Ctrl-C heard) meanwhile */
	while (atomic_load(&pool.running) > 0) {
		struct timespec ts = { .tv_nsec = 50 * 1000 * 1000 };
		md5_tick(&prog);
		nanosleep(&ts, NULL);
	}
	for (size_t i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	md5_tick(&prog);
	*done += atomic_load(&pool.done_bytes);
	pthread_mutex_destroy(&pool.lock);
	free(pool.order);
	for (size_t i = 0; i < n && r == 0; i++) {
		if (jobs[i].what)
			r = md5_job_error(ctx, pkg, &jobs[i], md5name);
		else if (mfw_cancelled(ctx)) /* never started: stopped by Ctrl-C ... */
			r = mfw_fail(ctx, MFW_E_CANCELLED, "verification cancelled at '%s'", jobs[i].rel);
		else /* ... or by a worker without memory */
			r = mfw_fail(ctx, MFW_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < n && r == 0; i++)
		vcache_store(pkg, jobs[i].rel, jobs[i].want->md5);
	return r;
}

int mfw_pkg_verify(struct mfw_ctx *ctx, struct mfw_pkg *pkg, const struct mfw_pkg_layout *layout,
		   mfw_progress_fn fn, void *user, struct mfw_pkg_verify_report *report)
{
	struct mfw_pkg_verify_report local = { 0 };
	struct mfw_pkg_verify_report *rep = report ? report : &local;
	struct mfw_md5sum sums;
	uint64_t total = 0, done = 0, size;
	struct md5_job *jobs = NULL;
	size_t njobs = 0;
	uint8_t *buf = NULL;
	void *text;
	size_t len;
	int r;

	memset(rep, 0, sizeof(*rep));
	if (!layout->md5sum[0])
		return mfw_fail(ctx, MFW_E_NOENT, "package '%s' has no md5.txt to verify against",
				pkg->root);
	r = mfw_pkg_read_all(ctx, pkg, layout->md5sum, MFW_MD5SUM_MAX_FILE, &text, &len);
	if (r < 0)
		return r;
	r = mfw_md5sum_parse(ctx, layout->md5sum, text, len, &sums);
	free(text);
	if (r < 0)
		return r;

	/* First pass: every listed file exists, and the total for progress. */
	for (size_t i = 0; i < sums.n; i++) {
		char rel[MFW_PKG_PATH_MAX];

		r = md5_rel(ctx, layout->md5sum, sums.entries[i].path, rel, sizeof(rel));
		if (r < 0)
			goto free_sums;
		if (mfw_pkg_stat(NULL, pkg, rel, &size) < 0) {
			r = mfw_fail(ctx, MFW_E_NOENT, "%s line %u lists '%s', which is not in the package",
				     layout->md5sum, sums.entries[i].line, rel);
			goto free_sums;
		}
		total += size;
	}
	buf = malloc(PKG_CHUNK);
	/* directory packages are hashed on several threads once the cache is asked (below) */
	if (!pkg->zip)
		jobs = calloc(sums.n ? sums.n : 1, sizeof(*jobs));
	if (!buf || (!pkg->zip && !jobs)) {
		r = mfw_fail(ctx, MFW_E_NOMEM, "out of memory");
		goto free_buf;
	}
	for (size_t i = 0; i < sums.n; i++) {
		char rel[MFW_PKG_PATH_MAX];

		r = md5_rel(ctx, layout->md5sum, sums.entries[i].path, rel, sizeof(rel));
		if (r < 0)
			goto free_buf;
		rep->checked++;
		if (vcache_hit(pkg, rel, sums.entries[i].md5)) {
			uint64_t sz = 0;
			mfw_pkg_stat(NULL, pkg, rel, &sz);
			done += sz;
			md5_progress(ctx, fn, user, done, total);
			continue;
		}
		if (jobs) {
			struct md5_job *j = &jobs[njobs++];

			snprintf(j->rel, sizeof(j->rel), "%s", rel);
			j->want = &sums.entries[i];
			mfw_pkg_stat(NULL, pkg, rel, &j->size);
			continue;
		}
		r = hash_one(ctx, pkg, rel, &sums.entries[i], layout->md5sum, buf, fn, user, &done,
			     total);
		if (r < 0)
			goto free_buf;
		vcache_store(pkg, rel, sums.entries[i].md5);
	}
	if (njobs) {
		r = md5_jobs_run(ctx, pkg, jobs, njobs, layout->md5sum, buf, fn, user, &done, total);
		if (r < 0)
			goto free_buf;
	}
	rep->bytes = done;
	r = check_references(ctx, pkg, layout, &sums, rep);
free_buf:
	free(jobs);
	free(buf);
free_sums:
	mfw_md5sum_free(&sums);
	if (r < 0 || !report)
		mfw_pkg_verify_report_free(rep);
	return r < 0 ? r : 0;
}
