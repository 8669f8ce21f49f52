/* SPDX-License-Identifier: BSD-3-Clause */
#include "fmt/gpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "util/bytes.h"
#include "util/crc.h"
#include "util/hash.h"

const uint8_t mfw_gpt_type_basic_data[16] = {
	0xA2, 0xA0, 0xD0, 0xEB, 0xE5, 0xB9, 0x33, 0x44,
	0x87, 0xC0, 0x68, 0xB6, 0xB7, 0x26, 0x99, 0xC7,
};

static bool sector_size_ok(uint32_t ss)
{
	return ss == 512 || ss == 4096;
}

uint32_t mfw_gpt_entry_sectors(uint32_t sector_size)
{
	if (!sector_size)
		return 0;
	return (MFW_GPT_ENTRIES_BYTES + sector_size - 1) / sector_size;
}

size_t mfw_gpt_primary_size(uint32_t sector_size)
{
	return (size_t)(2 + mfw_gpt_entry_sectors(sector_size)) * sector_size;
}

size_t mfw_gpt_backup_size(uint32_t sector_size)
{
	return (size_t)(1 + mfw_gpt_entry_sectors(sector_size)) * sector_size;
}

/* ---- names ---- */

static size_t put_utf8(char *out, size_t cap, size_t o, uint32_t cp)
{
	uint8_t b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (uint8_t)(0xC0 | cp >> 6);
		b[1] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (uint8_t)(0xE0 | cp >> 12);
		b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (uint8_t)(0xF0 | cp >> 18);
		b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 4;
	}
	if (o + n >= cap)
		return o;
	memcpy(out + o, b, n);
	return o + n;
}

/* UTF-16LE (36 units, NUL-terminated unless full) to UTF-8; bad surrogates become U+FFFD. */
static void name_decode(const uint8_t *u16, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < MFW_GPT_NAME_UNITS; i++) {
		uint32_t cp = mfw_get_le16(u16 + 2 * i);

		if (!cp)
			break;
		if (cp >= 0xD800 && cp < 0xDC00 && i + 1 < MFW_GPT_NAME_UNITS) {
			uint32_t lo = mfw_get_le16(u16 + 2 * (i + 1));

			if (lo >= 0xDC00 && lo < 0xE000) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				i++;
			} else {
				cp = 0xFFFD;
			}
		} else if (cp >= 0xD800 && cp < 0xE000) {
			cp = 0xFFFD;
		}
		o = put_utf8(out, cap, o, cp);
	}
	out[o] = '\0';
}

/* UTF-8 to UTF-16LE in 36 units; MFW_E_INVAL when too long or not UTF-8. */
static int name_encode(const char *name, uint8_t *u16)
{
	const uint8_t *s = (const uint8_t *)name;
	size_t units = 0;

	memset(u16, 0, 2 * MFW_GPT_NAME_UNITS);
	while (*s) {
		uint32_t cp;
		int extra;

		if (*s < 0x80) {
			cp = *s;
			extra = 0;
		} else if ((*s & 0xE0) == 0xC0) {
			cp = *s & 0x1F;
			extra = 1;
		} else if ((*s & 0xF0) == 0xE0) {
			cp = *s & 0x0F;
			extra = 2;
		} else if ((*s & 0xF8) == 0xF0) {
			cp = *s & 0x07;
			extra = 3;
		} else {
			return MFW_E_INVAL;
		}
		s++;
		for (int k = 0; k < extra; k++, s++) {
			if ((*s & 0xC0) != 0x80)
				return MFW_E_INVAL;
			cp = cp << 6 | (*s & 0x3F);
		}
		if (cp >= 0x10000) {
			if (units + 2 > MFW_GPT_NAME_UNITS)
				return MFW_E_INVAL;
			cp -= 0x10000;
			mfw_put_le16(u16 + 2 * units++, (uint16_t)(0xD800 + (cp >> 10)));
			mfw_put_le16(u16 + 2 * units++, (uint16_t)(0xDC00 + (cp & 0x3FF)));
		} else {
			if (units + 1 > MFW_GPT_NAME_UNITS)
				return MFW_E_INVAL;
			mfw_put_le16(u16 + 2 * units++, (uint16_t)cp);
		}
	}
	return 0;
}

