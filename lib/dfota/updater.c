/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The DFOTA updater: package integrity, retry counter, the updater-script
 * functions, a check pass that changes nothing and the apply pass, with
 * progress and the result in the module's words (docs/dfota-updater.md).
 *
 * Resuming: the statements before the first one that can change anything
 * (the "pre-check prefix": version assert, apply_patch_check, space) run
 * only in the check pass. Once the check pass succeeded, the script's
 * SHA-256 is written durably to /cache/fota/state before the first change;
 * a later attempt that finds it knows the system may be half updated and
 * skips the check pass (the source version and hashes are gone by then),
 * running the apply pass, whose every function is idempotent.
 */
#include "dfota/updater.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zip.h>

#include "core/core.h"
#include "dfota/applypatch.h"
#include "dfota/edify.h"
#include "util/crc.h"
#include "util/hash.h"

#define F_MUT 1u                 /* the function changes the module */
#define IO_CHUNK (64 * 1024)
#define PROP_FILE_MAX (64 * 1024)
#define WALK_MAX_DEPTH 64
#define TMP_SUFFIX ".mfwtmp"
#define DEFAULT_ATTEMPTS 5

struct upd {
	struct mfw_ctx *ctx;
	struct mfw_dfio *io;
	const struct mfw_dfota_apply_opts *opts;
	struct mfw_dfota_apply_result *res;
	zip_t *zip;
	uint64_t max_entry;
	struct mfw_ed_script *script;
	bool check;          /* check pass: nothing may change */
	bool quiet;          /* ui_print muted: the check pass of the apply part */
	int code;            /* Quectel code of the first failure */
	/* progress */
	bool prog_used;
	double prog_start, prog_frac, prog_cur;
	int last_pct, last_status_pct;
};

static const struct mfw_ed_func funcs[];
static const size_t nfuncs;

/* ---- codes and failures ---- */

int mfw_dfota_code_for(int err)
{
	switch (err) {
	case 0:
		return MFW_DFOTA_CODE_OK;
	case MFW_E_NOSPC:
		return MFW_DFOTA_CODE_SPACE;
	case MFW_E_MISMATCH:
		return MFW_DFOTA_CODE_SOURCE;
	case MFW_E_FORMAT:
	case MFW_E_RANGE:
		return MFW_DFOTA_CODE_DAMAGED;
	case MFW_E_VERIFY:
	case MFW_E_NOMEM:
	case MFW_E_INVAL:
	case MFW_E_UNSUPPORTED:
		return MFW_DFOTA_CODE_UNEXPECTED;
	default:
		return MFW_DFOTA_CODE_WRITE;
	}
}

static int err_for_code(int code)
{
	switch (code) {
	case MFW_DFOTA_CODE_DAMAGED:
		return MFW_E_FORMAT;
	case MFW_DFOTA_CODE_VERSION:
	case MFW_DFOTA_CODE_SOURCE:
		return MFW_E_MISMATCH;
	case MFW_DFOTA_CODE_SPACE:
		return MFW_E_NOSPC;
	case MFW_DFOTA_CODE_WRITE:
		return MFW_E_IO;
	case MFW_DFOTA_CODE_RETRIES:
		return MFW_E_PROTECTED;
	default:
		/* assert/abort: the package's own checks refused this module */
		return MFW_E_MISMATCH;
	}
}

static int ufail(struct upd *u, int code, int err, const char *fmt, ...) MFW_PRINTF(4, 5);

static int ufail(struct upd *u, int code, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!u->code)
		u->code = code;
	return mfw_fail(u->ctx, err, "%s", msg);
}

/* An error from below (detail already on ctx): give it its code. */
static int upass(struct upd *u, int err)
{
	if (err < 0 && err != MFW_DFIO_E_POWER && !u->code)
		u->code = mfw_dfota_code_for(err);
	return err;
}

/* ---- reporting ---- */

static int status_write(struct upd *u, const char *line)
{
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "%s\n", line);
	int r = mfw_dfio_write_small(u->io, MFW_DFOTA_STATUS_FILE, buf, (size_t)n);
	if (r < 0 && r != MFW_DFIO_E_POWER) {
		/* the status file is informative; a full or failing cache must not stop the update */
		mfw_dbg(u->ctx, "status file not written: %s", mfw_strerror(r));
		return 0;
	}
	return r;
}

static int emit(struct upd *u, const char *line, bool status)
{
	if (u->opts->report)
		u->opts->report(u->opts->report_user, line);
	return status ? status_write(u, line) : 0;
}

static int progress(struct upd *u, int pct)
{
	char line[64];
	if (pct > 100)
		pct = 100;
	if (pct <= u->last_pct)
		return 0;
	u->last_pct = pct;
	snprintf(line, sizeof(line), "+QIND: \"FOTA\",\"UPDATING\",%d", pct);
	if (pct / 10 > u->last_status_pct / 10) {
		u->last_status_pct = pct;
		return emit(u, line, true);
	}
	return emit(u, line, false);
}

/* ---- zip ---- */

static int zip_err(struct upd *u, const char *what)
{
	return ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_FORMAT, "package damaged: %s: %s", what,
		     zip_strerror(u->zip));
}

static bool entry_name_ok(const char *n)
{
	const char *p = n;
	if (!*n || *n == '/' || strchr(n, '\\'))
		return false;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if ((len == 2 && p[0] == '.' && p[1] == '.') || (len == 0 && e))
			return false;
		p += len;
		if (*p == '/')
			p++;
	}
	return true;
}

static int open_zip(struct upd *u, const struct mfw_dfota_pkg *pkg)
{
	zip_error_t ze;
	int zerr = 0;

	zip_error_init(&ze);
	if (pkg->path) {
		u->zip = zip_open(pkg->path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
		if (!u->zip) {
			zip_error_init_with_code(&ze, zerr);
			ufail(u, MFW_DFOTA_CODE_DAMAGED, zerr == ZIP_ER_NOENT ? MFW_E_NOENT : MFW_E_FORMAT,
			      "package '%s' cannot be opened: %s", pkg->path, zip_error_strerror(&ze));
			zip_error_fini(&ze);
			return u->code ? err_for_code(u->code) : MFW_E_FORMAT;
		}
	} else {
		zip_source_t *src = zip_source_buffer_create(pkg->buf, pkg->len, 0, &ze);
		if (!src) {
			zip_error_fini(&ze);
			return MFW_E_NOMEM;
		}
		u->zip = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
		if (!u->zip) {
			zip_source_free(src);
			ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_FORMAT, "package cannot be opened: %s",
			      zip_error_strerror(&ze));
			zip_error_fini(&ze);
			return MFW_E_FORMAT;
		}
	}
	zip_error_fini(&ze);
	return 0;
}

/* Every entry: a sane name and its whole data read with the CRC checked by libzip. */
static int check_entries(struct upd *u)
{
	zip_int64_t n = zip_get_num_entries(u->zip, 0);
	uint8_t *buf;
	int r = 0;

	if (n < 0 || n > MFW_DFOTA_MAX_ENTRIES)
		return ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_FORMAT,
			     "package damaged: %lld entries (at most %d)", (long long)n,
			     MFW_DFOTA_MAX_ENTRIES);
	buf = malloc(IO_CHUNK);
	if (!buf)
		return MFW_E_NOMEM;
	for (zip_int64_t i = 0; i < n && r == 0; i++) {
		zip_stat_t st;
		zip_file_t *zf;
		uint64_t total = 0;

		if (zip_stat_index(u->zip, (zip_uint64_t)i, 0, &st) < 0 || !(st.valid & ZIP_STAT_NAME)) {
			r = zip_err(u, "entry without a name");
			break;
		}
		if (!entry_name_ok(st.name)) {
			r = ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_FORMAT,
				  "package damaged: entry name '%.200s' is absolute or leaves the package",
				  st.name);
			break;
		}
		if (st.name[strlen(st.name) - 1] == '/')
			continue;
		if (u->max_entry && (st.valid & ZIP_STAT_SIZE) && st.size > u->max_entry) {
			r = ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_RANGE,
				  "package entry '%.200s' is larger than %llu bytes", st.name,
				  (unsigned long long)u->max_entry);
			break;
		}
		zf = zip_fopen_index(u->zip, (zip_uint64_t)i, 0);
		if (!zf) {
			r = ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_FORMAT,
				  "package damaged: entry '%.200s' cannot be opened: %s", st.name,
				  zip_strerror(u->zip));
			break;
		}
		for (;;) {
			zip_int64_t got = zip_fread(zf, buf, IO_CHUNK);
			if (got < 0) {
				r = ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_FORMAT,
					  "package damaged: entry '%.200s': %s", st.name,
					  zip_file_strerror(zf));
				break;
			}
			if (got == 0)
				break;
			total += (uint64_t)got;
			if (u->max_entry && total > u->max_entry) {
				r = ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_RANGE,
					  "package entry '%.200s' inflates beyond %llu bytes", st.name,
					  (unsigned long long)u->max_entry);
				break;
			}
		}
		zip_fclose(zf);
		if (r == 0 && (st.valid & ZIP_STAT_SIZE) && total != st.size)
			r = ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_FORMAT,
				  "package damaged: entry '%.200s' has %llu bytes, not %llu", st.name,
				  (unsigned long long)total, (unsigned long long)st.size);
		u->res->entries++;
	}
	free(buf);
	return r;
}

