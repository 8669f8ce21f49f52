/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test fixture for the DFOTA updater: a seeded source/target firmware
 * model (rootfs files, directories, symlinks, metadata, preserved user
 * files, boot and modem partitions), an update.zip made from it with the
 * public delta API and libzip following docs/dfota-format.md, loading a
 * model into the simulated I/O backend, and tree digests. Header-only
 * (static functions) so unit tests and the power-cut driver share it.
 */
#ifndef MFW_TESTS_POWERCUT_FIXTURE_H
#define MFW_TESTS_POWERCUT_FIXTURE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include <modemfw/delta.h>

#include "core/core.h"
#include "dfota/dfio.h"
#include "util/hash.h"

enum fx_kind { FX_FILE, FX_DIR, FX_LINK };

struct fx_ent {
	char path[200];           /* absolute, "/etc/x" */
	enum fx_kind kind;
	uint8_t *data;            /* FX_FILE */
	size_t len;
	char link[200];           /* FX_LINK */
	uint32_t mode, uid, gid;
	bool preserved;           /* user file: never in the package */
	bool full;                /* shipped whole, never patched */
};

struct fx_part {
	char name[32];
	uint8_t *data;
	size_t len;
};

struct fx_image {
	struct fx_ent *e;
	size_t n, cap;
	struct fx_part part[4];
	size_t nparts;
	char version[64];
};

struct fx_opts {
	unsigned seed;
	unsigned files;            /* rootfs files in the source */
	size_t boot_size, modem_size;
	unsigned preserved;        /* user files under /data/user */
	bool deflate_patches;      /* store patches deflated (else stored) */
	bool wrong_source;         /* patches made against a different source */
	bool no_version_check;
};

/* ---- small helpers ---- */

static uint64_t fx_rng;

static uint32_t fx_rand(void)
{
	fx_rng ^= fx_rng << 13;
	fx_rng ^= fx_rng >> 7;
	fx_rng ^= fx_rng << 17;
	return (uint32_t)(fx_rng >> 16);
}

static void *fx_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(99);
	}
	return p;
}

static uint8_t *fx_dup(const uint8_t *d, size_t n)
{
	uint8_t *p = fx_xmalloc(n);
	if (n)
		memcpy(p, d, n);
	return p;
}

/* Code-like bytes: a small alphabet with repeats, so bsdiff finds structure. */
static uint8_t *fx_blob(size_t n)
{
	uint8_t *p = fx_xmalloc(n);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((fx_rand() % 7 == 0) ? fx_rand() : (i * 31 + (i >> 5)) & 0x3f);
	return p;
}

/* A localised edit, as a recompiled binary has. */
static uint8_t *fx_mutate(const uint8_t *d, size_t n, size_t *out_len)
{
	size_t ins = fx_rand() % 64, at = n ? fx_rand() % n : 0, len = n + ins;
	uint8_t *p = fx_xmalloc(len);
	memcpy(p, d, at);
	for (size_t i = 0; i < ins; i++)
		p[at + i] = (uint8_t)fx_rand();
	memcpy(p + at + ins, d + at, n - at);
	for (unsigned k = 0; k < 4 && len; k++)
		p[fx_rand() % len] ^= 0x5a;
	*out_len = len;
	return p;
}

static struct fx_ent *fx_add(struct fx_image *im, const char *path, enum fx_kind kind)
{
	struct fx_ent *e;
	if (im->n == im->cap) {
		im->cap = im->cap ? im->cap * 2 : 64;
		im->e = realloc(im->e, im->cap * sizeof(*im->e));
		if (!im->e)
			exit(99);
	}
	e = &im->e[im->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->path, sizeof(e->path), "%s", path);
	e->kind = kind;
	e->mode = kind == FX_DIR ? 0755 : kind == FX_LINK ? 0777 : 0644;
	return e;
}

static struct fx_ent *fx_find(const struct fx_image *im, const char *path)
{
	for (size_t i = 0; i < im->n; i++)
		if (!strcmp(im->e[i].path, path))
			return &im->e[i];
	return NULL;
}

static void fx_free(struct fx_image *im)
{
	for (size_t i = 0; i < im->n; i++)
		free(im->e[i].data);
	free(im->e);
	for (size_t i = 0; i < im->nparts; i++)
		free(im->part[i].data);
	memset(im, 0, sizeof(*im));
}

static void fx_set_file(struct fx_ent *e, uint8_t *data, size_t len)
{
	free(e->data);
	e->data = data;
	e->len = len;
}