void mfw_gpt_guid_from_name(const char *name, uint8_t guid[16])
{
	uint8_t md[MFW_HASH_SHA256_LEN];
	char buf[160];
	int n = snprintf(buf, sizeof(buf), "modemfw-gpt:%s", name);

	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (mfw_hash_buf(MFW_HASH_SHA256, buf, (size_t)n, md) < 0) {
		/* libcrypto without SHA-256 cannot happen in practice; stay deterministic anyway. */
		uint32_t c = mfw_crc32(0, buf, (size_t)n);

		for (size_t i = 0; i < sizeof(md); i++)
			md[i] = (uint8_t)(c >> (8 * (i % 4))) ^ (uint8_t)i;
	}
	memcpy(guid, md, 16);
	/* On disk the version nibble is the high nibble of byte 7 (data3 is little-endian). */
	guid[7] = (uint8_t)((guid[7] & 0x0F) | 0x40);
	guid[8] = (uint8_t)((guid[8] & 0x3F) | 0x80);
}

/* ---- parse ---- */

static bool guid_zero(const uint8_t *g)
{
	for (int i = 0; i < 16; i++)
		if (g[i])
			return false;
	return true;
}

static int parse_hdr(struct mfw_ctx *ctx, const uint8_t *sec, uint32_t ss, unsigned flags,
		     const char *which, struct mfw_gpt *g)
{
	uint32_t hsize, crc;
	uint8_t tmp[512];

	if (memcmp(sec, MFW_GPT_SIGNATURE, 8))
		return mfw_fail(ctx, MFW_E_FORMAT, "%s GPT header: no \"EFI PART\" signature", which);
	if (mfw_get_le32(sec + 8) >> 16 != 1)
		return mfw_fail(ctx, MFW_E_FORMAT, "%s GPT header: revision %08x is not 1.x", which,
				mfw_get_le32(sec + 8));
	hsize = mfw_get_le32(sec + 12);
	if (hsize < MFW_GPT_HEADER_SIZE || hsize > ss || hsize > sizeof(tmp))
		return mfw_fail(ctx, MFW_E_FORMAT, "%s GPT header: header size %u out of range", which,
				hsize);
	g->header_crc = mfw_get_le32(sec + 16);
	memcpy(tmp, sec, hsize);
	mfw_put_le32(tmp + 16, 0);
	crc = mfw_crc32(0, tmp, hsize);
	if (!(flags & MFW_GPT_NO_CRC) && crc != g->header_crc)
		return mfw_fail(ctx, MFW_E_FORMAT, "%s GPT header: CRC %08x stored, %08x computed",
				which, g->header_crc, crc);
	g->sector_size = ss;
	g->current_lba = mfw_get_le64(sec + 24);
	g->backup_lba = mfw_get_le64(sec + 32);
	g->first_usable = mfw_get_le64(sec + 40);
	g->last_usable = mfw_get_le64(sec + 48);
	memcpy(g->disk_guid, sec + 56, 16);
	g->entries_lba = mfw_get_le64(sec + 72);
	g->num_entries = mfw_get_le32(sec + 80);
	g->entry_size = mfw_get_le32(sec + 84);
	g->entries_crc = mfw_get_le32(sec + 88);
	if (g->entry_size != MFW_GPT_ENTRY_SIZE)
		return mfw_fail(ctx, MFW_E_FORMAT, "%s GPT header: entry size %u (only %d supported)",
				which, g->entry_size, MFW_GPT_ENTRY_SIZE);
	if (g->num_entries == 0 || g->num_entries > MFW_GPT_NUM_ENTRIES)
		return mfw_fail(ctx, MFW_E_FORMAT, "%s GPT header: %u entries (1..%d supported)",
				which, g->num_entries, MFW_GPT_NUM_ENTRIES);
	/* last_usable 0 is the package form (patched later); otherwise the range must make sense. */
	if (g->last_usable && g->first_usable > g->last_usable)
		return mfw_fail(ctx, MFW_E_FORMAT, "%s GPT header: first usable LBA %llu after last %llu",
				which, (unsigned long long)g->first_usable,
				(unsigned long long)g->last_usable);
	if (!(flags & MFW_GPT_NO_CRC) && !g->last_usable)
		return mfw_fail(ctx, MFW_E_FORMAT, "%s GPT header: last usable LBA is 0", which);
	return 0;
}