static int locate(struct upd *u, const char *name, zip_uint64_t *idx, uint64_t *size)
{
	zip_int64_t i = zip_name_locate(u->zip, name, ZIP_FL_ENC_RAW);
	zip_stat_t st;
	if (i < 0 || zip_stat_index(u->zip, (zip_uint64_t)i, 0, &st) < 0)
		return ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_NOENT, "package has no entry '%.200s'",
			     name);
	*idx = (zip_uint64_t)i;
	if (size)
		*size = st.size;
	return 0;
}

static int read_script(struct upd *u, char **out, size_t *len)
{
	zip_uint64_t idx = 0;
	uint64_t size = 0;
	zip_file_t *zf;
	zip_int64_t got;
	char *buf;
	int r = locate(u, MFW_DFOTA_SCRIPT_ENTRY, &idx, &size);

	if (r < 0)
		return r;
	if (size > MFW_ED_MAX_SRC)
		return ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_RANGE, "updater-script is %llu bytes (at most %u)",
			     (unsigned long long)size, MFW_ED_MAX_SRC);
	buf = malloc(size + 1);
	if (!buf)
		return MFW_E_NOMEM;
	zf = zip_fopen_index(u->zip, idx, 0);
	got = zf ? zip_fread(zf, buf, size) : -1;
	if (zf)
		zip_fclose(zf);
	if (got < 0 || (uint64_t)got != size) {
		free(buf);
		return zip_err(u, "updater-script unreadable");
	}
	buf[size] = 0;
	*out = buf;
	*len = (size_t)size;
	return 0;
}

/* Stream an entry through fn (bounded buffer). */
static int entry_stream(struct upd *u, zip_uint64_t idx,
			int (*fn)(void *user, const void *buf, size_t len), void *user)
{
	zip_file_t *zf = zip_fopen_index(u->zip, idx, 0);
	uint8_t *buf;
	int r = 0;

	if (!zf)
		return zip_err(u, "entry cannot be opened");
	buf = malloc(IO_CHUNK);
	if (!buf) {
		zip_fclose(zf);
		return MFW_E_NOMEM;
	}
	for (;;) {
		zip_int64_t got = zip_fread(zf, buf, IO_CHUNK);
		if (got < 0) {
			r = ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_FORMAT, "package entry unreadable: %s",
				  zip_file_strerror(zf));
			break;
		}
		if (got == 0)
			break;
		r = fn(user, buf, (size_t)got);
		if (r < 0)
			break;
	}
	free(buf);
	zip_fclose(zf);
	return r;
}

static int hash_cb(void *user, const void *buf, size_t len)
{
	return mfw_hash_update(user, buf, len);
}

static int entry_sha1(struct upd *u, zip_uint64_t idx, uint8_t out[20])
{
	struct mfw_hash h;
	int r = mfw_hash_init(&h, MFW_HASH_SHA1);
	if (r < 0)
		return r;
	r = entry_stream(u, idx, hash_cb, &h);
	if (r < 0) {
		mfw_hash_free(&h);
		return r;
	}
	r = mfw_hash_final(&h, out, 20);
	return r < 0 ? r : 0;
}

/* Random-access reader over a patch entry: seeks when stored, memory when deflated. */
struct zreader {
	zip_file_t *zf;
	uint8_t *mem;
	uint64_t size, pos;
};

static int zr_read(void *user, uint64_t off, void *buf, size_t len)
{
	struct zreader *z = user;
	size_t done = 0;

	if (off > z->size || len > z->size - off)
		return MFW_E_RANGE;
	if (z->mem) {
		memcpy(buf, z->mem + off, len);
		return 0;
	}
	if (off != z->pos && zip_fseek(z->zf, (zip_int64_t)off, SEEK_SET) < 0)
		return MFW_E_IO;
	z->pos = off;
	while (done < len) {
		zip_int64_t got = zip_fread(z->zf, (char *)buf + done, len - done);
		if (got <= 0)
			return MFW_E_IO;
		done += (size_t)got;
		z->pos += (uint64_t)got;
	}
	return 0;
}

static int zr_open(struct upd *u, zip_uint64_t idx, struct zreader *z)
{
	zip_stat_t st;

	memset(z, 0, sizeof(*z));
	if (zip_stat_index(u->zip, idx, 0, &st) < 0)
		return zip_err(u, "patch entry");
	z->size = st.size;
	z->zf = zip_fopen_index(u->zip, idx, 0);
	if (!z->zf)
		return zip_err(u, "patch entry cannot be opened");
	if (st.comp_method == ZIP_CM_STORE)
		return 0;
	/* deflated: the applier reads three streams at once; keep the (small) patch in memory */
	if (st.size > MFW_DFOTA_MAX_DEFLATED_PATCH) {
		zip_fclose(z->zf);
		z->zf = NULL;
		return ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_RANGE,
			     "patch '%.200s' is compressed and larger than %u bytes: store patches uncompressed",
			     st.name, MFW_DFOTA_MAX_DEFLATED_PATCH);
	}
	z->mem = malloc(st.size ? st.size : 1);
	if (!z->mem) {
		zip_fclose(z->zf);
		z->zf = NULL;
		return MFW_E_NOMEM;
	}
	for (uint64_t done = 0; done < st.size;) {
		zip_int64_t got = zip_fread(z->zf, z->mem + done, st.size - done);
		if (got <= 0) {
			zip_fclose(z->zf);
			z->zf = NULL;
			free(z->mem);
			z->mem = NULL;
			return zip_err(u, "patch entry unreadable");
		}
		done += (uint64_t)got;
	}
	zip_fclose(z->zf);
	z->zf = NULL;
	return 0;
}

static void zr_close(struct zreader *z)
{
	if (z->zf)
		zip_fclose(z->zf);
	free(z->mem);
	memset(z, 0, sizeof(*z));
}

/* ---- argument helpers ---- */

static struct upd *U(struct mfw_ed_eval *ev)
{
	return ev->user;
}

static int ret_str(struct mfw_ed_val *out, const char *s)
{
	return mfw_ed_val_set(out, s, strlen(s));
}

static int arg_str(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, size_t i, char **s)
{
	int r = mfw_ed_arg_str(ev, call, i, s, NULL);
	return upass(U(ev), r);
}

static int parse_u64(struct upd *u, const struct mfw_ed_node *call, const char *s, uint64_t *v,
		     int base)
{
	char *end;
	if (!*s || *s == '-')
		goto bad;
	*v = strtoull(s, &end, base);
	if (*end)
		goto bad;
	return 0;
bad:
	return ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_FORMAT,
		     "updater-script %u:%u: '%s': bad number '%.40s'", call->line, call->col, call->str, s);
}

static int parse_sha1_arg(struct upd *u, const struct mfw_ed_node *call, const char *s, uint8_t out[20])
{
	if (mfw_ap_parse_sha1(s, out) < 0)
		return ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_FORMAT,
			     "updater-script %u:%u: '%s': bad sha1 '%.60s'", call->line, call->col,
			     call->str, s);
	return 0;
}

/* A path the script may touch: absolute, inside the root, not the raw partitions. */
static int script_path(struct upd *u, const struct mfw_ed_node *call, const char *p)
{
	char c[MFW_DFIO_PATH_MAX];
	int r;

	if (p[0] != '/')
		return ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_FORMAT,
			     "updater-script %u:%u: '%s': path '%.200s' is not absolute", call->line,
			     call->col, call->str, p);
	r = mfw_dfio_resolve(u->io, p, false, c, sizeof(c));
	if (r == MFW_DFIO_E_POWER)
		return r;
	if (r < 0 || !strncmp(c, MFW_DFIO_PART_DIR, strlen(MFW_DFIO_PART_DIR)))
		return ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_RANGE,
			     "updater-script %u:%u: '%s': path '%.200s' leaves the module's file system",
			     call->line, call->col, call->str, p);
	return 0;
}