static void fx_version_files(struct fx_image *im, const char *v)
{
	char buf[128];
	struct fx_ent *e;
	int n;
	snprintf(im->version, sizeof(im->version), "%s", v);
	if (!(e = fx_find(im, "/etc/quectel-project-version")))
		e = fx_add(im, "/etc/quectel-project-version", FX_FILE);
	n = snprintf(buf, sizeof(buf), "%s\n", v);
	fx_set_file(e, fx_dup((uint8_t *)buf, (size_t)n), (size_t)n);
	if (!(e = fx_find(im, "/etc/quectel-project-version.prop")))
		e = fx_add(im, "/etc/quectel-project-version.prop", FX_FILE);
	n = snprintf(buf, sizeof(buf), "# generated\nversion=%s\n", v);
	fx_set_file(e, fx_dup((uint8_t *)buf, (size_t)n), (size_t)n);
}

/* ---- model generation ---- */

#define FX_NDIRS 12

static void fx_generate(const struct fx_opts *o, struct fx_image *src, struct fx_image *dst)
{
	char path[200];
	memset(src, 0, sizeof(*src));
	memset(dst, 0, sizeof(*dst));
	fx_rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)o->seed * 0x100000001B3ull);
	if (!fx_rng)
		fx_rng = 1;

	fx_add(src, "/etc", FX_DIR);
	fx_add(src, "/data", FX_DIR);
	fx_add(src, "/data/user", FX_DIR);
	for (unsigned d = 0; d < FX_NDIRS; d++) {
		snprintf(path, sizeof(path), "/usr/d%02u", d);
		if (d == 0)
			fx_add(src, "/usr", FX_DIR);
		fx_add(src, path, FX_DIR);
	}
	for (unsigned i = 0; i < o->files; i++) {
		struct fx_ent *e;
		size_t len = 200 + fx_rand() % 3000;
		snprintf(path, sizeof(path), "/usr/d%02u/f%04u.bin", i % FX_NDIRS, i);
		e = fx_add(src, path, FX_FILE);
		fx_set_file(e, fx_blob(len), len);
		e->mode = (i % 5 == 0) ? 0755 : 0644;
	}
	fx_add(src, "/usr/old", FX_DIR);
	for (unsigned i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/usr/old/gone%u", i);
		fx_set_file(fx_add(src, path, FX_FILE), fx_blob(300), 300);
	}
	snprintf(fx_add(src, "/usr/lib-link", FX_LINK)->link, 200, "d00/f0000.bin");
	snprintf(fx_add(src, "/usr/abs-link", FX_LINK)->link, 200, "/usr/d01");
	for (unsigned i = 0; i < o->preserved; i++) {
		struct fx_ent *e;
		snprintf(path, sizeof(path), "/data/user/u%u.conf", i);
		e = fx_add(src, path, FX_FILE);
		fx_set_file(e, fx_blob(100 + i), 100 + i);
		e->preserved = true;
		e->mode = 0600;
		e->uid = 1000;
		e->gid = 1000;
	}
	fx_version_files(src, "RG520NEUDCR01A01M4G_01.001.01.001");
	src->nparts = 2;
	snprintf(src->part[0].name, 32, "boot");
	src->part[0].len = o->boot_size;
	src->part[0].data = fx_blob(o->boot_size);
	snprintf(src->part[1].name, 32, "modem");
	src->part[1].len = o->modem_size;
	src->part[1].data = fx_blob(o->modem_size);

	/* target: copy, then change */
	for (size_t i = 0; i < src->n; i++) {
		struct fx_ent *e = fx_add(dst, src->e[i].path, src->e[i].kind);
		*e = src->e[i];
		e->data = fx_dup(src->e[i].data, src->e[i].len);
	}
	for (size_t i = 0; i < dst->n; i++) {
		struct fx_ent *e = &dst->e[i];
		unsigned k = fx_rand() % 100;
		if (e->kind != FX_FILE || e->preserved || strncmp(e->path, "/usr/d", 6))
			continue;
		if (k < 45) {
			size_t len;
			uint8_t *p = fx_mutate(e->data, e->len, &len);
			fx_set_file(e, p, len);
			e->full = k < 3;
		} else if (k < 60) {
			e->path[0] = 0; /* removed */
		} else if (k < 65) {
			e->mode = e->mode == 0755 ? 0644 : 0755; /* metadata only */
		}
	}
	for (size_t i = 0; i < dst->n; i++)
		if (!strncmp(dst->e[i].path, "/usr/old", 8))
			dst->e[i].path[0] = 0;
	{
		size_t w = 0;
		for (size_t i = 0; i < dst->n; i++) {
			if (dst->e[i].path[0])
				dst->e[w++] = dst->e[i];
			else
				free(dst->e[i].data);
		}
		dst->n = w;
	}
	fx_add(dst, "/usr/new", FX_DIR)->mode = 0750;
	for (unsigned i = 0; i < o->files / 5 + 1; i++) {
		struct fx_ent *e;
		size_t len = 100 + fx_rand() % 2000;
		if (i % 3 == 0)
			snprintf(path, sizeof(path), "/usr/new/n%04u", i);
		else
			snprintf(path, sizeof(path), "/usr/d%02u/new%04u", i % FX_NDIRS, i);
		e = fx_add(dst, path, FX_FILE);
		fx_set_file(e, fx_blob(len), len);
		e->uid = i % 2;
		e->gid = i % 3;
	}
	snprintf(fx_find(dst, "/usr/lib-link")->link, 200, "d02/f0002.bin");
	snprintf(fx_add(dst, "/usr/new/link", FX_LINK)->link, 200, "../d03");
	fx_version_files(dst, "RG520NEUDCR01A01M4G_01.002.01.002");
	dst->nparts = 2;
	for (size_t p = 0; p < 2; p++) {
		size_t len;
		dst->part[p] = src->part[p];
		dst->part[p].data = fx_mutate(src->part[p].data, src->part[p].len, &len);
		/* boot shrinks (size list, trim), modem grows */
		dst->part[p].len = p == 0 ? len - 100 : len;
	}
}