static int parse_entries(struct mfw_ctx *ctx, const uint8_t *ents, unsigned flags,
			 const char *which, struct mfw_gpt *g)
{
	size_t bytes = (size_t)g->num_entries * g->entry_size;
	uint32_t crc = mfw_crc32(0, ents, bytes);

	if (!(flags & MFW_GPT_NO_CRC) && crc != g->entries_crc)
		return mfw_fail(ctx, MFW_E_FORMAT, "%s GPT entries: CRC %08x stored, %08x computed",
				which, g->entries_crc, crc);
	g->nparts = 0;
	for (uint32_t i = 0; i < g->num_entries; i++) {
		const uint8_t *e = ents + (size_t)i * g->entry_size;
		struct mfw_gpt_part *p;

		if (guid_zero(e))
			continue;
		p = &g->parts[g->nparts];
		p->index = i;
		memcpy(p->type_guid, e, 16);
		memcpy(p->unique_guid, e + 16, 16);
		p->first_lba = mfw_get_le64(e + 32);
		p->last_lba = mfw_get_le64(e + 40);
		p->attrs = mfw_get_le64(e + 48);
		name_decode(e + 56, p->name, sizeof(p->name));
		/* Package form leaves the last partition's end at 0 for patch0.xml. */
		if (p->last_lba == 0 && (flags & MFW_GPT_NO_CRC)) {
			g->nparts++;
			continue;
		}
		if (p->first_lba > p->last_lba)
			return mfw_fail(ctx, MFW_E_FORMAT, "%s GPT entry %u '%s': first LBA %llu after last %llu",
					which, i + 1, p->name, (unsigned long long)p->first_lba,
					(unsigned long long)p->last_lba);
		if (g->last_usable && (p->first_lba < g->first_usable || p->last_lba > g->last_usable))
			return mfw_fail(ctx, MFW_E_FORMAT,
					"%s GPT entry %u '%s': LBAs %llu-%llu outside the usable %llu-%llu",
					which, i + 1, p->name, (unsigned long long)p->first_lba,
					(unsigned long long)p->last_lba, (unsigned long long)g->first_usable,
					(unsigned long long)g->last_usable);
		for (size_t k = 0; k < g->nparts; k++) {
			const struct mfw_gpt_part *q = &g->parts[k];

			if (q->last_lba == 0 && (flags & MFW_GPT_NO_CRC))
				continue;
			if (p->first_lba <= q->last_lba && q->first_lba <= p->last_lba)
				return mfw_fail(ctx, MFW_E_FORMAT, "%s GPT entry %u '%s' overlaps entry %u '%s'",
						which, i + 1, p->name, q->index + 1, q->name);
		}
		g->nparts++;
	}
	return 0;
}

int mfw_gpt_parse(struct mfw_ctx *ctx, const void *buf, size_t len, uint32_t sector_size,
		  unsigned flags, struct mfw_gpt *out)
{
	const uint8_t *d = buf;
	uint64_t off;
	size_t bytes;
	int r;

	memset(out, 0, sizeof(*out));
	if (!sector_size_ok(sector_size))
		return mfw_fail(ctx, MFW_E_INVAL, "GPT sector size %u (512 or 4096 supported)", sector_size);
	if (len < 2 * (size_t)sector_size)
		return mfw_fail(ctx, MFW_E_FORMAT, "GPT image of %zu bytes is shorter than two sectors", len);
	if (!(flags & MFW_GPT_NO_MBR)) {
		bool found = false;

		if (d[510] != 0x55 || d[511] != 0xAA)
			return mfw_fail(ctx, MFW_E_FORMAT, "GPT: LBA 0 has no MBR signature 55 AA");
		for (int i = 0; i < 4; i++)
			found |= d[446 + 16 * i + 4] == 0xEE;
		if (!found)
			return mfw_fail(ctx, MFW_E_FORMAT, "GPT: MBR has no protective (0xEE) partition");
	}
	r = parse_hdr(ctx, d + sector_size, sector_size, flags, "primary", out);
	if (r < 0)
		return r;
	if (out->current_lba != 1)
		return mfw_fail(ctx, MFW_E_FORMAT, "primary GPT header: says it is at LBA %llu, not 1",
				(unsigned long long)out->current_lba);
	bytes = (size_t)out->num_entries * out->entry_size;
	if (out->entries_lba < 2 || out->entries_lba > len / sector_size)
		return mfw_fail(ctx, MFW_E_FORMAT, "primary GPT header: entries at LBA %llu, outside the image",
				(unsigned long long)out->entries_lba);
	off = out->entries_lba * sector_size;
	if (off > len || len - off < bytes)
		return mfw_fail(ctx, MFW_E_FORMAT, "primary GPT entries at LBA %llu run past the %zu-byte image",
				(unsigned long long)out->entries_lba, len);
	return parse_entries(ctx, d + off, flags, "primary", out);
}