static int partition_path(struct upd *u, const struct mfw_ed_node *call, const char *spec,
			  char *out, size_t cap)
{
	const char *name = spec;
	size_t n;
	if (!strncmp(spec, "MTD:", 4))
		name = spec + 4;
	else if (!strncmp(spec, "EMMC:", 5))
		name = spec + 5;
	n = strcspn(name, ":");
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || (c == '.' && i > 0)))
			n = 0;
	}
	if (n == 0 || n > 63)
		return ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_FORMAT,
			     "updater-script %u:%u: bad partition '%.80s'", call->line, call->col, spec);
	snprintf(out, cap, "%s/%.*s", MFW_DFIO_PART_DIR, (int)n, name);
	return 0;
}

/* ---- tree helpers ---- */

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
	if (!(ns->v[ns->n] = strdup(name)))
		return MFW_E_NOMEM;
	ns->n++;
	return 0;
}

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
	memset(ns, 0, sizeof(*ns));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int join(char *out, size_t cap, const char *dir, const char *name)
{
	if (snprintf(out, cap, "%s/%s", strcmp(dir, "/") ? dir : "", name) >= (int)cap)
		return MFW_E_RANGE;
	return 0;
}

/* Remove path and everything below it (not durable by itself: the caller syncs the parent). */
static int remove_tree(struct upd *u, const char *path, unsigned depth)
{
	struct mfw_dfio_stat st;
	struct names ns = { 0 };
	int r = mfw_dfio_lstat(u->io, path, &st);

	if (r == MFW_E_NOENT)
		return 0;
	if (r < 0)
		return r;
	if (st.type != MFW_DFIO_DIR)
		return mfw_dfio_unlink(u->io, path);
	if (depth > WALK_MAX_DEPTH)
		return MFW_E_RANGE;
	r = mfw_dfio_list(u->io, path, names_add, &ns);
	for (size_t i = 0; i < ns.n && r == 0; i++) {
		char sub[MFW_DFIO_PATH_MAX];
		r = join(sub, sizeof(sub), path, ns.v[i]);
		if (r == 0)
			r = remove_tree(u, sub, depth + 1);
	}
	names_free(&ns);
	if (r == 0)
		r = mfw_dfio_rmdir(u->io, path);
	return r;
}

struct meta {
	bool has_uid, has_gid, has_mode;
	uint32_t uid, gid, mode;
};

/* Set what differs and make it durable; unchanged inodes cost no write. */
static int apply_meta(struct upd *u, const char *path, const struct meta *m, bool must_exist)
{
	struct mfw_dfio_stat st;
	bool changed = false;
	int r = mfw_dfio_lstat(u->io, path, &st);

	if (r == MFW_E_NOENT && !must_exist)
		return 0;
	if (r < 0)
		return r;
	if ((m->has_uid && st.uid != m->uid) || (m->has_gid && st.gid != m->gid)) {
		r = mfw_dfio_chown(u->io, path, m->has_uid ? m->uid : st.uid,
				   m->has_gid ? m->gid : st.gid);
		if (r < 0)
			return r;
		changed = true;
	}
	if (m->has_mode && st.type != MFW_DFIO_LNK && st.mode != m->mode) {
		r = mfw_dfio_chmod(u->io, path, m->mode);
		if (r < 0)
			return r;
		changed = true;
	}
	return changed ? mfw_dfio_fsync_path(u->io, path) : 0;
}

static int meta_tree(struct upd *u, const char *path, const struct meta *dm, const struct meta *fm,
		     unsigned depth)
{
	struct mfw_dfio_stat st;
	struct names ns = { 0 };
	int r = mfw_dfio_lstat(u->io, path, &st);

	if (r < 0)
		return r;
	if (st.type != MFW_DFIO_DIR)
		return apply_meta(u, path, fm, true);
	if (depth > WALK_MAX_DEPTH)
		return MFW_E_RANGE;
	r = apply_meta(u, path, dm, true);
	if (r == 0)
		r = mfw_dfio_list(u->io, path, names_add, &ns);
	if (r == 0 && ns.n > 1)
		qsort(ns.v, ns.n, sizeof(*ns.v), cmp_str);
	for (size_t i = 0; i < ns.n && r == 0; i++) {
		char sub[MFW_DFIO_PATH_MAX];
		r = join(sub, sizeof(sub), path, ns.v[i]);
		if (r == 0)
			r = meta_tree(u, sub, dm, fm, depth + 1);
	}
	names_free(&ns);
	return r;
}

/* ---- writing package data ---- */

struct sink {
	struct upd *u;
	int fd;
	uint64_t off;
	uint32_t crc;
	struct mfw_hash *h;
};

static int sink_write(void *user, const void *buf, size_t len)
{
	struct sink *s = user;
	int r = mfw_dfio_pwrite(s->u->io, s->fd, buf, len, s->off);
	if (r < 0)
		return r;
	if (s->h)
		mfw_hash_update(s->h, buf, len);
	s->off += len;
	return 0;
}

static int file_crc32(struct upd *u, const char *path, uint64_t size, bool *same_size, uint32_t *crc)
{
	struct mfw_dfio_stat st;
	uint8_t *buf;
	uint64_t off = 0;
	int fd, r = mfw_dfio_lstat(u->io, path, &st);

	*same_size = false;
	if (r == MFW_E_NOENT)
		return 0;
	if (r < 0)
		return r;
	if (st.type != MFW_DFIO_REG || st.size != size)
		return 0;
	*same_size = true;
	*crc = 0;
	r = mfw_dfio_open(u->io, path, MFW_DFIO_RDONLY, 0, &fd);
	if (r < 0)
		return r;
	buf = malloc(IO_CHUNK);
	if (!buf) {
		mfw_dfio_close(u->io, fd);
		return MFW_E_NOMEM;
	}
	for (;;) {
		size_t got = 0;
		r = mfw_dfio_pread(u->io, fd, buf, IO_CHUNK, off, &got);
		if (r < 0 || !got)
			break;
		*crc = mfw_crc32(*crc, buf, got);
		off += got;
	}
	free(buf);
	mfw_dfio_close(u->io, fd);
	return r;
}

/* package_extract_file(name, dest): temp file, fsync, rename, fsync the directory. */
static int extract_entry(struct upd *u, zip_uint64_t idx, const char *dest)
{
	char tmp[MFW_DFIO_PATH_MAX];
	struct mfw_dfio_stat st = { .mode = 0644 };
	struct sink s = { .u = u };
	zip_stat_t zs;
	bool same = false;
	uint32_t crc = 0;
	int r;

	if (zip_stat_index(u->zip, idx, 0, &zs) < 0)
		return zip_err(u, "entry");
	if (snprintf(tmp, sizeof(tmp), "%s" TMP_SUFFIX, dest) >= (int)sizeof(tmp))
		return MFW_E_RANGE;
	r = file_crc32(u, dest, zs.size, &same, &crc);
	if (r < 0)
		return r;
	if (same && crc == zs.crc) {
		/* already there (an earlier attempt); a leftover temp file may remain */
		r = mfw_dfio_unlink(u->io, tmp);
		if (r == 0)
			r = mfw_dfio_fsync_parent(u->io, tmp);
		u->res->skipped++;
		return r == MFW_E_NOENT ? 0 : r;
	}
	r = mfw_dfio_mkdirs_parent(u->io, dest, 0755);
	if (r < 0)
		return r;
	if (mfw_dfio_lstat(u->io, dest, &st) < 0 || st.type != MFW_DFIO_REG)
		st = (struct mfw_dfio_stat){ .mode = 0644 };
	r = mfw_dfio_open(u->io, tmp, MFW_DFIO_WRITE | MFW_DFIO_TRUNC, 0600, &s.fd);
	if (r < 0)
		return r;
	r = entry_stream(u, idx, sink_write, &s);
	if (r == 0)
		r = mfw_dfio_chown(u->io, tmp, st.uid, st.gid);
	if (r == 0)
		r = mfw_dfio_chmod(u->io, tmp, st.mode);
	if (r == 0)
		r = mfw_dfio_fsync(u->io, s.fd);
	mfw_dfio_close(u->io, s.fd);
	if (r == 0)
		r = mfw_dfio_rename(u->io, tmp, dest);
	if (r == 0)
		r = mfw_dfio_fsync_parent(u->io, dest);
	if (r == 0)
		u->res->extracted++;
	return r;
}

/* ---- functions ---- */

