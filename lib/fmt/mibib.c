/* SPDX-License-Identifier: BSD-3-Clause */
#include "fmt/mibib.h"

#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "util/bytes.h"
#include "util/crc.h"

/* docs/formats.md, "Canonical NAND layout": offsets and lengths in blocks. */
static const struct mfw_mibib_part canonical[] = {
	{ "0:SBL", 0, 10, { 0 }, 0 },
	{ "0:MIBIB", 10, 10, { 0 }, 0 },
	{ "0:EFS2", 20, 88, { 0 }, 0 },
	{ "0:SYS_REV", 108, 8, { 0 }, 0 },
	{ "0:RAWDATA", 116, 8, { 0 }, 0 },
	{ "0:SEC", 124, 8, { 0 }, 0 },
	{ "0:TZ", 132, 12, { 0 }, 0 },
	{ "0:RPM", 144, 12, { 0 }, 0 },
	{ "0:aboot", 156, 12, { 0 }, 0 },
	{ "0:boot", 168, 53, { 0 }, 0 },
	{ "0:scrub", 221, 60, { 0 }, 0 },
	{ "0:image_back", 281, 60, { 0 }, 0 },
	{ "0:modem", 341, 288, { 0 }, 0 },
	{ "0:misc", 629, 12, { 0 }, 0 },
	{ "0:recovery", 641, 53, { 0 }, 0 },
	{ "0:sys_back", 694, 9, { 0 }, 0 },
	{ "0:recoveryfs", 703, 120, { 0 }, 0 },
	{ "0:system", 823, 321, { 0 }, 0 },
	{ "0:cache", 1144, 760, { 0 }, 0 },
	{ "0:usrfs", 1904, MFW_MIBIB_TO_END, { 0 }, 0 },
};

const struct mfw_mibib_part *mfw_mibib_canonical(size_t *n)
{
	*n = MFW_ARRAY_SIZE(canonical);
	return canonical;
}

static bool page_size_ok(uint32_t page_size)
{
	return page_size >= 512 && page_size <= 65536 && !(page_size & (page_size - 1));
}

/* Entries that fit in one page after the 16-byte table header. */
static size_t page_capacity(uint32_t page_size)
{
	size_t n = (page_size - MFW_MIBIB_TABLE_HDR) / MFW_MIBIB_ENTRY_SIZE;

	return n < MFW_MIBIB_MAX_PARTS ? n : MFW_MIBIB_MAX_PARTS;
}

static const char *strip_prefix(const char *name)
{
	/* "0:SBL" -> "SBL": the digit names the flash device, the label does not carry it. */
	if (name[0] >= '0' && name[0] <= '9' && name[1] == ':')
		return name + 2;
	return name;
}

static int parse_table(struct mfw_ctx *ctx, const uint8_t *page, uint32_t page_size,
		       const char *which, uint32_t magic1, uint32_t magic2, uint32_t *version,
		       struct mfw_mibib_part *parts, size_t *nparts)
{
	uint32_t n;

	if (mfw_get_le32(page) != magic1 || mfw_get_le32(page + 4) != magic2)
		return mfw_fail(ctx, MFW_E_FORMAT, "MIBIB %s table: bad magic %08x %08x", which,
				mfw_get_le32(page), mfw_get_le32(page + 4));
	*version = mfw_get_le32(page + 8);
	n = mfw_get_le32(page + 12);
	if (n > page_capacity(page_size))
		return mfw_fail(ctx, MFW_E_FORMAT, "MIBIB %s table: %u partitions do not fit (at most %zu)",
				which, n, page_capacity(page_size));
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = page + MFW_MIBIB_TABLE_HDR + (size_t)i * MFW_MIBIB_ENTRY_SIZE;
		struct mfw_mibib_part *p = &parts[i];
		size_t nlen;

