/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
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

static struct mfw_ctx *ctx;
static char tmp[64];

#define FH "update/firehose/"
#define RP_UPDATE FH "rawprogram_nand_p4K_b256K_update.xml"
#define RP_FACTORY FH "rawprogram_nand_p4K_b256K_factory.xml"

static const char rp_xml[] =
	"<?xml version=\"1.0\" ?>\n<data>\n"
	"<erase PAGES_PER_BLOCK=\"64\" SECTOR_SIZE_IN_BYTES=\"4096\" label=\"SBL\" last_sector=\"639\" num_partition_sectors=\"640\" start_sector=\"0\"/>\n"
	"<program PAGES_PER_BLOCK=\"64\" SECTOR_SIZE_IN_BYTES=\"4096\" filename=\"partition_complete_p4K_b256K.mbn\" label=\"MIBIB\" num_partition_sectors=\"640\" physical_partition_number=\"0\" start_sector=\"640\"/>\n"
	"<program PAGES_PER_BLOCK=\"64\" SECTOR_SIZE_IN_BYTES=\"4096\" filename=\"..\\tz.mbn\" label=\"TZ\" num_partition_sectors=\"768\" physical_partition_number=\"0\" start_sector=\"8448\"/>\n"
	"<program PAGES_PER_BLOCK=\"64\" SECTOR_SIZE_IN_BYTES=\"4096\" filename=\"..\\sbl1.mbn\" label=\"SBL\" num_partition_sectors=\"640\" physical_partition_number=\"0\" start_sector=\"0\"/>\n"
	"</data>\n";
static const char patch_xml[] =
	"<?xml version=\"1.0\" ?>\n<patches>\n"
	"<patch SECTOR_SIZE_IN_BYTES=\"4096\" byte_offset=\"12\" filename=\"partition_complete_p4K_b256K.mbn\" physical_partition_number=\"0\" size_in_bytes=\"4\" start_sector=\"3\" value=\"CRC32(0,8192)\" what=\"crc\"/>\n"
	"</patches>\n";

struct pfile {
	const char *path;
	const char *data;
	size_t len;
	bool in_md5;
};

static char big[300000];

static struct pfile nand_files[] = {
	{ "contents.xml", "<contents/>\n", 0, true },
	{ FH "prog_nand_firehose_9x07.mbn", "\x7F" "ELF programmer", 0, true },
	{ FH "prog_firehose_other.mbn", "other", 0, false },
	{ RP_UPDATE, rp_xml, 0, true },
	{ RP_FACTORY, rp_xml, 0, true },
	{ FH "patch_p4K_b256K.xml", patch_xml, 0, true },
	{ FH "partition_complete_p4K_b256K.mbn", "MIBIB", 0, false },
	{ "update/tz.mbn", big, sizeof(big), true },
	{ "update/sbl1.mbn", "sbl1 image", 0, true },
};

static void put_file(const char *root, const char *rel, const void *data, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *s = path + strlen(root) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(path, 0755);
		*s = '/';
	}
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static size_t flen(const struct pfile *p)
{
	return p->len ? p->len : strlen(p->data);
}

static char *md5_text(const struct pfile *files, size_t n)
{
	char *text = calloc(1, 8192);
	size_t off = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t md[16];
		char hex[33];
		char win[256];

		if (!files[i].in_md5)
			continue;
		assert_int_equal(mfw_hash_buf(MFW_HASH_MD5, files[i].data, flen(&files[i]), md), 16);
		mfw_hex_encode(md, 16, hex);
		/* alternate Unix and Windows path forms, text and binary markers */
		snprintf(win, sizeof(win), "%s", files[i].path);
		if (i % 2)
			for (char *s = win; *s; s++)
				if (*s == '/')
					*s = '\\';
		off += (size_t)snprintf(text + off, 8192 - off, "%s %s%s\r\n", hex, i % 3 ? " " : "*", win);
	}
	return text;
}