static int fn_ui_print(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, struct mfw_ed_val *out)
{
	struct upd *u = U(ev);
	char *text = NULL;
	size_t len = 0;
	int r = 0;

	for (size_t i = 0; i < call->nkids && r == 0; i++) {
		char *s, *t;
		size_t n;
		r = upass(u, mfw_ed_arg_str(ev, call, i, &s, &n));
		if (r < 0)
			break;
		t = realloc(text, len + n + 1);
		if (!t) {
			free(s);
			r = MFW_E_NOMEM;
			break;
		}
		text = t;
		memcpy(text + len, s, n);
		len += n;
		text[len] = 0;
		free(s);
	}
	if (r == 0) {
		if (!u->quiet)
			mfw_notice(u->ctx, "%s", text ? text : "");
		r = ret_str(out, text ? text : "");
	}
	free(text);
	return r;
}

static int fn_show_progress(struct mfw_ed_eval *ev, const struct mfw_ed_node *call,
			    struct mfw_ed_val *out)
{
	struct upd *u = U(ev);
	char *a = NULL, *b = NULL;
	int r = arg_str(ev, call, 0, &a);

	if (r == 0)
		r = arg_str(ev, call, 1, &b);
	if (r == 0 && !u->check) {
		u->prog_used = true;
		u->prog_start += u->prog_frac;
		u->prog_frac = strtod(a, NULL);
		u->prog_cur = 0;
	}
	free(a);
	free(b);
	return r < 0 ? r : ret_str(out, "");
}

static int fn_set_progress(struct mfw_ed_eval *ev, const struct mfw_ed_node *call,
			   struct mfw_ed_val *out)
{
	struct upd *u = U(ev);
	char *a = NULL;
	int r = arg_str(ev, call, 0, &a);

	if (r == 0 && !u->check) {
		u->prog_used = true;
		u->prog_cur = strtod(a, NULL);
		r = progress(u, (int)(100.0 * (u->prog_start + u->prog_frac * u->prog_cur)));
	}
	free(a);
	return r < 0 ? r : ret_str(out, "");
}

static int fn_assert(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, struct mfw_ed_val *out)
{
	struct upd *u = U(ev);
	for (size_t i = 0; i < call->nkids; i++) {
		const struct mfw_ed_node *k = call->kids[i];
		struct mfw_ed_val v;
		bool t;
		int r = upass(u, mfw_ed_eval(ev, k, &v));
		if (r < 0)
			return r;
		t = mfw_ed_truthy(&v);
		mfw_ed_val_free(&v);
		if (!t) {
			const char *src = ev->script->src + k->start;
			int n = (int)(k->end - k->start);
			return ufail(u, MFW_DFOTA_CODE_UNEXPECTED, MFW_E_MISMATCH,
				     "assert failed: %.*s", n > 300 ? 300 : n, src);
		}
	}
	return ret_str(out, "t");
}

static int fn_abort(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, struct mfw_ed_val *out)
{
	struct upd *u = U(ev);
	char *msg = NULL;
	int code = MFW_DFOTA_CODE_UNEXPECTED, r;

	(void)out;
	if (call->nkids) {
		r = arg_str(ev, call, 0, &msg);
		if (r < 0)
			return r;
	}
	if (msg && msg[0] == 'E' && msg[1] >= '0' && msg[1] <= '9') {
		char *end;
		long c = strtol(msg + 1, &end, 10);
		if (*end == ':' && c > 0 && c < 1000)
			code = (int)c;
	}
	r = ufail(u, code, err_for_code(code), "%s", msg ? msg : "abort() called");
	free(msg);
	return r;
}

static int fn_getprop(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, struct mfw_ed_val *out)
{
	struct upd *u = U(ev);
	const char *val = "";
	char *key;
	int r = arg_str(ev, call, 0, &key);
	size_t n;

	if (r < 0)
		return r;
	n = strlen(key);
	for (const char *const *p = u->opts->props; p && *p; p++)
		if (!strncmp(*p, key, n) && (*p)[n] == '=')
			val = *p + n + 1;
	free(key);
	return ret_str(out, val);
}

static char *trim(char *s)
{
	char *e;
	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = 0;
	return s;
}

static int fn_file_getprop(struct mfw_ed_eval *ev, const struct mfw_ed_node *call,
			   struct mfw_ed_val *out)
{
	struct upd *u = U(ev);
	char *path = NULL, *key = NULL, *buf = NULL, *line, *save = NULL;
	int r = arg_str(ev, call, 0, &path);

	if (r == 0)
		r = arg_str(ev, call, 1, &key);
	if (r == 0)
		r = script_path(u, call, path);
	if (r < 0)
		goto free_args;
	buf = malloc(PROP_FILE_MAX);
	if (!buf) {
		r = MFW_E_NOMEM;
		goto free_args;
	}
	r = mfw_dfio_read_small(u->io, path, buf, PROP_FILE_MAX, NULL);
	if (r == MFW_E_NOENT || r == MFW_E_INVAL) {
		r = ret_str(out, ""); /* no file: no property, the script decides */
		goto free_args;
	}
	if (r < 0) {
		r = upass(u, mfw_fail(u->ctx, r, "file_getprop: reading '%s' failed: %s", path,
				      mfw_strerror(r)));
		goto free_args;
	}
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq, *k = trim(line);
		if (*k == '#' || !(eq = strchr(k, '=')))
			continue;
		*eq = 0;
		if (!strcmp(trim(k), key)) {
			r = ret_str(out, trim(eq + 1));
			goto free_args;
		}
	}
	r = ret_str(out, "");
free_args:
	free(buf);
	free(path);
	free(key);
	return r;
}

static int fn_sha1_check(struct mfw_ed_eval *ev, const struct mfw_ed_node *call,
			 struct mfw_ed_val *out)
{
	struct upd *u = U(ev);
	struct mfw_ed_val v;
	uint8_t d[20];
	char hex[41];
	int r = upass(u, mfw_ed_eval(ev, call->kids[0], &v));

	if (r < 0)
		return r;
	if (v.type == MFW_ED_VBLOB)
		r = entry_sha1(u, v.blob, d);
	else
		r = mfw_hash_buf(MFW_HASH_SHA1, v.s, v.len, d) < 0 ? MFW_E_NOMEM : 0;
	mfw_ed_val_free(&v);
	if (r < 0)
		return upass(u, r);
	mfw_hex_encode(d, 20, hex);
	if (call->nkids == 1)
		return ret_str(out, hex);
	for (size_t i = 1; i < call->nkids; i++) {
		char *s;
		r = arg_str(ev, call, i, &s);
		if (r < 0)
			return r;
		if (!strcasecmp(s, hex)) {
			free(s);
			return ret_str(out, hex);
		}
		free(s);
	}
	return ret_str(out, "");
}

static int collect_sha1s(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, size_t from,
			 size_t step, uint8_t (**out)[20], size_t *n)
{
	struct upd *u = U(ev);
	size_t cnt = 0;
	uint8_t (*v)[20] = calloc(call->nkids + 1, 20);
	int r = 0;

	if (!v)
		return MFW_E_NOMEM;
	for (size_t i = from; i < call->nkids && r == 0; i += step) {
		char *s;
		r = arg_str(ev, call, i, &s);
		if (r < 0)
			break;
		r = parse_sha1_arg(u, call, s, v[cnt]);
		free(s);
		cnt++;
	}
	if (r < 0) {
		free(v);
		return r;
	}
	*out = v;
	*n = cnt;
	return 0;
}

static int check_spec_path(struct upd *u, const struct mfw_ed_node *call, const char *spec)
{
	if (!strncmp(spec, "MTD:", 4) || !strncmp(spec, "EMMC:", 5))
		return 0;
	return script_path(u, call, spec);
}

static int fn_apply_patch_check(struct mfw_ed_eval *ev, const struct mfw_ed_node *call,
				struct mfw_ed_val *out)
{
	struct upd *u = U(ev);
	uint8_t (*sha1s)[20] = NULL;
	size_t n = 0;
	char *spec;
	bool ok = false;
	int r = arg_str(ev, call, 0, &spec);

	if (r < 0)
		return r;
	r = check_spec_path(u, call, spec);
	if (r == 0)
		r = collect_sha1s(ev, call, 1, 1, &sha1s, &n);
	if (r == 0)
		r = upass(u, mfw_ap_check(u->ctx, u->io, spec, (const uint8_t(*)[20])sha1s, n, &ok));
	free(sha1s);
	free(spec);
	return r < 0 ? r : ret_str(out, ok ? "t" : "");
}