		memcpy(p->name, e, MFW_MIBIB_NAME_LEN);
		p->name[MFW_MIBIB_NAME_LEN] = '\0';
		nlen = strlen(p->name);
		/* NUL padding only: stray bytes after the name mean we are not reading a table. */
		for (size_t k = nlen; k < MFW_MIBIB_NAME_LEN; k++)
			if (e[k] != 0)
				return mfw_fail(ctx, MFW_E_FORMAT, "MIBIB %s table entry %u: name is not NUL-padded",
						which, i);
		if (!nlen)
			return mfw_fail(ctx, MFW_E_FORMAT, "MIBIB %s table entry %u: empty name", which, i);
		for (size_t k = 0; k < nlen; k++)
			if (p->name[k] < 0x20 || p->name[k] > 0x7E)
				return mfw_fail(ctx, MFW_E_FORMAT, "MIBIB %s table entry %u: non-printable name",
						which, i);
		p->offset = mfw_get_le32(e + 16);
		p->length = mfw_get_le32(e + 20);
		memcpy(p->attr, e + 24, 3);
		p->which_flash = e[27];
		if (p->length == 0)
			return mfw_fail(ctx, MFW_E_FORMAT, "MIBIB %s table entry %u '%s': zero length",
					which, i, p->name);
		if (p->length == MFW_MIBIB_TO_END && i + 1 != n)
			return mfw_fail(ctx, MFW_E_FORMAT,
					"MIBIB %s table entry %u '%s': only the last partition may run to the end",
					which, i, p->name);
		if (p->length != MFW_MIBIB_TO_END && (uint64_t)p->offset + p->length > UINT32_MAX)
			return mfw_fail(ctx, MFW_E_FORMAT, "MIBIB %s table entry %u '%s': end overflows",
					which, i, p->name);
		if (i > 0) {
			const struct mfw_mibib_part *prev = &parts[i - 1];

			if (p->offset < (uint64_t)prev->offset + prev->length)
				return mfw_fail(ctx, MFW_E_FORMAT,
						"MIBIB %s table entry %u '%s' at block %u overlaps '%s' (ends at block %llu)",
						which, i, p->name, p->offset, prev->name,
						(unsigned long long)prev->offset + prev->length);
		}
	}
	*nparts = n;
	return 0;
}

int mfw_mibib_parse(struct mfw_ctx *ctx, const void *data, size_t len, uint32_t page_size,
		    struct mfw_mibib *out)
{
	const uint8_t *d = data;
	const uint8_t *check;
	int r;

	memset(out, 0, sizeof(*out));
	if (!page_size_ok(page_size))
		return mfw_fail(ctx, MFW_E_INVAL, "MIBIB page size %u is not a power of two in 512..65536",
				page_size);
	if (len / page_size < MFW_MIBIB_PAGES)
		return mfw_fail(ctx, MFW_E_FORMAT, "MIBIB image of %zu bytes is shorter than %d pages of %u",
				len, MFW_MIBIB_PAGES, page_size);
	out->page_size = page_size;
	if (mfw_get_le32(d) != MFW_MIBIB_MAGIC1 || mfw_get_le32(d + 4) != MFW_MIBIB_MAGIC2)
		return mfw_fail(ctx, MFW_E_FORMAT, "MIBIB header page: bad magic %08x %08x",
				mfw_get_le32(d), mfw_get_le32(d + 4));
	out->version = mfw_get_le32(d + 8);
	out->age = mfw_get_le32(d + 12);
	if (out->version != MFW_MIBIB_VERSION)
		return mfw_fail(ctx, MFW_E_FORMAT, "MIBIB header page: version %u, expected %u",
				out->version, MFW_MIBIB_VERSION);

	r = parse_table(ctx, d + page_size, page_size, "system", MFW_MIBIB_SYS_MAGIC1,
			MFW_MIBIB_SYS_MAGIC2, &out->sys_version, out->parts, &out->nparts);
	if (r < 0)
		return r;
	if (out->sys_version != MFW_MIBIB_SYS_VERSION)
		return mfw_fail(ctx, MFW_E_FORMAT, "MIBIB system table: version %u, expected %u",
				out->sys_version, MFW_MIBIB_SYS_VERSION);
	r = parse_table(ctx, d + 2 * (size_t)page_size, page_size, "user", MFW_MIBIB_USR_MAGIC1,
			MFW_MIBIB_USR_MAGIC2, &out->usr_version, out->user, &out->nuser);
	if (r < 0)
		return r;
	if (out->usr_version != MFW_MIBIB_USR_VERSION)
		return mfw_fail(ctx, MFW_E_FORMAT, "MIBIB user table: version %u, expected %u",
				out->usr_version, MFW_MIBIB_USR_VERSION);

