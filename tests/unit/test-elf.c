/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/core.h"
#include "fmt/elf.h"
#include "util/bytes.h"

static struct mfw_ctx *ctx;
static struct mfw_elf elf;

static int setup(void **state)
{
	(void)state;
	return mfw_ctx_new(&ctx);
}

static int teardown(void **state)
{
	(void)state;
	mfw_ctx_free(ctx);
	return 0;
}

/* ELF64 AArch64 image: header, 3 program headers at 64, segments at 0x1000 and 0x3000. */
static size_t make_elf64(uint8_t *img, size_t cap)
{
	uint8_t *ph;

	memset(img, 0, cap);
	memcpy(img, "\x7F" "ELF", 4);
	img[4] = 2;
	img[5] = 1;
	img[6] = 1;
	mfw_put_le16(img + 16, 2);      /* ET_EXEC */
	mfw_put_le16(img + 18, 183);    /* EM_AARCH64 */
	mfw_put_le32(img + 20, 1);
	mfw_put_le64(img + 24, 0x14680000);
	mfw_put_le64(img + 32, 64);
	mfw_put_le16(img + 52, 64);
	mfw_put_le16(img + 54, 56);
	mfw_put_le16(img + 56, 3);
	ph = img + 64;
	/* PT_NULL hash segment */
	mfw_put_le32(ph, 0);
	mfw_put_le64(ph + 8, 0x400);
	mfw_put_le64(ph + 32, 0x100);
	ph += 56;
	mfw_put_le32(ph, 1);
	mfw_put_le32(ph + 4, 5);
	mfw_put_le64(ph + 8, 0x1000);
	mfw_put_le64(ph + 16, 0x14680000);
	mfw_put_le64(ph + 24, 0x14680000);
	mfw_put_le64(ph + 32, 0x2000);
	mfw_put_le64(ph + 40, 0x3000);
	ph += 56;
	mfw_put_le32(ph, 1);
	mfw_put_le64(ph + 8, 0x3000);
	mfw_put_le64(ph + 32, 0x800);
	mfw_put_le64(ph + 40, 0x800);
	return 0x3800;
}

static void test_elf64_whole(void **state)
{
	static uint8_t img[0x3800];
	size_t len = make_elf64(img, sizeof(img));
	(void)state;

	assert_int_equal(mfw_elf_parse(ctx, img, len, &elf), 0);
	assert_true(elf.is64);
	assert_int_equal(elf.machine, 183);
	assert_int_equal(elf.entry, 0x14680000);
	assert_int_equal(elf.nphdr, 3);
	assert_false(mfw_elf_phdr_loadable(&elf.phdrs[0]));
	assert_true(mfw_elf_phdr_loadable(&elf.phdrs[1]));
	assert_int_equal(elf.phdrs[1].offset, 0x1000);
	assert_int_equal(elf.phdrs[1].filesz, 0x2000);
	assert_int_equal(elf.phdrs[1].flags, 5);
	assert_int_equal(elf.phdrs[2].offset, 0x3000);
}

/* The way a PBL reads: header bytes only, then the table, then segments. */
static void test_stepwise(void **state)
{
	static uint8_t img[0x3800];
	size_t len = make_elf64(img, sizeof(img));
	(void)state;

	assert_int_equal(mfw_elf_parse_header(ctx, img, 10, len, &elf), MFW_E_AGAIN);
	assert_int_equal(mfw_elf_parse_header(ctx, img, 40, len, &elf), MFW_E_AGAIN);
	assert_int_equal(mfw_elf_parse_header(ctx, img, 64, len, &elf), 0);
	assert_int_equal(elf.phoff, 64);
	assert_int_equal(mfw_elf_phdrs_size(&elf), 168);
	assert_int_equal(mfw_elf_parse_phdrs(ctx, &elf, img + 64, 167), MFW_E_FORMAT);
	assert_int_equal(mfw_elf_parse_phdrs(ctx, &elf, img + 64, 168), 0);
	assert_int_equal(elf.nphdr, 3);
	/* unknown size: only overflow checks */
	assert_int_equal(mfw_elf_parse_header(ctx, img, 64, 0, &elf), 0);
	assert_int_equal(mfw_elf_parse_phdrs(ctx, &elf, img + 64, 168), 0);
}

