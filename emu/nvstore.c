/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The NV store: numbered NV items and the EFS2 tree of the virtual modem,
 * their blob form (docs/emulator.md, "NV store format") and where that blob
 * lives on the device (first good block of 0:EFS2 on NAND; modemst1 and
 * modemst2 on eMMC, with fsg as the golden copy read when both are gone).
 */
#include "nvstore.h"
#include "emu-internal.h"
#include "fmt/gpt.h"
#include "fmt/mibib.h"
#include "util/bytes.h"
#include "util/crc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NV_MAGIC "MFWNV001"
#define EFS_MAGIC "MFWEFS01"
#define SECTION_HDR 16u   /* magic, u32 count, u32 bytes */
#define SECTION_CRC 4u
#define NV_REC_HDR 6u     /* u16 item, u16 index, u16 len */
#define EFS_REC_HDR 14u   /* u32 mode, u32 mtime, u32 size, u16 path length */
/* The programmer looks for the MIBIB in these first blocks; so do we. */
#define MIBIB_SCAN_BLOCKS 64u
/* Factory files' time stamp: the firmware's build day (2021-03-29 UTC). */
#define FACTORY_MTIME 1616976000u

void emu_nvstore_init(struct emu_nvstore *s)
{
	memset(s, 0, sizeof(*s));
	s->capacity = EMU_NVSTORE_CAP_MAX;
}

static void efs_clear(struct emu_nvstore *s)
{
	for (size_t i = 0; i < s->n_efs; i++) {
		free(s->efs[i].path);
		free(s->efs[i].data);
	}
	free(s->efs);
	s->efs = NULL;
	s->n_efs = s->cap_efs = 0;
}

void emu_nvstore_free(struct emu_nvstore *s)
{
	free(s->nv);
	s->nv = NULL;
	s->n_nv = s->cap_nv = 0;
	efs_clear(s);
	s->present = false;
}

/* ---- NV items ---- */

static struct emu_nv_item *nv_find(const struct emu_nvstore *s, uint16_t item, uint16_t index)
{
	for (size_t i = 0; i < s->n_nv; i++)
		if (s->nv[i].item == item && s->nv[i].index == index)
			return &s->nv[i];
	return NULL;
}

int emu_nv_get(const struct emu_nvstore *s, uint16_t item, uint16_t index,
	       uint8_t out[EMU_NV_DATA])
{
	const struct emu_nv_item *it = nv_find(s, item, index);

	memset(out, 0, EMU_NV_DATA);
	if (!it)
		return MFW_E_NOENT;
	memcpy(out, it->data, it->len);
	return 0;
}

/* Bytes that matter: up to the last non-zero one, at least one (an item of zeros is still written). */
static uint16_t nv_used(const uint8_t *data)
{
	uint16_t n = EMU_NV_DATA;

	while (n > 1 && !data[n - 1])
		n--;
	return n;
}

int emu_nv_set(struct emu_nvstore *s, uint16_t item, uint16_t index,
	       const uint8_t data[EMU_NV_DATA])
{
	struct emu_nv_item *it = nv_find(s, item, index);
	uint16_t used = nv_used(data);

	if (!it) {
		if (s->n_nv >= EMU_NV_MAX_ITEMS)
			return MFW_E_NOSPC;
		if (s->n_nv == s->cap_nv) {
			size_t ncap = s->cap_nv ? s->cap_nv * 2 : 16;
			struct emu_nv_item *n = realloc(s->nv, ncap * sizeof(*n));
			if (!n)
				return MFW_E_NOMEM;
			s->nv = n;
			s->cap_nv = ncap;
		}
		/* new items go last: the factory's NV 550 stays the first record */
		it = &s->nv[s->n_nv++];
		it->item = item;
		it->index = index;
		it->len = used;
	} else if (used > it->len) {
		/* an item keeps its size (like a firmware's item table); it only grows to fit data */
		it->len = used;
	}
	memset(it->data, 0, EMU_NV_DATA);
	memcpy(it->data, data, it->len);
	return 0;
}

/* ---- EFS tree ---- */

