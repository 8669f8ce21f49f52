/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DFOTA package builder: diff two targetfiles models into a plan, make
 * BSDIFF40 patches with the delta engine, render the updater-script the
 * format contract describes (docs/dfota-format.md), and write a
 * deterministic, optionally signed update.zip.
 */
#include "dfota/build.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <modemfw/delta.h>

#include "core/core.h"
#include "dfota/zipwrite.h"
#include "util/hash.h"

/* ---- string buffer ---- */

static void sbuf_grow(struct mfw_sbuf *b, size_t add)
{
	size_t ncap;
	char *np;

	if (b->oom || b->len + add + 1 <= b->cap)
		return;
	ncap = b->cap ? b->cap : 4096;
	while (ncap < b->len + add + 1)
		ncap *= 2;
	np = realloc(b->p, ncap);
	if (!np) {
		b->oom = true;
		return;
	}
	b->p = np;
	b->cap = ncap;
}

void mfw_sbuf_put(struct mfw_sbuf *b, const char *s)
{
	size_t n = strlen(s);

	sbuf_grow(b, n);
	if (b->oom)
		return;
	memcpy(b->p + b->len, s, n + 1);
	b->len += n;
}

void mfw_sbuf_printf(struct mfw_sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	sbuf_grow(b, (size_t)n);
	if (b->oom)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void mfw_sbuf_quote(struct mfw_sbuf *b, const char *s)
{
	mfw_sbuf_put(b, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '"':
			mfw_sbuf_put(b, "\\\"");
			break;
		case '\\':
			mfw_sbuf_put(b, "\\\\");
			break;
		case '\n':
			mfw_sbuf_put(b, "\\n");
			break;
		case '\t':
			mfw_sbuf_put(b, "\\t");
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				mfw_sbuf_printf(b, "\\x%02x", c);
			} else {
				char one[2] = { (char)c, 0 };

				mfw_sbuf_put(b, one);
			}
		}
	}
	mfw_sbuf_put(b, "\"");
}

/* "/<path>" as an edify string. */
static void put_root_path(struct mfw_sbuf *b, const char *path)
{
	char abs[MFW_TF_PATH_MAX + 2];

	snprintf(abs, sizeof(abs), "/%s", path);
	mfw_sbuf_quote(b, abs);
}

static void put_hex(struct mfw_sbuf *b, const uint8_t sha1[20])
{
	char hex[41];

	mfw_hex_encode(sha1, 20, hex);
	mfw_sbuf_quote(b, hex);
}

/* ---- scope ---- */

int mfw_dfota_scope_parse(const char *s, enum mfw_dfota_scope *out)
{
	static const char *const names[] = { "all", "rootfs", "modem", "kernel" };

	for (size_t i = 0; i < MFW_ARRAY_SIZE(names); i++) {
		if (!strcmp(s, names[i])) {
			*out = (enum mfw_dfota_scope)i;
			return 0;
		}
	}
	return MFW_E_INVAL;
}

const char *mfw_dfota_scope_name(enum mfw_dfota_scope scope)
{
	switch (scope) {
	case MFW_DFOTA_SCOPE_ALL:
		return "all";
	case MFW_DFOTA_SCOPE_ROOTFS:
		return "rootfs";
	case MFW_DFOTA_SCOPE_MODEM:
		return "modem";
	case MFW_DFOTA_SCOPE_KERNEL:
		return "kernel";
	}
	return "?";
}

static bool scope_has_rootfs(enum mfw_dfota_scope scope)
{
	return scope == MFW_DFOTA_SCOPE_ALL || scope == MFW_DFOTA_SCOPE_ROOTFS;
}

static bool scope_has_part(enum mfw_dfota_scope scope, const char *name)
{
	switch (scope) {
	case MFW_DFOTA_SCOPE_ALL:
		return true;
	case MFW_DFOTA_SCOPE_MODEM:
		return !strcmp(name, "modem");
	case MFW_DFOTA_SCOPE_KERNEL:
		return !strcmp(name, "boot");
	default:
		return false;
	}
}

/* ---- plan ---- */

static int cmp_item(const void *a, const void *b)
{
	return strcmp(((const struct mfw_dfota_item *)a)->path, ((const struct mfw_dfota_item *)b)->path);
}

/* Flags of the nearest processed ancestors of path, OR-ed (items so far are sorted). */
static unsigned ancestor_flags(const struct mfw_dfota_item *v, size_t n, const char *path)
{
	char buf[MFW_TF_PATH_MAX];
	unsigned f = 0;
	char *slash;

	snprintf(buf, sizeof(buf), "%s", path);
	while ((slash = strrchr(buf, '/'))) {
		struct mfw_dfota_item key = { .path = buf };
		const struct mfw_dfota_item *hit;

		*slash = '\0';
		hit = n ? bsearch(&key, v, n, sizeof(*v), cmp_item) : NULL;
		if (hit)
			f |= hit->flags;
	}
	return f;
}

static bool meta_differs(const struct mfw_tf_entry *s, const struct mfw_tf_entry *d)
{
	return s->mode != d->mode || s->uid != d->uid || s->gid != d->gid;
}

static bool content_differs(const struct mfw_tf_entry *s, const struct mfw_tf_entry *d)
{
	if (s->type != d->type)
		return true;
	if (s->type == MFW_TF_FILE)
		return s->size != d->size || memcmp(s->sha1, d->sha1, 20);
	if (s->type == MFW_TF_SYMLINK)
		return strcmp(s->link, d->link) != 0;
	return false;
}

static bool has_preserved_below(const struct mfw_tf *src, const struct mfw_tf_paths *preserve,
				const char *dir)
{
	size_t n = strlen(dir);

	for (size_t i = 0; i < src->nent; i++) {
		const char *p = src->ent[i].path;

		if (!strncmp(p, dir, n) && p[n] == '/' && mfw_tf_paths_match(preserve, p))
			return true;
	}
	return false;
}