int mfw_gpt_parse_backup(struct mfw_ctx *ctx, const void *buf, size_t len, uint32_t sector_size,
			 unsigned flags, struct mfw_gpt *out)
{
	const uint8_t *d = buf;
	uint32_t es;
	int r;

	memset(out, 0, sizeof(*out));
	if (!sector_size_ok(sector_size))
		return mfw_fail(ctx, MFW_E_INVAL, "GPT sector size %u (512 or 4096 supported)", sector_size);
	es = mfw_gpt_entry_sectors(sector_size);
	if (len < (size_t)(es + 1) * sector_size)
		return mfw_fail(ctx, MFW_E_FORMAT, "backup GPT image of %zu bytes is shorter than %u sectors",
				len, es + 1);
	r = parse_hdr(ctx, d + len - sector_size, sector_size, flags, "backup", out);
	if (r < 0)
		return r;
	/* The entries must sit right before the header, which is all this buffer holds. */
	if (out->current_lba && out->entries_lba + es != out->current_lba)
		return mfw_fail(ctx, MFW_E_FORMAT, "backup GPT header at LBA %llu: entries at LBA %llu, expected %llu",
				(unsigned long long)out->current_lba, (unsigned long long)out->entries_lba,
				(unsigned long long)out->current_lba - es);
	if (!(flags & MFW_GPT_NO_CRC) && out->backup_lba != 1)
		return mfw_fail(ctx, MFW_E_FORMAT, "backup GPT header: primary at LBA %llu, not 1",
				(unsigned long long)out->backup_lba);
	return parse_entries(ctx, d + len - (size_t)(es + 1) * sector_size, flags, "backup", out);
}

int mfw_gpt_parse_disk(struct mfw_ctx *ctx, const void *disk, size_t len, uint32_t sector_size,
		       struct mfw_gpt *out)
{
	struct mfw_gpt *b = NULL;
	uint64_t hoff;
	size_t start, blen;
	int r;

	r = mfw_gpt_parse(ctx, disk, len, sector_size, 0, out);
	if (r < 0)
		return r;
	if (out->backup_lba > len / sector_size - 1)
		return mfw_fail(ctx, MFW_E_FORMAT, "primary GPT header: backup at LBA %llu, past the %zu-sector disk",
				(unsigned long long)out->backup_lba, len / sector_size);
	hoff = out->backup_lba * sector_size;
	blen = (size_t)(mfw_gpt_entry_sectors(sector_size) + 1) * sector_size;
	if (hoff + sector_size < blen)
		return mfw_fail(ctx, MFW_E_FORMAT, "primary GPT header: backup at LBA %llu leaves no room for entries",
				(unsigned long long)out->backup_lba);
	start = (size_t)(hoff + sector_size - blen);
	b = malloc(sizeof(*b));
	if (!b)
		return MFW_E_NOMEM;
	r = mfw_gpt_parse_backup(ctx, (const uint8_t *)disk + start, blen, sector_size, 0, b);
	if (r < 0)
		goto free_backup;
	if (b->current_lba != out->backup_lba || b->first_usable != out->first_usable ||
	    b->last_usable != out->last_usable || b->entries_crc != out->entries_crc ||
	    b->nparts != out->nparts || memcmp(b->disk_guid, out->disk_guid, 16)) {
		r = mfw_fail(ctx, MFW_E_FORMAT, "backup GPT does not match the primary");
		goto free_backup;
	}
free_backup:
	free(b);
	return r;
}

const struct mfw_gpt_part *mfw_gpt_find(const struct mfw_gpt *g, const char *name)
{
	for (size_t i = 0; i < g->nparts; i++)
		if (!strcmp(g->parts[i].name, name))
			return &g->parts[i];
	for (size_t i = 0; i < g->nparts; i++)
		if (!strcasecmp(g->parts[i].name, name))
			return &g->parts[i];
	return NULL;
}

/* ---- build ---- */