int emu_efs_normalise(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	const char *p = in;

	if (!in || in[0] != '/')
		return EMU_FS_DIAG_INVALID_PATH;
	while (*p) {
		const char *c;
		size_t n;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		c = p;
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - c);
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return EMU_FS_DIAG_INVALID_PATH;
		if (n > EMU_EFS_NAME_MAX)
			return EMU_ENAMETOOLONG;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
				return EMU_FS_DIAG_INVALID_PATH;
		if (o + 1 + n >= cap || o + 1 + n > EMU_EFS_PATH_MAX)
			return EMU_FS_DIAG_PATH_TOO_LONG;
		out[o++] = '/';
		memcpy(out + o, c, n);
		o += n;
	}
	if (!o) {
		if (cap < 2)
			return EMU_FS_DIAG_PATH_TOO_LONG;
		out[o++] = '/';
	}
	out[o] = 0;
	return 0;
}

/* Index of path in the sorted node array, or where it would go (*found false). */
static size_t efs_lookup(const struct emu_nvstore *s, const char *path, bool *found)
{
	size_t lo = 0, hi = s->n_efs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->efs[mid].path, path);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

struct emu_efs_node *emu_efs_find(const struct emu_nvstore *s, const char *path)
{
	bool found;
	size_t i = efs_lookup(s, path, &found);

	return found ? &s->efs[i] : NULL;
}

static bool is_dir(uint32_t mode)
{
	return (mode & EMU_EFS_S_IFMT) == EMU_EFS_S_IFDIR;
}

int emu_efs_parent_ok(const struct emu_nvstore *s, const char *path)
{
	char parent[EMU_EFS_PATH_MAX + 1];
	const char *slash = strrchr(path, '/');
	const struct emu_efs_node *n;
	size_t len;

	if (!slash || slash == path)
		return 0; /* under the root */
	len = (size_t)(slash - path);
	memcpy(parent, path, len);
	parent[len] = 0;
	n = emu_efs_find(s, parent);
	if (!n)
		return EMU_ENOENT;
	return is_dir(n->mode) ? 0 : EMU_ENOTDIR;
}

int emu_efs_add(struct emu_nvstore *s, const char *path, uint32_t mode, struct emu_efs_node **ret)
{
	bool found;
	size_t i = efs_lookup(s, path, &found);
	char *p;

	if (found)
		return MFW_E_EXIST;
	if (s->n_efs >= EMU_EFS_MAX_NODES)
		return MFW_E_NOSPC;
	if (s->n_efs == s->cap_efs) {
		size_t ncap = s->cap_efs ? s->cap_efs * 2 : 32;
		struct emu_efs_node *n = realloc(s->efs, ncap * sizeof(*n));
		if (!n)
			return MFW_E_NOMEM;
		s->efs = n;
		s->cap_efs = ncap;
	}
	p = strdup(path);
	if (!p)
		return MFW_E_NOMEM;
	memmove(&s->efs[i + 1], &s->efs[i], (s->n_efs - i) * sizeof(s->efs[0]));
	s->efs[i] = (struct emu_efs_node){ .path = p, .mode = mode, .mtime = (uint32_t)time(NULL) };
	s->n_efs++;
	if (ret)
		*ret = &s->efs[i];
	return 0;
}

void emu_efs_remove(struct emu_nvstore *s, struct emu_efs_node *n)
{
	size_t i = (size_t)(n - s->efs);

	free(n->path);
	free(n->data);
	memmove(&s->efs[i], &s->efs[i + 1], (s->n_efs - i - 1) * sizeof(s->efs[0]));
	s->n_efs--;
}

/* Is node a direct child of dir? */
static bool child_of(const char *node, const char *dir)
{
	size_t dl = strcmp(dir, "/") ? strlen(dir) : 0;

	if (strncmp(node, dir, dl) || node[dl] != '/')
		return false;
	return !strchr(node + dl + 1, '/');
}

bool emu_efs_has_children(const struct emu_nvstore *s, const char *dir)
{
	for (size_t i = 0; i < s->n_efs; i++)
		if (child_of(s->efs[i].path, dir))
			return true;
	return false;
}