static int plan_path(struct mfw_ctx *ctx, const struct mfw_tf *src, const struct mfw_tf_paths *full,
		     const struct mfw_tf_paths *preserve, struct mfw_dfota_item *v, size_t n,
		     struct mfw_dfota_item *it)
{
	const struct mfw_tf_entry *s = it->s, *d = it->d;
	bool retype = s && d && s->type != d->type;
	unsigned anc;

	if (mfw_tf_paths_match(preserve, it->path)) {
		if (!s || !d || content_differs(s, d) || meta_differs(s, d))
			it->flags = MFW_DFOTA_PRESERVED;
		return 0;
	}
	anc = ancestor_flags(v, n, it->path);
	if (s && (!d || retype)) {
		if (anc & (MFW_DFOTA_DELETE_DIR | MFW_DFOTA_COVERED))
			it->flags |= MFW_DFOTA_COVERED;
		else if (s->type != MFW_TF_DIR)
			it->flags |= MFW_DFOTA_DELETE;
		else if (!has_preserved_below(src, preserve, it->path))
			it->flags |= MFW_DFOTA_DELETE_DIR;
		else if (d)
			return mfw_fail(ctx, MFW_E_UNSUPPORTED,
					"'/%s' turns from a directory into another type but holds preserved files",
					it->path);
	}
	if (d && (!s || retype)) {
		if (anc & (MFW_DFOTA_EXTRACT_DIR | MFW_DFOTA_IN_NEW_DIR))
			it->flags |= MFW_DFOTA_IN_NEW_DIR;
		else if (d->type == MFW_TF_DIR)
			it->flags |= MFW_DFOTA_EXTRACT_DIR;
		else if (d->type == MFW_TF_FILE)
			it->flags |= MFW_DFOTA_EXTRACT;
		if (d->type == MFW_TF_SYMLINK)
			it->flags |= MFW_DFOTA_SYMLINK;
		else
			it->flags |= MFW_DFOTA_META;
		return 0;
	}
	if (!s || !d)
		return 0;
	if (content_differs(s, d)) {
		if (d->type == MFW_TF_FILE) {
			if (mfw_tf_paths_match(full, it->path) || d->synth)
				it->flags |= MFW_DFOTA_EXTRACT | MFW_DFOTA_FULL | MFW_DFOTA_META;
			else
				it->flags |= MFW_DFOTA_PATCH;
		} else if (d->type == MFW_TF_SYMLINK) {
			it->flags |= MFW_DFOTA_SYMLINK;
		}
	}
	if (d->type != MFW_TF_SYMLINK && meta_differs(s, d))
		it->flags |= MFW_DFOTA_META;
	return 0;
}

void mfw_dfota_plan_space(struct mfw_dfota_plan *plan)
{
	uint64_t part_max = 0, file_max = 0, grow = 0, shrink = 0;

	for (size_t i = 0; i < plan->npitem; i++) {
		const struct mfw_dfota_pitem *p = &plan->pitem[i];
		uint64_t m = p->d->size;

		if (p->s && p->s->size > m)
			m = p->s->size;
		if (m > part_max)
			part_max = m;
	}
	for (size_t i = 0; i < plan->nitem; i++) {
		const struct mfw_dfota_item *it = &plan->item[i];
		bool removes = it->flags & (MFW_DFOTA_DELETE | MFW_DFOTA_COVERED | MFW_DFOTA_PATCH |
					    MFW_DFOTA_FULL | MFW_DFOTA_DELETE_DIR);
		bool adds = it->flags & (MFW_DFOTA_PATCH | MFW_DFOTA_EXTRACT | MFW_DFOTA_IN_NEW_DIR);

		if (it->flags & MFW_DFOTA_PATCH) {
			uint64_t m = it->d->size > it->s->size ? it->d->size : it->s->size;

			if (m > file_max)
				file_max = m;
		}
		if (removes && it->s && it->s->type == MFW_TF_FILE)
			shrink += it->s->size;
		if (adds && it->d && it->d->type == MFW_TF_FILE)
			grow += it->d->size;
	}
	plan->required_cache = part_max + file_max;
	plan->required_root = grow > shrink ? grow - shrink : 0;
}

int mfw_dfota_plan_make(struct mfw_ctx *ctx, const struct mfw_tf *src, const struct mfw_tf *dst,
			enum mfw_dfota_scope scope, const struct mfw_tf_paths *full,
			const struct mfw_tf_paths *preserve, struct mfw_dfota_plan *plan)
{
	size_t i = 0, j = 0, n = 0, keep = 0;
	int r = 0;

	memset(plan, 0, sizeof(*plan));
	plan->scope = scope;
	snprintf(plan->pre, sizeof(plan->pre), "%s", src->version);
	snprintf(plan->post, sizeof(plan->post), "%s", dst->version);
	if (scope_has_rootfs(scope)) {
		plan->item = calloc(src->nent + dst->nent + 1, sizeof(*plan->item));
		if (!plan->item)
			return MFW_E_NOMEM;
		/* Merge walk: both models are sorted by path, so parents come before children. */
		while (i < src->nent || j < dst->nent) {
			struct mfw_dfota_item *it = &plan->item[n];
			int c;

			if (i == src->nent)
				c = 1;
			else if (j == dst->nent)
				c = -1;
			else
				c = strcmp(src->ent[i].path, dst->ent[j].path);
			if (c <= 0)
				it->s = &src->ent[i++];
			if (c >= 0)
				it->d = &dst->ent[j++];
			it->path = it->s ? it->s->path : it->d->path;
			r = plan_path(ctx, src, full, preserve, plan->item, n, it);
			if (r < 0)
				goto free_plan;
			n++;
		}
		/* Keep only items with something to do. */
		for (size_t k = 0; k < n; k++)
			if (plan->item[k].flags)
				plan->item[keep++] = plan->item[k];
		plan->nitem = keep;
	}
	for (size_t k = 0; k < dst->npart; k++) {
		const struct mfw_tf_part *d = &dst->part[k], *s;
		struct mfw_dfota_pitem *nv;

		if (!scope_has_part(scope, d->name))
			continue;
		s = mfw_tf_find_part(src, d->name);
		if (s && s->size == d->size && !memcmp(s->sha1, d->sha1, 20))
			continue;
		nv = realloc(plan->pitem, (plan->npitem + 1) * sizeof(*nv));
		if (!nv) {
			r = MFW_E_NOMEM;
			goto free_plan;
		}
		plan->pitem = nv;
		nv[plan->npitem].s = s;
		nv[plan->npitem].d = d;
		nv[plan->npitem].whole = !s;
		plan->npitem++;
	}
	if (scope == MFW_DFOTA_SCOPE_ALL) {
		for (size_t k = 0; k < dst->nrec; k++) {
			const struct mfw_tf_entry *d = &dst->rec[k], *s = NULL;
			const struct mfw_tf_entry **nv;

			for (size_t m = 0; m < src->nrec; m++)
				if (!strcmp(src->rec[m].path, d->path))
					s = &src->rec[m];
			if (s && s->size == d->size && !memcmp(s->sha1, d->sha1, 20))
				continue;
			nv = realloc(plan->rec, (plan->nrec + 1) * sizeof(*nv));
			if (!nv) {
				r = MFW_E_NOMEM;
				goto free_plan;
			}
			plan->rec = nv;
			nv[plan->nrec++] = d;
		}
	}
	mfw_dfota_plan_space(plan);
	return 0;
free_plan:
	mfw_dfota_plan_free(plan);
	return r;
}

