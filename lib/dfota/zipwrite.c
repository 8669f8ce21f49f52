/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Deterministic zip output: sorted entries, fixed DOS time, fixed
 * attributes, no extra fields. libzip adds no extra fields of its own
 * when writing a seekable file with known sizes, and deflate at a fixed
 * level is a pure function of the input for one zlib.
 */
#include "dfota/zipwrite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "core/core.h"
#include "util/hash.h"

/* 2008-01-01 00:00:00 as DOS date/time (the AOSP signapk convention). */
#define ZIPW_DOS_DATE ((uint16_t)(((2008 - 1980) << 9) | (1 << 5) | 1))
#define ZIPW_DOS_TIME ((uint16_t)0)
#define ZIPW_CHUNK (64u << 10)

struct zipw_entry {
	char *name;
	char *host_path;      /* file entries */
	uint8_t *data;        /* buffer entries */
	size_t len;
	bool deflate;
	bool dir;
};

struct mfw_zipw {
	struct zipw_entry *v;
	size_t n, cap;
	bool sorted;
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct zipw_entry *)a)->name, ((const struct zipw_entry *)b)->name);
}

int mfw_zipw_new(struct mfw_zipw **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : MFW_E_NOMEM;
}

void mfw_zipw_free(struct mfw_zipw *zw)
{
	if (!zw)
		return;
	for (size_t i = 0; i < zw->n; i++) {
		free(zw->v[i].name);
		free(zw->v[i].host_path);
		free(zw->v[i].data);
	}
	free(zw->v);
	free(zw);
}

bool mfw_zipw_has(const struct mfw_zipw *zw, const char *name)
{
	for (size_t i = 0; i < zw->n; i++)
		if (!strcmp(zw->v[i].name, name))
			return true;
	return false;
}

/* A ".." component (not merely two dots in a name such as "libx..so"). */
static bool has_dotdot(const char *name)
{
	for (const char *p = name; p; p = strchr(p, '/')) {
		if (*p == '/')
			p++;
		if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || !p[2]))
			return true;
	}
	return false;
}

static int push(struct mfw_ctx *ctx, struct mfw_zipw *zw, const char *name, struct zipw_entry **out)
{
	struct zipw_entry *e;

	if (!*name || name[0] == '/' || has_dotdot(name))
		return mfw_fail(ctx, MFW_E_INVAL, "zip entry name '%s' is not a relative path", name);
	if (mfw_zipw_has(zw, name))
		return mfw_fail(ctx, MFW_E_EXIST, "zip entry '%s' added twice", name);
	if (zw->n == zw->cap) {
		size_t ncap = zw->cap ? zw->cap * 2 : 64;
		struct zipw_entry *nv = realloc(zw->v, ncap * sizeof(*nv));

		if (!nv)
			return MFW_E_NOMEM;
		zw->v = nv;
		zw->cap = ncap;
	}
	e = &zw->v[zw->n];
	memset(e, 0, sizeof(*e));
	e->name = strdup(name);
	if (!e->name)
		return MFW_E_NOMEM;
	zw->n++;
	zw->sorted = false;
	*out = e;
	return 0;
}

int mfw_zipw_add_file(struct mfw_ctx *ctx, struct mfw_zipw *zw, const char *name,
		      const char *host_path, bool deflate)
{
	struct zipw_entry *e;
	int r = push(ctx, zw, name, &e);

	if (r < 0)
		return r;
	e->host_path = strdup(host_path);
	e->deflate = deflate;
	return e->host_path ? 0 : MFW_E_NOMEM;
}

int mfw_zipw_add_buf(struct mfw_ctx *ctx, struct mfw_zipw *zw, const char *name,
		     const void *data, size_t len, bool deflate)
{
	struct zipw_entry *e;
	int r = push(ctx, zw, name, &e);

	if (r < 0)
		return r;
	e->data = malloc(len ? len : 1);
	if (!e->data)
		return MFW_E_NOMEM;
	if (len)
		memcpy(e->data, data, len);
	e->len = len;
	e->deflate = deflate;
	return 0;
}

int mfw_zipw_add_dir(struct mfw_ctx *ctx, struct mfw_zipw *zw, const char *name)
{
	struct zipw_entry *e;
	size_t n = strlen(name);
	int r;

	if (!n || name[n - 1] != '/')
		return mfw_fail(ctx, MFW_E_INVAL, "zip directory entry '%s' must end with '/'", name);
	r = push(ctx, zw, name, &e);
	if (r < 0)
		return r;
	e->dir = true;
	return 0;
}

static void sort_entries(struct mfw_zipw *zw)
{
	if (!zw->sorted && zw->n)
		qsort(zw->v, zw->n, sizeof(*zw->v), cmp_name);
	zw->sorted = true;
}