const struct emu_efs_node *emu_efs_child(const struct emu_nvstore *s, const char *dir, size_t k)
{
	for (size_t i = 0; i < s->n_efs; i++) {
		if (!child_of(s->efs[i].path, dir))
			continue;
		if (k-- == 0)
			return &s->efs[i];
	}
	return NULL;
}

/* ---- factory content ---- */

static int factory_file(struct emu_nvstore *s, const char *path, uint32_t mode, const void *data,
			size_t len)
{
	struct emu_efs_node *n;
	int r = emu_efs_add(s, path, mode, &n);

	if (r < 0)
		return r;
	n->mtime = FACTORY_MTIME;
	if (len) {
		n->data = malloc(len);
		if (!n->data)
			return MFW_E_NOMEM;
		memcpy(n->data, data, len);
		n->len = (uint32_t)len;
	}
	return 0;
}

static const char factory_policy[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<!-- modemfw virtual modem: device configuration, single SIM -->\n"
	"<policy name=\"generic\" changelist=\"$Change: 10307362 $\" schema_ver=\"1\" policy_ver=\"22.1.1\">\n"
	"  <initial>\n"
	"    <actions>\n"
	"      <device_configuration num_sims=\"1\" max_active=\"1\">\n"
	"        <config primary=\"C H G W L\" />\n"
	"      </device_configuration>\n"
	"    </actions>\n"
	"  </initial>\n"
	"</policy>\n";

int emu_nvstore_factory(struct emu_nvstore *s, const char *imei)
{
	static const char *const dirs[] = {
		"/nv", "/nv/item_files", "/nv/item_files/modem", "/nv/item_files/modem/mmode",
		"/nv/item_files/rfnv", "/policyman",
	};
	/* a few numbered items with plausible contents (bytes as a module keeps them) */
	static const struct { uint16_t item; uint8_t len; uint8_t data[8]; } items[] = {
		{ 453, 1, { 0x01 } },                                      /* a flag item */
		{ 946, 4, { 0x00, 0x00, 0x20, 0x00 } },                    /* a band mask word */
		{ 1877, 8, { 0x87, 0x03, 0x38, 0x00, 0x00, 0x00, 0x00, 0x00 } }, /* RF band config */
	};
	uint8_t nv[EMU_NV_DATA], *cal = NULL;
	uint32_t seed;
	int r;

	emu_nvstore_free(s);
	r = emu_nv_imei_encode(imei, nv);
	if (r < 0)
		return r;
	/* NV 550 first: its bytes sit at offset 22 of the store (documented, tested) */
	r = emu_nv_set(s, 550, 0, nv);
	if (r == 0)
		nv_find(s, 550, 0)->len = EMU_NV_DATA; /* the whole item, as QPST writes it */
	for (size_t i = 0; i < MFW_ARRAY_SIZE(items) && r == 0; i++) {
		memset(nv, 0, sizeof(nv));
		memcpy(nv, items[i].data, items[i].len);
		r = emu_nv_set(s, items[i].item, 0, nv);
		if (r == 0)
			nv_find(s, items[i].item, 0)->len = items[i].len;
	}
	for (size_t i = 0; i < MFW_ARRAY_SIZE(dirs) && r == 0; i++)
		r = factory_file(s, dirs[i], EMU_EFS_S_IFDIR | 0777, NULL, 0);
	if (r == 0) {
		static const uint8_t usage[1] = { 0x01 }; /* data centric */
		r = factory_file(s, "/nv/item_files/modem/mmode/ue_usage_setting",
				 EMU_EFS_S_IFITM | 0777, usage, sizeof(usage));
	}
	if (r == 0) {
		/* per-unit calibration: a pattern seeded by the IMEI, three 1 KiB chunks and a bit */
		size_t len = 3000;
		cal = malloc(len);
		if (!cal) {
			emu_nvstore_free(s);
			return MFW_E_NOMEM;
		}
		seed = mfw_crc32(0, imei, strlen(imei));
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			cal[i] = (uint8_t)(seed >> 16);
		}
		r = factory_file(s, "/nv/item_files/rfnv/00020001", EMU_EFS_S_IFITM | 0777, cal, len);
		free(cal);
	}
	if (r == 0)
		r = factory_file(s, "/policyman/device_config.xml", EMU_EFS_S_IFREG | 0644,
				 factory_policy, sizeof(factory_policy) - 1);
	if (r < 0) {
		emu_nvstore_free(s);
		return r;
	}
	s->present = true;
	return 0;
}