void mfw_dfota_plan_free(struct mfw_dfota_plan *plan)
{
	free(plan->item);
	free(plan->pitem);
	free(plan->rec);
	memset(plan, 0, sizeof(*plan));
}

int mfw_dfota_mtd_name(const struct mfw_tf_part *s, const struct mfw_tf_part *d, char *out,
		       size_t cap)
{
	char hs[41], hd[41];

	mfw_hex_encode(s->sha1, 20, hs);
	mfw_hex_encode(d->sha1, 20, hd);
	if ((size_t)snprintf(out, cap, "MTD:%s:%llu:%s:%llu:%s", d->name, (unsigned long long)s->size,
			     hs, (unsigned long long)d->size, hd) >= cap)
		return MFW_E_RANGE;
	return 0;
}

/* ---- script ---- */

static void put_abort(struct mfw_sbuf *b, const char *code, const char *what, const char *tail)
{
	char msg[MFW_TF_PATH_MAX + 128];

	snprintf(msg, sizeof(msg), "%s: \"%s\"%s", code, what, tail);
	mfw_sbuf_put(b, " || abort(");
	mfw_sbuf_quote(b, msg);
	mfw_sbuf_put(b, ");\n");
}

static void put_meta(struct mfw_sbuf *b, const struct mfw_tf_entry *d)
{
	mfw_sbuf_put(b, "set_metadata(");
	put_root_path(b, d->path);
	mfw_sbuf_printf(b, ", \"uid\", \"%u\", \"gid\", \"%u\", \"mode\", \"%04o\");\n", d->uid, d->gid,
			d->mode);
}

static void put_zip_name(struct mfw_sbuf *b, const char *prefix, const char *path, const char *suffix)
{
	char name[MFW_TF_PATH_MAX + 32];

	snprintf(name, sizeof(name), "%s%s%s", prefix, path, suffix);
	mfw_sbuf_quote(b, name);
}