static void test_elf32(void **state)
{
	static uint8_t img[0x200];
	(void)state;

	memset(img, 0, sizeof(img));
	memcpy(img, "\x7F" "ELF", 4);
	img[4] = 1;
	img[5] = 1;
	img[6] = 1;
	mfw_put_le16(img + 16, 2);
	mfw_put_le16(img + 18, 40); /* EM_ARM */
	mfw_put_le32(img + 20, 1);
	mfw_put_le32(img + 24, 0x8000);
	mfw_put_le32(img + 28, 52);
	mfw_put_le16(img + 42, 32);
	mfw_put_le16(img + 44, 1);
	mfw_put_le32(img + 52, 1);
	mfw_put_le32(img + 52 + 4, 0x100);
	mfw_put_le32(img + 52 + 8, 0x8000);
	mfw_put_le32(img + 52 + 16, 0x100);
	mfw_put_le32(img + 52 + 20, 0x100);
	mfw_put_le32(img + 52 + 24, 7);
	assert_int_equal(mfw_elf_parse(ctx, img, sizeof(img), &elf), 0);
	assert_false(elf.is64);
	assert_int_equal(elf.machine, 40);
	assert_int_equal(elf.phdrs[0].vaddr, 0x8000);
	assert_int_equal(elf.phdrs[0].flags, 7);
	/* one byte short of the segment */
	assert_int_equal(mfw_elf_parse(ctx, img, 0x1FF, &elf), MFW_E_FORMAT);
}

static void expect_bad(uint8_t *img, size_t len, const char *needle)
{
	mfw_ctx_clear_detail(ctx);
	assert_int_equal(mfw_elf_parse(ctx, img, len, &elf), MFW_E_FORMAT);
	if (!strstr(mfw_ctx_detail(ctx), needle))
		fail_msg("detail '%s' lacks '%s'", mfw_ctx_detail(ctx), needle);
}

static void test_rejects(void **state)
{
	static uint8_t good[0x3800], img[0x3800];
	size_t len = make_elf64(good, sizeof(good));
	(void)state;

	memcpy(img, "MZ\x90\0 not an elf at all", 22);
	expect_bad(img, 22, "not an ELF");
	expect_bad(img, 3, "shorter");
	memcpy(img, good, len);
	img[4] = 3;
	expect_bad(img, len, "class");
	memcpy(img, good, len);
	img[5] = 2;
	expect_bad(img, len, "little-endian");
	memcpy(img, good, len);
	mfw_put_le16(img + 54, 32);
	expect_bad(img, len, "program header size");
	memcpy(img, good, len);
	mfw_put_le16(img + 56, 0);
	expect_bad(img, len, "program headers");
	memcpy(img, good, len);
	mfw_put_le16(img + 56, 1000);
	expect_bad(img, len, "program headers");
	memcpy(img, good, len);
	mfw_put_le64(img + 32, 0x3800 - 100);
	expect_bad(img, len, "runs past");
	memcpy(img, good, len);
	mfw_put_le64(img + 32, UINT64_MAX - 10);
	expect_bad(img, len, "offset");
	memcpy(img, good, len);
	mfw_put_le64(img + 64 + 56 + 8, UINT64_MAX - 0x100);
	expect_bad(img, len, "overflows");
	memcpy(img, good, len);
	mfw_put_le64(img + 64 + 2 * 56 + 32, 0x801);
	expect_bad(img, len, "segment 2");
	memcpy(img, good, len);
	mfw_put_le64(img + 64 + 56 + 40, 0x10);
	expect_bad(img, len, "memory bytes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf64_whole),
		cmocka_unit_test(test_stepwise),
		cmocka_unit_test(test_elf32),
		cmocka_unit_test(test_rejects),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