static int hash_host_file(struct mfw_ctx *ctx, struct mfw_hash *h, const char *path, uint8_t *buf)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return mfw_fail(ctx, MFW_E_IO, "cannot open '%s': %s", path, strerror(errno));
	for (;;) {
		ssize_t n = read(fd, buf, ZIPW_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = mfw_fail(ctx, MFW_E_IO, "cannot read '%s': %s", path, strerror(errno));
			break;
		}
		if (!n)
			break;
		r = mfw_hash_update(h, buf, (size_t)n);
		if (r < 0)
			break;
	}
	close(fd);
	return r;
}

int mfw_zipw_digest(struct mfw_ctx *ctx, struct mfw_zipw *zw, uint8_t out[32])
{
	struct mfw_hash h;
	uint8_t *buf;
	int r;

	sort_entries(zw);
	buf = malloc(ZIPW_CHUNK);
	if (!buf)
		return MFW_E_NOMEM;
	r = mfw_hash_init(&h, MFW_HASH_SHA256);
	if (r < 0)
		goto free_buf;
	for (size_t i = 0; i < zw->n && r >= 0; i++) {
		const struct zipw_entry *e = &zw->v[i];

		r = mfw_hash_update(&h, e->name, strlen(e->name));
		if (r >= 0 && e->host_path)
			r = hash_host_file(ctx, &h, e->host_path, buf);
		else if (r >= 0 && e->len)
			r = mfw_hash_update(&h, e->data, e->len);
	}
	if (r < 0) {
		mfw_hash_free(&h);
		goto free_buf;
	}
	r = mfw_hash_final(&h, out, 32);
	if (r >= 0)
		r = 0;
free_buf:
	free(buf);
	return r;
}

static int add_one(struct mfw_ctx *ctx, zip_t *za, const struct zipw_entry *e, const char *path)
{
	zip_source_t *src;
	zip_int64_t idx;
	uint32_t mode;

	if (e->dir) {
		idx = zip_dir_add(za, e->name, ZIP_FL_ENC_UTF_8);
		mode = 040755;
	} else {
		if (e->host_path)
			src = zip_source_file(za, e->host_path, 0, -1);
		else
			src = zip_source_buffer(za, e->data, e->len, 0);
		if (!src)
			return mfw_fail(ctx, MFW_E_IO, "'%s': cannot read the data of entry '%s': %s", path,
					e->name, zip_strerror(za));
		idx = zip_file_add(za, e->name, src, ZIP_FL_ENC_UTF_8);
		if (idx < 0)
			zip_source_free(src);
		mode = 0100644;
	}
	if (idx < 0)
		return mfw_fail(ctx, MFW_E_IO, "'%s': cannot add entry '%s': %s", path, e->name,
				zip_strerror(za));
	if (zip_file_set_dostime(za, (zip_uint64_t)idx, ZIPW_DOS_TIME, ZIPW_DOS_DATE, 0) < 0 ||
	    zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX, mode << 16) < 0 ||
	    zip_set_file_compression(za, (zip_uint64_t)idx,
				     e->deflate && !e->dir ? ZIP_CM_DEFLATE : ZIP_CM_STORE,
				     e->deflate ? 9 : 0) < 0)
		return mfw_fail(ctx, MFW_E_IO, "'%s': cannot set the attributes of '%s': %s", path,
				e->name, zip_strerror(za));
	return 0;
}

int mfw_zipw_write(struct mfw_ctx *ctx, struct mfw_zipw *zw, const char *path)
{
	char tmp[4096];
	zip_t *za;
	int ze = 0, r = 0;

	sort_entries(zw);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return mfw_fail(ctx, MFW_E_RANGE, "output path '%s' is too long", path);
	unlink(tmp);
	za = zip_open(tmp, ZIP_CREATE | ZIP_EXCL, &ze);
	if (!za) {
		zip_error_t zerr;

		zip_error_init_with_code(&zerr, ze);
		r = mfw_fail(ctx, MFW_E_IO, "cannot create '%s': %s", tmp, zip_error_strerror(&zerr));
		zip_error_fini(&zerr);
		return r;
	}
	for (size_t i = 0; i < zw->n && r >= 0; i++)
		r = add_one(ctx, za, &zw->v[i], tmp);
	if (r < 0)
		goto discard_zip;
	if (zip_close(za) < 0) {
		r = mfw_fail(ctx, MFW_E_IO, "cannot write '%s': %s", tmp, zip_strerror(za));
		goto discard_zip;
	}
	if (rename(tmp, path) < 0) {
		r = mfw_fail(ctx, MFW_E_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
		unlink(tmp);
		return r;
	}
	return 0;
discard_zip:
	zip_discard(za);
	unlink(tmp);
	return r;
}