static int fn_apply_patch_space(struct mfw_ed_eval *ev, const struct mfw_ed_node *call,
				struct mfw_ed_val *out)
{
	struct upd *u = U(ev);
	uint64_t need = 0, have = 0;
	char *s;
	int r = arg_str(ev, call, 0, &s);

	if (r < 0)
		return r;
	r = parse_u64(u, call, s, &need, 10);
	free(s);
	if (r < 0)
		return r;
	r = mfw_dfio_free_space(u->io, "/cache", &have);
	if (r < 0)
		return upass(u, mfw_fail(u->ctx, r, "free space of /cache unknown: %s", mfw_strerror(r)));
	mfw_dbg(u->ctx, "apply_patch_space: need %llu, cache has %llu", (unsigned long long)need,
		(unsigned long long)have);
	return ret_str(out, have >= need ? "t" : "");
}

static int fn_apply_patch(struct mfw_ed_eval *ev, const struct mfw_ed_node *call,
			  struct mfw_ed_val *out)
{
	struct upd *u = U(ev);
	char *src = NULL, *tgt = NULL, *s = NULL;
	uint8_t tgt_sha1[20];
	uint64_t tgt_size = 0;
	size_t np = (call->nkids - 4) / 2;
	struct mfw_ap_patch *patches = NULL;
	struct zreader *zr = NULL;
	uint64_t *blobs = NULL;
	enum mfw_ap_outcome oc;
	int r;

	if (call->nkids < 6 || (call->nkids - 4) % 2)
		return ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_FORMAT,
			     "updater-script %u:%u: apply_patch needs src, tgt, sha1, size and (sha1, patch) pairs",
			     call->line, call->col);
	patches = calloc(np, sizeof(*patches));
	zr = calloc(np, sizeof(*zr));
	blobs = calloc(np, sizeof(*blobs));
	if (!patches || !zr || !blobs) {
		r = MFW_E_NOMEM;
		goto free_all;
	}
	r = arg_str(ev, call, 0, &src);
	if (r == 0)
		r = arg_str(ev, call, 1, &tgt);
	if (r == 0)
		r = check_spec_path(u, call, src);
	if (r == 0 && strcmp(tgt, "-"))
		r = check_spec_path(u, call, tgt);
	if (r == 0)
		r = arg_str(ev, call, 2, &s);
	if (r == 0)
		r = parse_sha1_arg(u, call, s, tgt_sha1);
	free(s);
	s = NULL;
	if (r == 0)
		r = arg_str(ev, call, 3, &s);
	if (r == 0)
		r = parse_u64(u, call, s, &tgt_size, 10);
	free(s);
	s = NULL;
	for (size_t i = 0; i < np && r == 0; i++) {
		struct mfw_ed_val v;
		r = arg_str(ev, call, 4 + 2 * i, &s);
		if (r == 0)
			r = parse_sha1_arg(u, call, s, patches[i].src_sha1);
		free(s);
		s = NULL;
		if (r == 0)
			r = upass(u, mfw_ed_eval(ev, call->kids[5 + 2 * i], &v));
		if (r < 0)
			break;
		if (v.type != MFW_ED_VBLOB) {
			mfw_ed_val_free(&v);
			r = ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_FORMAT,
				  "updater-script %u:%u: apply_patch: patch %zu is not a blob (use package_extract_file(name))",
				  call->line, call->col, i + 1);
			break;
		}
		blobs[i] = v.blob;
		mfw_ed_val_free(&v);
	}
	if (r < 0)
		goto free_all;
	if (u->check) {
		/* before anything changes: target already there, or a source (or its cache copy) */
		uint8_t (*list)[20] = calloc(np + 1, 20);
		bool ok = false;
		if (!list) {
			r = MFW_E_NOMEM;
			goto free_all;
		}
		memcpy(list[0], tgt_sha1, 20);
		for (size_t i = 0; i < np; i++)
			memcpy(list[i + 1], patches[i].src_sha1, 20);
		r = upass(u, mfw_ap_check(u->ctx, u->io, src, (const uint8_t(*)[20])list, np + 1, &ok));
		free(list);
		if (r == 0 && !ok)
			r = ufail(u, MFW_DFOTA_CODE_SOURCE, MFW_E_MISMATCH,
				  "\"%s\" has unexpected contents (neither the source nor the target)", src);
		goto free_all;
	}
	for (size_t i = 0; i < np && r == 0; i++) {
		r = zr_open(u, blobs[i], &zr[i]);
		patches[i].reader.read = zr_read;
		patches[i].reader.size = zr[i].size;
		patches[i].reader.user = &zr[i];
	}
	if (r == 0)
		r = upass(u, mfw_ap_apply(u->ctx, u->io, src, strcmp(tgt, "-") ? tgt : NULL, tgt_sha1,
					  tgt_size, patches, np, &oc));
	if (r == 0) {
		if (oc == MFW_AP_ALREADY)
			u->res->already++;
		else if (oc == MFW_AP_FROM_CACHE)
			u->res->from_cache++;
		else
			u->res->patched++;
		mfw_dbg(u->ctx, "apply_patch %s: %s", src,
			oc == MFW_AP_ALREADY ? "already the target" :
			oc == MFW_AP_FROM_CACHE ? "patched from the cache copy" : "patched");
	}
free_all:
	for (size_t i = 0; zr && i < np; i++)
		zr_close(&zr[i]);
	free(zr);
	free(blobs);
	free(patches);
	free(src);
	free(tgt);
	return r < 0 ? r : ret_str(out, "t");
}

static int fn_package_extract_file(struct mfw_ed_eval *ev, const struct mfw_ed_node *call,
				   struct mfw_ed_val *out)
{
	struct upd *u = U(ev);
	char *name = NULL, *dest = NULL;
	zip_uint64_t idx = 0;
	uint64_t size = 0;
	int r = arg_str(ev, call, 0, &name);

	if (r == 0)
		r = locate(u, name, &idx, &size);
	if (r < 0)
		goto free_args;
	if (call->nkids == 1) {
		memset(out, 0, sizeof(*out));
		out->type = MFW_ED_VBLOB;
		out->blob = idx;
		out->blob_size = size;
		goto free_args;
	}
	r = arg_str(ev, call, 1, &dest);
	if (r == 0)
		r = script_path(u, call, dest);
	if (r == 0 && !u->check)
		r = upass(u, extract_entry(u, idx, dest));
	if (r == 0)
		r = ret_str(out, "t");
free_args:
	free(name);
	free(dest);
	return r;
}

static int fn_package_extract_dir(struct mfw_ed_eval *ev, const struct mfw_ed_node *call,
				  struct mfw_ed_val *out)
{
	struct upd *u = U(ev);
	char *name = NULL, *dest = NULL;
	zip_int64_t n = zip_get_num_entries(u->zip, 0);
	size_t plen;
	int r = arg_str(ev, call, 0, &name);

	if (r == 0)
		r = arg_str(ev, call, 1, &dest);
	if (r == 0)
		r = script_path(u, call, dest);
	if (r < 0 || u->check)
		goto free_args;
	while (*name && name[strlen(name) - 1] == '/')
		name[strlen(name) - 1] = 0;
	plen = strlen(name);
	for (zip_int64_t i = 0; i < n && r == 0; i++) {
		const char *en = zip_get_name(u->zip, (zip_uint64_t)i, ZIP_FL_ENC_RAW), *rel;
		char path[MFW_DFIO_PATH_MAX];
		if (!en || (plen && (strncmp(en, name, plen) || en[plen] != '/')))
			continue;
		rel = en + plen + (plen ? 1 : 0);
		if (!*rel)
			continue;
		r = join(path, sizeof(path), dest, rel);
		if (r < 0)
			break;
		if (rel[strlen(rel) - 1] == '/') {
			/* a directory entry: make it exist */
			char probe[MFW_DFIO_PATH_MAX];
			if (snprintf(probe, sizeof(probe), "%sx", path) >= (int)sizeof(probe)) {
				r = upass(u, MFW_E_RANGE);
				break;
			}
			r = upass(u, mfw_dfio_mkdirs_parent(u->io, probe, 0755));
			continue;
		}
		r = script_path(u, call, path);
		if (r == 0)
			r = upass(u, extract_entry(u, (zip_uint64_t)i, path));
	}
free_args:
	free(name);
	free(dest);
	return r < 0 ? r : ret_str(out, "t");
}