int mfw_dfota_plan_script(const struct mfw_dfota_plan *plan, char **text, size_t *len)
{
	struct mfw_sbuf b = { 0 };
	char msg[512], mtd[256];

	mfw_sbuf_printf(&b, "# modemfw DFOTA package, scope %s\n", mfw_dfota_scope_name(plan->scope));
	snprintf(msg, sizeof(msg), "modemfw DFOTA: %s -> %s", plan->pre, plan->post);
	mfw_sbuf_put(&b, "ui_print(");
	mfw_sbuf_quote(&b, msg);
	mfw_sbuf_put(&b, ");\n");
	/* 1. version pre-check */
	mfw_sbuf_put(&b, "file_getprop(\"/" MFW_TF_VERSION_PROP "\", \"version\") == ");
	mfw_sbuf_quote(&b, plan->pre);
	put_abort(&b, "E505", plan->pre, " is not the firmware on this module");
	/* 2. every source is what the patches expect (or already the target) */
	for (size_t i = 0; i < plan->nitem; i++) {
		const struct mfw_dfota_item *it = &plan->item[i];
		char abs[MFW_TF_PATH_MAX + 2];

		if (!(it->flags & MFW_DFOTA_PATCH))
			continue;
		mfw_sbuf_put(&b, "apply_patch_check(");
		put_root_path(&b, it->path);
		mfw_sbuf_put(&b, ", ");
		put_hex(&b, it->s->sha1);
		mfw_sbuf_put(&b, ", ");
		put_hex(&b, it->d->sha1);
		mfw_sbuf_put(&b, ")");
		snprintf(abs, sizeof(abs), "/%s", it->path);
		put_abort(&b, "E510", abs, " has unexpected contents");
	}
	for (size_t i = 0; i < plan->npitem; i++) {
		const struct mfw_dfota_pitem *p = &plan->pitem[i];

		if (p->whole)
			continue;
		mfw_dfota_mtd_name(p->s, p->d, mtd, sizeof(mtd));
		mfw_sbuf_put(&b, "apply_patch_check(");
		mfw_sbuf_quote(&b, mtd);
		mfw_sbuf_put(&b, ", ");
		put_hex(&b, p->s->sha1);
		mfw_sbuf_put(&b, ", ");
		put_hex(&b, p->d->sha1);
		mfw_sbuf_put(&b, ")");
		put_abort(&b, "E510", p->d->name, " partition has unexpected contents");
	}
	/* 3. space for the source copies in /cache */
	mfw_sbuf_printf(&b, "apply_patch_space(\"%llu\")", (unsigned long long)plan->required_cache);
	put_abort(&b, "E511", "/cache", " has not enough free space");
	mfw_sbuf_put(&b, "set_progress(\"0.1\");\n");
	/* 4. deletes */
	for (size_t i = 0; i < plan->nitem; i++) {
		const struct mfw_dfota_item *it = &plan->item[i];

		if (it->flags & MFW_DFOTA_DELETE) {
			mfw_sbuf_put(&b, "delete(");
			put_root_path(&b, it->path);
			mfw_sbuf_put(&b, ");\n");
		} else if (it->flags & MFW_DFOTA_DELETE_DIR) {
			mfw_sbuf_put(&b, "delete_recursive(");
			put_root_path(&b, it->path);
			mfw_sbuf_put(&b, ");\n");
		}
	}
	mfw_sbuf_put(&b, "set_progress(\"0.2\");\n");
	/* 5. patches: files, then partitions */
	for (size_t i = 0; i < plan->nitem; i++) {
		const struct mfw_dfota_item *it = &plan->item[i];

		if (!(it->flags & MFW_DFOTA_PATCH))
			continue;
		mfw_sbuf_put(&b, "apply_patch(");
		put_root_path(&b, it->path);
		mfw_sbuf_put(&b, ", \"-\", ");
		put_hex(&b, it->d->sha1);
		mfw_sbuf_printf(&b, ", \"%llu\", ", (unsigned long long)it->d->size);
		put_hex(&b, it->s->sha1);
		mfw_sbuf_put(&b, ", package_extract_file(");
		put_zip_name(&b, "patch/", it->path, ".p");
		mfw_sbuf_put(&b, "));\n");
	}
	for (size_t i = 0; i < plan->npitem; i++) {
		const struct mfw_dfota_pitem *p = &plan->pitem[i];

		if (p->whole) {
			mfw_sbuf_put(&b, "write_raw_image(package_extract_file(");
			put_zip_name(&b, "", p->d->name, ".img");
			mfw_sbuf_put(&b, "), ");
			mfw_sbuf_quote(&b, p->d->name);
			mfw_sbuf_put(&b, ");\n");
			continue;
		}
		mfw_dfota_mtd_name(p->s, p->d, mtd, sizeof(mtd));
		mfw_sbuf_put(&b, "apply_patch(");
		mfw_sbuf_quote(&b, mtd);
		mfw_sbuf_put(&b, ", \"-\", ");
		put_hex(&b, p->d->sha1);
		mfw_sbuf_printf(&b, ", \"%llu\", ", (unsigned long long)p->d->size);
		put_hex(&b, p->s->sha1);
		mfw_sbuf_put(&b, ", package_extract_file(");
		put_zip_name(&b, "", p->d->name, ".img.p");
		mfw_sbuf_put(&b, "));\n");
	}
	mfw_sbuf_put(&b, "set_progress(\"0.7\");\n");
	/* 6. new and full-replace files, new subtrees, symlinks */
	for (size_t i = 0; i < plan->nitem; i++) {
		const struct mfw_dfota_item *it = &plan->item[i];

		if (it->flags & MFW_DFOTA_EXTRACT_DIR) {
			mfw_sbuf_put(&b, "package_extract_dir(");
			put_zip_name(&b, "system/", it->path, "");
			mfw_sbuf_put(&b, ", ");
			put_root_path(&b, it->path);
			mfw_sbuf_put(&b, ");\n");
		} else if (it->flags & MFW_DFOTA_EXTRACT) {
			mfw_sbuf_put(&b, "package_extract_file(");
			put_zip_name(&b, "system/", it->path, "");
			mfw_sbuf_put(&b, ", ");
			put_root_path(&b, it->path);
			mfw_sbuf_put(&b, ");\n");
		}
	}
	for (size_t i = 0; i < plan->nitem; i++) {
		const struct mfw_dfota_item *it = &plan->item[i];

		if (!(it->flags & MFW_DFOTA_SYMLINK))
			continue;
		mfw_sbuf_put(&b, "symlink(");
		mfw_sbuf_quote(&b, it->d->link);
		mfw_sbuf_put(&b, ", ");
		put_root_path(&b, it->path);
		mfw_sbuf_put(&b, ");\n");
	}
	mfw_sbuf_put(&b, "set_progress(\"0.9\");\n");
	/* 7. metadata */
	for (size_t i = 0; i < plan->nitem; i++) {
		const struct mfw_dfota_item *it = &plan->item[i];

		if (it->flags & MFW_DFOTA_META)
			put_meta(&b, it->d);
	}
	/* 8. done */
	mfw_sbuf_put(&b, "set_progress(\"1.0\");\nui_print(\"done\");\n");
	if (b.oom) {
		free(b.p);
		return MFW_E_NOMEM;
	}
	*text = b.p;
	*len = b.len;
	return 0;
}

int mfw_dfota_plan_metadata(const struct mfw_dfota_plan *plan, char **text, size_t *len)
{
	struct mfw_sbuf b = { 0 };

	mfw_sbuf_printf(&b, "pre-version=%s\npost-version=%s\nscope=%s\nrequired-cache=%llu\nrequired-root=%llu\n",
			plan->pre, plan->post, mfw_dfota_scope_name(plan->scope),
			(unsigned long long)plan->required_cache,
			(unsigned long long)plan->required_root);
	if (b.oom) {
		free(b.p);
		return MFW_E_NOMEM;
	}
	*text = b.p;
	*len = b.len;
	return 0;
}

/* ---- signature ---- */

static EVP_PKEY *read_pem(struct mfw_ctx *ctx, const char *path, bool private_key, int *err)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *pk;

	if (!f) {
		*err = mfw_fail(ctx, errno == ENOENT ? MFW_E_NOENT : MFW_E_IO, "cannot open key '%s': %s",
				path, strerror(errno));
		return NULL;
	}
	pk = private_key ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (!pk) {
		*err = mfw_fail(ctx, MFW_E_FORMAT, "'%s' is not a PEM %s key", path,
				private_key ? "private" : "public");
		return NULL;
	}
	if (EVP_PKEY_id(pk) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(pk);
		*err = mfw_fail(ctx, MFW_E_UNSUPPORTED, "key '%s' is not an ed25519 key", path);
		return NULL;
	}
	return pk;
}

