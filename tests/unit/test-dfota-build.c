/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DFOTA builder: list parsers and rules, the plan and updater-script text
 * for a hand-made model, size-list partition names, edify quoting, the
 * deterministic zip writer, build twice -> same bytes (and check -> 0),
 * ed25519 sign/verify.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/core.h"
#include "dfota/build.h"
#include "dfota/targetfiles.h"
#include "dfota/zipwrite.h"
#include "util/hash.h"

/* ---- helpers ---- */

static char tmpdir[256];

static void make_tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/test-dfota-build.XXXXXX", t && *t ? t : "/tmp");
	assert_non_null(mkdtemp(tmpdir));
}

static void rm_rf(const char *path)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
}

static void put(const char *root, const char *rel, const void *data, size_t len, mode_t mode)
{
	char p[512], dir[512];
	char *slash;
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", p);
	mkdir(root, 0755);
	for (slash = strchr(dir + strlen(root) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(dir, 0755);
		*slash = '/';
	}
	f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	chmod(p, mode);
}

static void put_str(const char *root, const char *rel, const char *s)
{
	put(root, rel, s, strlen(s), 0644);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* ---- lists ---- */

static void test_parse_paths(void **state)
{
	const char *text = "# full\n/usr/bin/app\n  etc/init.d/x  \n\ndata/user/   # prefix\n";
	struct mfw_tf_paths p;

	(void)state;
	assert_int_equal(mfw_tf_parse_paths(NULL, "t", text, strlen(text), &p), 0);
	assert_int_equal(p.n, 3);
	/* sorted */
	assert_string_equal(p.v[0], "data/user/");
	assert_string_equal(p.v[1], "etc/init.d/x");
	assert_string_equal(p.v[2], "usr/bin/app");
	assert_true(mfw_tf_paths_match(&p, "data/user"));
	assert_true(mfw_tf_paths_match(&p, "data/user/a.cfg"));
	assert_false(mfw_tf_paths_match(&p, "data/username"));
	assert_true(mfw_tf_paths_match(&p, "usr/bin/app"));
	assert_false(mfw_tf_paths_match(&p, "usr/bin/app2"));
	assert_false(mfw_tf_paths_match(&p, "usr/bin"));
	mfw_tf_paths_free(&p);

	assert_int_equal(mfw_tf_parse_paths(NULL, "t", "../etc/x\n", 9, &p), MFW_E_FORMAT);
	assert_int_equal(mfw_tf_parse_paths(NULL, "t", "a b\n", 4, &p), MFW_E_FORMAT);
	assert_int_equal(mfw_tf_parse_paths(NULL, "t", "/\n", 2, &p), MFW_E_FORMAT);
	assert_int_equal(mfw_tf_parse_paths(NULL, "t", "a\0b\n", 4, &p), MFW_E_FORMAT);
	assert_int_equal(mfw_tf_parse_paths(NULL, "t", "", 0, &p), 0);
	assert_int_equal(p.n, 0);
}

static void test_parse_perms(void **state)
{
	const char *text = "data/user 0640 1000 1000 0750\nusr/bin/x 4755 0 2000\n/usr 0644 0 0\n";
	struct mfw_tf_perms p;
	uint32_t mode, uid, gid;

	(void)state;
	assert_int_equal(mfw_tf_parse_perms(NULL, "t", text, strlen(text), &p), 0);
	assert_int_equal(p.n, 3);
	assert_true(mfw_tf_perms_lookup(&p, "data/user/a", false, &mode, &uid, &gid));
	assert_int_equal(mode, 0640);
	assert_int_equal(uid, 1000);
	assert_true(mfw_tf_perms_lookup(&p, "data/user/sub", true, &mode, &uid, &gid));
	assert_int_equal(mode, 0750);
	assert_true(mfw_tf_perms_lookup(&p, "data/user", true, &mode, &uid, &gid));
	assert_int_equal(mode, 0750);
	/* the longest rule wins over /usr */
	assert_true(mfw_tf_perms_lookup(&p, "usr/bin/x", false, &mode, &uid, &gid));
	assert_int_equal(mode, 04755);
	assert_int_equal(gid, 2000);
	/* default dmode 755 for a rule without one */
	assert_true(mfw_tf_perms_lookup(&p, "usr/lib", true, &mode, &uid, &gid));
	assert_int_equal(mode, 0755);
	assert_true(mfw_tf_perms_lookup(&p, "usr/lib/a", false, &mode, &uid, &gid));
	assert_int_equal(mode, 0644);
	assert_false(mfw_tf_perms_lookup(&p, "etc/x", false, &mode, &uid, &gid));
	assert_false(mfw_tf_perms_lookup(&p, "data/username", false, &mode, &uid, &gid));
	mfw_tf_perms_free(&p);

	assert_int_equal(mfw_tf_parse_perms(NULL, "t", "a 0644 0\n", 9, &p), MFW_E_FORMAT);
	assert_int_equal(mfw_tf_parse_perms(NULL, "t", "a 0948 0 0\n", 11, &p), MFW_E_FORMAT);
	assert_int_equal(mfw_tf_parse_perms(NULL, "t", "a 0644 -1 0\n", 12, &p), MFW_E_FORMAT);
	assert_int_equal(mfw_tf_parse_perms(NULL, "t", "a 0644 0 0 0755 x\n", 18, &p), MFW_E_FORMAT);
	assert_int_equal(mfw_tf_parse_perms(NULL, "t", "a 17777 0 0\n", 12, &p), MFW_E_FORMAT);
}

static void test_parse_fs_config(void **state)
{
	const char *text = "/ 0 0 0755\nbin 0 2000 0751\nbin/app 1000 1000 0750 capabilities=0x0 selabel=x\n";
	struct mfw_tf_perms p;

	(void)state;
	assert_int_equal(mfw_tf_parse_fs_config(NULL, "t", text, strlen(text), &p), 0);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.v[1].path, "bin/app");
	assert_int_equal(p.v[1].mode, 0750);
	assert_int_equal(p.v[1].uid, 1000);
	mfw_tf_perms_free(&p);
	assert_int_equal(mfw_tf_parse_fs_config(NULL, "t", "bin 0 0 0755 junk\n", 18, &p), MFW_E_FORMAT);
	assert_int_equal(mfw_tf_parse_fs_config(NULL, "t", "bin 0 0\n", 8, &p), MFW_E_FORMAT);
}

/* ---- plan and script for a hand-made model ---- */

static struct mfw_tf_entry ent(const char *path, enum mfw_tf_type type, uint32_t mode, uint64_t size,
			       uint8_t fill, const char *link)
{
	struct mfw_tf_entry e = { .path = (char *)path, .type = type, .mode = mode, .size = size,
				  .link = (char *)link };

	if (type == MFW_TF_FILE)
		memset(e.sha1, fill, 20);
	return e;
}

static void tiny_models(struct mfw_tf *src, struct mfw_tf *dst, struct mfw_tf_entry *se,
			struct mfw_tf_entry *de, struct mfw_tf_part *sp, struct mfw_tf_part *dp)
{
	size_t n = 0;

	memset(src, 0, sizeof(*src));
	memset(dst, 0, sizeof(*dst));
	se[n++] = ent("bin", MFW_TF_DIR, 0755, 0, 0, NULL);
	se[n++] = ent("bin/app", MFW_TF_FILE, 0755, 100, 0xaa, NULL);
	se[n++] = ent("bin/old", MFW_TF_FILE, 0644, 10, 0xbb, NULL);
	se[n++] = ent("etc", MFW_TF_DIR, 0755, 0, 0, NULL);
	se[n++] = ent("etc/cfg", MFW_TF_FILE, 0644, 5, 0xcc, NULL);
	se[n++] = ent("lib", MFW_TF_DIR, 0755, 0, 0, NULL);
	se[n++] = ent("lib/libx.so", MFW_TF_SYMLINK, 0777, 0, 0, "libx.so.1");
	se[n++] = ent("olddir", MFW_TF_DIR, 0755, 0, 0, NULL);
	se[n++] = ent("olddir/f", MFW_TF_FILE, 0644, 7, 0xdd, NULL);
	src->ent = se;
	src->nent = n;
	snprintf(src->version, sizeof(src->version), "V1");
	n = 0;
	de[n++] = ent("bin", MFW_TF_DIR, 0755, 0, 0, NULL);
	de[n++] = ent("bin/app", MFW_TF_FILE, 0755, 120, 0xab, NULL);
	de[n++] = ent("etc", MFW_TF_DIR, 0755, 0, 0, NULL);
	de[n++] = ent("etc/cfg", MFW_TF_FILE, 0600, 5, 0xcc, NULL);
	de[n++] = ent("lib", MFW_TF_DIR, 0755, 0, 0, NULL);
	de[n++] = ent("lib/libx.so", MFW_TF_SYMLINK, 0777, 0, 0, "libx.so.2");
	de[n++] = ent("new dir", MFW_TF_DIR, 0750, 0, 0, NULL);
	de[n++] = ent("new dir/g\"q", MFW_TF_FILE, 0644, 3, 0xee, NULL);
	de[n - 1].uid = 1000;
	de[n++] = ent("new dir/sub", MFW_TF_DIR, 0700, 0, 0, NULL);
	de[n - 1].uid = 1000;
	dst->ent = de;
	dst->nent = n;
	snprintf(dst->version, sizeof(dst->version), "V2");
	memset(sp, 0, 2 * sizeof(*sp));
	memset(dp, 0, 3 * sizeof(*dp));
	snprintf(sp[0].name, sizeof(sp[0].name), "boot");
	sp[0].size = 4096;
	memset(sp[0].sha1, 0x11, 20);
	snprintf(sp[1].name, sizeof(sp[1].name), "tz");
	sp[1].size = 100;
	memset(sp[1].sha1, 0x22, 20);
	snprintf(dp[0].name, sizeof(dp[0].name), "aboot");
	dp[0].size = 50;
	memset(dp[0].sha1, 0x44, 20);
	snprintf(dp[1].name, sizeof(dp[1].name), "boot");
	dp[1].size = 8192;
	memset(dp[1].sha1, 0x33, 20);
	dp[2] = sp[1];
	src->part = sp;
	src->npart = 2;
	dst->part = dp;
	dst->npart = 3;
}

#define H(x) x x x x x x x x x x x x x x x x x x x x

static const char expected_script[] =
	"# modemfw DFOTA package, scope all\n"
	"ui_print(\"modemfw DFOTA: V1 -> V2\");\n"
	"file_getprop(\"/etc/quectel-project-version.prop\", \"version\") == \"V1\" || abort(\"E505: \\\"V1\\\" is not the firmware on this module\");\n"
	"apply_patch_check(\"/bin/app\", \"" H("aa") "\", \"" H("ab") "\") || abort(\"E510: \\\"/bin/app\\\" has unexpected contents\");\n"
	"apply_patch_check(\"MTD:boot:4096:" H("11") ":8192:" H("33") "\", \"" H("11") "\", \"" H("33") "\") || abort(\"E510: \\\"boot\\\" partition has unexpected contents\");\n"
	"apply_patch_space(\"8312\") || abort(\"E511: \\\"/cache\\\" has not enough free space\");\n"
	"set_progress(\"0.1\");\n"
	"delete(\"/bin/old\");\n"
	"delete_recursive(\"/olddir\");\n"
	"set_progress(\"0.2\");\n"
	"apply_patch(\"/bin/app\", \"-\", \"" H("ab") "\", \"120\", \"" H("aa") "\", package_extract_file(\"patch/bin/app.p\"));\n"
	"write_raw_image(package_extract_file(\"aboot.img\"), \"aboot\");\n"
	"apply_patch(\"MTD:boot:4096:" H("11") ":8192:" H("33") "\", \"-\", \"" H("33") "\", \"8192\", \"" H("11") "\", package_extract_file(\"boot.img.p\"));\n"
	"set_progress(\"0.7\");\n"
	"package_extract_dir(\"system/new dir\", \"/new dir\");\n"
	"symlink(\"libx.so.2\", \"/lib/libx.so\");\n"
	"set_progress(\"0.9\");\n"
	"set_metadata(\"/etc/cfg\", \"uid\", \"0\", \"gid\", \"0\", \"mode\", \"0600\");\n"
	"set_metadata(\"/new dir\", \"uid\", \"0\", \"gid\", \"0\", \"mode\", \"0750\");\n"
	"set_metadata(\"/new dir/g\\\"q\", \"uid\", \"1000\", \"gid\", \"0\", \"mode\", \"0644\");\n"
	"set_metadata(\"/new dir/sub\", \"uid\", \"1000\", \"gid\", \"0\", \"mode\", \"0700\");\n"
	"set_progress(\"1.0\");\n"
	"ui_print(\"done\");\n";

static void test_plan_script(void **state)
{
	struct mfw_tf_entry se[16], de[16];
	struct mfw_tf_part sp[2], dp[3];
	struct mfw_tf src, dst;
	struct mfw_tf_paths none = { 0 };
	struct mfw_dfota_plan plan;
	char *text, *meta;
	size_t len, mlen;

	(void)state;
	tiny_models(&src, &dst, se, de, sp, dp);
	assert_int_equal(mfw_dfota_plan_make(NULL, &src, &dst, MFW_DFOTA_SCOPE_ALL, &none, &none, &plan), 0);
	/* bin/app, bin/old, etc/cfg, lib/libx.so, new dir (+2 inside), olddir (+1 covered) */
	assert_int_equal(plan.nitem, 9);
	assert_int_equal(plan.npitem, 2);
	assert_true(plan.pitem[0].whole);   /* aboot is new */
	assert_false(plan.pitem[1].whole);
	assert_int_equal(plan.required_cache, 8192 + 120);
	assert_int_equal(mfw_dfota_plan_script(&plan, &text, &len), 0);
	assert_string_equal(text, expected_script);
	assert_int_equal(len, strlen(expected_script));
	assert_int_equal(mfw_dfota_plan_metadata(&plan, &meta, &mlen), 0);
	assert_string_equal(meta, "pre-version=V1\npost-version=V2\nscope=all\nrequired-cache=8312\nrequired-root=6\n");
	free(text);
	free(meta);
	mfw_dfota_plan_free(&plan);

	/* kernel scope: only the boot partition */
	assert_int_equal(mfw_dfota_plan_make(NULL, &src, &dst, MFW_DFOTA_SCOPE_KERNEL, &none, &none, &plan), 0);
	assert_int_equal(plan.nitem, 0);
	assert_int_equal(plan.npitem, 1);
	assert_string_equal(plan.pitem[0].d->name, "boot");
	mfw_dfota_plan_free(&plan);
}

static void test_plan_lists(void **state)
{
	struct mfw_tf_entry se[16], de[16];
	struct mfw_tf_part sp[2], dp[3];
	struct mfw_tf src, dst;
	struct mfw_tf_paths full, keep;
	struct mfw_dfota_plan plan;
	char *text;
	size_t len;

	(void)state;
	tiny_models(&src, &dst, se, de, sp, dp);
	assert_int_equal(mfw_tf_parse_paths(NULL, "full", "bin/app\n", 8, &full), 0);
	assert_int_equal(mfw_tf_parse_paths(NULL, "keep", "olddir/\nbin/old\n", 16, &keep), 0);
	assert_int_equal(mfw_dfota_plan_make(NULL, &src, &dst, MFW_DFOTA_SCOPE_ROOTFS, &full, &keep, &plan), 0);
	assert_int_equal(plan.npitem, 0);
	assert_int_equal(mfw_dfota_plan_script(&plan, &text, &len), 0);
	/* full-replace: shipped whole, never patched */
	assert_non_null(strstr(text, "package_extract_file(\"system/bin/app\", \"/bin/app\");\n"));
	assert_null(strstr(text, "apply_patch(\"/bin/app\""));
	assert_non_null(strstr(text, "set_metadata(\"/bin/app\", \"uid\", \"0\", \"gid\", \"0\", \"mode\", \"0755\");\n"));
	/* preserved: neither deleted nor touched */
	assert_null(strstr(text, "olddir"));
	assert_null(strstr(text, "bin/old"));
	for (size_t i = 0; i < plan.nitem; i++)
		if (!strcmp(plan.item[i].path, "olddir/f") || !strcmp(plan.item[i].path, "bin/old"))
			assert_int_equal(plan.item[i].flags, MFW_DFOTA_PRESERVED);
	free(text);
	mfw_dfota_plan_free(&plan);
	mfw_tf_paths_free(&full);
	mfw_tf_paths_free(&keep);
}

static void test_mtd_and_quote(void **state)
{
	struct mfw_tf_part s = { .name = "modem", .size = 3932160 }, d = { .name = "modem", .size = 12 };
	struct mfw_sbuf b = { 0 };
	char out[256];

	(void)state;
	memset(s.sha1, 0x01, 20);
	memset(d.sha1, 0xfe, 20);
	assert_int_equal(mfw_dfota_mtd_name(&s, &d, out, sizeof(out)), 0);
	assert_string_equal(out, "MTD:modem:3932160:" H("01") ":12:" H("fe"));
	assert_int_equal(mfw_dfota_mtd_name(&s, &d, out, 20), MFW_E_RANGE);
	mfw_sbuf_quote(&b, "a\"b\\c\nd\te\x01");
	assert_false(b.oom);
	assert_string_equal(b.p, "\"a\\\"b\\\\c\\nd\\te\\x01\"");
	free(b.p);
}

/* ---- zip writer ---- */

static void test_zipwrite_deterministic(void **state)
{
	char a[300], b[300], f[300];
	struct mfw_zipw *zw;
	uint8_t *da, *db, d1[32], d2[32];
	size_t la, lb;
	zip_t *za;
	int ze;

	(void)state;
	make_tmpdir();
	snprintf(f, sizeof(f), "%s/data", tmpdir);
	put_str(tmpdir, "data", "file contents here, file contents here\n");
	for (int round = 0; round < 2; round++) {
		snprintf(a, sizeof(a), "%s/%s.zip", tmpdir, round ? "b" : "a");
		assert_int_equal(mfw_zipw_new(&zw), 0);
		/* added out of order: written sorted */
		assert_int_equal(mfw_zipw_add_buf(NULL, zw, "z/last", "zz", 2, true), 0);
		assert_int_equal(mfw_zipw_add_file(NULL, zw, "m/file", f, true), 0);
		assert_int_equal(mfw_zipw_add_dir(NULL, zw, "m/dir/"), 0);
		assert_int_equal(mfw_zipw_add_buf(NULL, zw, "A", "", 0, false), 0);
		assert_int_equal(mfw_zipw_add_buf(NULL, zw, "A", "", 0, false), MFW_E_EXIST);
		assert_int_equal(mfw_zipw_add_dir(NULL, zw, "nodir"), MFW_E_INVAL);
		assert_int_equal(mfw_zipw_add_buf(NULL, zw, "../x", "", 0, false), MFW_E_INVAL);
		assert_int_equal(mfw_zipw_add_buf(NULL, zw, "m/../../x", "", 0, false), MFW_E_INVAL);
		assert_int_equal(mfw_zipw_add_buf(NULL, zw, "m/..", "", 0, false), MFW_E_INVAL);
		assert_int_equal(mfw_zipw_add_buf(NULL, zw, "/x", "", 0, false), MFW_E_INVAL);
		/* two dots inside a name are just a name */
		assert_int_equal(mfw_zipw_add_buf(NULL, zw, "m/libx..so", "", 0, false), 0);
		assert_int_equal(mfw_zipw_digest(NULL, zw, round ? d2 : d1), 0);
		assert_int_equal(mfw_zipw_write(NULL, zw, a), 0);
		mfw_zipw_free(zw);
		sleep(round ? 0 : 1); /* a different wall clock must not matter */
	}
	assert_memory_equal(d1, d2, 32);
	snprintf(a, sizeof(a), "%s/a.zip", tmpdir);
	snprintf(b, sizeof(b), "%s/b.zip", tmpdir);
	da = read_file(a, &la);
	db = read_file(b, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(da, db, la);
	free(da);
	free(db);
	za = zip_open(a, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
	assert_non_null(za);
	assert_int_equal(zip_get_num_entries(za, 0), 5);
	assert_string_equal(zip_get_name(za, 0, 0), "A");
	assert_string_equal(zip_get_name(za, 1, 0), "m/dir/");
	assert_string_equal(zip_get_name(za, 2, 0), "m/file");
	assert_string_equal(zip_get_name(za, 3, 0), "m/libx..so");
	assert_string_equal(zip_get_name(za, 4, 0), "z/last");
	for (zip_uint64_t i = 0; i < 5; i++) {
		zip_stat_t st;

		assert_int_equal(zip_file_extra_fields_count(za, i, ZIP_FL_CENTRAL), 0);
		assert_int_equal(zip_file_extra_fields_count(za, i, ZIP_FL_LOCAL), 0);
		assert_int_equal(zip_stat_index(za, i, 0, &st), 0);
		{
			struct tm tm;
			time_t t = st.mtime;

			localtime_r(&t, &tm);
			assert_int_equal(tm.tm_year + 1900, 2008);
			assert_int_equal(tm.tm_mon, 0);
			assert_int_equal(tm.tm_mday, 1);
		}
	}
	zip_discard(za);
	rm_rf(tmpdir);
}

/* ---- build twice, check ---- */

static void make_targetfiles(const char *root, bool dst)
{
	uint8_t *bin = malloc(32768), *boot = malloc(65536);
	char p[400];

	assert_non_null(bin);
	assert_non_null(boot);
	for (size_t i = 0; i < 32768; i++)
		bin[i] = (uint8_t)((i * 2654435761u) >> 13);
	for (size_t i = 0; i < 65536; i++)
		boot[i] = (uint8_t)((i * 40503u) >> 7);
	if (dst) {
		memcpy(bin + 1000, "patched!", 8);
		memcpy(boot + 30000, "newkernel", 9);
	}
	put(root, "SYSTEM/bin/app", bin, 32768, 0755);
	put_str(root, "SYSTEM/etc/quectel-project-version", dst ? "V2\n" : "V1\n");
	put_str(root, "SYSTEM/etc/cfg", dst ? "a=2\n" : "a=1\n");
	if (!dst)
		put_str(root, "SYSTEM/etc/old", "old\n");
	else
		put_str(root, "SYSTEM/usr/share/new/file", "new\n");
	snprintf(p, sizeof(p), "%s/SYSTEM/bin/sh", root);
	assert_int_equal(symlink(dst ? "app" : "busybox", p), 0);
	put(root, "BOOTABLE_IMAGES/boot.img", boot, 65536, 0644);
	put_str(root, "META/filesystem_config.txt", "bin/app 0 2000 0750\n");
	free(bin);
	free(boot);
}

static void test_build_twice_and_check(void **state)
{
	char src[300], dst[300], a[300], b[300], key[300], pub[300];
	struct mfw_dfota_build_opts o = { .scope = MFW_DFOTA_SCOPE_ALL };
	struct mfw_dfota_check_opts co = { 0 };
	struct mfw_dfota_build_stats st;
	struct mfw_dfota_check_result res;
	struct mfw_ctx *ctx;
	uint8_t *da, *db;
	size_t la, lb;
	EVP_PKEY *pk;
	FILE *f;

	(void)state;
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	make_tmpdir();
	snprintf(src, sizeof(src), "%s/src", tmpdir);
	snprintf(dst, sizeof(dst), "%s/dst", tmpdir);
	snprintf(a, sizeof(a), "%s/a.zip", tmpdir);
	snprintf(b, sizeof(b), "%s/b.zip", tmpdir);
	make_targetfiles(src, false);
	make_targetfiles(dst, true);
	assert_int_equal(mfw_dfota_build(ctx, src, dst, a, &o, &st), 0);
	assert_int_equal(st.patched, 1);     /* bin/app (etc/cfg is too small to patch) */
	assert_int_equal(st.partitions, 1);
	assert_int_equal(mfw_dfota_build(ctx, src, dst, b, &o, NULL), 0);
	da = read_file(a, &la);
	db = read_file(b, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(da, db, la);
	free(db);

	co.expect = dst;
	assert_int_equal(mfw_dfota_check(ctx, a, src, &co, &res), 0);
	if (res.code)
		fprintf(stderr, "check: %d %s\n", res.code, res.message);
	assert_int_equal(res.code, 0);
	assert_true(res.expect_checked);
	assert_int_equal(res.patches_applied, 2);
	/* against the target: wrong version */
	assert_int_equal(mfw_dfota_check(ctx, a, dst, &co, &res), 0);
	assert_int_equal(res.code, MFW_DFOTA_CHECK_VERSION);

	/* signed: same bytes twice, verifies with the key, not with another */
	snprintf(key, sizeof(key), "%s/key.pem", tmpdir);
	snprintf(pub, sizeof(pub), "%s/pub.pem", tmpdir);
	pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(pk);
	f = fopen(key, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	f = fopen(pub, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PUBKEY(f, pk), 1);
	fclose(f);
	EVP_PKEY_free(pk);
	o.key_pem = key;
	assert_int_equal(mfw_dfota_build(ctx, src, dst, a, &o, &st), 0);
	assert_true(st.signed_);
	assert_int_equal(mfw_dfota_build(ctx, src, dst, b, &o, NULL), 0);
	free(da);
	da = read_file(a, &la);
	db = read_file(b, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(da, db, la);
	free(da);
	free(db);
	co.pubkey_pem = pub;
	assert_int_equal(mfw_dfota_check(ctx, a, src, &co, &res), 0);
	assert_int_equal(res.code, 0);
	assert_true(res.signature_checked);
	rm_rf(tmpdir);
	mfw_ctx_free(ctx);
}

/* ---- the checker on hostile scripts ---- */

static int check_script(struct mfw_ctx *ctx, const char *script, size_t len,
			struct mfw_dfota_check_result *res)
{
	const char *meta = "pre-version=V1\npost-version=V2\nscope=all\n";
	char src[300], pkg[300];
	struct mfw_zipw *zw;
	int r;

	snprintf(src, sizeof(src), "%s/src", tmpdir);
	snprintf(pkg, sizeof(pkg), "%s/p.zip", tmpdir);
	assert_int_equal(mfw_zipw_new(&zw), 0);
	assert_int_equal(mfw_zipw_add_buf(NULL, zw, "META-INF/com/android/metadata", meta, strlen(meta), true), 0);
	assert_int_equal(mfw_zipw_add_buf(NULL, zw, "META-INF/com/google/android/updater-script", script, len,
					  true), 0);
	assert_int_equal(mfw_zipw_write(NULL, zw, pkg), 0);
	mfw_zipw_free(zw);
	r = mfw_dfota_check(ctx, pkg, src, NULL, res);
	return r;
}

static int check_str(struct mfw_ctx *ctx, const char *script, struct mfw_dfota_check_result *res)
{
	return check_script(ctx, script, strlen(script), res);
}

static void test_check_hostile_scripts(void **state)
{
	struct mfw_dfota_check_result res;
	struct mfw_ctx *ctx;
	size_t n = 200000;
	char *s = malloc(n + 16);
	char src[300];

	(void)state;
	assert_non_null(s);
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	make_tmpdir();
	snprintf(src, sizeof(src), "%s/src", tmpdir);
	make_targetfiles(src, false);
	/* deep nesting and long chains are refused, not recursed into */
	memset(s, '!', n);
	memcpy(s + n, "\"x\";", 5);
	assert_int_equal(check_script(ctx, s, n + 5, &res), 0);
	assert_int_equal(res.code, MFW_DFOTA_CHECK_DAMAGED);
	memset(s, '(', n);
	assert_int_equal(check_script(ctx, s, n, &res), 0);
	assert_int_equal(res.code, MFW_DFOTA_CHECK_DAMAGED);
	for (size_t i = 0; i + 5 < n; i += 5)
		memcpy(s + i, "a || ", 5);
	memcpy(s + n - 5 - n % 5, "a;  ", 4);
	assert_int_equal(check_script(ctx, s, n - n % 5 - 1, &res), 0);
	assert_int_equal(res.code, MFW_DFOTA_CHECK_DAMAGED);
	/* malformed statements */
	assert_int_equal(check_str(ctx, "ui_print(\"x", &res), 0);
	assert_int_equal(res.code, MFW_DFOTA_CHECK_DAMAGED);
	assert_int_equal(check_str(ctx, "ui_print(\"x\" \"y\");", &res), 0);
	assert_int_equal(res.code, MFW_DFOTA_CHECK_DAMAGED);
	assert_int_equal(check_str(ctx, "set_metadata(\"/bin/app\", \"mode\");", &res), 0);
	assert_int_equal(res.code, MFW_DFOTA_CHECK_DAMAGED);
	/* functions the checker does not run: it says so instead of guessing */
	assert_int_equal(check_str(ctx, "run_program(\"/bin/sh\");", &res), MFW_E_UNSUPPORTED);
	assert_int_equal(check_str(ctx, "if \"a\" then \"b\" endif;", &res), MFW_E_UNSUPPORTED);
	/* abort codes and the version/hash checks */
	assert_int_equal(check_str(ctx, "abort(\"E520: disk\");", &res), 0);
	assert_int_equal(res.code, 520);
	strcpy(s, "apply_patch_check(\"/bin/app\", \"0000000000000000000000000000000000000000\") || "
		  "abort(\"E510: \\\"/bin/app\\\" has unexpected contents\");");
	assert_int_equal(check_script(ctx, s, strlen(s), &res), 0);
	assert_int_equal(res.code, MFW_DFOTA_CHECK_SOURCE);
	assert_string_equal(res.what, "/bin/app");
	strcpy(s, "file_getprop(\"/etc/quectel-project-version.prop\", \"version\") == \"V1\" || abort(\"E505: no\");"
		  "delete_recursive(\"/bin\"); symlink(\"x\", \"/new/dir/link\");");
	assert_int_equal(check_script(ctx, s, strlen(s), &res), 0);
	assert_int_equal(res.code, 0);
	assert_int_equal(res.statements, 3);
	rm_rf(tmpdir);
	mfw_ctx_free(ctx);
	free(s);
}

static void test_sign_verify(void **state)
{
	char key[300], pub[300], other[300], line[256];
	uint8_t digest[32];
	EVP_PKEY *pk;
	FILE *f;

	(void)state;
	make_tmpdir();
	snprintf(key, sizeof(key), "%s/key.pem", tmpdir);
	snprintf(pub, sizeof(pub), "%s/pub.pem", tmpdir);
	snprintf(other, sizeof(other), "%s/other.pem", tmpdir);
	for (int k = 0; k < 2; k++) {
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		assert_non_null(pk);
		if (!k) {
			f = fopen(key, "w");
			assert_int_equal(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL), 1);
			fclose(f);
		}
		f = fopen(k ? other : pub, "w");
		assert_int_equal(PEM_write_PUBKEY(f, pk), 1);
		fclose(f);
		EVP_PKEY_free(pk);
	}
	memset(digest, 0x5a, 32);
	assert_int_equal(mfw_dfota_sign(NULL, key, digest, line, sizeof(line)), 0);
	assert_int_equal(strlen(line), 8 + 64 + 1 + 128);
	assert_int_equal(mfw_dfota_verify_sig(NULL, pub, digest, line, strlen(line)), 0);
	assert_int_equal(mfw_dfota_verify_sig(NULL, NULL, digest, line, strlen(line)), 0);
	assert_int_equal(mfw_dfota_verify_sig(NULL, other, digest, line, strlen(line)), MFW_E_VERIFY);
	digest[7] ^= 1;
	assert_int_equal(mfw_dfota_verify_sig(NULL, pub, digest, line, strlen(line)), MFW_E_VERIFY);
	digest[7] ^= 1;
	line[100] = line[100] == '0' ? '1' : '0';
	assert_int_equal(mfw_dfota_verify_sig(NULL, pub, digest, line, strlen(line)), MFW_E_VERIFY);
	assert_int_equal(mfw_dfota_verify_sig(NULL, NULL, digest, "ed25519 xx", 10), MFW_E_FORMAT);
	/* a public key is not a signing key */
	assert_int_equal(mfw_dfota_sign(NULL, pub, digest, line, sizeof(line)), MFW_E_FORMAT);
	rm_rf(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_paths),
		cmocka_unit_test(test_parse_perms),
		cmocka_unit_test(test_parse_fs_config),
		cmocka_unit_test(test_plan_script),
		cmocka_unit_test(test_plan_lists),
		cmocka_unit_test(test_mtd_and_quote),
		cmocka_unit_test(test_zipwrite_deterministic),
		cmocka_unit_test(test_build_twice_and_check),
		cmocka_unit_test(test_check_hostile_scripts),
		cmocka_unit_test(test_sign_verify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
