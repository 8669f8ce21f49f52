/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The image a new module leaves the factory with: partition table (MIBIB on
 * NAND, GPT on eMMC, both in device form), recognisable content in the boot
 * and firmware partitions, and the radio identity (an NV store holding the
 * IMEI, other NV items and an EFS tree; nvstore.c) in EFS2 / modemst1 /
 * modemst2 / fsg. Everything else stays erased.
 * Formats: docs/formats.md (tables) and docs/emulator.md (NV store, content).
 */
#include "emu-internal.h"
#include "fmt/gpt.h"
#include "fmt/mibib.h"
#include "util/bytes.h"
#include "util/crc.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NV_IMEI_LEN 128u

/* How much recognisable content a factory partition gets (the rest stays erased). */
#define NAND_CONTENT_MAX (256u * 1024u)
#define EMMC_CONTENT_MAX (64u * 1024u)

int emu_nv_imei_encode(const char *imei, uint8_t out[128])
{
	uint8_t d[15];

	if (!imei || strlen(imei) != 15)
		return MFW_E_INVAL;
	for (int i = 0; i < 15; i++) {
		if (!isdigit((unsigned char)imei[i]))
			return MFW_E_INVAL;
		d[i] = (uint8_t)(imei[i] - '0');
	}
	memset(out, 0, NV_IMEI_LEN);
	/* reference diag.md §3.1: length 8, digit 1 with the IMEI type nibble, then swapped BCD */
	out[0] = 0x08;
	out[1] = (uint8_t)(d[0] << 4 | 0x0A);
	for (int k = 0; k < 7; k++)
		out[2 + k] = (uint8_t)(d[1 + 2 * k] | d[2 + 2 * k] << 4);
	return 0;
}

/* Content of a factory partition: a text header naming it, then a pattern seeded by the name. */
static void fill_content(uint8_t *buf, size_t len, const char *name)
{
	uint32_t seed = mfw_crc32(0, name, strlen(name));
	int n;

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 131u + (i >> 12) * 7u + (seed >> (i % 24)));
	n = snprintf((char *)buf, len, "MODEMFW FACTORY IMAGE\npartition: %s\n", name);
	if (n > 0 && (size_t)n < len)
		buf[n] = '\0';
}

static bool nand_has_content(const char *name)
{
	static const char *const names[] = {
		"SBL", "TZ", "RPM", "aboot", "boot", "modem", "recovery", "recoveryfs", "system",
	};
	for (size_t i = 0; i < MFW_ARRAY_SIZE(names); i++)
		if (!strcasecmp(name, names[i]))
			return true;
	return false;
}

static bool emmc_has_content(const char *name)
{
	static const char *const names[] = {
		"sbl1", "rpm", "tz", "aboot", "boot", "modem", "system", "persist",
	};
	for (size_t i = 0; i < MFW_ARRAY_SIZE(names); i++)
		if (!strcasecmp(name, names[i]))
			return true;
	return false;
}

/* Write data into a NAND partition the way the programmer does: page by page, skipping bad blocks. */
static int nand_put(struct emu_store *st, uint64_t first, uint64_t end, const uint8_t *data,
		    size_t len)
{
	struct emu_nand_cursor c;
	uint64_t pages = (len + st->sector - 1) / st->sector;
	uint8_t *page;
	int r;

	r = emu_nand_cursor_init(st, &c, first, end, 0, false);
	if (r < 0)
		return r;
	page = malloc(st->sector);
	if (!page)
		return MFW_E_NOMEM;
	while (pages) {
		uint64_t phys, n = emu_nand_cursor_run(st, &c, pages, &phys);
		if (!n) {
			r = MFW_E_NOSPC;
			break;
		}
		/* whole pages straight from data; the last partial page padded with 0xFF */
		uint64_t whole = n;
		if (len < n * st->sector)
			whole = len / st->sector;
		if (whole) {
			r = emu_store_write(st, phys * st->sector, data, whole * st->sector);
			if (r < 0)
				break;
		}
		if (whole < n) {
			memset(page, 0xFF, st->sector);
			memcpy(page, data + whole * st->sector, len - whole * st->sector);
			r = emu_store_write(st, (phys + whole) * st->sector, page, st->sector);
			if (r < 0)
				break;
			len = 0;
			pages = 0;
			break;
		}
		data += n * st->sector;
		len -= n * st->sector;
		pages -= n;
	}
	free(page);
	return r;
}