static void make_dir_pkg(const char *root)
{
	char *md5;

	mkdir(root, 0755);
	for (size_t i = 0; i < MFW_ARRAY_SIZE(nand_files); i++)
		put_file(root, nand_files[i].path, nand_files[i].data, flen(&nand_files[i]));
	md5 = md5_text(nand_files, MFW_ARRAY_SIZE(nand_files));
	put_file(root, "md5.txt", md5, strlen(md5));
	free(md5);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + i / 251);
	snprintf(tmp, sizeof(tmp), "/tmp/mfw-test-package-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	return mfw_ctx_new(&ctx);
}

static int teardown(void **state)
{
	(void)state;
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	mfw_ctx_free(ctx);
	return 0;
}

static void expect_detail(const char *needle)
{
	if (!strstr(mfw_ctx_detail(ctx), needle))
		fail_msg("detail '%s' lacks '%s'", mfw_ctx_detail(ctx), needle);
}

static void test_paths(void **state)
{
	char out[64];
	(void)state;

	assert_int_equal(mfw_pkg_path_clean("./a//b/./c", out, sizeof(out)), 0);
	assert_string_equal(out, "a/b/c");
	assert_int_equal(mfw_pkg_path_clean("a\\b\\..\\c", out, sizeof(out)), 0);
	assert_string_equal(out, "a/c");
	assert_int_equal(mfw_pkg_path_clean("../a", out, sizeof(out)), MFW_E_FORMAT);
	assert_int_equal(mfw_pkg_path_clean("a/../..", out, sizeof(out)), MFW_E_FORMAT);
	assert_int_equal(mfw_pkg_path_clean("/a", out, sizeof(out)), MFW_E_FORMAT);
	assert_int_equal(mfw_pkg_path_clean("\\\\srv\\a", out, sizeof(out)), MFW_E_FORMAT);
	assert_int_equal(mfw_pkg_path_clean("C:\\a", out, sizeof(out)), MFW_E_FORMAT);
	assert_int_equal(mfw_pkg_path_clean("./.", out, sizeof(out)), MFW_E_FORMAT);
	assert_int_equal(mfw_pkg_path_clean("abcdefgh", out, 8), MFW_E_RANGE);
	assert_int_equal(mfw_pkg_resolve(ctx, RP_UPDATE, "..\\tz.mbn", out, sizeof(out)), 0);
	assert_string_equal(out, "update/tz.mbn");
	assert_int_equal(mfw_pkg_resolve(ctx, "rawprogram0.xml", "gpt_main0.bin", out, sizeof(out)), 0);
	assert_string_equal(out, "gpt_main0.bin");
	assert_int_equal(mfw_pkg_resolve(ctx, RP_UPDATE, "..\\..\\..\\x", out, sizeof(out)), MFW_E_FORMAT);
	expect_detail("outside the package");
	assert_int_equal(mfw_pkg_resolve(ctx, RP_UPDATE, "C:\\x", out, sizeof(out)), MFW_E_FORMAT);
}

static void test_geometry(void **state)
{
	uint32_t pg = 0, blk = 0;
	(void)state;

	assert_int_equal(mfw_pkg_parse_geometry("rawprogram_nand_p4K_b256K_update.xml", &pg, &blk), 1);
	assert_int_equal(pg, 4096);
	assert_int_equal(blk, 262144);
	assert_int_equal(mfw_pkg_parse_geometry("patch_p2K_b128K.xml", &pg, &blk), 1);
	assert_int_equal(pg, 2048);
	assert_int_equal(blk, 131072);
	assert_int_equal(mfw_pkg_parse_geometry("partition_complete_p4K_b256K.mbn", &pg, &blk), 1);
	assert_int_equal(mfw_pkg_parse_geometry("rawprogram0.xml", &pg, &blk), 0);
	assert_int_equal(mfw_pkg_parse_geometry("x_p4K_b2K.xml", &pg, &blk), 0);
	assert_int_equal(mfw_pkg_parse_geometry("x_pK_b256K.xml", &pg, &blk), 0);
}