static int do_delete(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, struct mfw_ed_val *out,
		     bool recursive)
{
	struct upd *u = U(ev);
	unsigned done = 0;
	char num[16];
	int r = 0;

	for (size_t i = 0; i < call->nkids && r == 0; i++) {
		struct mfw_dfio_stat st;
		char *p;
		r = arg_str(ev, call, i, &p);
		if (r < 0)
			break;
		r = script_path(u, call, p);
		if (r < 0 || u->check) {
			free(p);
			continue;
		}
		r = mfw_dfio_lstat(u->io, p, &st);
		if (r == MFW_E_NOENT) {
			r = 0; /* already gone: fine, and what a rerun sees */
		} else if (r == 0) {
			if (st.type == MFW_DFIO_DIR && !recursive)
				r = mfw_dfio_rmdir(u->io, p);
			else
				r = remove_tree(u, p, 0);
			if (r == 0)
				r = mfw_dfio_fsync_parent(u->io, p);
			if (r == 0)
				done++;
			if (r < 0 && r != MFW_DFIO_E_POWER)
				r = upass(u, mfw_fail(u->ctx, r, "deleting '%s' failed: %s", p,
						      mfw_strerror(r)));
		}
		r = upass(u, r);
		free(p);
	}
	if (r < 0)
		return r;
	snprintf(num, sizeof(num), "%u", done);
	return ret_str(out, num);
}

static int fn_delete(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, struct mfw_ed_val *out)
{
	return do_delete(ev, call, out, false);
}

static int fn_delete_recursive(struct mfw_ed_eval *ev, const struct mfw_ed_node *call,
			       struct mfw_ed_val *out)
{
	return do_delete(ev, call, out, true);
}

static int make_symlink(struct upd *u, const char *target, const char *link)
{
	char tmp[MFW_DFIO_PATH_MAX], cur[MFW_DFIO_PATH_MAX];
	struct mfw_dfio_stat st;
	int r = mfw_dfio_lstat(u->io, link, &st);

	if (r == 0 && st.type == MFW_DFIO_LNK && mfw_dfio_readlink(u->io, link, cur, sizeof(cur)) == 0 &&
	    !strcmp(cur, target))
		return 0;
	if (r < 0 && r != MFW_E_NOENT)
		return r;
	if (r == 0 && st.type == MFW_DFIO_DIR) {
		r = remove_tree(u, link, 0);
		if (r < 0)
			return r;
	}
	if (snprintf(tmp, sizeof(tmp), "%s" TMP_SUFFIX, link) >= (int)sizeof(tmp))
		return MFW_E_RANGE;
	r = mfw_dfio_mkdirs_parent(u->io, link, 0755);
	if (r < 0)
		return r;
	r = mfw_dfio_unlink(u->io, tmp);
	if (r < 0 && r != MFW_E_NOENT)
		return r;
	r = mfw_dfio_symlink(u->io, target, tmp);
	if (r == 0)
		r = mfw_dfio_rename(u->io, tmp, link);
	if (r == 0)
		r = mfw_dfio_fsync_parent(u->io, link);
	return r;
}

static int fn_symlink(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, struct mfw_ed_val *out)
{
	struct upd *u = U(ev);
	char *target = NULL;
	int r = arg_str(ev, call, 0, &target);

	for (size_t i = 1; i < call->nkids && r == 0; i++) {
		char *link;
		r = arg_str(ev, call, i, &link);
		if (r < 0)
			break;
		r = script_path(u, call, link);
		if (r == 0 && !u->check) {
			r = make_symlink(u, target, link);
			if (r < 0 && r != MFW_DFIO_E_POWER)
				r = upass(u, mfw_fail(u->ctx, r, "symlink '%s' -> '%s' failed: %s", link,
						      target, mfw_strerror(r)));
		}
		free(link);
	}
	free(target);
	return r < 0 ? r : ret_str(out, "t");
}

/* Keys of set_metadata(_recursive): uid, gid, mode / dmode, fmode; capabilities, selabel accepted. */
static int parse_meta(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, size_t from,
		      struct meta *dm, struct meta *fm, bool recursive)
{
	struct upd *u = U(ev);
	int r = 0;

	memset(dm, 0, sizeof(*dm));
	memset(fm, 0, sizeof(*fm));
	if ((call->nkids - from) % 2)
		return ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_FORMAT,
			     "updater-script %u:%u: %s: keys and values must come in pairs", call->line,
			     call->col, call->str);
	for (size_t i = from; i + 1 < call->nkids && r == 0; i += 2) {
		char *k = NULL, *v = NULL;
		uint64_t n = 0;
		r = arg_str(ev, call, i, &k);
		if (r == 0)
			r = arg_str(ev, call, i + 1, &v);
		if (r < 0) {
			free(k);
			free(v);
			break;
		}
		if (!strcmp(k, "uid") || !strcmp(k, "gid")) {
			r = parse_u64(u, call, v, &n, 10);
			if (r == 0 && n > UINT32_MAX)
				r = parse_u64(u, call, "-", &n, 10);
			if (r == 0 && k[0] == 'u')
				dm->has_uid = fm->has_uid = true, dm->uid = fm->uid = (uint32_t)n;
			else if (r == 0)
				dm->has_gid = fm->has_gid = true, dm->gid = fm->gid = (uint32_t)n;
		} else if ((!recursive && !strcmp(k, "mode")) ||
			   (recursive && (!strcmp(k, "dmode") || !strcmp(k, "fmode")))) {
			r = parse_u64(u, call, v, &n, 8);
			if (r == 0 && n > 07777)
				r = parse_u64(u, call, "-", &n, 8);
			if (r == 0 && (k[0] == 'm' || k[0] == 'd'))
				dm->has_mode = true, dm->mode = (uint32_t)n;
			if (r == 0 && (k[0] == 'm' || k[0] == 'f'))
				fm->has_mode = true, fm->mode = (uint32_t)n;
		} else if (!strcmp(k, "capabilities") || !strcmp(k, "selabel")) {
			mfw_dbg(u->ctx, "%s: '%s' is not applied on this module", call->str, k);
		} else {
			r = ufail(u, MFW_DFOTA_CODE_DAMAGED, MFW_E_FORMAT,
				  "updater-script %u:%u: %s: unknown key '%.40s'", call->line, call->col,
				  call->str, k);
		}
		free(k);
		free(v);
	}
	return r;
}

static int meta_on(struct upd *u, const char *path, const struct meta *dm, const struct meta *fm,
		   bool recursive)
{
	int r = recursive ? meta_tree(u, path, dm, fm, 0) : apply_meta(u, path, fm, true);
	if (r < 0 && r != MFW_DFIO_E_POWER)
		r = upass(u, mfw_fail(u->ctx, r, "setting metadata of '%s' failed: %s", path,
				      mfw_strerror(r)));
	return r;
}

static int do_set_metadata(struct mfw_ed_eval *ev, const struct mfw_ed_node *call,
			   struct mfw_ed_val *out, bool recursive)
{
	struct upd *u = U(ev);
	struct meta dm, fm;
	char *path;
	int r = arg_str(ev, call, 0, &path);

	if (r < 0)
		return r;
	r = script_path(u, call, path);
	if (r == 0)
		r = parse_meta(ev, call, 1, &dm, &fm, recursive);
	if (r == 0 && !u->check)
		r = meta_on(u, path, &dm, &fm, recursive);
	free(path);
	return r < 0 ? r : ret_str(out, "t");
}

static int fn_set_metadata(struct mfw_ed_eval *ev, const struct mfw_ed_node *call,
			   struct mfw_ed_val *out)
{
	return do_set_metadata(ev, call, out, false);
}

static int fn_set_metadata_recursive(struct mfw_ed_eval *ev, const struct mfw_ed_node *call,
				     struct mfw_ed_val *out)
{
	return do_set_metadata(ev, call, out, true);
}

static int do_set_perm(struct mfw_ed_eval *ev, const struct mfw_ed_node *call,
		       struct mfw_ed_val *out, bool recursive)
{
	struct upd *u = U(ev);
	size_t nnum = recursive ? 4 : 3;
	uint64_t v[4];
	struct meta dm = { .has_uid = true, .has_gid = true, .has_mode = true }, fm;
	int r = 0;