/* ---- blob ---- */

size_t emu_nvstore_size(const struct emu_nvstore *s)
{
	size_t n = 2 * (SECTION_HDR + SECTION_CRC);

	for (size_t i = 0; i < s->n_nv; i++)
		n += NV_REC_HDR + s->nv[i].len;
	for (size_t i = 0; i < s->n_efs; i++)
		n += EFS_REC_HDR + strlen(s->efs[i].path) + s->efs[i].len;
	return n;
}

int emu_nvstore_encode(const struct emu_nvstore *s, uint8_t **out, size_t *len)
{
	size_t total = emu_nvstore_size(s), o, sec;
	uint8_t *b;

	if (total > s->capacity)
		return MFW_E_NOSPC;
	b = malloc(total);
	if (!b)
		return MFW_E_NOMEM;
	memcpy(b, NV_MAGIC, 8);
	mfw_put_le32(b + 8, (uint32_t)s->n_nv);
	o = SECTION_HDR;
	for (size_t i = 0; i < s->n_nv; i++) {
		const struct emu_nv_item *it = &s->nv[i];
		mfw_put_le16(b + o, it->item);
		mfw_put_le16(b + o + 2, it->index);
		mfw_put_le16(b + o + 4, it->len);
		memcpy(b + o + NV_REC_HDR, it->data, it->len);
		o += NV_REC_HDR + it->len;
	}
	mfw_put_le32(b + 12, (uint32_t)(o - SECTION_HDR));
	mfw_put_le32(b + o, mfw_crc32(0, b, o));
	o += SECTION_CRC;

	sec = o;
	memcpy(b + sec, EFS_MAGIC, 8);
	mfw_put_le32(b + sec + 8, (uint32_t)s->n_efs);
	o += SECTION_HDR;
	for (size_t i = 0; i < s->n_efs; i++) {
		const struct emu_efs_node *n = &s->efs[i];
		size_t pl = strlen(n->path);
		mfw_put_le32(b + o, n->mode);
		mfw_put_le32(b + o + 4, n->mtime);
		mfw_put_le32(b + o + 8, n->len);
		mfw_put_le16(b + o + 12, (uint16_t)pl);
		memcpy(b + o + EFS_REC_HDR, n->path, pl);
		if (n->len)
			memcpy(b + o + EFS_REC_HDR + pl, n->data, n->len);
		o += EFS_REC_HDR + pl + n->len;
	}
	mfw_put_le32(b + sec + 12, (uint32_t)(o - sec - SECTION_HDR));
	mfw_put_le32(b + o, mfw_crc32(0, b + sec, o - sec));
	o += SECTION_CRC;
	*out = b;
	*len = o;
	return 0;
}

/* Check a section's header and CRC; *body / *body_len / *count describe its records. */
static int section(const uint8_t *buf, size_t len, const char *magic, const uint8_t **body,
		   size_t *body_len, uint32_t *count)
{
	uint32_t l;

	if (len < SECTION_HDR + SECTION_CRC || memcmp(buf, magic, 8))
		return MFW_E_FORMAT;
	*count = mfw_get_le32(buf + 8);
	l = mfw_get_le32(buf + 12);
	if (l > len - SECTION_HDR - SECTION_CRC)
		return MFW_E_FORMAT;
	if (mfw_get_le32(buf + SECTION_HDR + l) != mfw_crc32(0, buf, SECTION_HDR + l))
		return MFW_E_FORMAT;
	*body = buf + SECTION_HDR;
	*body_len = l;
	return 0;
}

