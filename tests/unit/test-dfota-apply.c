/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DFOTA updater on the simulated I/O backend: a whole update (files
 * patched, added, removed, symlinks, metadata, boot and modem through the
 * size list), idempotent rerun, target already present, the cache copy,
 * wrong version and wrong source refused before any change, EIO and
 * ENOSPC injection, retry limit, damaged zips, bad scripts, path escapes,
 * write_raw_image, and the I/O layer's own rules.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <unistd.h>

#include "../powercut/fixture.h"
#include "dfota/applypatch.h"
#include "dfota/updater.h"

static struct mfw_ctx *ctx;
static char pkg_path[64], pkg2_path[64];

struct lines {
	char v[256][64];
	int n;
};

static void collect(void *user, const char *line)
{
	struct lines *l = user;
	if (l->n < 256)
		snprintf(l->v[l->n++], 64, "%s", line);
}

struct world {
	struct fx_opts o;
	struct fx_image src, dst;
	struct fx_digest dsrc, ddst;
	struct mfw_dfio *io;   /* the module, loaded with the source */
};

static void world_init(struct world *w, const struct fx_opts *o)
{
	struct mfw_dfio *t;
	memset(w, 0, sizeof(*w));
	w->o = *o;
	fx_generate(o, &w->src, &w->dst);
	assert_int_equal(fx_build(ctx, o, &w->src, &w->dst, pkg_path), 0);
	assert_int_equal(mfw_dfio_sim_new(&t), 0);
	assert_int_equal(fx_load(t, &w->dst), 0);
	assert_int_equal(fx_digest(t, &w->ddst), 0);
	mfw_dfio_free(t);
	assert_int_equal(mfw_dfio_sim_new(&w->io), 0);
	assert_int_equal(fx_load(w->io, &w->src), 0);
	assert_int_equal(fx_digest(w->io, &w->dsrc), 0);
}

static void world_free(struct world *w)
{
	mfw_dfio_free(w->io);
	fx_free(&w->src);
	fx_free(&w->dst);
}

static int run(struct world *w, const char *pkg, struct mfw_dfota_apply_result *res, struct lines *l)
{
	struct mfw_dfota_pkg p = { .path = pkg };
	struct mfw_dfota_apply_opts o = { .report = collect, .report_user = l };
	struct lines dummy;
	if (!l) {
		memset(&dummy, 0, sizeof(dummy));
		o.report_user = &dummy;
	}
	return mfw_dfota_apply_io(ctx, w->io, &p, &o, res);
}

static bool is(struct world *w, const struct fx_digest *d)
{
	struct fx_digest now;
	/* only what is durable counts */
	mfw_dfio_sim_power_cycle(w->io, MFW_DFIO_TEAR_DROP);
	assert_int_equal(fx_digest(w->io, &now), 0);
	return fx_digest_eq(&now, d);
}

static const struct fx_opts small = {
	.seed = 7, .files = 24, .boot_size = 9000, .modem_size = 40000, .preserved = 3,
};

/* ---- whole update ---- */