	check = d + 3 * (size_t)page_size;
	if (mfw_get_le32(check) != MFW_MIBIB_MAGIC1 || mfw_get_le32(check + 4) != MFW_MIBIB_MAGIC2 ||
	    mfw_get_le32(check + 8) != MFW_MIBIB_VERSION)
		return mfw_fail(ctx, MFW_E_FORMAT, "MIBIB check page: bad magic or version");
	out->crc_stored = mfw_get_le32(check + 12);
	out->crc_computed = mfw_crc32(0, d, 2 * (size_t)page_size);
	/* 0 is the package form: patch_*.xml fills it in (CRC32(0,8192)). */
	if (out->crc_stored && out->crc_stored != out->crc_computed)
		return mfw_fail(ctx, MFW_E_FORMAT, "MIBIB check page: CRC %08x stored, %08x computed over pages 0-1",
				out->crc_stored, out->crc_computed);
	return 0;
}

const struct mfw_mibib_part *mfw_mibib_find(const struct mfw_mibib *m, const char *label)
{
	const char *want = strip_prefix(label);

	for (size_t i = 0; i < m->nparts; i++)
		if (!strcasecmp(strip_prefix(m->parts[i].name), want))
			return &m->parts[i];
	return NULL;
}

int mfw_mibib_range(struct mfw_ctx *ctx, const struct mfw_mibib *m, const char *label,
		    uint32_t pages_per_block, uint64_t total_blocks, uint64_t *first_sector,
		    uint64_t *last_sector)
{
	const struct mfw_mibib_part *p = mfw_mibib_find(m, label);
	uint64_t blocks;

	if (!p)
		return mfw_fail(ctx, MFW_E_NOENT, "partition '%s' is not in the MIBIB", label);
	if (!pages_per_block)
		return mfw_fail(ctx, MFW_E_INVAL, "pages per block is 0");
	if (p->length == MFW_MIBIB_TO_END) {
		if (!total_blocks)
			return mfw_fail(ctx, MFW_E_RANGE,
					"partition '%s' runs to the end of a device of unknown size", p->name);
		if (p->offset >= total_blocks)
			return mfw_fail(ctx, MFW_E_RANGE, "partition '%s' starts at block %u, past the %llu-block device",
					p->name, p->offset, (unsigned long long)total_blocks);
		blocks = total_blocks - p->offset;
	} else {
		blocks = p->length;
		if (total_blocks && (uint64_t)p->offset + blocks > total_blocks)
			return mfw_fail(ctx, MFW_E_RANGE, "partition '%s' (blocks %u+%u) ends past the %llu-block device",
					p->name, p->offset, p->length, (unsigned long long)total_blocks);
	}
	/* offset and blocks are < 2^33 and pages_per_block < 2^32: the products fit 64 bits. */
	*first_sector = (uint64_t)p->offset * pages_per_block;
	*last_sector = ((uint64_t)p->offset + blocks) * pages_per_block - 1;
	return 0;
}

static void put_table(uint8_t *page, uint32_t magic1, uint32_t magic2, uint32_t version,
		      const struct mfw_mibib_part *parts, size_t nparts, bool strip,
		      uint32_t last_length)
{
	mfw_put_le32(page, magic1);
	mfw_put_le32(page + 4, magic2);
	mfw_put_le32(page + 8, version);
	mfw_put_le32(page + 12, (uint32_t)nparts);
	for (size_t i = 0; i < nparts; i++) {
		uint8_t *e = page + MFW_MIBIB_TABLE_HDR + i * MFW_MIBIB_ENTRY_SIZE;
		const char *name = strip ? strip_prefix(parts[i].name) : parts[i].name;

		memset(e, 0, MFW_MIBIB_NAME_LEN);
		memcpy(e, name, strlen(name));
		mfw_put_le32(e + 16, parts[i].offset);
		mfw_put_le32(e + 20, i + 1 == nparts ? last_length : parts[i].length);
		memcpy(e + 24, parts[i].attr, 3);
		e[27] = parts[i].which_flash;
	}
}