static int decode_nv(struct emu_nvstore *s, const uint8_t *b, size_t l, uint32_t count)
{
	size_t o = 0;

	if (count > EMU_NV_MAX_ITEMS)
		return MFW_E_FORMAT;
	for (uint32_t i = 0; i < count; i++) {
		uint8_t data[EMU_NV_DATA] = { 0 };
		uint16_t item, index, n;
		int r;

		if (l - o < NV_REC_HDR)
			return MFW_E_FORMAT;
		item = mfw_get_le16(b + o);
		index = mfw_get_le16(b + o + 2);
		n = mfw_get_le16(b + o + 4);
		if (!n || n > EMU_NV_DATA || l - o - NV_REC_HDR < n || nv_find(s, item, index))
			return MFW_E_FORMAT;
		memcpy(data, b + o + NV_REC_HDR, n);
		r = emu_nv_set(s, item, index, data);
		if (r < 0)
			return r;
		/* keep the recorded size, also when it ends in zeros */
		nv_find(s, item, index)->len = n;
		o += NV_REC_HDR + n;
	}
	return o == l ? 0 : MFW_E_FORMAT;
}

static int decode_efs(struct emu_nvstore *s, const uint8_t *b, size_t l, uint32_t count)
{
	char path[EMU_EFS_PATH_MAX + 1], norm[EMU_EFS_PATH_MAX + 1];
	size_t o = 0;

	if (count > EMU_EFS_MAX_NODES)
		return MFW_E_FORMAT;
	for (uint32_t i = 0; i < count; i++) {
		struct emu_efs_node *n;
		uint32_t mode, mtime, size, type;
		uint16_t pl;
		int r;

		if (l - o < EFS_REC_HDR)
			return MFW_E_FORMAT;
		mode = mfw_get_le32(b + o);
		mtime = mfw_get_le32(b + o + 4);
		size = mfw_get_le32(b + o + 8);
		pl = mfw_get_le16(b + o + 12);
		o += EFS_REC_HDR;
		type = mode & EMU_EFS_S_IFMT;
		if (!pl || pl > EMU_EFS_PATH_MAX || l - o < pl || size > EMU_EFS_FILE_MAX ||
		    l - o - pl < size || (type == EMU_EFS_S_IFDIR && size) ||
		    (type != EMU_EFS_S_IFDIR && type != EMU_EFS_S_IFREG && type != EMU_EFS_S_IFITM))
			return MFW_E_FORMAT;
		memcpy(path, b + o, pl);
		path[pl] = 0;
		/* only normalised paths whose parent came first (sorted order) */
		if (memchr(path, 0, pl) || emu_efs_normalise(path, norm, sizeof(norm)) ||
		    strcmp(path, norm) || !strcmp(path, "/") || emu_efs_parent_ok(s, path))
			return MFW_E_FORMAT;
		if (s->n_efs && strcmp(s->efs[s->n_efs - 1].path, path) >= 0)
			return MFW_E_FORMAT;
		r = emu_efs_add(s, path, mode, &n);
		if (r < 0)
			return r == MFW_E_EXIST ? MFW_E_FORMAT : r;
		n->mtime = mtime;
		if (size) {
			n->data = malloc(size);
			if (!n->data)
				return MFW_E_NOMEM;
			memcpy(n->data, b + o + pl, size);
			n->len = size;
		}
		o += pl + size;
	}
	return o == l ? 0 : MFW_E_FORMAT;
}

int emu_nvstore_decode(struct emu_nvstore *s, const uint8_t *buf, size_t len)
{
	const uint8_t *body;
	size_t blen, used;
	uint32_t count;
	int r;

	emu_nvstore_free(s);
	r = section(buf, len, NV_MAGIC, &body, &blen, &count);
	if (r == 0)
		r = decode_nv(s, body, blen, count);
	if (r < 0)
		goto fail;
	used = SECTION_HDR + blen + SECTION_CRC;
	/* a store written before the EFS section existed has an empty tree */
	if (len - used >= 8 && !memcmp(buf + used, EFS_MAGIC, 8)) {
		r = section(buf + used, len - used, EFS_MAGIC, &body, &blen, &count);
		if (r == 0)
			r = decode_efs(s, body, blen, count);
		if (r < 0)
			goto fail;
	}
	s->present = true;
	return 0;
fail:
	emu_nvstore_free(s);
	return r == MFW_E_NOMEM ? r : MFW_E_FORMAT;
}