/* ---- package ---- */

struct fx_buf {
	char *s;
	size_t len, cap;
};

static void fx_printf(struct fx_buf *b, const char *fmt, ...) MFW_PRINTF(2, 3);

static void fx_printf(struct fx_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
		va_end(ap);
		if (b->s && (size_t)n < room)
			break;
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		if (!b->s)
			exit(99);
	}
	b->len += (size_t)n;
}

static void fx_sha1(const uint8_t *d, size_t n, char hex[41])
{
	uint8_t h[20];
	mfw_hash_buf(MFW_HASH_SHA1, d, n, h);
	mfw_hex_encode(h, 20, hex);
}

struct fx_zip {
	zip_t *z;
	void **keep;
	size_t nkeep;
};

static void fx_zadd(struct fx_zip *zz, const char *name, uint8_t *data, size_t len, bool deflate)
{
	zip_source_t *src = zip_source_buffer(zz->z, data, len, 0);
	zip_int64_t idx;
	if (!src)
		exit(98);
	idx = zip_file_add(zz->z, name, src, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE);
	if (idx < 0)
		exit(98);
	zip_set_file_compression(zz->z, (zip_uint64_t)idx, deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
	zz->keep = realloc(zz->keep, (zz->nkeep + 1) * sizeof(void *));
	zz->keep[zz->nkeep++] = data;
}

static const struct fx_part *fx_part(const struct fx_image *im, const char *name)
{
	for (size_t i = 0; i < im->nparts; i++)
		if (!strcmp(im->part[i].name, name))
			return &im->part[i];
	return NULL;
}

/*
 * Build update.zip at path in the script shape of docs/dfota-format.md.
 * Returns 0 or exits on a fixture failure.
 */
static int fx_build(struct mfw_ctx *ctx, const struct fx_opts *o, const struct fx_image *src,
		    const struct fx_image *dst, const char *path)
{
	struct fx_buf sc = { 0 }, del = { 0 }, pat = { 0 }, ext = { 0 }, meta = { 0 }, md = { 0 };
	struct fx_zip zz = { 0 };
	int zerr;
	uint64_t need_cache = 0;
	unsigned npatched = 0;
	char h1[41], h2[41], name[300];

	zz.z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
	if (!zz.z)
		return -1;
	fx_printf(&sc, "ui_print(\"modemfw test update %s -> %s\");\n", src->version, dst->version);
	if (!o->no_version_check)
		fx_printf(&sc,
			  "file_getprop(\"/etc/quectel-project-version.prop\", \"version\") == \"%s\" || abort(\"E505: version is not %s\");\n",
			  src->version, src->version);
	/* removed entries (deepest first is not needed: delete_recursive on whole dirs) */
	for (size_t i = 0; i < src->n; i++) {
		const struct fx_ent *s = &src->e[i], *d = fx_find(dst, s->path);
		if (s->preserved || d)
			continue;
		if (s->kind == FX_DIR)
			fx_printf(&del, "delete_recursive(\"%s\");\n", s->path);
		else {
			char parent[200];
			snprintf(parent, sizeof(parent), "%s", s->path);
			*strrchr(parent, '/') = 0;
			if (fx_find(dst, parent))
				fx_printf(&del, "delete(\"%s\");\n", s->path);
		}
	}
	for (size_t i = 0; i < dst->n; i++) {
		const struct fx_ent *d = &dst->e[i], *s = fx_find(src, d->path);
		if (d->preserved)
			continue;
		if (d->kind == FX_FILE && s && s->kind == FX_FILE &&
		    (s->len != d->len || memcmp(s->data, d->data, d->len)) && !d->full) {
			uint8_t *p;
			size_t plen;
			const uint8_t *base = s->data;
			size_t blen = s->len;
			uint8_t *wrong = NULL;
			if (o->wrong_source && (npatched++ == 0 || (i % 7) == 0)) {
				wrong = fx_dup(s->data, s->len);
				wrong[0] ^= 1;
				base = wrong;
			}
			if (mfw_delta_diff_buf(ctx, base, blen, d->data, d->len, &p, &plen, NULL, NULL) < 0)
				exit(97);
			fx_sha1(base, blen, h1);
			free(wrong);
			fx_sha1(d->data, d->len, h2);
			snprintf(name, sizeof(name), "patch%s.p", d->path);
			fx_zadd(&zz, name, p, plen, o->deflate_patches);
			fx_printf(&sc,
				  "apply_patch_check(\"%s\", \"%s\", \"%s\") || abort(\"E510: \\\"%s\\\" has unexpected contents\");\n",
				  d->path, h2, h1, d->path);
			fx_printf(&pat, "apply_patch(\"%s\", \"-\", \"%s\", %zu, \"%s\", package_extract_file(\"%s\"));\n",
				  d->path, h2, d->len, h1, name);
			if (d->len > need_cache)
				need_cache = d->len;
		} else if (d->kind == FX_FILE && (!s || s->kind != FX_FILE || s->len != d->len ||
						  memcmp(s->data, d->data, d->len))) {
			snprintf(name, sizeof(name), "system%s", d->path);
			fx_zadd(&zz, name, fx_dup(d->data, d->len), d->len, true);
			fx_printf(&ext, "package_extract_file(\"%s\", \"%s\");\n", name, d->path);
		} else if (d->kind == FX_LINK && (!s || s->kind != FX_LINK || strcmp(s->link, d->link))) {
			fx_printf(&ext, "symlink(\"%s\", \"%s\");\n", d->link, d->path);
		}
		if (d->kind != FX_LINK)
			fx_printf(&meta, "set_metadata(\"%s\", \"uid\", \"%u\", \"gid\", \"%u\", \"mode\", \"0%o\");\n",
				  d->path, d->uid, d->gid, d->mode);
		else
			fx_printf(&meta, "set_metadata(\"%s\", \"uid\", \"%u\", \"gid\", \"%u\");\n",
				  d->path, d->uid, d->gid);
	}
	for (size_t p = 0; p < dst->nparts; p++) {
		const struct fx_part *d = &dst->part[p], *s = fx_part(src, d->name);
		uint8_t *patch;
		size_t plen;
		if (mfw_delta_diff_buf(ctx, s->data, s->len, d->data, d->len, &patch, &plen, NULL, NULL) < 0)
			exit(97);
		fx_sha1(s->data, s->len, h1);
		fx_sha1(d->data, d->len, h2);
		snprintf(name, sizeof(name), "%s.img.p", d->name);
		fx_zadd(&zz, name, patch, plen, o->deflate_patches);
		fx_printf(&sc,
			  "apply_patch_check(\"MTD:%s:%zu:%s:%zu:%s\") || abort(\"E510: \\\"%s\\\" has unexpected contents\");\n",
			  d->name, s->len, h1, d->len, h2, d->name);
		fx_printf(&pat,
			  "apply_patch(\"MTD:%s:%zu:%s:%zu:%s\", \"-\", \"%s\", %zu, \"%s\", package_extract_file(\"%s\"));\n",
			  d->name, s->len, h1, d->len, h2, h2, d->len, h1, name);
		if (s->len > need_cache)
			need_cache = s->len;
	}
	fx_printf(&sc, "apply_patch_space(%llu) || abort(\"E511: not enough space in /cache\");\n",
		  (unsigned long long)need_cache);
	fx_printf(&sc, "%s%s%s%s", del.s ? del.s : "", pat.s ? pat.s : "", ext.s ? ext.s : "",
		  meta.s ? meta.s : "");
	fx_printf(&sc, "show_progress(0.1, 0);\nset_progress(1.0);\nui_print(\"done\");\n");
	fx_printf(&md, "pre-version=%s\npost-version=%s\nscope=all\nrequired-cache=%llu\n",
		  src->version, dst->version, (unsigned long long)need_cache);
	fx_zadd(&zz, "META-INF/com/google/android/updater-script", (uint8_t *)sc.s, sc.len, true);
	fx_zadd(&zz, "META-INF/com/android/metadata", (uint8_t *)md.s, md.len, true);
	if (zip_close(zz.z) < 0)
		exit(96);
	for (size_t i = 0; i < zz.nkeep; i++)
		free(zz.keep[i]);
	free(zz.keep);
	free(del.s);
	free(pat.s);
	free(ext.s);
	free(meta.s);
	return 0;
}

/* ---- simulated module ---- */

static int fx_load(struct mfw_dfio *io, const struct fx_image *im)
{
	int fd, r = 0;
	mfw_dfio_mkdir(io, "/cache", 0755);
	mfw_dfio_mkdir(io, MFW_DFIO_PART_DIR, 0755);
	for (size_t i = 0; i < im->n && r == 0; i++) {
		const struct fx_ent *e = &im->e[i];
		r = mfw_dfio_mkdirs_parent(io, e->path, 0755);
		if (r < 0)
			break;
		if (e->kind == FX_DIR) {
			r = mfw_dfio_mkdir(io, e->path, e->mode);
			if (r == MFW_E_EXIST)
				r = 0;
		} else if (e->kind == FX_LINK) {
			r = mfw_dfio_symlink(io, e->link, e->path);
		} else {
			r = mfw_dfio_open(io, e->path, MFW_DFIO_WRITE | MFW_DFIO_TRUNC, e->mode, &fd);
			if (r == 0) {
				r = mfw_dfio_pwrite(io, fd, e->data, e->len, 0);
				mfw_dfio_close(io, fd);
			}
		}
		if (r == 0 && e->kind != FX_LINK)
			r = mfw_dfio_chmod(io, e->path, e->mode);
		if (r == 0)
			r = mfw_dfio_chown(io, e->path, e->uid, e->gid);
	}
	for (size_t p = 0; p < im->nparts && r == 0; p++) {
		char path[64];
		snprintf(path, sizeof(path), "%s/%s", MFW_DFIO_PART_DIR, im->part[p].name);
		r = mfw_dfio_open(io, path, MFW_DFIO_WRITE | MFW_DFIO_TRUNC, 0600, &fd);
		if (r == 0) {
			r = mfw_dfio_pwrite(io, fd, im->part[p].data, im->part[p].len, 0);
			mfw_dfio_close(io, fd);
		}
	}
	mfw_dfio_sim_sync_all(io);
	return r;
}

static const char *const fx_skip[] = { "cache", ".part", NULL };

struct fx_digest {
	uint8_t root[32], parts[32];
};

static int fx_digest(struct mfw_dfio *io, struct fx_digest *d)
{
	int r = mfw_dfio_tree_digest(io, "/", fx_skip, d->root, NULL, NULL);
	if (r == 0)
		r = mfw_dfio_tree_digest(io, MFW_DFIO_PART_DIR, NULL, d->parts, NULL, NULL);
	return r;
}

static bool fx_digest_eq(const struct fx_digest *a, const struct fx_digest *b)
{
	return !memcmp(a, b, sizeof(*a));
}

static inline void fx_print_line(void *user, const char *text)
{
	fprintf(user, "  %s\n", text);
}

/* Every preserved file still there, unchanged (content and metadata). */
static inline bool fx_preserved_ok(struct mfw_dfio *io, const struct fx_image *src)
{
	for (size_t i = 0; i < src->n; i++) {
		const struct fx_ent *e = &src->e[i];
		struct mfw_dfio_stat st;
		uint8_t *buf;
		size_t got = 0;
		int fd;
		bool ok;
		if (!e->preserved)
			continue;
		if (mfw_dfio_lstat(io, e->path, &st) < 0 || st.type != MFW_DFIO_REG ||
		    st.size != e->len || st.mode != e->mode || st.uid != e->uid || st.gid != e->gid)
			return false;
		if (mfw_dfio_open(io, e->path, MFW_DFIO_RDONLY, 0, &fd) < 0)
			return false;
		buf = fx_xmalloc(e->len);
		ok = mfw_dfio_pread(io, fd, buf, e->len, 0, &got) == 0 && got == e->len &&
		     !memcmp(buf, e->data, e->len);
		free(buf);
		mfw_dfio_close(io, fd);
		if (!ok)
			return false;
	}
	return true;
}

#endif