int mfw_mibib_build(struct mfw_ctx *ctx, uint32_t page_size, const struct mfw_mibib_part *parts,
		    size_t nparts, uint64_t total_blocks, enum mfw_mibib_form form, uint8_t *out,
		    size_t cap)
{
	size_t size = (size_t)MFW_MIBIB_PAGES * page_size;
	uint32_t last_length;
	uint8_t *check;

	if (!page_size_ok(page_size))
		return mfw_fail(ctx, MFW_E_INVAL, "MIBIB page size %u is not a power of two in 512..65536",
				page_size);
	if (cap < size)
		return mfw_fail(ctx, MFW_E_RANGE, "MIBIB image needs %zu bytes, buffer has %zu", size, cap);
	if (!nparts || nparts > page_capacity(page_size))
		return mfw_fail(ctx, MFW_E_RANGE, "MIBIB cannot hold %zu partitions with %u-byte pages",
				nparts, page_size);
	for (size_t i = 0; i < nparts; i++) {
		size_t nlen = strnlen(parts[i].name, sizeof(parts[i].name));

		if (!nlen || nlen > MFW_MIBIB_NAME_LEN)
			return mfw_fail(ctx, MFW_E_INVAL, "MIBIB partition %zu: name must be 1..%d bytes",
					i, MFW_MIBIB_NAME_LEN);
		if (parts[i].length == 0 || (parts[i].length == MFW_MIBIB_TO_END && i + 1 != nparts))
			return mfw_fail(ctx, MFW_E_INVAL, "MIBIB partition '%s': bad length", parts[i].name);
		if (parts[i].length != MFW_MIBIB_TO_END && total_blocks &&
		    (uint64_t)parts[i].offset + parts[i].length > total_blocks)
			return mfw_fail(ctx, MFW_E_RANGE, "MIBIB partition '%s' ends past block %llu",
					parts[i].name, (unsigned long long)total_blocks);
		if (i && parts[i].offset < (uint64_t)parts[i - 1].offset + parts[i - 1].length)
			return mfw_fail(ctx, MFW_E_INVAL, "MIBIB partition '%s' overlaps '%s'",
					parts[i].name, parts[i - 1].name);
	}
	last_length = parts[nparts - 1].length;
	if (form == MFW_MIBIB_FORM_DEVICE && last_length == MFW_MIBIB_TO_END) {
		uint32_t off = parts[nparts - 1].offset;

		/* What NUM_DISK_BLOCKS-<offset>. in patch_*.xml writes. */
		if (!total_blocks || off >= total_blocks || total_blocks - off >= MFW_MIBIB_TO_END)
			return mfw_fail(ctx, MFW_E_RANGE, "MIBIB partition '%s' at block %u does not fit a %llu-block device",
					parts[nparts - 1].name, off, (unsigned long long)total_blocks);
		last_length = (uint32_t)(total_blocks - off);
	}

	memset(out, 0xFF, size);
	mfw_put_le32(out, MFW_MIBIB_MAGIC1);
	mfw_put_le32(out + 4, MFW_MIBIB_MAGIC2);
	mfw_put_le32(out + 8, MFW_MIBIB_VERSION);
	mfw_put_le32(out + 12, 1); /* age */
	put_table(out + page_size, MFW_MIBIB_SYS_MAGIC1, MFW_MIBIB_SYS_MAGIC2, MFW_MIBIB_SYS_VERSION,
		  parts, nparts, false, last_length);
	/*
	 * The device form is the package form with patch_*.xml applied, and
	 * that patches only the system table: the user table keeps 0xFFFFFFFF.
	 */
	put_table(out + 2 * (size_t)page_size, MFW_MIBIB_USR_MAGIC1, MFW_MIBIB_USR_MAGIC2,
		  MFW_MIBIB_USR_VERSION, parts, nparts, true, parts[nparts - 1].length);
	check = out + 3 * (size_t)page_size;
	mfw_put_le32(check, MFW_MIBIB_MAGIC1);
	mfw_put_le32(check + 4, MFW_MIBIB_MAGIC2);
	mfw_put_le32(check + 8, MFW_MIBIB_VERSION);
	mfw_put_le32(check + 12, form == MFW_MIBIB_FORM_DEVICE ? mfw_crc32(0, out, 2 * (size_t)page_size) : 0);
	return (int)size;
}

int mfw_mibib_build_canonical(struct mfw_ctx *ctx, uint32_t page_size, uint32_t pages_per_block,
			      uint64_t total_blocks, enum mfw_mibib_form form, uint8_t *out,
			      size_t cap)
{
	if (!pages_per_block)
		return mfw_fail(ctx, MFW_E_INVAL, "pages per block is 0");
	return mfw_mibib_build(ctx, page_size, canonical, MFW_ARRAY_SIZE(canonical), total_blocks,
			       form, out, cap);
}
