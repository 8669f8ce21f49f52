/* SPDX-License-Identifier: BSD-3-Clause */
#include "ops/diag_backup.h"
#include "util/fs.h"
#include "util/json.h"
#include "core/core.h"
#include "fmt/xqcn.h"
#include "qcom/diag.h"
#include "util/hash.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- host files ---- */

struct manifest_file {
	char *path;          /* relative to the backup directory */
	size_t size;
	char sha256[2 * MFW_HASH_SHA256_LEN + 1];
};

struct writer {
	struct mfw_ctx *ctx;
	const char *dir;
	struct manifest_file *files;
	size_t n_files, cap_files;
};

static int write_file(struct mfw_ctx *ctx, const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return mfw_fail(ctx, MFW_E_IO, "cannot create '%s': %s", path, strerror(errno));
	if ((len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
		int e = errno;
		if (len)
			fclose(f);
		return mfw_fail(ctx, e == ENOSPC ? MFW_E_NOSPC : MFW_E_IO, "writing '%s' failed: %s",
				path, strerror(e));
	}
	return 0;
}

/* Whole host file into memory, bounded. */
static int read_file(struct mfw_ctx *ctx, const char *path, size_t max, uint8_t **data,
		     size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t have = 0, cap = 0;
	int r = 0;

	*data = NULL;
	*len = 0;
	if (!f)
		return mfw_fail(ctx, errno == ENOENT ? MFW_E_NOENT : MFW_E_IO, "cannot open '%s': %s",
				path, strerror(errno));
	for (;;) {
		size_t got;
		if (have == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			uint8_t *nb = realloc(buf, ncap + 1);
			if (!nb) {
				r = mfw_fail(ctx, MFW_E_NOMEM, "out of memory reading '%s'", path);
				goto free_buf;
			}
			buf = nb;
			cap = ncap;
		}
		got = fread(buf + have, 1, cap - have, f);
		have += got;
		if (have > max) {
			r = mfw_fail(ctx, MFW_E_RANGE, "'%s' is larger than %zu bytes", path, max);
			goto free_buf;
		}
		if (got == 0) {
			if (ferror(f))
				r = mfw_fail(ctx, MFW_E_IO, "reading '%s' failed", path);
			break;
		}
	}
	if (r < 0)
		goto free_buf;
	fclose(f);
	buf[have] = 0; /* callers may treat text as a string */
	*data = buf;
	*len = have;
	return 0;
free_buf:
	free(buf);
	fclose(f);
	return r;
}

static void sha256_hex(const void *data, size_t len, char out[2 * MFW_HASH_SHA256_LEN + 1])
{
	uint8_t dg[MFW_HASH_SHA256_LEN];
	if (mfw_hash_buf(MFW_HASH_SHA256, data, len, dg) < 0)
		memset(dg, 0, sizeof(dg));
	mfw_hex_encode(dg, sizeof(dg), out);
}

/*
 * Write rel (relative to the backup directory), then read it back and
 * compare hashes: a backup is only a backup once it is verified on disk.
 */
static int put_file(struct writer *w, const char *rel, const void *data, size_t len)
{
	struct manifest_file *mf;
	char path[4096], again[2 * MFW_HASH_SHA256_LEN + 1];
	const char *slash;
	uint8_t *back;
	size_t blen;
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", w->dir, rel) >= sizeof(path))
		return mfw_fail(w->ctx, MFW_E_RANGE, "path too long: '%s/%s'", w->dir, rel);
	slash = strrchr(path, '/');
	if (slash > path + strlen(w->dir)) {
		char parent[4096];
		memcpy(parent, path, (size_t)(slash - path));
		parent[slash - path] = 0;
		r = mfw_mkdir_p(w->ctx, parent, 0755);
		if (r < 0)
			return r;
	}
	if (w->n_files == w->cap_files) {
		size_t ncap = w->cap_files ? w->cap_files * 2 : 256;
		struct manifest_file *n = realloc(w->files, ncap * sizeof(*n));
		if (!n)
			return mfw_fail(w->ctx, MFW_E_NOMEM, "out of memory");
		w->files = n;
		w->cap_files = ncap;
	}
	mf = &w->files[w->n_files];
	mf->path = strdup(rel);
	if (!mf->path)
		return mfw_fail(w->ctx, MFW_E_NOMEM, "out of memory");
	mf->size = len;
	sha256_hex(data, len, mf->sha256);
	w->n_files++;
	r = write_file(w->ctx, path, data, len);
	if (r < 0)
		return r;
	r = read_file(w->ctx, path, len + 1, &back, &blen);
	if (r < 0)
		return r;
	sha256_hex(back, blen, again);
	free(back);
	if (blen != len || strcmp(again, mf->sha256))
		return mfw_fail(w->ctx, MFW_E_VERIFY, "'%s' reads back different from what was written",
				path);
	return 0;
}

static void writer_free(struct writer *w)
{
	for (size_t i = 0; i < w->n_files; i++)
		free(w->files[i].path);
	free(w->files);
}

/* ---- backup ---- */

struct backup {
	struct mfw_ctx *ctx;
	struct mfw_diag *d;
	const struct mfw_diag_backup_opts *opts;
	struct mfw_diag_backup_summary *sum;
	struct mfw_diag_backup model;
	struct writer w;
	size_t max_file;
};

/* Failures that end a backup (the port is gone or silent, or the user stopped it). */
static bool fatal(int r)
{
	return r == MFW_E_TIMEOUT || r == MFW_E_NODEV || r == MFW_E_CANCELLED || r == MFW_E_IO ||
	       r == MFW_E_NOMEM || r == MFW_E_NOSPC;
}

static int backup_nv(struct backup *b)
{
	unsigned first = b->opts->nv_first;
	unsigned last = b->opts->nv_last ? b->opts->nv_last : MFW_DIAG_NV_SCAN_DEFAULT;
	bool ext_ok = b->opts->nv_sim1;
	int r;

	if (last > 0xFFFF)
		last = 0xFFFF;
	if (first > last)
		return mfw_fail(b->ctx, MFW_E_INVAL, "NV scan range %u..%u is empty", first, last);
	for (unsigned item = first; item <= last; item++) {
		struct mfw_nv_record rec = { .item = (uint16_t)item };
		char rel[32];

		if (mfw_cancelled(b->ctx))
			return mfw_fail(b->ctx, MFW_E_CANCELLED, "backup cancelled at NV item %u", item);
		/* progress is in bytes: 128 per NV item slot scanned */
		mfw_progress(b->ctx, "backup", "nv items", (uint64_t)(item - first) * MFW_NV_DATA_LEN,
			     (uint64_t)(last - first + 1) * MFW_NV_DATA_LEN);
		b->sum->nv_scanned++;
		r = mfw_diag_nv_read(b->d, (uint16_t)item, -1, rec.data, &rec.status);
		if (r < 0) {
			if (fatal(r))
				return r;
			/* inactive, no such item, refused: not part of this unit's identity */
			continue;
		}
		r = mfw_diag_backup_add_nv(&b->model, &rec);
		if (r < 0)
			return mfw_fail(b->ctx, r, "out of memory");
		snprintf(rel, sizeof(rel), "nv/%05u.bin", item);
		r = put_file(&b->w, rel, rec.data, sizeof(rec.data));
		if (r < 0)
			return r;
		b->sum->nv_items++;
		if (!ext_ok)
			continue;
		rec.index = 1;
		r = mfw_diag_nv_read(b->d, (uint16_t)item, 1, rec.data, &rec.status);
		if (r == MFW_E_UNSUPPORTED) {
			/* no subscription-indexed NV on this firmware: stop asking */
			mfw_dbg(b->ctx, "diag: NV read-ext unsupported, SIM_1 items skipped");
			ext_ok = false;
			continue;
		}
		if (r < 0) {
			if (fatal(r))
				return r;
			continue;
		}
		r = mfw_diag_backup_add_nv(&b->model, &rec);
		if (r < 0)
			return mfw_fail(b->ctx, r, "out of memory");
		snprintf(rel, sizeof(rel), "nv/%05u-1.bin", item);
		r = put_file(&b->w, rel, rec.data, sizeof(rec.data));
		if (r < 0)
			return r;
		b->sum->nv_items++;
	}
	mfw_ctx_clear_detail(b->ctx);
	return 0;
}

static void backup_imei(struct backup *b)
{
	for (size_t i = 0; i < b->model.n_nv; i++) {
		const struct mfw_nv_record *rec = &b->model.nv[i];
		char *dst = rec->index == 0 ? b->sum->imei : rec->index == 1 ? b->sum->imei2 : NULL;
		char imei[MFW_IMEI_DIGITS + 1];
		const char *why;

		if (rec->item != MFW_NV_ITEM_IMEI || !dst)
			continue;
		if (mfw_imei_decode(rec->data, sizeof(rec->data), imei) < 0) {
			b->sum->imei_note = "NV item 550 does not hold a BCD IMEI";
			continue;
		}
		memcpy(dst, imei, sizeof(imei));
		if (mfw_imei_check(imei, &why) < 0)
			b->sum->imei_note = why;
	}
	if (!b->sum->imei[0] && !b->sum->imei_note)
		b->sum->imei_note = "NV item 550 was not readable";
}

static int efs_entry(void *user, const char *path, const struct mfw_efs_dirent *ent)
{
	struct backup *b = user;
	uint32_t type = ent->mode & MFW_EFS_S_IFMT;
	char rel[MFW_EFS_PATH_MAX + 8];
	uint8_t *data;
	size_t len;
	int r;

	if (mfw_cancelled(b->ctx))
		return mfw_fail(b->ctx, MFW_E_CANCELLED, "backup cancelled at '%s'", path);
	if (type == MFW_EFS_S_IFDIR || (!ent->mode && ent->type == 1)) {
		b->sum->efs_dirs++;
		return 0;
	}
	if (type == MFW_EFS_S_IFLNK) {
		b->sum->efs_skipped++;
		return 0;
	}
	mfw_progress(b->ctx, "backup", "efs", b->sum->efs_bytes, 0);
	r = mfw_diag_efs_get(b->d, path, b->max_file, &data, &len);
	if (r < 0) {
		if (fatal(r))
			return r;
		/* unreadable (permissions, vanished, too large): counted and named in the log */
		mfw_dbg(b->ctx, "diag: EFS file '%s' skipped: %s", path, mfw_ctx_detail(b->ctx));
		mfw_ctx_clear_detail(b->ctx);
		b->sum->efs_skipped++;
		return 0;
	}
	r = mfw_diag_backup_add_efs(&b->model, path,
				    type ? ent->mode : (MFW_EFS_S_IFREG | 0644), data, len);
	if (r == 0) {
		snprintf(rel, sizeof(rel), "efs%s", path);
		r = put_file(&b->w, rel, data, len);
	} else {
		r = mfw_fail(b->ctx, r, "out of memory");
	}
	free(data);
	if (r < 0)
		return r;
	b->sum->efs_files++;
	b->sum->efs_bytes += len;
	return 0;
}

static void manifest_version(FILE *f, const struct mfw_diag_backup_summary *s)
{
	const struct mfw_diag_version *v = &s->version;
	if (!s->have_version) {
		fprintf(f, "  \"device\": null,\n");
		return;
	}
	fprintf(f, "  \"device\": {\"comp_date\": ");
	mfw_json_put_str(f, v->comp_date);
	fprintf(f, ", \"comp_time\": ");
	mfw_json_put_str(f, v->comp_time);
	fprintf(f, ", \"rel_date\": ");
	mfw_json_put_str(f, v->rel_date);
	fprintf(f, ", \"rel_time\": ");
	mfw_json_put_str(f, v->rel_time);
	fprintf(f, ", \"ver_dir\": ");
	mfw_json_put_str(f, v->ver_dir);
	fprintf(f, ", \"model\": %u, \"firm_rev\": %u, \"msm\": \"%u.%u\"},\n", v->model,
		v->firm_rev, v->hw_major, v->hw_minor);
}

static int write_manifest(struct backup *b)
{
	char path[4096], when[32];
	time_t now = time(NULL);
	struct tm tm;
	FILE *f;

	snprintf(b->sum->manifest, sizeof(b->sum->manifest), "%s/%s", b->opts->dir,
		 MFW_DIAG_MANIFEST);
	snprintf(path, sizeof(path), "%s", b->sum->manifest);
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	f = fopen(path, "w");
	if (!f)
		return mfw_fail(b->ctx, MFW_E_IO, "cannot create '%s': %s", path, strerror(errno));
	fprintf(f, "{\n  \"format\": \"%s\",\n  \"version\": %d,\n  \"created\": \"%s\",\n",
		MFW_DIAG_BACKUP_FORMAT, MFW_DIAG_BACKUP_VERSION, when);
	manifest_version(f, b->sum);
	fprintf(f, "  \"imei\": \"%s\",\n  \"imei2\": \"%s\",\n", b->sum->imei, b->sum->imei2);
	fprintf(f, "  \"nv_scanned\": %u,\n  \"nv_items\": %u,\n", b->sum->nv_scanned,
		b->sum->nv_items);
	fprintf(f, "  \"efs_unavailable\": %s,\n", b->sum->efs_unavailable ? "true" : "false");
	fprintf(f, "  \"efs_files\": %u,\n  \"efs_dirs\": %u,\n  \"efs_skipped\": %u,\n"
		   "  \"efs_bytes\": %" PRIu64 ",\n",
		b->sum->efs_files, b->sum->efs_dirs, b->sum->efs_skipped, b->sum->efs_bytes);
	/* one file per line: the restore side reads it back line by line */
	fprintf(f, "  \"files\": [\n");
	for (size_t i = 0; i < b->w.n_files; i++) {
		fprintf(f, "    {\"path\": ");
		mfw_json_put_str(f, b->w.files[i].path);
		fprintf(f, ", \"size\": %zu, \"sha256\": \"%s\"}%s\n", b->w.files[i].size,
			b->w.files[i].sha256, i + 1 < b->w.n_files ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	if (ferror(f) || fclose(f) != 0)
		return mfw_fail(b->ctx, MFW_E_IO, "writing '%s' failed", path);
	return 0;
}

/* The output directory must be new or empty: never mix two units' backups. */
static int prepare_dir(struct mfw_ctx *ctx, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d) {
		if (errno != ENOENT)
			return mfw_fail(ctx, MFW_E_IO, "cannot open '%s': %s", dir, strerror(errno));
		return mfw_mkdir_p(ctx, dir, 0755);
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			closedir(d);
			return mfw_fail(ctx, MFW_E_EXIST,
					"backup directory '%s' is not empty; pick a new one", dir);
		}
	}
	closedir(d);
	return 0;
}

int mfw_diag_backup_run(struct mfw_ctx *ctx, struct mfw_transport *t,
			const struct mfw_diag_backup_opts *opts,
			struct mfw_diag_backup_summary *summary)
{
	struct backup b = { .ctx = ctx, .opts = opts, .sum = summary };
	char *xml = NULL;
	size_t xml_len;
	int r;

	memset(summary, 0, sizeof(*summary));
	if (!opts || !opts->dir || !opts->dir[0])
		return mfw_fail(ctx, MFW_E_INVAL, "backup needs an output directory");
	b.max_file = opts->efs_max_file ? opts->efs_max_file : MFW_DIAG_EFS_GET_DEFAULT_MAX;
	b.w.ctx = ctx;
	b.w.dir = opts->dir;
	mfw_diag_backup_init(&b.model);
	r = mfw_diag_open(ctx, t, &b.d);
	if (r < 0)
		return r;
	mfw_diag_set_timeout(b.d, opts->timeout_ms);
	/* ask first, create nothing: a port that is not DIAG must not leave an empty backup behind */
	r = mfw_diag_version(b.d, &summary->version);
	if (r < 0) {
		r = mfw_fail_keep(ctx, r, "no DIAG answer");
		goto close_diag;
	}
	summary->have_version = true;
	r = prepare_dir(ctx, opts->dir);
	if (r < 0)
		goto close_diag;
	r = backup_nv(&b);
	if (r < 0)
		goto free_model;
	backup_imei(&b);
	if (!opts->no_efs) {
		r = mfw_diag_efs_hello(b.d);
		if (r < 0 && !fatal(r)) {
			/* NV items alone are still worth keeping: say so and go on */
			mfw_warn(ctx, "EFS2 is not reachable over DIAG (%s); the backup holds NV items only",
				 mfw_ctx_detail(ctx));
			mfw_ctx_clear_detail(ctx);
			summary->efs_unavailable = true;
			r = 0;
		} else if (r == 0) {
			r = mfw_diag_efs_walk(b.d, opts->efs_root ? opts->efs_root : "/",
					      opts->efs_max_depth, opts->efs_max_entries, efs_entry, &b);
		}
		if (r < 0)
			goto free_model;
	}
	r = mfw_xqcn_write(ctx, &b.model, MFW_DIAG_XQCN, &xml, &xml_len);
	if (r < 0)
		goto free_model;
	r = put_file(&b.w, MFW_DIAG_XQCN, xml, xml_len);
	free(xml);
	if (r < 0)
		goto free_model;
	r = write_manifest(&b);
free_model:
	writer_free(&b.w);
	mfw_diag_backup_free(&b.model);
close_diag:
	mfw_diag_close(b.d);
	return r;
}

/* ---- load (manifest check) ---- */

/* Value of "key": "..." on one manifest line, JSON-unescaped (\" \\ \uXXXX below 0x80). */
static bool line_str(const char *line, const char *key, char *out, size_t cap)
{
	char pat[32];
	const char *p;
	size_t k = 0;

	snprintf(pat, sizeof(pat), "\"%s\": \"", key);
	p = strstr(line, pat);
	if (!p)
		return false;
	for (p += strlen(pat); *p && *p != '"'; p++) {
		char c = *p;
		if (c == '\\') {
			p++;
			if (*p == 'u') {
				unsigned v;
				if (sscanf(p + 1, "%4x", &v) != 1 || v == 0 || v >= 0x80)
					return false;
				c = (char)v;
				p += 4;
			} else if (*p == '"' || *p == '\\' || *p == '/') {
				c = *p;
			} else {
				return false;
			}
		}
		if (k + 1 >= cap)
			return false;
		out[k++] = c;
	}
	out[k] = 0;
	return *p == '"';
}

/* A manifest path stays inside the backup directory: relative, no "." or ".." component. */
static bool rel_path_ok(const char *rel)
{
	const char *p = rel;

	if (!rel[0] || rel[0] == '/')
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

static int check_manifest(struct mfw_ctx *ctx, const char *dir)
{
	char path[4096];
	uint8_t *text;
	size_t len;
	unsigned checked = 0;
	bool have_xqcn = false, have_format;
	char *line, *save = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, MFW_DIAG_MANIFEST);
	r = read_file(ctx, path, MFW_DIAG_MANIFEST_MAX, &text, &len);
	if (r < 0)
		return r;
	have_format = strstr((char *)text, "\"format\": \"" MFW_DIAG_BACKUP_FORMAT "\"") != NULL;
	if (!have_format) {
		r = mfw_fail(ctx, MFW_E_FORMAT, "'%s' is not a modemfw DIAG backup manifest", path);
		goto free_text;
	}
	for (line = strtok_r((char *)text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char rel[MFW_EFS_PATH_MAX + 16], want[2 * MFW_HASH_SHA256_LEN + 1];
		char got[2 * MFW_HASH_SHA256_LEN + 1], fpath[4096];
		uint8_t *data;
		size_t dlen;

		if (!line_str(line, "path", rel, sizeof(rel)))
			continue;
		if (!line_str(line, "sha256", want, sizeof(want)) || strlen(want) != 64 ||
		    !rel_path_ok(rel)) {
			r = mfw_fail(ctx, MFW_E_FORMAT, "'%s': bad file line for '%s'", path, rel);
			goto free_text;
		}
		snprintf(fpath, sizeof(fpath), "%s/%s", dir, rel);
		r = read_file(ctx, fpath, MFW_XQCN_MAX_FILE, &data, &dlen);
		if (r < 0)
			goto free_text;
		sha256_hex(data, dlen, got);
		free(data);
		if (strcmp(got, want)) {
			r = mfw_fail(ctx, MFW_E_VERIFY,
				     "backup file '%s' changed since the backup (sha256 %s, manifest %s)",
				     fpath, got, want);
			goto free_text;
		}
		have_xqcn |= !strcmp(rel, MFW_DIAG_XQCN);
		checked++;
	}
	if (!have_xqcn)
		r = mfw_fail(ctx, MFW_E_FORMAT, "'%s' does not list %s", path, MFW_DIAG_XQCN);
	else
		mfw_dbg(ctx, "diag: %u backup files match the manifest", checked);
free_text:
	free(text);
	return r;
}

int mfw_diag_backup_load(struct mfw_ctx *ctx, const char *source, struct mfw_diag_backup *b)
{
	struct stat st;
	char path[4096];
	int r;

	mfw_diag_backup_init(b);
	if (stat(source, &st) < 0)
		return mfw_fail(ctx, errno == ENOENT ? MFW_E_NOENT : MFW_E_IO, "cannot open '%s': %s",
				source, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return mfw_xqcn_load(ctx, source, b);
	r = check_manifest(ctx, source);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s", source, MFW_DIAG_XQCN);
	return mfw_xqcn_load(ctx, path, b);
}

/* ---- restore ---- */

/* Create every missing ancestor directory of an EFS path (EEXIST is fine). */
static int efs_parents(struct mfw_diag *d, struct mfw_ctx *ctx, const char *path)
{
	char tmp[MFW_EFS_PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(tmp))
		return mfw_fail(ctx, MFW_E_RANGE, "EFS path too long: '%s'", path);
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i < n; i++) {
		int r;
		if (tmp[i] != '/')
			continue;
		tmp[i] = 0;
		r = mfw_diag_efs_mkdir(d, tmp, 040777);
		tmp[i] = '/';
		if (r == MFW_E_EXIST) {
			mfw_ctx_clear_detail(ctx);
			continue;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int restore_nv(struct mfw_ctx *ctx, struct mfw_diag *d, const struct mfw_diag_backup *b,
		      const struct mfw_diag_restore_opts *opts, struct mfw_diag_restore_summary *s,
		      int *worst)
{
	for (size_t i = 0; i < b->n_nv; i++) {
		const struct mfw_nv_record *rec = &b->nv[i];
		int index = rec->index ? rec->index : -1;
		uint8_t back[MFW_NV_DATA_LEN];
		int r;

		if (rec->status != MFW_NV_DONE)
			continue;
		if (mfw_cancelled(ctx))
			return mfw_fail(ctx, MFW_E_CANCELLED, "restore cancelled at NV item %u", rec->item);
		if (rec->item == MFW_NV_ITEM_IMEI && !opts->write_imei) {
			s->imei_skipped = true;
			s->nv_skipped++;
			continue;
		}
		mfw_progress(ctx, "restore", "nv items", (uint64_t)i * MFW_NV_DATA_LEN,
			     (uint64_t)b->n_nv * MFW_NV_DATA_LEN);
		r = mfw_diag_nv_write(d, rec->item, index, rec->data, sizeof(rec->data), NULL);
		if (r < 0) {
			if (fatal(r))
				return r;
			mfw_warn(ctx, "%s", mfw_ctx_detail(ctx));
			mfw_ctx_clear_detail(ctx);
			s->nv_failed++;
			if (!*worst)
				*worst = MFW_E_NAK;
			continue;
		}
		s->nv_written++;
		r = mfw_diag_nv_read(d, rec->item, index, back, NULL);
		if (r < 0 && fatal(r))
			return r;
		if (r < 0 || memcmp(back, rec->data, sizeof(back))) {
			mfw_warn(ctx, "NV item %u (index %u) reads back different after the write",
				 rec->item, rec->index);
			mfw_ctx_clear_detail(ctx);
			*worst = MFW_E_VERIFY;
			continue;
		}
		s->nv_verified++;
	}
	return 0;
}

static int restore_efs(struct mfw_ctx *ctx, struct mfw_diag *d, const struct mfw_diag_backup *b,
		       struct mfw_diag_restore_summary *s, int *worst)
{
	uint64_t total = 0, done = 0;

	for (size_t i = 0; i < b->n_efs; i++)
		total += b->efs[i].len;
	for (size_t i = 0; i < b->n_efs; i++) {
		const struct mfw_efs_file *f = &b->efs[i];
		uint8_t *back;
		size_t blen;
		int r;

		if (mfw_cancelled(ctx))
			return mfw_fail(ctx, MFW_E_CANCELLED, "restore cancelled at '%s'", f->path);
		mfw_progress(ctx, "restore", "efs", done, total);
		done += f->len;
		r = efs_parents(d, ctx, f->path);
		if (r == 0)
			r = mfw_diag_efs_put(d, f->path, f->data, f->len, f->mode);
		if (r < 0) {
			if (fatal(r))
				return r;
			mfw_warn(ctx, "%s", mfw_ctx_detail(ctx));
			mfw_ctx_clear_detail(ctx);
			s->efs_failed++;
			if (!*worst)
				*worst = MFW_E_NAK;
			continue;
		}
		s->efs_written++;
		r = mfw_diag_efs_get(d, f->path, f->len + 1, &back, &blen);
		if (r < 0 && fatal(r))
			return r;
		if (r < 0 || blen != f->len || (blen && memcmp(back, f->data, blen))) {
			mfw_warn(ctx, "EFS file '%s' reads back different after the write", f->path);
			mfw_ctx_clear_detail(ctx);
			*worst = MFW_E_VERIFY;
		} else {
			s->efs_verified++;
		}
		free(back);
	}
	return 0;
}

int mfw_diag_restore_run(struct mfw_ctx *ctx, struct mfw_transport *t,
			 const struct mfw_diag_restore_opts *opts,
			 struct mfw_diag_restore_summary *summary)
{
	struct mfw_diag_backup b;
	struct mfw_diag *d;
	int r, worst = 0;

	memset(summary, 0, sizeof(*summary));
	if (!opts || !opts->source)
		return mfw_fail(ctx, MFW_E_INVAL, "restore needs a backup directory or .xqcn file");
	/* the whole backup is checked before the first byte goes to the device */
	r = mfw_diag_backup_load(ctx, opts->source, &b);
	if (r < 0)
		goto free_backup;
	r = mfw_diag_open(ctx, t, &d);
	if (r < 0)
		goto free_backup;
	mfw_diag_set_timeout(d, opts->timeout_ms);
	if (opts->spc) {
		r = mfw_diag_spc(d, opts->spc);
		if (r < 0)
			goto close_diag;
	}
	if (opts->offline) {
		r = mfw_diag_control(d, MFW_DIAG_MODE_OFFLINE_D);
		if (r < 0)
			goto close_diag;
	}
	if (!opts->no_nv) {
		r = restore_nv(ctx, d, &b, opts, summary, &worst);
		if (r < 0)
			goto close_diag;
	}
	if (!opts->no_efs) {
		r = restore_efs(ctx, d, &b, summary, &worst);
		if (r < 0)
			goto close_diag;
	}
	if (worst == MFW_E_VERIFY)
		r = mfw_fail(ctx, worst, "restore finished, but %u NV item(s) or EFS file(s) read back "
			     "different", (summary->nv_written - summary->nv_verified) +
			     (summary->efs_written - summary->efs_verified));
	else if (worst)
		r = mfw_fail(ctx, worst, "restore finished, but the device refused %u NV item(s) and "
			     "%u EFS file(s)", summary->nv_failed, summary->efs_failed);
close_diag:
	mfw_diag_close(d);
free_backup:
	mfw_diag_backup_free(&b);
	return r;
}