static void check_nand_layout(struct mfw_pkg *pkg)
{
	struct mfw_pkg_layout lay;
	struct mfw_pkg_layout_opts opts = { .pick = MFW_PKG_PICK_FACTORY };

	assert_int_equal(mfw_pkg_detect(ctx, pkg, NULL, &lay), 0);
	assert_int_equal(lay.storage, MFW_PKG_STORAGE_NAND);
	assert_string_equal(lay.programmer, FH "prog_nand_firehose_9x07.mbn");
	assert_int_equal(lay.nmanifest, 1);
	assert_string_equal(lay.manifests[0].rawprogram, RP_UPDATE);
	assert_string_equal(lay.manifests[0].patch, FH "patch_p4K_b256K.xml");
	assert_string_equal(lay.md5sum, "md5.txt");
	assert_string_equal(lay.contents, "contents.xml");
	assert_int_equal(lay.page_size, 4096);
	assert_int_equal(lay.block_size, 262144);
	assert_string_equal(lay.note, "using rawprogram_nand_p4K_b256K_update.xml "
			    "(default: update; factory manifest also present, not used)");

	assert_int_equal(mfw_pkg_detect(ctx, pkg, &opts, &lay), 0);
	assert_string_equal(lay.manifests[0].rawprogram, RP_FACTORY);
	assert_non_null(strstr(lay.note, "factory chosen"));

	opts.pick = MFW_PKG_PICK_FILE;
	opts.rawprogram = "rawprogram_nand_p4K_b256K_factory.xml";
	assert_int_equal(mfw_pkg_detect(ctx, pkg, &opts, &lay), 0);
	assert_string_equal(lay.manifests[0].rawprogram, RP_FACTORY);
	assert_string_equal(lay.note, "using rawprogram_nand_p4K_b256K_factory.xml (chosen explicitly)");
	opts.rawprogram = "nope.xml";
	assert_int_equal(mfw_pkg_detect(ctx, pkg, &opts, &lay), MFW_E_NOENT);
}

static uint64_t last_done, last_total;
static int progress_calls;

static void on_progress(void *user, const char *phase, const char *label, uint64_t done,
			uint64_t total)
{
	(void)user;
	assert_string_equal(phase, "md5");
	assert_string_equal(label, "package");
	assert_true(done <= total);
	last_done = done;
	last_total = total;
	progress_calls++;
}

static char warned[512];

static void on_log(void *user, enum mfw_log_level level, const char *msg)
{
	(void)user;
	if (level == MFW_LOG_WARN)
		snprintf(warned, sizeof(warned), "%s", msg);
}

static void check_verify_ok(struct mfw_pkg *pkg)
{
	struct mfw_pkg_layout lay;
	struct mfw_pkg_verify_report rep;
	uint64_t total = 0;

	for (size_t i = 0; i < MFW_ARRAY_SIZE(nand_files); i++)
		if (nand_files[i].in_md5)
			total += flen(&nand_files[i]);
	assert_int_equal(mfw_pkg_detect(ctx, pkg, NULL, &lay), 0);
	progress_calls = 0;
	warned[0] = '\0';
	mfw_ctx_set_log(ctx, on_log, NULL);
	assert_int_equal(mfw_pkg_verify(ctx, pkg, &lay, on_progress, NULL, &rep), 0);
	mfw_ctx_set_log(ctx, NULL, NULL);
	assert_non_null(strstr(warned, "partition_complete_p4K_b256K.mbn"));
	assert_non_null(strstr(warned, "md5.txt does not list it"));
	assert_int_equal(rep.checked, 7);
	assert_int_equal(rep.bytes, total);
	assert_int_equal(last_done, total);
	assert_int_equal(last_total, total);
	/* several threads hash at once; the calling thread reports for all of them */
	assert_true(progress_calls > 0);
	/* the MIBIB image is used by rawprogram and patch but md5.txt omits it: a fact, not an error */
	assert_int_equal(rep.nunlisted, 1);
	assert_string_equal(rep.unlisted[0], FH "partition_complete_p4K_b256K.mbn");
	mfw_pkg_verify_report_free(&rep);
}