/* ---- where the blob lives ---- */

struct region {
	uint64_t off;
	size_t cap;
};

static int nand_region(struct mfw_ctx *ctx, struct emu_store *st, struct region *out)
{
	size_t len = (size_t)MFW_MIBIB_PAGES * st->sector;
	uint32_t limit = st->nblocks < MIBIB_SCAN_BLOCKS ? st->nblocks : MIBIB_SCAN_BLOCKS;
	struct mfw_mibib *m = NULL;
	uint8_t *buf = NULL;
	uint64_t first, last, phys;
	struct emu_nand_cursor c;
	int r = MFW_E_NOENT;

	if (len > st->block)
		return MFW_E_FORMAT;
	m = malloc(sizeof(*m));
	buf = malloc(len);
	if (!m || !buf) {
		r = MFW_E_NOMEM;
		goto out_free;
	}
	for (uint32_t b = 0; b < limit && r == MFW_E_NOENT; b++) {
		if (emu_store_is_bad(st, b))
			continue;
		if (emu_store_read(st, (uint64_t)b * st->block, buf, len) < 0) {
			r = MFW_E_IO;
			break;
		}
		if (mfw_get_le32(buf) == MFW_MIBIB_MAGIC1 && mfw_get_le32(buf + 4) == MFW_MIBIB_MAGIC2 &&
		    mfw_mibib_parse(NULL, buf, len, st->sector, m) == 0)
			r = 0;
	}
	if (r < 0)
		goto out_free;
	r = mfw_mibib_range(NULL, m, "EFS2", st->ppb, st->nblocks, &first, &last);
	if (r < 0)
		goto out_free;
	/* the first good block of the partition, like the factory and the programmer lay data */
	r = emu_nand_cursor_init(st, &c, first, last + 1, 0, false);
	if (r == 0 && !emu_nand_cursor_run(st, &c, 1, &phys))
		r = MFW_E_NOSPC;
	if (r < 0)
		goto out_free;
	out->off = phys * st->sector;
	out->cap = st->block - (size_t)(phys % st->ppb) * st->sector;
	if (out->cap > EMU_NVSTORE_CAP_MAX)
		out->cap = EMU_NVSTORE_CAP_MAX;
out_free:
	free(buf);
	free(m);
	if (r < 0)
		mfw_dbg(ctx, "nv store: no EFS2 partition found (%s)", mfw_strerror(r));
	return r;
}

/* eMMC: the partitions by name from the primary GPT (n of them; absent ones get cap 0). */
static int emmc_regions(struct mfw_ctx *ctx, struct emu_store *st, const char *const *names,
			size_t n, struct region *out)
{
	size_t len = mfw_gpt_primary_size(st->sector);
	struct mfw_gpt *g = malloc(sizeof(*g));
	uint8_t *buf = malloc(len);
	int r;

	if (!g || !buf) {
		r = MFW_E_NOMEM;
		goto out_free;
	}
	r = emu_store_read(st, 0, buf, len);
	if (r == 0)
		r = mfw_gpt_parse(NULL, buf, len, st->sector, 0, g);
	if (r < 0) {
		mfw_dbg(ctx, "nv store: no GPT (%s)", mfw_strerror(r));
		goto out_free;
	}
	for (size_t i = 0; i < n; i++) {
		const struct mfw_gpt_part *p = mfw_gpt_find(g, names[i]);
		uint64_t size;

		out[i].off = 0;
		out[i].cap = 0;
		if (!p || p->last_lba < p->first_lba || (p->last_lba + 1) * st->sector > st->size)
			continue;
		size = (p->last_lba - p->first_lba + 1) * st->sector;
		out[i].off = p->first_lba * st->sector;
		out[i].cap = size > EMU_NVSTORE_CAP_MAX ? EMU_NVSTORE_CAP_MAX : (size_t)size;
	}
out_free:
	free(buf);
	free(g);
	return r;
}