static void test_apply_whole(void **state)
{
	struct world w;
	struct mfw_dfota_apply_result res;
	struct lines l = { 0 };
	char buf[128];
	(void)state;

	world_init(&w, &small);
	assert_false(fx_digest_eq(&w.dsrc, &w.ddst));
	assert_int_equal(run(&w, pkg_path, &res, &l), 0);
	assert_int_equal(res.code, 0);
	assert_int_equal(res.attempt, 1);
	assert_false(res.resumed);
	assert_true(res.patched >= 5);
	assert_true(res.extracted >= 3);
	assert_true(is(&w, &w.ddst));
	assert_true(fx_preserved_ok(w.io, &w.src));
	/* the module's words: START, UPDATING rising to 100, END,0 */
	assert_string_equal(l.v[0], "+QIND: \"FOTA\",\"START\"");
	assert_string_equal(l.v[l.n - 2], "+QIND: \"FOTA\",\"UPDATING\",100");
	assert_string_equal(l.v[l.n - 1], "+QIND: \"FOTA\",\"END\",0");
	for (int i = 2; i < l.n - 1; i++)
		assert_true(strcmp(l.v[i], l.v[i - 1]) != 0);
	assert_int_equal(mfw_dfio_read_small(w.io, MFW_DFOTA_STATUS_FILE, buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "+QIND: \"FOTA\",\"END\",0\n");
	assert_int_equal(mfw_dfio_read_small(w.io, MFW_DFOTA_RETRY_FILE, buf, sizeof(buf), NULL),
			 MFW_E_NOENT);
	assert_int_equal(mfw_dfio_read_small(w.io, MFW_AP_CACHE_COPY, buf, sizeof(buf), NULL),
			 MFW_E_NOENT);
	/* the same package again: already applied, verified, nothing written */
	assert_int_equal(run(&w, pkg_path, &res, NULL), 0);
	assert_true(res.already_applied);
	assert_int_equal(res.patched + res.extracted + res.from_cache, 0);
	assert_true(is(&w, &w.ddst));
	/* a module re-flashed to the source while /cache kept the marker: updated again */
	{
		struct mfw_dfio *fresh;
		char mark[128];
		assert_int_equal(mfw_dfio_read_small(w.io, MFW_DFOTA_STATE_FILE, mark, sizeof(mark), NULL), 0);
		assert_int_equal(mfw_dfio_sim_new(&fresh), 0);
		assert_int_equal(fx_load(fresh, &w.src), 0);
		assert_int_equal(mfw_dfio_mkdir(fresh, MFW_DFOTA_FOTA_DIR, 0755), 0);
		assert_int_equal(mfw_dfio_write_small(fresh, MFW_DFOTA_STATE_FILE, mark, strlen(mark)), 0);
		mfw_dfio_free(w.io);
		w.io = fresh;
		assert_int_equal(run(&w, pkg_path, &res, NULL), 0);
		assert_true(res.already_applied);
		assert_true(res.patched >= 5);
		assert_true(is(&w, &w.ddst));
	}
	/* idempotent apply pass: as if cut at the very end, every target is found in place */
	assert_int_equal(mfw_dfio_read_small(w.io, MFW_DFOTA_STATE_FILE, buf, sizeof(buf), NULL), 0);
	assert_memory_equal(buf, "done ", 5);
	{
		char st2[256];
		snprintf(st2, sizeof(st2), "applying %s", buf + 5);
		assert_int_equal(mfw_dfio_write_small(w.io, MFW_DFOTA_STATE_FILE, st2, strlen(st2)), 0);
	}
	assert_int_equal(run(&w, pkg_path, &res, NULL), 0);
	assert_true(res.resumed);
	assert_int_equal(res.patched, 0);
	assert_true(res.already >= 7);
	assert_int_equal(res.extracted, 0);
	assert_true(is(&w, &w.ddst));
	world_free(&w);
}

static void test_deflated_patches(void **state)
{
	struct fx_opts o = small;
	struct world w;
	struct mfw_dfota_apply_result res;
	(void)state;
	o.deflate_patches = true;
	o.seed = 11;
	world_init(&w, &o);
	assert_int_equal(run(&w, pkg_path, &res, NULL), 0);
	assert_true(is(&w, &w.ddst));
	world_free(&w);
}

/* ---- refused before any change ---- */

static void test_wrong_version(void **state)
{
	struct world w;
	struct mfw_dfota_apply_result res;
	const char *prop = "version=RG520NEUDCR01A01M4G_01.000.00.000\n";
	(void)state;
	world_init(&w, &small);
	assert_int_equal(mfw_dfio_write_small(w.io, "/etc/quectel-project-version.prop", prop,
					      strlen(prop)), 0);
	mfw_dfio_sim_sync_all(w.io);
	assert_int_equal(fx_digest(w.io, &w.dsrc), 0);
	assert_int_equal(run(&w, pkg_path, &res, NULL), MFW_E_MISMATCH);
	assert_int_equal(res.code, 505);
	assert_non_null(strstr(res.message, "E505"));
	assert_true(is(&w, &w.dsrc));
	world_free(&w);
}

static void test_wrong_source(void **state)
{
	struct fx_opts o = small;
	struct world w;
	struct mfw_dfota_apply_result res;
	(void)state;
	o.wrong_source = true;
	world_init(&w, &o);
	assert_int_equal(run(&w, pkg_path, &res, NULL), MFW_E_MISMATCH);
	assert_int_equal(res.code, 510);
	assert_true(is(&w, &w.dsrc));
	world_free(&w);
}

/* ---- AOSP rules ---- */

static const struct fx_ent *first_patched(const struct world *w)
{
	for (size_t i = 0; i < w->dst.n; i++) {
		const struct fx_ent *d = &w->dst.e[i], *s = fx_find(&w->src, d->path);
		if (d->kind == FX_FILE && s && !d->full && !d->preserved &&
		    (s->len != d->len || memcmp(s->data, d->data, d->len)))
			return d;
	}
	fail();
	return NULL;
}

static void put(struct mfw_dfio *io, const char *path, const void *d, size_t n)
{
	int fd;
	assert_int_equal(mfw_dfio_open(io, path, MFW_DFIO_WRITE | MFW_DFIO_TRUNC, 0644, &fd), 0);
	assert_int_equal(mfw_dfio_pwrite(io, fd, d, n, 0), 0);
	mfw_dfio_close(io, fd);
	mfw_dfio_sim_sync_all(io);
}

static void test_target_already_there(void **state)
{
	struct world w;
	struct mfw_dfota_apply_result res;
	const struct fx_ent *d;
	(void)state;
	world_init(&w, &small);
	d = first_patched(&w);
	put(w.io, d->path, d->data, d->len);
	assert_int_equal(run(&w, pkg_path, &res, NULL), 0);
	assert_int_equal(res.already, 1);
	assert_true(is(&w, &w.ddst));
	world_free(&w);
}

static void test_cache_copy_file_and_partition(void **state)
{
	struct world w;
	struct mfw_dfota_apply_result res;
	const struct fx_ent *d;
	uint8_t junk[5000];
	(void)state;
	world_init(&w, &small);
	/* boot was being rewritten when power went: half garbage, the source in the cache */
	put(w.io, MFW_AP_CACHE_COPY, w.src.part[0].data, w.src.part[0].len);
	memset(junk, 0xA5, sizeof(junk));
	{
		int fd;
		assert_int_equal(mfw_dfio_open(w.io, "/.part/boot", MFW_DFIO_WRITE, 0, &fd), 0);
		assert_int_equal(mfw_dfio_pwrite(w.io, fd, junk, sizeof(junk), 0), 0);
		mfw_dfio_close(w.io, fd);
		mfw_dfio_sim_sync_all(w.io);
	}
	assert_int_equal(run(&w, pkg_path, &res, NULL), 0);
	assert_int_equal(res.from_cache, 1);
	assert_true(is(&w, &w.ddst));
	world_free(&w);

	/* a file whose source only survives in the cache */
	world_init(&w, &small);
	d = first_patched(&w);
	put(w.io, MFW_AP_CACHE_COPY, fx_find(&w.src, d->path)->data, fx_find(&w.src, d->path)->len);
	put(w.io, d->path, junk, 100);
	assert_int_equal(run(&w, pkg_path, &res, NULL), 0);
	assert_int_equal(res.from_cache, 1);
	assert_true(is(&w, &w.ddst));
	world_free(&w);
}

static void test_partition_size_list(void **state)
{
	struct world w;
	struct mfw_dfota_apply_result res;
	struct mfw_dfio_stat st;
	struct mfw_ap_target t;
	bool found;
	uint8_t h[20];
	uint64_t size;
	char spec[200], a[41], b[41];
	(void)state;
	world_init(&w, &small);
	fx_sha1(w.src.part[0].data, w.src.part[0].len, a);
	fx_sha1(w.dst.part[0].data, w.dst.part[0].len, b);
	snprintf(spec, sizeof(spec), "MTD:boot:%zu:%s:%zu:%s", w.src.part[0].len, a,
		 w.dst.part[0].len, b);
	assert_int_equal(mfw_ap_parse_target(ctx, spec, &t), 0);
	assert_int_equal(t.ncand, 2);
	assert_int_equal(mfw_ap_identify(ctx, w.io, &t, &found, h, &size), 0);
	assert_true(found);
	assert_int_equal(size, w.src.part[0].len);
	assert_int_equal(run(&w, pkg_path, &res, NULL), 0);
	assert_int_equal(mfw_ap_identify(ctx, w.io, &t, &found, h, &size), 0);
	assert_true(found);
	assert_int_equal(size, w.dst.part[0].len);
	/* a regular-file partition takes the image's length (boot shrank, modem grew) */
	assert_int_equal(mfw_dfio_lstat(w.io, "/.part/boot", &st), 0);
	assert_int_equal(st.size, w.dst.part[0].len);
	assert_int_equal(mfw_dfio_lstat(w.io, "/.part/modem", &st), 0);
	assert_int_equal(st.size, w.dst.part[1].len);
	assert_int_equal(mfw_ap_parse_target(ctx, "MTD:boot:12:zz", &t), MFW_E_FORMAT);
	assert_int_equal(mfw_ap_parse_target(ctx, "MTD:../x:1:0000000000000000000000000000000000000000", &t),
			 MFW_E_FORMAT);
	world_free(&w);
}

/* ---- faults ---- */

static void test_eio_on_source_read(void **state)
{
	struct world w;
	struct mfw_dfota_apply_result res;
	const struct fx_ent *d;
	(void)state;
	world_init(&w, &small);
	d = first_patched(&w);
	mfw_dfio_sim_inject_eio(w.io, d->path, MFW_DFIO_FAULT_READ, 1);
	assert_int_equal(run(&w, pkg_path, &res, NULL), MFW_E_IO);
	assert_int_equal(res.code, 520);
	assert_true(is(&w, &w.dsrc));
	/* the fault was one-shot (otafault disables faults on retry): the rerun completes */
	assert_int_equal(run(&w, pkg_path, &res, NULL), 0);
	assert_int_equal(res.attempt, 2);
	assert_true(is(&w, &w.ddst));
	world_free(&w);
}

static void test_eio_on_write(void **state)
{
	struct world w;
	struct mfw_dfota_apply_result res;
	char tmp[256];
	(void)state;
	world_init(&w, &small);
	snprintf(tmp, sizeof(tmp), "%s.patch", first_patched(&w)->path);
	mfw_dfio_sim_inject_eio(w.io, tmp, MFW_DFIO_FAULT_WRITE | MFW_DFIO_FAULT_FSYNC, 1);
	assert_int_equal(run(&w, pkg_path, &res, NULL), MFW_E_IO);
	assert_int_equal(res.code, 520);
	if (!strstr(res.message, first_patched(&w)->path))
		print_error("message: %s\n", res.message);
	assert_non_null(strstr(res.message, first_patched(&w)->path));
	/* the file itself is still its source: the temp file was dropped */
	assert_int_equal(mfw_dfio_lstat(w.io, tmp, &(struct mfw_dfio_stat){ 0 }), MFW_E_NOENT);
	assert_int_equal(run(&w, pkg_path, &res, NULL), 0);
	assert_true(res.resumed);
	assert_true(is(&w, &w.ddst));
	world_free(&w);

	/* EIO while saving the boot source to the cache */
	world_init(&w, &small);
	mfw_dfio_sim_inject_eio(w.io, MFW_AP_CACHE_COPY, MFW_DFIO_FAULT_WRITE, 1);
	assert_int_equal(run(&w, pkg_path, &res, NULL), MFW_E_IO);
	assert_int_equal(res.code, 520);
	assert_int_equal(run(&w, pkg_path, &res, NULL), 0);
	assert_true(is(&w, &w.ddst));
	world_free(&w);
}

static void test_enospc_cache(void **state)
{
	struct world w;
	struct mfw_dfota_apply_result res;
	(void)state;
	world_init(&w, &small);
	/* room for the status and retry files, not for the modem's source copy */
	mfw_dfio_sim_set_cache_quota(w.io, 20000);
	assert_int_equal(run(&w, pkg_path, &res, NULL), MFW_E_NOSPC);
	assert_int_equal(res.code, 511);
	assert_true(is(&w, &w.dsrc));
	mfw_dfio_sim_set_cache_quota(w.io, 0);
	assert_int_equal(run(&w, pkg_path, &res, NULL), 0);
	assert_true(is(&w, &w.ddst));
	world_free(&w);
}

static void test_retry_limit(void **state)
{
	struct world w;
	struct mfw_dfota_apply_result res;
	struct lines l = { 0 };
	(void)state;
	world_init(&w, &small);
	mfw_dfio_mkdir(w.io, MFW_DFOTA_FOTA_DIR, 0755);
	put(w.io, MFW_DFOTA_RETRY_FILE, "4\n", 2);
	assert_int_equal(run(&w, pkg_path, &res, NULL), 0);
	assert_int_equal(res.attempt, 5);
	world_free(&w);
	world_init(&w, &small);
	mfw_dfio_mkdir(w.io, MFW_DFOTA_FOTA_DIR, 0755);
	put(w.io, MFW_DFOTA_RETRY_FILE, "5\n", 2);
	assert_int_equal(run(&w, pkg_path, &res, &l), MFW_E_PROTECTED);
	assert_int_equal(res.code, 521);
	assert_string_equal(l.v[l.n - 1], "+QIND: \"FOTA\",\"END\",521");
	assert_true(is(&w, &w.dsrc));
	world_free(&w);
}

/* ---- packages and scripts ---- */

static void mkzip(const char *path, const char *script, const char *name, const void *data,
		  size_t len, bool store)
{
	int zerr;
	zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
	zip_source_t *s;
	zip_int64_t idx;
	assert_non_null(z);
	s = zip_source_buffer(z, script, strlen(script), 0);
	assert_true(zip_file_add(z, MFW_DFOTA_SCRIPT_ENTRY, s, 0) >= 0);
	if (name) {
		s = zip_source_buffer(z, data, len, 0);
		idx = zip_file_add(z, name, s, 0);
		assert_true(idx >= 0);
		zip_set_file_compression(z, (zip_uint64_t)idx, store ? ZIP_CM_STORE : ZIP_CM_DEFLATE, 0);
	}
	assert_int_equal(zip_close(z), 0);
}

static void slurp(const char *path, uint8_t **d, size_t *n)
{
	FILE *f = fopen(path, "rb");
	long len;
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	*d = malloc((size_t)len);
	assert_int_equal(fread(*d, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*n = (size_t)len;
}

static void spill(const char *path, const uint8_t *d, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(d, 1, n, f), n);
	fclose(f);
}

static void test_damaged_zip(void **state)
{
	struct world w;
	struct mfw_dfota_apply_result res;
	uint8_t *d, payload[4096];
	size_t n;
	(void)state;
	world_init(&w, &small);
	memset(payload, 'x', sizeof(payload));
	mkzip(pkg2_path, "ui_print(\"hi\");", "system/x", payload, sizeof(payload), true);
	slurp(pkg2_path, &d, &n);
	/* the stored payload sits after its local header: flip one byte of it */
	for (size_t i = 0; i + 8 < n; i++)
		if (!memcmp(d + i, "xxxxxxxx", 8)) {
			d[i + 100] ^= 1;
			break;
		}
	spill(pkg2_path, d, n);
	assert_int_equal(run(&w, pkg2_path, &res, NULL), MFW_E_FORMAT);
	assert_int_equal(res.code, 504);
	/* truncated */
	spill(pkg2_path, d, n / 2);
	assert_int_equal(run(&w, pkg2_path, &res, NULL), MFW_E_FORMAT);
	assert_int_equal(res.code, 504);
	free(d);
	assert_true(is(&w, &w.dsrc));
	world_free(&w);
}

static void script_code(const char *script, int want_code, const char *want_msg, bool unchanged)
{
	struct world w;
	struct mfw_dfota_apply_result res;
	world_init(&w, &small);
	mkzip(pkg2_path, script, "tz.img", "TZTZTZTZ", 8, false);
	run(&w, pkg2_path, &res, NULL);
	if (res.code != want_code || (want_msg && !strstr(res.message, want_msg)))
		print_error("script %s: code %d, message '%s'\n", script, res.code, res.message);
	assert_int_equal(res.code, want_code);
	if (want_msg)
		assert_non_null(strstr(res.message, want_msg));
	if (unchanged)
		assert_true(is(&w, &w.dsrc));
	world_free(&w);
}

static void test_scripts(void **state)
{
	(void)state;
	script_code("ui_print(\"a\");\nformat_disk(\"/\");", 504, "2:1: unknown function 'format_disk'", true);
	script_code("ui_print(\"a\"", 504, "1:13", true);
	script_code("abort(\"E507: custom stop\");", 507, "E507: custom stop", true);
	script_code("abort();", 502, "abort", true);
	script_code("assert(getprop(\"ro.x\") == \"1\");", 502, "assert failed: getprop(\"ro.x\") == \"1\"", true);
	script_code("apply_patch_space(999999999999999) || abort(\"E511: no room\");", 511, "E511", true);
	script_code("package_extract_file(\"tz.img\", \"/usr/../../etc/x\");", 504, "leaves", true);
	script_code("symlink(\"../../..\", \"/usr/esc\");\npackage_extract_file(\"tz.img\", \"/usr/esc/x\");", 504,
		    "leaves", false);
	script_code("package_extract_file(\"nope\", \"/x\");", 504, "no entry 'nope'", true);
	script_code("apply_patch(\"/etc/quectel-project-version\", \"-\", \"0000000000000000000000000000000000000000\", 5, "
		    "\"1111111111111111111111111111111111111111\", \"notablob\");", 504, "not a blob", true);
	script_code("set_metadata(\"/etc\", \"color\", \"red\");", 504, "unknown key", true);
	script_code("delete(\"/etc/quectel-project-version\"); abort(\"E530: x\");", 530, NULL, false);
}

static void test_write_raw_image_and_funcs(void **state)
{
	struct world w;
	struct mfw_dfota_apply_result res;
	struct mfw_dfio_stat st;
	char buf[64], sha[41], script[2048];
	(void)state;
	world_init(&w, &small);
	fx_sha1((const uint8_t *)"TZTZTZTZ", 8, sha);
	snprintf(script, sizeof(script),
		 "sha1_check(package_extract_file(\"tz.img\"), \"%s\") == \"%s\" || abort(\"E504: tz\");\n"
		 "getprop(\"ro.product\") == \"RG520N\" || abort(\"E505: product\");\n"
		 "if file_getprop(\"/etc/quectel-project-version.prop\", \"nokey\") == \"\" then ui_print(\"ok\") else abort() endif;\n"
		 "write_raw_image(package_extract_file(\"tz.img\"), \"MTD:tz\");\n"
		 "package_extract_dir(\"system\", \"/opt\");\n"
		 "symlink(\"/opt/x\", \"/opt/l1\", \"/opt/l2\");\n"
		 "set_perm(0, 0, 0700, \"/opt/x\");\n"
		 "set_perm_recursive(5, 6, 0711, 0600, \"/opt\");\n"
		 "set_metadata_recursive(\"/usr/d01\", \"uid\", \"3\", \"gid\", \"4\", \"dmode\", \"0700\", \"fmode\", \"0640\", \"selabel\", \"x\");\n"
		 "delete_recursive(\"/usr/d02\", \"/nothing/here\");\n",
		 sha, sha);
	{
		int zerr;
		zip_t *z = zip_open(pkg2_path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
		zip_file_add(z, MFW_DFOTA_SCRIPT_ENTRY, zip_source_buffer(z, script, strlen(script), 0), 0);
		zip_file_add(z, "tz.img", zip_source_buffer(z, "TZTZTZTZ", 8, 0), 0);
		zip_file_add(z, "system/x", zip_source_buffer(z, "hello", 5, 0), 0);
		zip_file_add(z, "system/sub/y", zip_source_buffer(z, "world", 5, 0), 0);
		assert_int_equal(zip_close(z), 0);
	}
	{
		struct mfw_dfota_pkg p = { .path = pkg2_path };
		const char *props[] = { "ro.product=RG520N", NULL };
		struct mfw_dfota_apply_opts o = { .props = props };
		assert_int_equal(mfw_dfota_apply_io(ctx, w.io, &p, &o, &res), 0);
	}
	mfw_dfio_sim_power_cycle(w.io, MFW_DFIO_TEAR_DROP);
	assert_int_equal(mfw_dfio_read_small(w.io, "/.part/tz", buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "TZTZTZTZ");
	assert_int_equal(mfw_dfio_read_small(w.io, "/opt/sub/y", buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "world");
	assert_int_equal(mfw_dfio_readlink(w.io, "/opt/l2", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/opt/x");
	assert_int_equal(mfw_dfio_lstat(w.io, "/opt/x", &st), 0);
	assert_int_equal(st.mode, 0600);
	assert_int_equal(st.uid, 5);
	assert_int_equal(mfw_dfio_lstat(w.io, "/opt/sub", &st), 0);
	assert_int_equal(st.mode, 0711);
	assert_int_equal(mfw_dfio_lstat(w.io, "/usr/d01", &st), 0);
	assert_int_equal(st.mode, 0700);
	assert_int_equal(st.gid, 4);
	assert_int_equal(mfw_dfio_lstat(w.io, "/usr/d01/f0001.bin", &st), 0);
	assert_int_equal(st.mode, 0640);
	assert_int_equal(mfw_dfio_lstat(w.io, "/usr/d02", &st), MFW_E_NOENT);
	world_free(&w);
}

/* ---- the I/O layer ---- */

static void test_dfio_model(void **state)
{
	struct mfw_dfio *io;
	char c[256], buf[64];
	int fd;
	(void)state;
	assert_int_equal(mfw_dfio_sim_new(&io), 0);
	assert_int_equal(mfw_dfio_mkdir(io, "/a", 0755), 0);
	assert_int_equal(mfw_dfio_symlink(io, "/a", "/l"), 0);
	assert_int_equal(mfw_dfio_symlink(io, "../../x", "/a/up"), 0);
	assert_int_equal(mfw_dfio_resolve(io, "/l/./b//c", true, c, sizeof(c)), 0);
	assert_string_equal(c, "/a/b/c");
	assert_int_equal(mfw_dfio_resolve(io, "/a/../..", true, c, sizeof(c)), MFW_E_RANGE);
	assert_int_equal(mfw_dfio_resolve(io, "/a/up/y", true, c, sizeof(c)), MFW_E_RANGE);
	assert_int_equal(mfw_dfio_resolve(io, "/a/up", false, c, sizeof(c)), 0);
	assert_int_equal(mfw_dfio_symlink(io, "/.part/boot", "/p"), 0);
	assert_int_equal(mfw_dfio_resolve(io, "/p", true, c, sizeof(c)), MFW_E_RANGE);
	mfw_dfio_sim_sync_all(io);
	/* a file written but not synced, in a directory not synced, is gone after a cut */
	assert_int_equal(mfw_dfio_open(io, "/a/f", MFW_DFIO_WRITE, 0644, &fd), 0);
	assert_int_equal(mfw_dfio_pwrite(io, fd, "hello", 5, 0), 0);
	assert_int_equal(mfw_dfio_fsync(io, fd), 0);
	mfw_dfio_close(io, fd);
	mfw_dfio_sim_power_cycle(io, MFW_DFIO_TEAR_DROP);
	assert_int_equal(mfw_dfio_read_small(io, "/a/f", buf, sizeof(buf), NULL), MFW_E_NOENT);
	/* synced file + synced directory survive; a later unsynced write is torn per mode */
	assert_int_equal(mfw_dfio_open(io, "/a/f", MFW_DFIO_WRITE, 0644, &fd), 0);
	assert_int_equal(mfw_dfio_pwrite(io, fd, "hello", 5, 0), 0);
	assert_int_equal(mfw_dfio_fsync(io, fd), 0);
	assert_int_equal(mfw_dfio_fsync_path(io, "/a"), 0);
	assert_int_equal(mfw_dfio_pwrite(io, fd, "WORLD", 5, 0), 0);
	mfw_dfio_close(io, fd);
	{
		struct mfw_dfio *k, *p;
		assert_int_equal(mfw_dfio_sim_clone(io, &k), 0);
		assert_int_equal(mfw_dfio_sim_clone(io, &p), 0);
		mfw_dfio_sim_power_cycle(k, MFW_DFIO_TEAR_KEEP);
		assert_int_equal(mfw_dfio_read_small(k, "/a/f", buf, sizeof(buf), NULL), 0);
		assert_string_equal(buf, "WORLD");
		mfw_dfio_sim_power_cycle(p, MFW_DFIO_TEAR_PREFIX);
		assert_int_equal(mfw_dfio_read_small(p, "/a/f", buf, sizeof(buf), NULL), 0);
		assert_string_equal(buf, "WOllo");
		mfw_dfio_free(k);
		mfw_dfio_free(p);
	}
	mfw_dfio_sim_power_cycle(io, MFW_DFIO_TEAR_DROP);
	assert_int_equal(mfw_dfio_read_small(io, "/a/f", buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "hello");
	/* the cut: operation N and everything after fail, nothing of them lands */
	mfw_dfio_sim_set_cut(io, 2);
	assert_int_equal(mfw_dfio_mkdir(io, "/b", 0755), 0);
	assert_int_equal(mfw_dfio_fsync_path(io, "/"), MFW_DFIO_E_POWER);
	assert_true(mfw_dfio_sim_cut_happened(io));
	assert_int_equal(mfw_dfio_mkdir(io, "/c", 0755), MFW_DFIO_E_POWER);
	mfw_dfio_sim_power_cycle(io, MFW_DFIO_TEAR_DROP);
	assert_int_equal(mfw_dfio_lstat(io, "/b", &(struct mfw_dfio_stat){ 0 }), MFW_E_NOENT);
	mfw_dfio_free(io);
}

static void test_posix_backend(void **state)
{
	char dir[64], root[96], cache[96], parts[96], buf[64], c[256];
	struct mfw_dfio *io;
	int fd;
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mfw-dfio-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(root, sizeof(root), "%s/root", dir);
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	snprintf(parts, sizeof(parts), "%s/parts", dir);
	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(mkdir(cache, 0755), 0);
	assert_int_equal(mkdir(parts, 0755), 0);
	assert_int_equal(mfw_dfio_posix_new(root, cache, parts, &io), 0);
	assert_int_equal(mfw_dfio_write_small(io, "/cache/x", "cache!", 6), 0);
	assert_int_equal(mfw_dfio_write_small(io, "/.part/boot", "boot!", 5), 0);
	assert_int_equal(mfw_dfio_mkdirs_parent(io, "/etc/deep/f", 0755), 0);
	assert_int_equal(mfw_dfio_write_small(io, "/etc/deep/f", "root!", 5), 0);
	/* a host symlink pointing out of the root is followed inside it */
	snprintf(c, sizeof(c), "%s/etc/out", root);
	assert_int_equal(symlink("/../../../tmp", c), 0);
	assert_int_equal(mfw_dfio_resolve(io, "/etc/out/x", true, c, sizeof(c)), MFW_E_RANGE);
	snprintf(c, sizeof(c), "%s/etc/abs", root);
	assert_int_equal(symlink("/etc/deep", c), 0);
	assert_int_equal(mfw_dfio_read_small(io, "/etc/abs/f", buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "root!");
	snprintf(c, sizeof(c), "%s/x", cache);
	assert_int_equal(access(c, F_OK), 0);
	snprintf(c, sizeof(c), "%s/boot", parts);
	assert_int_equal(access(c, F_OK), 0);
	assert_int_equal(mfw_dfio_open(io, "/nope/x", MFW_DFIO_WRITE, 0644, &fd), MFW_E_NOENT);
	mfw_dfio_free(io);
	snprintf(c, sizeof(c), "rm -rf %s", dir);
	assert_int_equal(system(c), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dfio_model),
		cmocka_unit_test(test_posix_backend),
		cmocka_unit_test(test_apply_whole),
		cmocka_unit_test(test_deflated_patches),
		cmocka_unit_test(test_wrong_version),
		cmocka_unit_test(test_wrong_source),
		cmocka_unit_test(test_target_already_there),
		cmocka_unit_test(test_cache_copy_file_and_partition),
		cmocka_unit_test(test_partition_size_list),
		cmocka_unit_test(test_eio_on_source_read),
		cmocka_unit_test(test_eio_on_write),
		cmocka_unit_test(test_enospc_cache),
		cmocka_unit_test(test_retry_limit),
		cmocka_unit_test(test_damaged_zip),
		cmocka_unit_test(test_scripts),
		cmocka_unit_test(test_write_raw_image_and_funcs),
	};
	int fd, rc;
	mfw_ctx_new(&ctx);
	snprintf(pkg_path, sizeof(pkg_path), "/tmp/mfw-dfu-XXXXXX");
	fd = mkstemp(pkg_path);
	close(fd);
	snprintf(pkg2_path, sizeof(pkg2_path), "/tmp/mfw-dfu2-XXXXXX");
	fd = mkstemp(pkg2_path);
	close(fd);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(pkg_path);
	unlink(pkg2_path);
	mfw_ctx_free(ctx);
	return rc;
}