	for (size_t i = 0; i < nnum && r == 0; i++) {
		char *s;
		r = arg_str(ev, call, i, &s);
		if (r == 0)
			r = parse_u64(u, call, s, &v[i], i < 2 ? 10 : 8);
		if (r == 0 && ((i < 2 && v[i] > UINT32_MAX) || (i >= 2 && v[i] > 07777)))
			r = parse_u64(u, call, "-", &v[i], 10);
		free(s);
	}
	if (r < 0)
		return r;
	dm.uid = (uint32_t)v[0];
	dm.gid = (uint32_t)v[1];
	dm.mode = (uint32_t)v[2];
	fm = dm;
	if (recursive)
		fm.mode = (uint32_t)v[3];
	for (size_t i = nnum; i < call->nkids && r == 0; i++) {
		char *p;
		r = arg_str(ev, call, i, &p);
		if (r < 0)
			break;
		r = script_path(u, call, p);
		if (r == 0 && !u->check)
			r = meta_on(u, p, &dm, &fm, recursive);
		free(p);
	}
	return r < 0 ? r : ret_str(out, "t");
}

static int fn_set_perm(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, struct mfw_ed_val *out)
{
	return do_set_perm(ev, call, out, false);
}

static int fn_set_perm_recursive(struct mfw_ed_eval *ev, const struct mfw_ed_node *call,
				 struct mfw_ed_val *out)
{
	return do_set_perm(ev, call, out, true);
}

/* write_raw_image(blob_or_file, partition): whole image, skipped when already there. */
static int raw_image(struct upd *u, const struct mfw_ed_val *src, const char *part)
{
	struct sink s = { .u = u };
	struct mfw_hash h;
	struct mfw_dfio_stat st;
	uint8_t want[20], got[20];
	uint64_t size;
	bool found;
	int r, in = -1;

	if (src->type == MFW_ED_VBLOB) {
		size = src->blob_size;
		r = entry_sha1(u, src->blob, want);
	} else {
		r = mfw_ap_file_sha1(u->io, src->s, &found, want, &size);
		if (r == 0 && !found)
			r = mfw_fail(u->ctx, MFW_E_NOENT, "write_raw_image: '%s' does not exist", src->s);
	}
	if (r < 0)
		return r;
	r = mfw_ap_prefix_sha1(u->io, part, size, got);
	if (r == 0 && !memcmp(got, want, 20)) {
		r = mfw_dfio_lstat(u->io, part, &st);
		if (r < 0 || st.type != MFW_DFIO_REG || st.size == size)
			return r;
		/* the image is there; only the trim of a regular-file partition was cut */
	} else if (r < 0 && r != MFW_E_NOENT && r != MFW_E_RANGE) {
		return r;
	}
	r = mfw_dfio_open(u->io, part, MFW_DFIO_WRITE, 0600, &s.fd);
	if (r < 0)
		return r;
	r = mfw_hash_init(&h, MFW_HASH_SHA1);
	if (r < 0)
		goto close_fd;
	s.h = &h;
	if (src->type == MFW_ED_VBLOB) {
		r = entry_stream(u, src->blob, sink_write, &s);
	} else {
		uint8_t *buf = malloc(IO_CHUNK);
		r = buf ? mfw_dfio_open(u->io, src->s, MFW_DFIO_RDONLY, 0, &in) : MFW_E_NOMEM;
		while (r == 0) {
			size_t n = 0;
			r = mfw_dfio_pread(u->io, in, buf, IO_CHUNK, s.off, &n);
			if (r < 0 || !n)
				break;
			r = sink_write(&s, buf, n);
		}
		if (in >= 0)
			mfw_dfio_close(u->io, in);
		free(buf);
	}
	mfw_hash_free(&h);
	if (r == 0 && mfw_dfio_lstat(u->io, part, &st) == 0 && st.type == MFW_DFIO_REG && st.size > size)
		r = mfw_dfio_ftruncate(u->io, s.fd, size);
	if (r == 0)
		r = mfw_dfio_fsync(u->io, s.fd);
close_fd:
	mfw_dfio_close(u->io, s.fd);
	/* a partition backed by a new regular file needs its directory entry durable too */
	if (r == 0)
		r = mfw_dfio_fsync_parent(u->io, part);
	if (r < 0)
		return r;
	r = mfw_ap_prefix_sha1(u->io, part, size, got);
	if (r == 0 && memcmp(got, want, 20))
		r = mfw_fail(u->ctx, MFW_E_IO, "partition '%s' does not read back as the image", part);
	if (r == 0)
		u->res->extracted++;
	return r;
}

static int fn_write_raw_image(struct mfw_ed_eval *ev, const struct mfw_ed_node *call,
			      struct mfw_ed_val *out)
{
	struct upd *u = U(ev);
	char part[MFW_DFIO_PATH_MAX], *spec = NULL;
	struct mfw_ed_val v;
	int r = upass(u, mfw_ed_eval(ev, call->kids[0], &v));

	if (r < 0)
		return r;
	r = arg_str(ev, call, 1, &spec);
	if (r == 0)
		r = partition_path(u, call, spec, part, sizeof(part));
	if (r == 0 && v.type == MFW_ED_VSTRING)
		r = script_path(u, call, v.s);
	if (r == 0 && !u->check) {
		r = raw_image(u, &v, part);
		if (r < 0 && r != MFW_DFIO_E_POWER)
			r = upass(u, mfw_fail_keep(u->ctx, r, "write_raw_image to '%s' failed: %s", spec,
						   mfw_strerror(r)));
	}
	mfw_ed_val_free(&v);
	free(spec);
	return r < 0 ? r : ret_str(out, "t");
}

static const struct mfw_ed_func funcs[] = {
	{ "abort", 0, 1, 0, fn_abort },
	{ "apply_patch", 6, -1, F_MUT, fn_apply_patch },
	{ "apply_patch_check", 1, -1, 0, fn_apply_patch_check },
	{ "apply_patch_space", 1, 1, 0, fn_apply_patch_space },
	{ "assert", 1, -1, 0, fn_assert },
	{ "delete", 1, -1, F_MUT, fn_delete },
	{ "delete_recursive", 1, -1, F_MUT, fn_delete_recursive },
	{ "file_getprop", 2, 2, 0, fn_file_getprop },
	{ "getprop", 1, 1, 0, fn_getprop },
	{ "package_extract_dir", 2, 2, F_MUT, fn_package_extract_dir },
	/* the one-argument form only reads; the two-argument form writes */
	{ "package_extract_file", 1, 2, F_MUT, fn_package_extract_file },
	{ "set_metadata", 3, -1, F_MUT, fn_set_metadata },
	{ "set_metadata_recursive", 3, -1, F_MUT, fn_set_metadata_recursive },
	{ "set_perm", 4, -1, F_MUT, fn_set_perm },
	{ "set_perm_recursive", 5, -1, F_MUT, fn_set_perm_recursive },
	{ "set_progress", 1, 1, 0, fn_set_progress },
	{ "sha1_check", 1, -1, 0, fn_sha1_check },
	{ "show_progress", 2, 2, 0, fn_show_progress },
	{ "symlink", 2, -1, F_MUT, fn_symlink },
	{ "ui_print", 0, -1, 0, fn_ui_print },
	{ "write_raw_image", 2, 2, F_MUT, fn_write_raw_image },
};
static const size_t nfuncs = MFW_ARRAY_SIZE(funcs);

/* A statement changes the module when it calls a mutating function (the blob form of
 * package_extract_file does not). */
static bool stmt_mutates(const struct mfw_ed_node *n)
{
	if (n->kind == MFW_ED_CALL && n->fn >= 0 && (funcs[n->fn].flags & F_MUT) &&
	    !(!strcmp(n->str, "package_extract_file") && n->nkids == 1))
		return true;
	for (size_t i = 0; i < n->nkids; i++)
		if (stmt_mutates(n->kids[i]))
			return true;
	return false;
}

/* ---- driver ---- */

static int load(struct upd *u, const struct mfw_dfota_pkg *pkg, uint8_t script_hash[32])
{
	struct mfw_ed_error perr;
	char *src = NULL;
	size_t len = 0;
	int r;

	r = open_zip(u, pkg);
	if (r == 0)
		r = check_entries(u);
	if (r == 0)
		r = read_script(u, &src, &len);
	if (r < 0)
		return r;
	r = mfw_ed_parse(u->ctx, src, len, &u->script, &perr);
	if (r == 0)
		r = mfw_ed_bind(u->ctx, u->script, funcs, nfuncs, &perr);
	if (r < 0 && !u->code)
		u->code = MFW_DFOTA_CODE_DAMAGED;
	if (r == 0 && script_hash)
		r = mfw_hash_buf(MFW_HASH_SHA256, src, len, script_hash) < 0 ? MFW_E_NOMEM : 0;
	free(src);
	return r;
}

static void unload(struct upd *u)
{
	mfw_ed_free(u->script);
	u->script = NULL;
	if (u->zip)
		zip_discard(u->zip);
	u->zip = NULL;
}