static int factory_nand(struct mfw_ctx *ctx, struct emu_store *st, const struct mfw_emu_config *cfg)
{
	struct mfw_mibib_part parts[MFW_MIBIB_MAX_PARTS];
	const struct mfw_mibib_part *canon;
	size_t ncanon, n = 0;
	size_t mibib_len = (size_t)MFW_MIBIB_PAGES * st->sector;
	uint8_t *buf;
	int r;

	canon = mfw_mibib_canonical(&ncanon);
	/* a smaller chip than the canonical 512 MiB keeps the partitions that fit; the last runs to the end */
	for (size_t i = 0; i < ncanon && n < MFW_MIBIB_MAX_PARTS; i++) {
		if (canon[i].offset >= st->nblocks)
			break;
		parts[n] = canon[i];
		if (parts[n].length != MFW_MIBIB_TO_END &&
		    (uint64_t)parts[n].offset + parts[n].length >= st->nblocks)
			parts[n].length = MFW_MIBIB_TO_END;
		if (parts[n++].length == MFW_MIBIB_TO_END)
			break;
	}
	if (n < 3)
		return mfw_fail(ctx, MFW_E_RANGE,
				"a %u-block NAND is too small for the factory partition table",
				st->nblocks);

	buf = malloc(NAND_CONTENT_MAX > mibib_len ? NAND_CONTENT_MAX : mibib_len);
	if (!buf)
		return MFW_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *name = parts[i].name;
		uint64_t first = (uint64_t)parts[i].offset * st->ppb;
		uint64_t blocks = parts[i].length == MFW_MIBIB_TO_END ?
			st->nblocks - parts[i].offset : parts[i].length;
		uint64_t end = first + blocks * st->ppb;
		uint64_t size = blocks * st->block;

		if (!strncmp(name, "0:", 2))
			name += 2;
		if (!strcasecmp(name, "MIBIB")) {
			r = mfw_mibib_build(ctx, st->sector, parts, n, st->nblocks,
					    MFW_MIBIB_FORM_DEVICE, buf, mibib_len);
			if (r >= 0)
				r = nand_put(st, first, end, buf, (size_t)r);
		} else if (!strcasecmp(name, "EFS2")) {
			r = emu_nv_store_build(cfg->imei, buf, EMU_NV_STORE_MAX);
			if (r >= 0)
				r = nand_put(st, first, end, buf, (size_t)r);
		} else if (nand_has_content(name)) {
			size_t len = size < NAND_CONTENT_MAX ? (size_t)size : NAND_CONTENT_MAX;
			fill_content(buf, len, name);
			r = nand_put(st, first, end, buf, len);
		} else {
			r = 0;
		}
		if (r < 0) {
			r = mfw_fail_keep(ctx, r, "factory image: cannot write partition '%s': %s",
					  name, mfw_strerror(r));
			break;
		}
	}
	free(buf);
	return r < 0 ? r : 0;
}

static int factory_emmc(struct mfw_ctx *ctx, struct emu_store *st, const struct mfw_emu_config *cfg)
{
	struct mfw_gpt *g;
	size_t prim = mfw_gpt_primary_size(st->sector), back = mfw_gpt_backup_size(st->sector);
	size_t cap = prim > EMMC_CONTENT_MAX ? prim : EMMC_CONTENT_MAX;
	uint8_t *buf;
	int r;

	g = calloc(1, sizeof(*g));
	buf = malloc(cap > back ? cap : back);
	if (!g || !buf) {
		r = MFW_E_NOMEM;
		goto out_free;
	}
	r = mfw_gpt_canonical(ctx, st->sector, st->nsectors, MFW_GPT_FORM_DEVICE, g);
	if (r < 0) {
		r = mfw_fail_keep(ctx, r, "a %" PRIu64 "-sector eMMC is too small for the factory GPT",
				  st->nsectors);
		goto out_free;
	}
	r = mfw_gpt_build_primary(ctx, g, st->nsectors, buf, prim);
	if (r >= 0)
		r = emu_store_write(st, 0, buf, (size_t)r);
	if (r >= 0)
		r = mfw_gpt_build_backup(ctx, g, buf, back);
	if (r >= 0)
		r = emu_store_write(st, st->size - (uint64_t)r, buf, (size_t)r);
	if (r < 0) {
		r = mfw_fail_keep(ctx, r, "factory image: cannot write the GPT: %s", mfw_strerror(r));
		goto out_free;
	}
	for (size_t i = 0; i < g->nparts; i++) {
		const struct mfw_gpt_part *p = &g->parts[i];
		uint64_t off = p->first_lba * st->sector;
		uint64_t size = (p->last_lba - p->first_lba + 1) * st->sector;

		r = 0;
		if (!strcasecmp(p->name, "modemst1") || !strcasecmp(p->name, "modemst2") ||
		    !strcasecmp(p->name, "fsg")) {
			r = emu_nv_store_build(cfg->imei, buf, EMU_NV_STORE_MAX);
			if (r >= 0)
				r = emu_store_write(st, off, buf, (size_t)r);
		} else if (emmc_has_content(p->name)) {
			size_t len = size < EMMC_CONTENT_MAX ? (size_t)size : EMMC_CONTENT_MAX;
			fill_content(buf, len, p->name);
			r = emu_store_write(st, off, buf, len);
		}
		if (r < 0) {
			r = mfw_fail_keep(ctx, r, "factory image: cannot write partition '%s': %s",
					  p->name, mfw_strerror(r));
			goto out_free;
		}
	}
	r = 0;
out_free:
	free(buf);
	free(g);
	return r;
}

int emu_factory_build(struct mfw_ctx *ctx, struct emu_store *st, const struct mfw_emu_config *cfg)
{
	if (st->nand)
		return factory_nand(ctx, st, cfg);
	return factory_emmc(ctx, st, cfg);
}