static void check_stream(struct mfw_pkg *pkg)
{
	struct mfw_pkg_file *f;
	uint8_t buf[1000];
	uint64_t size;
	size_t got;
	void *data;
	size_t len;

	assert_int_equal(mfw_pkg_stat(ctx, pkg, "update\\tz.mbn", &size), 0);
	assert_int_equal(size, sizeof(big));
	assert_int_equal(mfw_pkg_stat(ctx, pkg, "update/none.mbn", &size), MFW_E_NOENT);
	assert_true(mfw_pkg_exists(pkg, "./update/sbl1.mbn"));
	assert_int_equal(mfw_pkg_file_open(ctx, pkg, "update/tz.mbn", &f), 0);
	assert_int_equal(mfw_pkg_file_size(f), sizeof(big));
	assert_int_equal(mfw_pkg_file_skip(ctx, f, 123456), 0);
	assert_int_equal(mfw_pkg_file_read(ctx, f, buf, sizeof(buf), &got), 0);
	assert_true(got > 0);
	assert_memory_equal(buf, big + 123456, got);
	assert_int_equal(mfw_pkg_file_skip(ctx, f, sizeof(big)), MFW_E_RANGE);
	mfw_pkg_file_close(f);

	assert_int_equal(mfw_pkg_read_all(ctx, pkg, RP_UPDATE, 1 << 20, &data, &len), 0);
	assert_int_equal(len, strlen(rp_xml));
	assert_string_equal(data, rp_xml);
	free(data);
	assert_int_equal(mfw_pkg_read_all(ctx, pkg, "update/tz.mbn", 1000, &data, &len), MFW_E_RANGE);
	assert_null(data);
}

static void test_dir_package(void **state)
{
	char root[PATH_MAX];
	struct mfw_pkg *pkg;
	(void)state;

	snprintf(root, sizeof(root), "%s/dir", tmp);
	make_dir_pkg(root);
	assert_int_equal(mfw_pkg_open(ctx, root, &pkg), 0);
	assert_false(mfw_pkg_is_zip(pkg));
	assert_int_equal(mfw_pkg_count(pkg), MFW_ARRAY_SIZE(nand_files) + 1);
	assert_string_equal(mfw_pkg_name(pkg, 0), "contents.xml");
	assert_string_equal(mfw_pkg_name(pkg, 1), "md5.txt");
	assert_null(mfw_pkg_name(pkg, 99));
	check_nand_layout(pkg);
	check_stream(pkg);
	check_verify_ok(pkg);
	mfw_pkg_close(pkg);
}

static size_t count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;
	int c;
	if (!f)
		return 0;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* Verified-file cache: a second verification hashes nothing; a changed file is hashed and caught. */
static void test_verify_cache(void **state)
{
	char root[PATH_MAX], cache[PATH_MAX];
	struct mfw_pkg *pkg;
	struct mfw_pkg_layout lay;
	(void)state;

	snprintf(root, sizeof(root), "%s/cached", tmp);
	snprintf(cache, sizeof(cache), "%s/verified-files", tmp);
	unlink(cache);
	make_dir_pkg(root);
	assert_int_equal(mfw_pkg_open(ctx, root, &pkg), 0);
	assert_int_equal(mfw_pkg_detect(ctx, pkg, NULL, &lay), 0);
	mfw_pkg_set_verify_cache(pkg, cache);
	assert_int_equal(mfw_pkg_verify(ctx, pkg, &lay, NULL, NULL, NULL), 0);
	assert_int_equal(count_lines(cache), 7); /* every listed file, once */
	/* unchanged files: cache hits, nothing appended */
	assert_int_equal(mfw_pkg_verify(ctx, pkg, &lay, NULL, NULL, NULL), 0);
	assert_int_equal(count_lines(cache), 7);
	mfw_pkg_close(pkg);

	/* a file changed after it was verified (new ctime) is hashed again and refused */
	big[2000] ^= 1;
	put_file(root, "update/tz.mbn", big, sizeof(big));
	big[2000] ^= 1;
	assert_int_equal(mfw_pkg_open(ctx, root, &pkg), 0);
	assert_int_equal(mfw_pkg_detect(ctx, pkg, NULL, &lay), 0);
	mfw_pkg_set_verify_cache(pkg, cache);
	assert_int_equal(mfw_pkg_verify(ctx, pkg, &lay, NULL, NULL, NULL), MFW_E_VERIFY);
	mfw_pkg_close(pkg);
}