static int put_entries(struct mfw_ctx *ctx, const struct mfw_gpt *g, uint8_t *ents)
{
	memset(ents, 0, MFW_GPT_ENTRIES_BYTES);
	for (size_t i = 0; i < g->nparts; i++) {
		const struct mfw_gpt_part *p = &g->parts[i];
		uint8_t *e;

		if (p->index >= MFW_GPT_NUM_ENTRIES)
			return mfw_fail(ctx, MFW_E_RANGE, "GPT partition '%s' in slot %u (at most %d)",
					p->name, p->index, MFW_GPT_NUM_ENTRIES);
		e = ents + (size_t)p->index * MFW_GPT_ENTRY_SIZE;
		memcpy(e, p->type_guid, 16);
		memcpy(e + 16, p->unique_guid, 16);
		mfw_put_le64(e + 32, p->first_lba);
		mfw_put_le64(e + 40, p->last_lba);
		mfw_put_le64(e + 48, p->attrs);
		if (name_encode(p->name, e + 56) < 0)
			return mfw_fail(ctx, MFW_E_INVAL, "GPT partition name '%.40s' is not UTF-8 of at most 36 UTF-16 units",
					p->name);
	}
	return 0;
}

static void put_header(const struct mfw_gpt *g, uint8_t *sec, uint64_t current, uint64_t other,
		       uint64_t entries_lba, uint32_t entries_crc, bool package)
{
	memset(sec, 0, g->sector_size);
	memcpy(sec, MFW_GPT_SIGNATURE, 8);
	mfw_put_le32(sec + 8, MFW_GPT_REVISION);
	mfw_put_le32(sec + 12, MFW_GPT_HEADER_SIZE);
	mfw_put_le64(sec + 24, current);
	mfw_put_le64(sec + 32, other);
	mfw_put_le64(sec + 40, g->first_usable);
	mfw_put_le64(sec + 48, g->last_usable);
	memcpy(sec + 56, g->disk_guid, 16);
	mfw_put_le64(sec + 72, entries_lba);
	mfw_put_le32(sec + 80, MFW_GPT_NUM_ENTRIES);
	mfw_put_le32(sec + 84, MFW_GPT_ENTRY_SIZE);
	mfw_put_le32(sec + 88, package ? 0 : entries_crc);
	mfw_put_le32(sec + 16, package ? 0 : mfw_crc32(0, sec, MFW_GPT_HEADER_SIZE));
}

/* The LBA of the backup header, whichever view g was parsed in. */
static uint64_t alt_lba(const struct mfw_gpt *g)
{
	return g->current_lba > 1 ? g->current_lba : g->backup_lba;
}

int mfw_gpt_build_primary(struct mfw_ctx *ctx, const struct mfw_gpt *g, uint64_t disk_sectors,
			  uint8_t *out, size_t cap)
{
	uint32_t ss = g->sector_size;
	size_t size;
	bool package = g->last_usable == 0;
	uint8_t *mbr;
	int r;

	if (!sector_size_ok(ss))
		return mfw_fail(ctx, MFW_E_INVAL, "GPT sector size %u (512 or 4096 supported)", ss);
	size = mfw_gpt_primary_size(ss);
	if (cap < size)
		return mfw_fail(ctx, MFW_E_RANGE, "primary GPT needs %zu bytes, buffer has %zu", size, cap);
	memset(out, 0, size);
	mbr = out;
	/* Protective MBR: one 0xEE partition from LBA 1 over the whole disk (capped at 32 bits). */
	mbr[446 + 1] = 0x00;
	mbr[446 + 2] = 0x02;
	mbr[446 + 3] = 0x00;
	mbr[446 + 4] = 0xEE;
	mbr[446 + 5] = 0xFF;
	mbr[446 + 6] = 0xFF;
	mbr[446 + 7] = 0xFF;
	mfw_put_le32(mbr + 446 + 8, 1);
	mfw_put_le32(mbr + 446 + 12, disk_sectors && disk_sectors - 1 < 0xFFFFFFFFu ?
			(uint32_t)(disk_sectors - 1) : 0xFFFFFFFFu);
	mbr[510] = 0x55;
	mbr[511] = 0xAA;
	r = put_entries(ctx, g, out + 2 * (size_t)ss);
	if (r < 0)
		return r;
	put_header(g, out + ss, 1, alt_lba(g), 2,
		   mfw_crc32(0, out + 2 * (size_t)ss, MFW_GPT_ENTRIES_BYTES), package);
	return (int)size;
}