int mfw_dfota_load_check(struct mfw_ctx *ctx, const struct mfw_dfota_pkg *pkg, int *code)
{
	struct mfw_dfota_apply_opts o = { 0 };
	struct mfw_dfota_apply_result res = { 0 };
	struct upd u = { .ctx = ctx, .opts = &o, .res = &res, .max_entry = pkg->max_entry_size };
	int r = load(&u, pkg, NULL);

	unload(&u);
	if (code)
		*code = r < 0 ? (u.code ? u.code : mfw_dfota_code_for(r)) : 0;
	return r;
}

static int run_stmts(struct upd *u, size_t from, size_t to, size_t commit)
{
	const struct mfw_ed_node *root = u->script->root;
	struct mfw_ed_eval ev = {
		.ctx = u->ctx, .script = u->script, .funcs = funcs, .nfuncs = nfuncs, .user = u,
	};

	for (size_t i = from; i < to; i++) {
		struct mfw_ed_val v;
		int r;
		u->quiet = u->check && i >= commit;
		r = mfw_ed_eval(&ev, root->kids[i], &v);
		if (r < 0) {
			const struct mfw_ed_node *k = root->kids[i];
			int n = (int)(k->end - k->start);
			/* an I/O error from below may carry no sentence: name the statement */
			if (r != MFW_DFIO_E_POWER)
				mfw_fail_keep(u->ctx, r, "updater-script %u:%u: %.*s%s: %s", k->line, k->col,
					      n > 120 ? 120 : n, u->script->src + k->start,
					      n > 120 ? "..." : "", mfw_strerror(r));
			return upass(u, r);
		}
		mfw_ed_val_free(&v);
		if (!u->check) {
			u->res->statements++;
			if (!u->prog_used) {
				r = progress(u, (int)(100 * (i + 1 - from) / (to - from)));
				if (r < 0)
					return r;
			}
		}
	}
	return 0;
}

static int retry_counter(struct upd *u, unsigned max)
{
	char buf[32], line[16];
	unsigned n = 0;
	int r = mfw_dfio_read_small(u->io, MFW_DFOTA_RETRY_FILE, buf, sizeof(buf), NULL);

	if (r == 0)
		n = (unsigned)strtoul(buf, NULL, 10);
	else if (r == MFW_DFIO_E_POWER)
		return r;
	if (n >= max)
		return ufail(u, MFW_DFOTA_CODE_RETRIES, MFW_E_PROTECTED,
			     "%u update attempts already made (limit %u): giving up; delete %s to allow more",
			     n, max, MFW_DFOTA_RETRY_FILE);
	u->res->attempt = n + 1;
	snprintf(line, sizeof(line), "%u\n", n + 1);
	r = mfw_dfio_write_small(u->io, MFW_DFOTA_RETRY_FILE, line, strlen(line));
	if (r < 0 && r != MFW_DFIO_E_POWER)
		return ufail(u, mfw_dfota_code_for(r), r, "the retry counter %s cannot be written: %s",
			     MFW_DFOTA_RETRY_FILE, mfw_strerror(r));
	return r;
}

/*
 * Success: drop the cache copy, mark the package done (a rerun of the same
 * package then reports success at once instead of failing its source
 * checks on the updated system), drop the retry counter.
 */
static int finish_cleanup(struct upd *u, const char *done)
{
	int r = mfw_dfio_unlink(u->io, MFW_AP_CACHE_COPY);
	if (r == 0)
		r = mfw_dfio_fsync_parent(u->io, MFW_AP_CACHE_COPY);
	if (r < 0 && r != MFW_E_NOENT)
		return upass(u, r);
	r = mfw_dfio_write_small(u->io, MFW_DFOTA_STATE_FILE, done, strlen(done));
	if (r < 0)
		return upass(u, r);
	r = mfw_dfio_unlink(u->io, MFW_DFOTA_RETRY_FILE);
	if (r == 0)
		r = mfw_dfio_fsync_parent(u->io, MFW_DFOTA_RETRY_FILE);
	if (r < 0 && r != MFW_E_NOENT)
		return upass(u, r);
	return 0;
}

int mfw_dfota_apply_io(struct mfw_ctx *ctx, struct mfw_dfio *io, const struct mfw_dfota_pkg *pkg,
		       const struct mfw_dfota_apply_opts *opts, struct mfw_dfota_apply_result *res)
{
	struct upd u = { .ctx = ctx, .io = io, .opts = opts, .res = res,
			 .max_entry = pkg->max_entry_size };
	uint8_t hash[32];
	char state[96], cur[96], done[96], line[64];
	size_t nstmt, commit;
	int r;

	memset(res, 0, sizeof(*res));
	mfw_ctx_clear_detail(ctx);
	r = mfw_dfio_mkdirs_parent(io, MFW_DFOTA_STATUS_FILE, 0755);
	if (r == MFW_DFIO_E_POWER)
		return r;
	r = emit(&u, "+QIND: \"FOTA\",\"START\"", true);
	if (r < 0)
		return r;
	r = retry_counter(&u, opts->max_attempts ? opts->max_attempts : DEFAULT_ATTEMPTS);
	if (r == 0)
		r = load(&u, pkg, hash);
	if (r < 0)
		goto end;
	nstmt = u.script->root->nkids;
	for (commit = 0; commit < nstmt; commit++)
		if (stmt_mutates(u.script->root->kids[commit]))
			break;
	memcpy(cur, "applying ", 9);
	mfw_hex_encode(hash, 32, cur + 9);
	cur[73] = '\n';
	cur[74] = 0;
	snprintf(done, sizeof(done), "done %s", cur + 9);
	r = mfw_dfio_read_small(io, MFW_DFOTA_STATE_FILE, state, sizeof(state), NULL);
	if (r == MFW_DFIO_E_POWER)
		goto end;
	/*
	 * Applied before (or only the bookkeeping after it was cut): the source
	 * checks would fail on the updated system, so run the idempotent apply
	 * pass instead of trusting the marker. It finds every target in place
	 * and writes nothing, or repairs what changed since (a re-flash).
	 */
	res->already_applied = r == 0 && !strcmp(state, done);
	res->resumed = res->already_applied || (r == 0 && !strcmp(state, cur));
	r = 0;
	if (!res->resumed) {
		u.check = true;
		r = run_stmts(&u, 0, nstmt, commit);
		u.check = false;
		if (r < 0)
			goto end;
		/* from here on the system may change: remember that we are committed */
		r = mfw_dfio_write_small(io, MFW_DFOTA_STATE_FILE, cur, strlen(cur));
		if (r < 0 && r != MFW_DFIO_E_POWER)
			r = ufail(&u, mfw_dfota_code_for(r), r, "the state file %s cannot be written: %s",
				  MFW_DFOTA_STATE_FILE, mfw_strerror(r));
		if (r < 0)
			goto end;
	} else {
		mfw_dbg(ctx, "resuming an interrupted update (attempt %u)", res->attempt);
	}
	r = run_stmts(&u, commit, nstmt, commit);
	if (r == 0)
		r = progress(&u, 100);
	if (r == 0)
		r = finish_cleanup(&u, done);
end:
	unload(&u);
	if (r == MFW_DFIO_E_POWER)
		return r; /* the machine is off: nothing more happens */
	if (r < 0 && !u.code)
		u.code = mfw_dfota_code_for(r);
	if (r == 0 && u.code)
		r = err_for_code(u.code);
	res->code = r < 0 ? u.code : 0;
	if (r < 0)
		snprintf(res->message, sizeof(res->message), "%s", mfw_ctx_detail(ctx));
	snprintf(line, sizeof(line), "+QIND: \"FOTA\",\"END\",%d", res->code);
	{
		int e = emit(&u, line, true);
		if (e == MFW_DFIO_E_POWER)
			return e;
	}
	return r;
}

int mfw_dfota_apply(struct mfw_ctx *ctx, const char *package, const struct mfw_dfota_apply_opts *opts,
		    struct mfw_dfota_apply_result *res)
{
	struct mfw_dfota_pkg pkg = { .path = package };
	struct mfw_dfio *io;
	int r;

	if (!package || !opts || !opts->root || !opts->cache || !opts->partitions || !res)
		return mfw_fail(ctx, MFW_E_INVAL, "dfota apply needs a package, --root, --cache and --partitions");
	r = mfw_dfio_posix_new(opts->root, opts->cache, opts->partitions, &io);
	if (r < 0)
		return r;
	r = mfw_dfota_apply_io(ctx, io, &pkg, opts, res);
	mfw_dfio_free(io);
	return r;
}