int mfw_dfota_sign(struct mfw_ctx *ctx, const char *key_pem, const uint8_t digest[32], char *out,
		   size_t cap)
{
	uint8_t pub[32], sig[64];
	char hpub[65], hsig[129];
	size_t plen = sizeof(pub), slen = sizeof(sig);
	EVP_MD_CTX *m;
	EVP_PKEY *pk;
	int r = 0;

	pk = read_pem(ctx, key_pem, true, &r);
	if (!pk)
		return r;
	m = EVP_MD_CTX_new();
	if (!m) {
		r = MFW_E_NOMEM;
		goto free_key;
	}
	if (EVP_PKEY_get_raw_public_key(pk, pub, &plen) != 1 || plen != 32 ||
	    EVP_DigestSignInit(m, NULL, NULL, NULL, pk) != 1 ||
	    EVP_DigestSign(m, sig, &slen, digest, 32) != 1 || slen != 64) {
		r = mfw_fail(ctx, MFW_E_IO, "signing with '%s' failed in libcrypto", key_pem);
		goto free_md;
	}
	mfw_hex_encode(pub, 32, hpub);
	mfw_hex_encode(sig, 64, hsig);
	if ((size_t)snprintf(out, cap, "ed25519 %s %s", hpub, hsig) >= cap)
		r = MFW_E_RANGE;
free_md:
	EVP_MD_CTX_free(m);
free_key:
	EVP_PKEY_free(pk);
	return r;
}

int mfw_dfota_verify_sig(struct mfw_ctx *ctx, const char *pubkey_pem, const uint8_t digest[32],
			 const char *line, size_t len)
{
	uint8_t pub[32], sig[64], want[32];
	size_t wlen = sizeof(want);
	char buf[256];
	EVP_PKEY *pk = NULL, *given = NULL;
	EVP_MD_CTX *m = NULL;
	int r = 0;

	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len != 8 + 64 + 1 + 128 || memcmp(line, "ed25519 ", 8) || line[72] != ' ')
		return mfw_fail(ctx, MFW_E_FORMAT, "signature entry is not 'ed25519 <pubkey> <signature>'");
	memcpy(buf, line, len);
	buf[len] = '\0';
	if (mfw_hex_decode(buf + 8, 64, pub, 32) < 0 || mfw_hex_decode(buf + 73, 128, sig, 64) < 0)
		return mfw_fail(ctx, MFW_E_FORMAT, "signature entry holds bad hex");
	if (pubkey_pem) {
		given = read_pem(ctx, pubkey_pem, false, &r);
		if (!given)
			return r;
		if (EVP_PKEY_get_raw_public_key(given, want, &wlen) != 1 || wlen != 32 ||
		    memcmp(want, pub, 32)) {
			r = mfw_fail(ctx, MFW_E_VERIFY, "package is signed by another key than '%s'", pubkey_pem);
			goto free_all;
		}
	}
	pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	m = EVP_MD_CTX_new();
	if (!pk || !m) {
		r = MFW_E_NOMEM;
		goto free_all;
	}
	if (EVP_DigestVerifyInit(m, NULL, NULL, NULL, pk) != 1 ||
	    EVP_DigestVerify(m, sig, 64, digest, 32) != 1)
		r = mfw_fail(ctx, MFW_E_VERIFY, "package signature does not verify");
free_all:
	EVP_MD_CTX_free(m);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(given);
	return r;
}

/* ---- building ---- */

/* Old + new bytes diffed in memory; above, the engine's file interface. */
#define BUILD_BUF_DIFF_MAX (16u << 20)

struct builder {
	struct mfw_ctx *ctx;
	struct mfw_tf *src, *dst;
	struct mfw_zipw *zw;
	char work[PATH_MAX];
	unsigned nwork;        /* scratch files made so far (work/NNNNNN) */
	struct mfw_dfota_build_stats st;
};

static int work_path(struct builder *b, const char *suffix, char *out, size_t cap)
{
	if ((size_t)snprintf(out, cap, "%s/%06u%s", b->work, b->nwork++, suffix) >= cap)
		return mfw_fail(b->ctx, MFW_E_RANGE, "scratch path in '%s' too long", b->work);
	return 0;
}