/* Range digests in the same cache: remembered per file identity and range name, last line wins. */
static void test_digest_cache(void **state)
{
	char root[PATH_MAX], cache[PATH_MAX];
	uint8_t d1[32], d2[32], out[32];
	struct mfw_pkg *pkg;
	struct mfw_pkg_file *f;
	const uint8_t *map;
	(void)state;

	memset(d1, 0x11, sizeof(d1));
	memset(d2, 0x22, sizeof(d2));
	snprintf(root, sizeof(root), "%s/digests", tmp);
	snprintf(cache, sizeof(cache), "%s/digest-cache", tmp);
	unlink(cache);
	make_dir_pkg(root);
	assert_int_equal(mfw_pkg_open(ctx, root, &pkg), 0);
	/* without a cache nothing is remembered */
	mfw_pkg_cache_digest(pkg, "update/tz.mbn", "sha256:0+10/4096:padff", d1);
	assert_false(mfw_pkg_cached_digest(pkg, "update/tz.mbn", "sha256:0+10/4096:padff", out));
	mfw_pkg_set_verify_cache(pkg, cache);
	assert_false(mfw_pkg_cached_digest(pkg, "update/tz.mbn", "sha256:0+10/4096:padff", out));
	mfw_pkg_cache_digest(pkg, "update/tz.mbn", "sha256:0+10/4096:padff", d1);
	assert_true(mfw_pkg_cached_digest(pkg, "update/tz.mbn", "sha256:0+10/4096:padff", out));
	assert_memory_equal(out, d1, 32);
	/* another range, another file, a name that cannot be stored: misses */
	assert_false(mfw_pkg_cached_digest(pkg, "update/tz.mbn", "sha256:0+10/4096:pad00", out));
	assert_false(mfw_pkg_cached_digest(pkg, "update/sbl1.mbn", "sha256:0+10/4096:padff", out));
	mfw_pkg_cache_digest(pkg, "update/tz.mbn", "with space", d1);
	assert_false(mfw_pkg_cached_digest(pkg, "update/tz.mbn", "with space", out));
	assert_false(mfw_pkg_cached_digest(pkg, "update/none.mbn", "sha256:0+10/4096:padff", out));
	/* a corrected digest is appended and wins over the stale one */
	mfw_pkg_cache_digest(pkg, "update/tz.mbn", "sha256:0+10/4096:padff", d2);
	assert_true(mfw_pkg_cached_digest(pkg, "update/tz.mbn", "sha256:0+10/4096:padff", out));
	assert_memory_equal(out, d2, 32);
	/* the mapping of a directory package's file holds the file */
	assert_int_equal(mfw_pkg_file_open(ctx, pkg, "update/tz.mbn", &f), 0);
	assert_int_equal(mfw_pkg_file_map(f, &map), 0);
	assert_memory_equal(map, big, sizeof(big));
	mfw_pkg_file_close(f);
	mfw_pkg_close(pkg);

	/* a rewritten file (new ctime) no longer matches its old lines */
	put_file(root, "update/tz.mbn", big, sizeof(big));
	assert_int_equal(mfw_pkg_open(ctx, root, &pkg), 0);
	mfw_pkg_set_verify_cache(pkg, cache);
	assert_false(mfw_pkg_cached_digest(pkg, "update/tz.mbn", "sha256:0+10/4096:padff", out));
	mfw_pkg_close(pkg);
}