int mfw_gpt_build_backup(struct mfw_ctx *ctx, const struct mfw_gpt *g, uint8_t *out, size_t cap)
{
	uint32_t ss = g->sector_size;
	uint32_t es;
	size_t size;
	bool package = g->last_usable == 0;
	uint64_t alt, entries_lba;
	int r;

	if (!sector_size_ok(ss))
		return mfw_fail(ctx, MFW_E_INVAL, "GPT sector size %u (512 or 4096 supported)", ss);
	es = mfw_gpt_entry_sectors(ss);
	size = mfw_gpt_backup_size(ss);
	if (cap < size)
		return mfw_fail(ctx, MFW_E_RANGE, "backup GPT needs %zu bytes, buffer has %zu", size, cap);
	alt = alt_lba(g);
	if (!package && alt <= es + 1)
		return mfw_fail(ctx, MFW_E_RANGE, "backup GPT header at LBA %llu leaves no room for entries",
				(unsigned long long)alt);
	entries_lba = package ? 0 : alt - es;
	memset(out, 0, size);
	r = put_entries(ctx, g, out);
	if (r < 0)
		return r;
	put_header(g, out + (size_t)es * ss, package ? 0 : alt, 1, entries_lba,
		   mfw_crc32(0, out, MFW_GPT_ENTRIES_BYTES), package);
	return (int)size;
}

/* docs/formats.md, "Canonical eMMC layout", in 512-byte sectors; 0 sectors = to the last usable LBA. */
static const struct {
	const char *name;
	uint64_t first;
	uint64_t sectors;
} canonical[] = {
	{ "sbl1", 2048, 2048 },
	{ "rpm", 4096, 1024 },
	{ "tz", 6144, 4096 },
	{ "aboot", 10240, 2048 },
	{ "boot", 12288, 65536 },
	{ "modemst1", 77824, 4096 },
	{ "modemst2", 81920, 4096 },
	{ "fsg", 86016, 4096 },
	{ "fsc", 90112, 256 },
	{ "persist", 92160, 65536 },
	{ "modem", 157696, 262144 },
	{ "system", 419840, 2097152 },
	{ "userdata", 2516992, 0 },
};

int mfw_gpt_canonical(struct mfw_ctx *ctx, uint32_t sector_size, uint64_t disk_sectors,
		      enum mfw_gpt_form form, struct mfw_gpt *out)
{
	uint32_t scale, es;

	memset(out, 0, sizeof(*out));
	if (!sector_size_ok(sector_size))
		return mfw_fail(ctx, MFW_E_INVAL, "GPT sector size %u (512 or 4096 supported)", sector_size);
	scale = sector_size / 512;
	es = mfw_gpt_entry_sectors(sector_size);
	out->sector_size = sector_size;
	out->current_lba = 1;
	out->first_usable = 2 + es;
	out->entries_lba = 2;
	out->num_entries = MFW_GPT_NUM_ENTRIES;
	out->entry_size = MFW_GPT_ENTRY_SIZE;
	mfw_gpt_guid_from_name("disk", out->disk_guid);
	if (form == MFW_GPT_FORM_DEVICE) {
		uint64_t min = canonical[MFW_ARRAY_SIZE(canonical) - 1].first / scale + 2 + es + 1;

		if (disk_sectors < min)
			return mfw_fail(ctx, MFW_E_RANGE, "a %llu-sector disk is too small for the canonical layout (at least %llu)",
					(unsigned long long)disk_sectors, (unsigned long long)min);
		out->backup_lba = disk_sectors - 1;
		out->last_usable = disk_sectors - 2 - es;
	}
	for (size_t i = 0; i < MFW_ARRAY_SIZE(canonical); i++) {
		struct mfw_gpt_part *p = &out->parts[i];

		p->index = (unsigned)i;
		memcpy(p->type_guid, mfw_gpt_type_basic_data, 16);
		mfw_gpt_guid_from_name(canonical[i].name, p->unique_guid);
		snprintf(p->name, sizeof(p->name), "%s", canonical[i].name);
		p->first_lba = canonical[i].first / scale;
		/* The open-ended last partition ends where patch0.xml says: NUM_DISK_SECTORS-34. */
		if (canonical[i].sectors)
			p->last_lba = p->first_lba + canonical[i].sectors / scale - 1;
		else
			p->last_lba = out->last_usable;
	}
	out->nparts = MFW_ARRAY_SIZE(canonical);
	return 0;
}