static void remove_work(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[PATH_MAX + 256];

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

/* Add a member of dst as a whole entry (from its own file when dst is a directory). */
static int add_member(struct builder *b, struct mfw_tf *tf, const char *rel, const char *name)
{
	char tmp[PATH_MAX], local[PATH_MAX];
	int r;

	r = work_path(b, ".x", tmp, sizeof(tmp));
	if (r >= 0)
		r = mfw_tf_local_path(b->ctx, tf, rel, tmp, local, sizeof(local));
	if (r >= 0)
		r = mfw_zipw_add_file(b->ctx, b->zw, name, local, true);
	return r;
}

/*
 * Make the patch old -> new into a scratch file. *use_patch is false when
 * the patch is not smaller than the new file: then shipping it whole is
 * both smaller and simpler for the device.
 */
/* Whole member into a buffer (small files only: see BUILD_BUF_DIFF_MAX). */
static int read_member(struct builder *b, struct mfw_tf *tf, const char *rel, uint64_t size,
		       uint8_t **out)
{
	struct mfw_tf_file *f = NULL;
	uint8_t *buf = malloc(size ? size : 1);
	size_t n = 0;
	int r;

	if (!buf)
		return MFW_E_NOMEM;
	r = mfw_tf_file_open(b->ctx, tf, rel, &f);
	while (r >= 0 && n < size) {
		size_t got;

		r = mfw_tf_file_read(b->ctx, f, buf + n, size - n, &got);
		if (r >= 0 && !got)
			r = mfw_fail(b->ctx, MFW_E_IO, "'%s' in '%s' ended early", rel, tf->root);
		n += got;
	}
	mfw_tf_file_close(f);
	if (r < 0) {
		free(buf);
		return r;
	}
	*out = buf;
	return 0;
}

static int write_host_file(struct mfw_ctx *ctx, const char *path, const uint8_t *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int r = 0;

	if (!f)
		return mfw_fail(ctx, MFW_E_IO, "cannot create '%s': %s", path, strerror(errno));
	if (fwrite(data, 1, len, f) != len)
		r = mfw_fail(ctx, MFW_E_IO, "cannot write '%s': %s", path, strerror(errno));
	if (fclose(f) != 0 && r >= 0)
		r = mfw_fail(ctx, MFW_E_IO, "cannot write '%s': %s", path, strerror(errno));
	return r;
}

/*
 * Make the patch old -> new into a scratch file. *use_patch is false when
 * the patch is not smaller than the new file: then shipping it whole is
 * both smaller and simpler for the device. Small pairs are diffed in
 * memory (no extraction, no fsync per patch: a rootfs has thousands);
 * larger ones go through the engine's file interface and its bounded
 * block index.
 */
static int make_patch(struct builder *b, const char *old_rel, struct mfw_tf *otf, uint64_t old_size,
		      const char *new_rel, struct mfw_tf *ntf, uint64_t new_size, char *patch,
		      size_t cap, bool *use_patch)
{
	char otmp[PATH_MAX], ntmp[PATH_MAX], old[PATH_MAX], new_path[PATH_MAX];
	struct mfw_delta_opts o = { .format = MFW_DELTA_BSDIFF40 };
	struct mfw_delta_stats ds;
	int r;

	r = work_path(b, ".p", patch, cap);
	if (r < 0)
		return r;
	if (old_size + new_size <= BUILD_BUF_DIFF_MAX) {
		uint8_t *ob = NULL, *nb = NULL, *pb = NULL;
		size_t plen = 0;

		r = read_member(b, otf, old_rel, old_size, &ob);
		if (r >= 0)
			r = read_member(b, ntf, new_rel, new_size, &nb);
		if (r >= 0)
			r = mfw_delta_diff_buf(b->ctx, ob, old_size, nb, new_size, &pb, &plen, &o, &ds);
		free(ob);
		free(nb);
		if (r >= 0 && ds.patch_size < new_size)
			r = write_host_file(b->ctx, patch, pb, plen);
		free(pb);
		if (r < 0)
			return r;
		*use_patch = ds.patch_size < new_size;
		return 0;
	}
	r = work_path(b, ".o", otmp, sizeof(otmp));
	if (r >= 0)
		r = work_path(b, ".n", ntmp, sizeof(ntmp));
	if (r >= 0)
		r = mfw_tf_local_path(b->ctx, otf, old_rel, otmp, old, sizeof(old));
	if (r >= 0)
		r = mfw_tf_local_path(b->ctx, ntf, new_rel, ntmp, new_path, sizeof(new_path));
	if (r >= 0)
		r = mfw_delta_diff(b->ctx, old, new_path, patch, &o, &ds);
	/* Extracted copies are not needed once the patch exists. */
	unlink(otmp);
	unlink(ntmp);
	if (r < 0)
		return r;
	*use_patch = ds.patch_size < new_size;
	if (!*use_patch)
		unlink(patch);
	return 0;
}

/*
 * Patches of small files are made by two worker threads ahead of the
 * (ordered, single-threaded) zip assembly: a rootfs is thousands of small
 * files, each too small for the engine's own threads to help. Workers call
 * the engine without a context (the context is not thread-safe); a failed
 * job is redone on the main thread, which then gets the detail sentence.
 * Patch bytes do not depend on the thread that made them.
 */
#define BUILD_WORKERS 2

struct patch_job {
	bool done;
	bool use_patch;
	char path[PATH_MAX];
};

struct patch_pool {
	struct builder *b;
	struct mfw_dfota_plan *plan;
	struct patch_job *job;
	size_t next;
	pthread_mutex_t lock;    /* next, and every read of a zip targetfiles (libzip is not thread-safe) */
};

static int pool_read(struct patch_pool *pp, struct mfw_tf *tf, const char *rel, uint64_t size,
		     uint8_t **out)
{
	struct builder tmp = { .ctx = NULL };
	bool zip = tf->src && mfw_tf_is_zip(tf);
	int r;

	if (zip)
		pthread_mutex_lock(&pp->lock);
	r = read_member(&tmp, tf, rel, size, out);
	if (zip)
		pthread_mutex_unlock(&pp->lock);
	return r;
}

static void pool_one(struct patch_pool *pp, size_t i)
{
	struct mfw_dfota_item *it = &pp->plan->item[i];
	struct patch_job *job = &pp->job[i];
	struct mfw_delta_opts o = { .format = MFW_DELTA_BSDIFF40, .threads = 1 };
	struct mfw_delta_stats ds;
	char srel[MFW_TF_PATH_MAX + 16], drel[MFW_TF_PATH_MAX + 16];
	uint8_t *ob = NULL, *nb = NULL, *pb = NULL;
	size_t plen = 0;
	int r;

	mfw_tf_entry_rel(it->s, srel, sizeof(srel));
	mfw_tf_entry_rel(it->d, drel, sizeof(drel));
	r = pool_read(pp, pp->b->src, srel, it->s->size, &ob);
	if (r >= 0)
		r = pool_read(pp, pp->b->dst, drel, it->d->size, &nb);
	if (r >= 0)
		r = mfw_delta_diff_buf(NULL, ob, it->s->size, nb, it->d->size, &pb, &plen, &o, &ds);
	free(ob);
	free(nb);
	if (r >= 0 && ds.patch_size < it->d->size)
		r = write_host_file(NULL, job->path, pb, plen);
	free(pb);
	if (r < 0)
		return;
	job->use_patch = ds.patch_size < it->d->size;
	job->done = true;
}

static void *pool_worker(void *arg)
{
	struct patch_pool *pp = arg;

	for (;;) {
		const struct mfw_dfota_item *it;
		size_t i;

		pthread_mutex_lock(&pp->lock);
		while (pp->next < pp->plan->nitem && !(pp->plan->item[pp->next].flags & MFW_DFOTA_PATCH))
			pp->next++;
		i = pp->next++;
		pthread_mutex_unlock(&pp->lock);
		if (i >= pp->plan->nitem || mfw_cancelled(pp->b->ctx))
			return NULL;
		it = &pp->plan->item[i];
		/* large pairs go through the engine's file interface on the main thread */
		if (it->s->size + it->d->size > BUILD_BUF_DIFF_MAX)
			continue;
		pool_one(pp, i);
	}
}

/* Fill jobs[i] for the PATCH items it could do; the rest stay !done. */
static int pool_run(struct builder *b, struct mfw_dfota_plan *plan, struct patch_job *jobs)
{
	struct patch_pool pp = { .b = b, .plan = plan, .job = jobs };
	pthread_t th[BUILD_WORKERS];
	size_t started = 0;

	for (size_t i = 0; i < plan->nitem; i++)
		if ((size_t)snprintf(jobs[i].path, sizeof(jobs[i].path), "%s/j%06zu.p", b->work, i) >=
		    sizeof(jobs[i].path))
			return mfw_fail(b->ctx, MFW_E_RANGE, "scratch path in '%s' too long", b->work);
	if (pthread_mutex_init(&pp.lock, NULL))
		return MFW_E_NOMEM;
	for (size_t t = 0; t < BUILD_WORKERS; t++) {
		if (pthread_create(&th[t], NULL, pool_worker, &pp))
			break;
		started++;
	}
	/* with no thread at all, everything is done on the main thread */
	for (size_t t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	pthread_mutex_destroy(&pp.lock);
	return 0;
}

static int add_files(struct builder *b, struct mfw_dfota_plan *plan)
{
	struct mfw_ctx *ctx = b->ctx;
	struct patch_job *jobs;
	int r = 0;

	jobs = calloc(plan->nitem ? plan->nitem : 1, sizeof(*jobs));
	if (!jobs)
		return MFW_E_NOMEM;
	r = pool_run(b, plan, jobs);
	for (size_t i = 0; i < plan->nitem && r >= 0; i++) {
		struct mfw_dfota_item *it = &plan->item[i];
		char rel[MFW_TF_PATH_MAX + 16], name[MFW_TF_PATH_MAX + 16], patch[PATH_MAX];
		bool use_patch;

		if (mfw_cancelled(ctx)) {
			r = MFW_E_CANCELLED;
			break;
		}
		mfw_progress(ctx, "diff", it->path, i + 1, plan->nitem);
		if (it->flags & MFW_DFOTA_PATCH) {
			char srel[MFW_TF_PATH_MAX + 16];

			if (jobs[i].done) {
				snprintf(patch, sizeof(patch), "%s", jobs[i].path);
				use_patch = jobs[i].use_patch;
			} else {
				mfw_tf_entry_rel(it->s, srel, sizeof(srel));
				mfw_tf_entry_rel(it->d, rel, sizeof(rel));
				r = make_patch(b, srel, b->src, it->s->size, rel, b->dst, it->d->size, patch,
					       sizeof(patch), &use_patch);
				if (r < 0)
					break;
			}
			if (use_patch) {
				snprintf(name, sizeof(name), "patch/%s.p", it->path);
				r = mfw_zipw_add_file(ctx, b->zw, name, patch, false);
				b->st.patched++;
				if (meta_differs(it->s, it->d))
					b->st.metadata++;
				continue;
			}
			it->flags &= ~MFW_DFOTA_PATCH;
			it->flags |= MFW_DFOTA_EXTRACT | MFW_DFOTA_FULL | MFW_DFOTA_META;
		}
		if (it->d && (it->flags & (MFW_DFOTA_EXTRACT | MFW_DFOTA_IN_NEW_DIR)) &&
		    it->d->type == MFW_TF_FILE) {
			mfw_tf_entry_rel(it->d, rel, sizeof(rel));
			snprintf(name, sizeof(name), "system/%s", it->path);
			r = add_member(b, b->dst, rel, name);
			if (it->flags & MFW_DFOTA_FULL)
				b->st.full++;
			else
				b->st.added++;
		} else if (it->d && it->d->type == MFW_TF_DIR &&
			   (it->flags & (MFW_DFOTA_EXTRACT_DIR | MFW_DFOTA_IN_NEW_DIR))) {
			snprintf(name, sizeof(name), "system/%s/", it->path);
			r = mfw_zipw_add_dir(ctx, b->zw, name);
		}
		if (it->flags & (MFW_DFOTA_DELETE | MFW_DFOTA_DELETE_DIR | MFW_DFOTA_COVERED))
			b->st.removed++;
		if (it->flags & MFW_DFOTA_SYMLINK)
			b->st.symlinks++;
		if (it->flags & MFW_DFOTA_PRESERVED)
			b->st.preserved++;
		if (it->flags & MFW_DFOTA_META)
			b->st.metadata++;
	}
	free(jobs);
	return r;
}

static int add_parts(struct builder *b, struct mfw_dfota_plan *plan)
{
	int r = 0;

	for (size_t i = 0; i < plan->npitem && r >= 0; i++) {
		struct mfw_dfota_pitem *p = &plan->pitem[i];
		char name[96], patch[PATH_MAX];
		bool use_patch = false;

		mfw_progress(b->ctx, "diff", p->d->name, i + 1, plan->npitem);
		if (!p->whole) {
			r = make_patch(b, p->s->rel, b->src, p->s->size, p->d->rel, b->dst, p->d->size,
				       patch, sizeof(patch), &use_patch);
			if (r < 0)
				break;
		}
		if (use_patch) {
			snprintf(name, sizeof(name), "%s.img.p", p->d->name);
			r = mfw_zipw_add_file(b->ctx, b->zw, name, patch, false);
		} else {
			p->whole = true;
			snprintf(name, sizeof(name), "%s.img", p->d->name);
			r = add_member(b, b->dst, p->d->rel, name);
		}
		b->st.partitions++;
	}
	for (size_t i = 0; i < plan->nrec && r >= 0; i++) {
		char rel[MFW_TF_PATH_MAX + 16], name[MFW_TF_PATH_MAX + 16];

		snprintf(rel, sizeof(rel), "RECOVERY/%s", plan->rec[i]->path);
		snprintf(name, sizeof(name), "recovery/%s", plan->rec[i]->path);
		r = add_member(b, b->dst, rel, name);
		b->st.recovery++;
	}
	return r;
}

static int load_paths(struct mfw_ctx *ctx, const char *file, struct mfw_tf_paths *out)
{
	char *text;
	size_t len;
	int r = mfw_tf_read_text(ctx, file, &text, &len);

	if (r < 0)
		return r;
	r = mfw_tf_parse_paths(ctx, file, text, len, out);
	free(text);
	return r;
}

static int finish_zip(struct builder *b, struct mfw_dfota_plan *plan, const char *key_pem,
		      const char *out_path)
{
	char *script = NULL, *meta = NULL;
	size_t slen, mlen;
	int r;

	/* Patch-or-whole decisions change the space needed and the script. */
	mfw_dfota_plan_space(plan);
	b->st.required_cache = plan->required_cache;
	b->st.required_root = plan->required_root;
	r = mfw_dfota_plan_script(plan, &script, &slen);
	if (r >= 0)
		r = mfw_dfota_plan_metadata(plan, &meta, &mlen);
	if (r >= 0)
		r = mfw_zipw_add_buf(b->ctx, b->zw, "META-INF/com/google/android/updater-script", script,
				     slen, true);
	if (r >= 0)
		r = mfw_zipw_add_buf(b->ctx, b->zw, "META-INF/com/android/metadata", meta, mlen, true);
	free(script);
	free(meta);
	if (r >= 0 && key_pem) {
		uint8_t digest[32];
		char line[256];

		r = mfw_zipw_digest(b->ctx, b->zw, digest);
		if (r >= 0)
			r = mfw_dfota_sign(b->ctx, key_pem, digest, line, sizeof(line));
		if (r >= 0)
			r = mfw_zipw_add_buf(b->ctx, b->zw, "META-INF/com/modemfw/signature", line,
					     strlen(line), false);
		b->st.signed_ = r >= 0;
	}
	if (r >= 0)
		r = mfw_zipw_write(b->ctx, b->zw, out_path);
	return r;
}

int mfw_dfota_build(struct mfw_ctx *ctx, const char *src, const char *dst, const char *out_path,
		    const struct mfw_dfota_build_opts *opts, struct mfw_dfota_build_stats *stats)
{
	static const struct mfw_dfota_build_opts defaults = { .scope = MFW_DFOTA_SCOPE_ALL };
	struct mfw_tf_paths full = { 0 }, preserve = { 0 };
	struct mfw_tf_perms perms = { 0 };
	struct mfw_tf_opts dopts = { 0 };
	struct mfw_dfota_plan plan;
	struct builder b = { .ctx = ctx };
	struct stat st;
	int r;

	if (!opts)
		opts = &defaults;
	if (opts->perms_list) {
		char *text;
		size_t len;

		r = mfw_tf_read_text(ctx, opts->perms_list, &text, &len);
		if (r < 0)
			return r;
		r = mfw_tf_parse_perms(ctx, opts->perms_list, text, len, &perms);
		free(text);
		if (r < 0)
			return r;
		dopts.perms = &perms;
	}
	r = mfw_tf_open(ctx, src, NULL, &b.src);
	if (r < 0)
		goto free_lists;
	r = mfw_tf_open(ctx, dst, &dopts, &b.dst);
	if (r < 0)
		goto close_src;
	r = opts->full_list ? load_paths(ctx, opts->full_list, &full) : 0;
	if (r >= 0 && opts->preserve_list)
		r = load_paths(ctx, opts->preserve_list, &preserve);
	if (r < 0)
		goto close_dst;
	r = mfw_dfota_plan_make(ctx, b.src, b.dst, opts->scope,
				opts->full_list ? &full : &b.dst->full,
				opts->preserve_list ? &preserve : &b.dst->preserve, &plan);
	if (r < 0)
		goto close_dst;
	if ((size_t)snprintf(b.work, sizeof(b.work), "%s/dfota-build.XXXXXX",
			     opts->workdir ? opts->workdir : ".") >= sizeof(b.work)) {
		r = mfw_fail(ctx, MFW_E_RANGE, "work directory path too long");
		goto free_plan;
	}
	if (!opts->workdir) {
		/* next to the output, so scratch and package share a file system */
		const char *slash = strrchr(out_path, '/');

		snprintf(b.work, sizeof(b.work), "%.*s%sdfota-build.XXXXXX",
			 slash ? (int)(slash - out_path) : 0, out_path, slash ? "/" : "");
	}
	if (!mkdtemp(b.work)) {
		r = mfw_fail(ctx, MFW_E_IO, "cannot create a scratch directory '%s': %s", b.work,
			     strerror(errno));
		goto free_plan;
	}
	r = mfw_zipw_new(&b.zw);
	if (r < 0)
		goto remove_work;
	r = add_files(&b, &plan);
	if (r >= 0)
		r = add_parts(&b, &plan);
	if (r >= 0)
		r = finish_zip(&b, &plan, opts->key_pem, out_path);
	if (r >= 0 && stat(out_path, &st) == 0)
		b.st.package_size = (uint64_t)st.st_size;
	if (r >= 0 && stats)
		*stats = b.st;
	mfw_zipw_free(b.zw);
remove_work:
	remove_work(b.work);
free_plan:
	mfw_dfota_plan_free(&plan);
close_dst:
	mfw_tf_close(b.dst);
close_src:
	mfw_tf_close(b.src);
free_lists:
	mfw_tf_paths_free(&full);
	mfw_tf_paths_free(&preserve);
	mfw_tf_perms_free(&perms);
	return r;
}