static void test_dir_verify_failures(void **state)
{
	char root[128], path[PATH_MAX];
	struct mfw_pkg *pkg;
	struct mfw_pkg_layout lay;
	uint8_t md[16];
	char hex[33];
	(void)state;

	snprintf(root, sizeof(root), "%s/bad", tmp);
	make_dir_pkg(root);
	big[1000] ^= 1;
	put_file(root, "update/tz.mbn", big, sizeof(big));
	mfw_hash_buf(MFW_HASH_MD5, big, sizeof(big), md);
	big[1000] ^= 1;
	mfw_hex_encode(md, 16, hex);
	assert_int_equal(mfw_pkg_open(ctx, root, &pkg), 0);
	assert_int_equal(mfw_pkg_detect(ctx, pkg, NULL, &lay), 0);
	assert_int_equal(mfw_pkg_verify(ctx, pkg, &lay, NULL, NULL, NULL), MFW_E_VERIFY);
	expect_detail("'update/tz.mbn' is corrupt: its md5 is ");
	expect_detail(hex);
	mfw_hash_buf(MFW_HASH_MD5, big, sizeof(big), md);
	mfw_hex_encode(md, 16, hex);
	expect_detail(hex);
	mfw_pkg_close(pkg);

	snprintf(path, sizeof(path), "%s/update/sbl1.mbn", root);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mfw_pkg_open(ctx, root, &pkg), 0);
	assert_int_equal(mfw_pkg_detect(ctx, pkg, NULL, &lay), 0);
	assert_int_equal(mfw_pkg_verify(ctx, pkg, &lay, NULL, NULL, NULL), MFW_E_NOENT);
	expect_detail("update/sbl1.mbn");
	mfw_pkg_close(pkg);
}

static void add_member(zip_t *z, const char *name, const void *data, size_t len, bool store)
{
	zip_source_t *src = zip_source_buffer(z, data, len, 0);
	zip_int64_t idx;

	assert_non_null(src);
	idx = zip_file_add(z, name, src, ZIP_FL_ENC_UTF_8);
	assert_true(idx >= 0);
	if (store)
		assert_int_equal(zip_set_file_compression(z, (zip_uint64_t)idx, ZIP_CM_STORE, 0), 0);
}

static void make_zip(const char *path, const char *evil)
{
	int err = 0;
	zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
	char *md5 = md5_text(nand_files, MFW_ARRAY_SIZE(nand_files));

	assert_non_null(z);
	for (size_t i = 0; i < MFW_ARRAY_SIZE(nand_files); i++)
		add_member(z, nand_files[i].path, nand_files[i].data, flen(&nand_files[i]), i % 2);
	add_member(z, "md5.txt", md5, strlen(md5), false);
	assert_true(zip_dir_add(z, "update", 0) >= 0);
	if (evil)
		add_member(z, evil, "x", 1, false);
	assert_int_equal(zip_close(z), 0);
	free(md5);
}

struct last_progress {
	uint64_t done, total;
	unsigned calls;
};

static void record_progress(void *user, const char *phase, const char *label, uint64_t done,
			    uint64_t total)
{
	struct last_progress *p = user;
	(void)label;
	assert_string_equal(phase, "md5");
	assert_true(done >= p->done); /* never backwards, whichever thread hashed */
	p->done = done;
	p->total = total;
	p->calls++;
}