/* eMMC: the working copies, then the golden copy (reference diag.md §6.1) */
static const char *const emmc_names[] = { "modemst1", "modemst2", "fsg" };

static int load_region(struct emu_store *st, const struct region *rg, struct emu_nvstore *s)
{
	uint8_t hdr[8], *buf;
	int r;

	if (!rg->cap)
		return MFW_E_NOENT;
	r = emu_store_read(st, rg->off, hdr, sizeof(hdr));
	if (r < 0)
		return r;
	if (memcmp(hdr, NV_MAGIC, 8))
		return MFW_E_FORMAT; /* erased (0xFF / 0x00) or something else: no store */
	buf = malloc(rg->cap);
	if (!buf)
		return MFW_E_NOMEM;
	r = emu_store_read(st, rg->off, buf, rg->cap);
	if (r == 0)
		r = emu_nvstore_decode(s, buf, rg->cap);
	free(buf);
	return r;
}

int emu_nvstore_load(struct mfw_ctx *ctx, struct emu_store *st, struct emu_nvstore *s)
{
	struct region rg[MFW_ARRAY_SIZE(emmc_names)];
	size_t n = 1;
	int r;

	emu_nvstore_free(s);
	if (st->nand) {
		r = nand_region(ctx, st, &rg[0]);
	} else {
		n = MFW_ARRAY_SIZE(emmc_names);
		r = emmc_regions(ctx, st, emmc_names, n, rg);
	}
	if (r < 0)
		return r;
	/* writes go to the working copies: as much as the smallest of them holds */
	s->capacity = rg[0].cap;
	if (!st->nand && rg[1].cap && rg[1].cap < s->capacity)
		s->capacity = rg[1].cap;
	for (size_t i = 0; i < n; i++) {
		r = load_region(st, &rg[i], s);
		if (r == MFW_E_IO || r == MFW_E_NOMEM)
			return r;
		if (r == 0) {
			mfw_dbg(ctx, "nv store: %zu NV items, %zu EFS entries%s%s", s->n_nv, s->n_efs,
				st->nand ? "" : " from ", st->nand ? "" : emmc_names[i]);
			return 0;
		}
	}
	/* a wiped EFS: the module runs without identity until something is written */
	emu_nvstore_free(s);
	mfw_dbg(ctx, "nv store: none (EFS erased or corrupt)");
	return 0;
}

static int save_region(struct emu_store *st, const struct region *rg, const uint8_t *blob,
		       size_t len)
{
	/* NAND: erase the block before programming; eMMC: clear the tail of an older, longer blob */
	int r = emu_store_fill(st, rg->off, rg->cap, st->erased);

	if (r == 0)
		r = emu_store_write(st, rg->off, blob, len);
	return r;
}

int emu_nvstore_save(struct mfw_ctx *ctx, struct emu_store *st, struct emu_nvstore *s)
{
	struct region rg[2];
	uint8_t *blob;
	size_t len;
	int r;

	r = st->nand ? nand_region(ctx, st, &rg[0]) : emmc_regions(ctx, st, emmc_names, 2, rg);
	if (r < 0)
		return r;
	r = emu_nvstore_encode(s, &blob, &len);
	if (r < 0)
		return r;
	for (size_t i = 0; i < (st->nand ? 1u : 2u) && r == 0; i++) {
		if (rg[i].cap < len)
			r = MFW_E_NOSPC;
		else
			r = save_region(st, &rg[i], blob, len);
	}
	free(blob);
	if (r == 0)
		s->present = true;
	return r;
}

int emu_nv_store_build(const char *imei, uint8_t *out, size_t cap)
{
	struct emu_nvstore s;
	uint8_t *blob;
	size_t len;
	int r;

	emu_nvstore_init(&s);
	r = emu_nvstore_factory(&s, imei);
	if (r < 0)
		return r;
	r = emu_nvstore_encode(&s, &blob, &len);
	emu_nvstore_free(&s);
	if (r < 0)
		return r;
	if (len > cap || len > EMU_NV_STORE_MAX) {
		free(blob);
		return MFW_E_RANGE;
	}
	memcpy(out, blob, len);
	free(blob);
	return (int)len;
}