/* md5.txt on several threads: progress adds up, failures are the one-thread path's, Ctrl-C stops it. */
static void test_verify_threads(void **state)
{
	char root[128], path[PATH_MAX];
	struct last_progress prog = { 0 };
	struct mfw_pkg *pkg;
	struct mfw_pkg_layout lay;
	(void)state;

	snprintf(root, sizeof(root), "%s/threads", tmp);
	make_dir_pkg(root);
	assert_int_equal(mfw_pkg_open(ctx, root, &pkg), 0);
	assert_int_equal(mfw_pkg_detect(ctx, pkg, NULL, &lay), 0);
	assert_int_equal(mfw_pkg_verify(ctx, pkg, &lay, record_progress, &prog, NULL), 0);
	assert_true(prog.calls > 0);
	assert_true(prog.total > sizeof(big));
	assert_int_equal(prog.done, prog.total);

	/* cancelled before it starts: nothing is called verified */
	{
		struct mfw_ctx *c2;
		assert_int_equal(mfw_ctx_new(&c2), 0);
		mfw_ctx_cancel(c2);
		assert_int_equal(mfw_pkg_verify(c2, pkg, &lay, NULL, NULL, NULL), MFW_E_CANCELLED);
		assert_non_null(strstr(mfw_ctx_detail(c2), "verification cancelled at '"));
		mfw_ctx_free(c2);
	}
	mfw_pkg_close(pkg);

	/* a listed file that cannot be read (a directory now): named, I/O error */
	assert_int_equal(mfw_pkg_open(ctx, root, &pkg), 0);
	assert_int_equal(mfw_pkg_detect(ctx, pkg, NULL, &lay), 0);
	snprintf(path, sizeof(path), "%s/update/tz.mbn", root);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(mfw_pkg_verify(ctx, pkg, &lay, NULL, NULL, NULL), MFW_E_IO);
	expect_detail("cannot read '");
	expect_detail("update/tz.mbn");
	mfw_pkg_close(pkg);
	assert_int_equal(rmdir(path), 0);
}

static void test_zip_package(void **state)
{
	char path[PATH_MAX];
	struct mfw_pkg *pkg;
	(void)state;

	snprintf(path, sizeof(path), "%s/pkg.zip", tmp);
	make_zip(path, NULL);
	assert_int_equal(mfw_pkg_open(ctx, path, &pkg), 0);
	assert_true(mfw_pkg_is_zip(pkg));
	assert_int_equal(mfw_pkg_count(pkg), MFW_ARRAY_SIZE(nand_files) + 1);
	check_nand_layout(pkg);
	check_stream(pkg);
	check_verify_ok(pkg);
	{
		/* zip members are read, never mapped */
		struct mfw_pkg_file *f;
		const uint8_t *map;
		assert_int_equal(mfw_pkg_file_open(ctx, pkg, "update/tz.mbn", &f), 0);
		assert_int_equal(mfw_pkg_file_map(f, &map), MFW_E_UNSUPPORTED);
		assert_null(map);
		mfw_pkg_file_close(f);
	}
	mfw_pkg_close(pkg);
}

static void test_zip_rejects(void **state)
{
	static const char *const evil[] = { "../evil.mbn", "update/../../evil.mbn", "/etc/evil", "..\\evil" };
	char path[PATH_MAX];
	struct mfw_pkg *pkg;
	(void)state;

	snprintf(path, sizeof(path), "%s/evil.zip", tmp);
	for (size_t i = 0; i < MFW_ARRAY_SIZE(evil); i++) {
		make_zip(path, evil[i]);
		mfw_ctx_clear_detail(ctx);
		assert_int_equal(mfw_pkg_open(ctx, path, &pkg), MFW_E_FORMAT);
		assert_null(pkg);
		expect_detail(evil[i]);
	}
	/* not a zip, not a directory */
	put_file(tmp, "junk.zip", "this is not a zip", 17);
	snprintf(path, sizeof(path), "%s/junk.zip", tmp);
	assert_int_equal(mfw_pkg_open(ctx, path, &pkg), MFW_E_FORMAT);
	snprintf(path, sizeof(path), "%s/absent", tmp);
	assert_int_equal(mfw_pkg_open(ctx, path, &pkg), MFW_E_NOENT);
}

static void test_emmc_and_choices(void **state)
{
	char root[PATH_MAX];
	struct mfw_pkg *pkg;
	struct mfw_pkg_layout lay;
	struct mfw_pkg_layout_opts opts = { .pick = MFW_PKG_PICK_FACTORY };
	(void)state;

	snprintf(root, sizeof(root), "%s/emmc", tmp);
	mkdir(root, 0755);
	put_file(root, "rawprogram1.xml", "<data/>", 7);
	put_file(root, "rawprogram0.xml", "<data/>", 7);
	put_file(root, "rawprogram_unsparse0.xml", "<data/>", 7);
	put_file(root, "patch0.xml", "<patches/>", 10);
	put_file(root, "patch1.xml", "<patches/>", 10);
	put_file(root, "prog_firehose_ddr.elf", "\x7F" "ELF", 4);
	put_file(root, "prog_other.mbn", "x", 1);
	assert_int_equal(mfw_pkg_open(ctx, root, &pkg), 0);
	assert_int_equal(mfw_pkg_detect(ctx, pkg, NULL, &lay), 0);
	assert_int_equal(lay.storage, MFW_PKG_STORAGE_EMMC);
	assert_string_equal(lay.programmer, "prog_firehose_ddr.elf");
	assert_int_equal(lay.nmanifest, 2);
	assert_int_equal(lay.manifests[0].lun, 0);
	assert_string_equal(lay.manifests[0].rawprogram, "rawprogram0.xml");
	assert_string_equal(lay.manifests[0].patch, "patch0.xml");
	assert_int_equal(lay.manifests[1].lun, 1);
	assert_string_equal(lay.manifests[1].patch, "patch1.xml");
	assert_string_equal(lay.md5sum, "");
	assert_int_equal(mfw_pkg_verify(ctx, pkg, &lay, NULL, NULL, NULL), MFW_E_NOENT);
	assert_int_equal(mfw_pkg_detect(ctx, pkg, &opts, &lay), MFW_E_NOENT);
	mfw_pkg_close(pkg);

	/* only a factory manifest: never used without asking */
	snprintf(root, sizeof(root), "%s/factory-only", tmp);
	mkdir(root, 0755);
	put_file(root, "rawprogram_nand_p2K_b128K_factory.xml", "<data/>", 7);
	assert_int_equal(mfw_pkg_open(ctx, root, &pkg), 0);
	assert_int_equal(mfw_pkg_detect(ctx, pkg, NULL, &lay), MFW_E_NOENT);
	expect_detail("choose it explicitly");
	assert_int_equal(mfw_pkg_detect(ctx, pkg, &opts, &lay), 0);
	assert_int_equal(lay.page_size, 2048);
	assert_string_equal(lay.programmer, "");
	mfw_pkg_close(pkg);

	/* two update manifests: ambiguous */
	snprintf(root, sizeof(root), "%s/two", tmp);
	mkdir(root, 0755);
	put_file(root, "a/rawprogram_nand_p4K_b256K_update.xml", "<data/>", 7);
	put_file(root, "b/rawprogram_nand_p4K_b256K_update.xml", "<data/>", 7);
	assert_int_equal(mfw_pkg_open(ctx, root, &pkg), 0);
	assert_int_equal(mfw_pkg_detect(ctx, pkg, NULL, &lay), MFW_E_FORMAT);
	expect_detail("ambiguous");
	mfw_pkg_close(pkg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_geometry),
		cmocka_unit_test(test_dir_package),
		cmocka_unit_test(test_dir_verify_failures),
		cmocka_unit_test(test_verify_cache),
		cmocka_unit_test(test_digest_cache),
		cmocka_unit_test(test_verify_threads),
		cmocka_unit_test(test_zip_package),
		cmocka_unit_test(test_zip_rejects),
		cmocka_unit_test(test_emmc_and_choices),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
