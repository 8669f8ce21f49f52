/* SPDX-License-Identifier: BSD-3-Clause */
#include "fmt/xqcn.h"
#include "core/core.h"
#include "util/bytes.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- backup model ---- */

void mfw_diag_backup_init(struct mfw_diag_backup *b)
{
	memset(b, 0, sizeof(*b));
}

void mfw_diag_backup_free(struct mfw_diag_backup *b)
{
	for (size_t i = 0; i < b->n_efs; i++) {
		free(b->efs[i].path);
		free(b->efs[i].data);
	}
	free(b->efs);
	free(b->nv);
	memset(b, 0, sizeof(*b));
}

int mfw_diag_backup_add_nv(struct mfw_diag_backup *b, const struct mfw_nv_record *rec)
{
	if (b->n_nv == b->cap_nv) {
		size_t ncap = b->cap_nv ? b->cap_nv * 2 : 256;
		struct mfw_nv_record *n = realloc(b->nv, ncap * sizeof(*n));
		if (!n)
			return MFW_E_NOMEM;
		b->nv = n;
		b->cap_nv = ncap;
	}
	b->nv[b->n_nv++] = *rec;
	return 0;
}

int mfw_diag_backup_add_efs(struct mfw_diag_backup *b, const char *path, uint32_t mode,
			    const uint8_t *data, size_t len)
{
	struct mfw_efs_file *f;

	if (b->n_efs == b->cap_efs) {
		size_t ncap = b->cap_efs ? b->cap_efs * 2 : 64;
		struct mfw_efs_file *n = realloc(b->efs, ncap * sizeof(*n));
		if (!n)
			return MFW_E_NOMEM;
		b->efs = n;
		b->cap_efs = ncap;
	}
	f = &b->efs[b->n_efs];
	f->path = strdup(path);
	f->data = malloc(len ? len : 1);
	if (!f->path || !f->data) {
		free(f->path);
		free(f->data);
		return MFW_E_NOMEM;
	}
	if (len)
		memcpy(f->data, data, len);
	f->len = len;
	f->mode = mode;
	b->n_efs++;
	return 0;
}

/* ---- writer ---- */

struct sbuf {
	char *p;
	size_t len, cap;
	int err;
};

static void sb_reserve(struct sbuf *s, size_t more)
{
	size_t ncap;
	char *n;
	if (s->err || s->len + more + 1 <= s->cap)
		return;
	ncap = s->cap ? s->cap : 4096;
	while (ncap < s->len + more + 1)
		ncap *= 2;
	n = realloc(s->p, ncap);
	if (!n) {
		s->err = MFW_E_NOMEM;
		return;
	}
	s->p = n;
	s->cap = ncap;
}

static void sb_puts(struct sbuf *s, const char *str)
{
	size_t n = strlen(str);
	sb_reserve(s, n);
	if (s->err)
		return;
	memcpy(s->p + s->len, str, n + 1);
	s->len += n;
}

static void sb_indent(struct sbuf *s, int depth)
{
	for (int i = 0; i < depth; i++)
		sb_puts(s, "  ");
}

/* Attribute text: XML-escaped, ASCII only (anything else becomes '_': the file says Windows-1252). */
static void sb_attr(struct sbuf *s, const char *v)
{
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (c == '&')
			sb_puts(s, "&amp;");
		else if (c == '<')
			sb_puts(s, "&lt;");
		else if (c == '>')
			sb_puts(s, "&gt;");
		else if (c == '\'')
			sb_puts(s, "&apos;");
		else if (c == '"')
			sb_puts(s, "&quot;");
		else {
			char one[2] = { (char)(c >= 0x20 && c < 0x7f ? c : '_'), 0 };
			sb_puts(s, one);
		}
	}
}

static void sb_stream(struct sbuf *s, int depth, const char *name, const uint8_t *data, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char num[32];

	sb_indent(s, depth);
	snprintf(num, sizeof(num), "%zu", len);
	sb_puts(s, "<Stream Length='");
	sb_puts(s, num);
	sb_puts(s, "' Name='");
	sb_attr(s, name);
	sb_puts(s, "' Value='");
	sb_reserve(s, 3 * len);
	if (s->err)
		return;
	for (size_t i = 0; i < len; i++) {
		if (i)
			s->p[s->len++] = ' ';
		s->p[s->len++] = hex[data[i] >> 4];
		s->p[s->len++] = hex[data[i] & 15];
	}
	s->p[s->len] = 0;
	sb_puts(s, "'/>\n");
}

static void sb_open(struct sbuf *s, int depth, const char *name)
{
	sb_indent(s, depth);
	sb_puts(s, "<Storage Name='");
	sb_attr(s, name);
	sb_puts(s, "'>\n");
}

static void sb_close(struct sbuf *s, int depth)
{
	sb_indent(s, depth);
	sb_puts(s, "</Storage>\n");
}

/* One NV_ITEM_ARRAY[_SIM_n] stream with every good record of that index. */
static int write_nv_array(struct sbuf *s, const struct mfw_diag_backup *b, uint16_t index)
{
	uint8_t *buf;
	size_t n = 0;
	char name[32];

	for (size_t i = 0; i < b->n_nv; i++)
		n += b->nv[i].index == index && b->nv[i].status == MFW_NV_DONE;
	if (!n)
		return 0;
	buf = calloc(n, MFW_XQCN_RECORD_LEN);
	if (!buf)
		return MFW_E_NOMEM;
	n = 0;
	for (size_t i = 0; i < b->n_nv; i++) {
		uint8_t *r;
		if (b->nv[i].index != index || b->nv[i].status != MFW_NV_DONE)
			continue;
		r = buf + n++ * MFW_XQCN_RECORD_LEN;
		mfw_put_le16(r, MFW_XQCN_RECORD_LEN);
		mfw_put_le16(r + 2, index);
		mfw_put_le16(r + 4, b->nv[i].item);
		memcpy(r + 8, b->nv[i].data, MFW_NV_DATA_LEN);
	}
	if (index)
		snprintf(name, sizeof(name), "NV_ITEM_ARRAY_SIM_%u", index);
	else
		snprintf(name, sizeof(name), "NV_ITEM_ARRAY");
	sb_stream(s, 4, name, buf, n * MFW_XQCN_RECORD_LEN);
	free(buf);
	return 0;
}

int mfw_xqcn_write(struct mfw_ctx *ctx, const struct mfw_diag_backup *b, const char *root_name,
		   char **xml, size_t *len)
{
	static const uint8_t file_version[6] = { 2, 0, 0, 0, 0, 0 };
	struct sbuf s = { 0 };
	bool have_index[4] = { false };
	int r = 0;

	*xml = NULL;
	*len = 0;
	sb_puts(&s, "<?xml version=\"1.0\" encoding=\"Windows-1252\"?>\n");
	sb_open(&s, 0, root_name && *root_name ? root_name : "backup.xqcn");
	sb_stream(&s, 1, "File_Version", file_version, sizeof(file_version));
	sb_open(&s, 1, "00000000");
	sb_open(&s, 2, "default");
	sb_open(&s, 3, "NV_NUMBERED_ITEMS");
	for (size_t i = 0; i < b->n_nv; i++) {
		if (b->nv[i].index >= MFW_ARRAY_SIZE(have_index)) {
			r = mfw_fail(ctx, MFW_E_UNSUPPORTED,
				     "NV item %u has subscription index %u; xQCN knows SIM_1 and SIM_2",
				     b->nv[i].item, b->nv[i].index);
			goto free_buf;
		}
		have_index[b->nv[i].index] = true;
	}
	for (uint16_t idx = 0; idx < MFW_ARRAY_SIZE(have_index) && !r; idx++)
		if (have_index[idx])
			r = write_nv_array(&s, b, idx);
	if (r < 0) {
		r = mfw_fail(ctx, r, "out of memory writing xQCN");
		goto free_buf;
	}
	sb_close(&s, 3);
	if (b->n_efs) {
		sb_open(&s, 3, "EFS_Backup");
		sb_open(&s, 4, "EFS_Dir");
		for (size_t i = 0; i < b->n_efs; i++) {
			size_t pl = strlen(b->efs[i].path);
			uint8_t *e = malloc(8 + pl);
			char name[24];
			if (!e) {
				r = mfw_fail(ctx, MFW_E_NOMEM, "out of memory writing xQCN");
				goto free_buf;
			}
			memcpy(e, MFW_XQCN_EFS_DIR_MAGIC, 4);
			mfw_put_le32(e + 4, b->efs[i].mode);
			memcpy(e + 8, b->efs[i].path, pl);
			snprintf(name, sizeof(name), "%08zX", i);
			sb_stream(&s, 5, name, e, 8 + pl);
			free(e);
		}
		sb_close(&s, 4);
		sb_open(&s, 4, "EFS_Data");
		for (size_t i = 0; i < b->n_efs; i++) {
			char name[24];
			snprintf(name, sizeof(name), "%08zX", i);
			sb_stream(&s, 5, name, b->efs[i].data, b->efs[i].len);
		}
		sb_close(&s, 4);
		sb_close(&s, 3);
	}
	sb_close(&s, 2);
	sb_close(&s, 1);
	sb_close(&s, 0);
	if (s.err) {
		r = mfw_fail(ctx, s.err, "out of memory writing xQCN");
		goto free_buf;
	}
	*xml = s.p;
	*len = s.len;
	return 0;
free_buf:
	free(s.p);
	return r;
}

/* ---- reader ---- */

struct rd {
	struct mfw_ctx *ctx;
	struct mfw_diag_backup *b;
	unsigned elements;     /* all elements walked */
	unsigned efs_streams;  /* EFS_Dir + EFS_Data streams */
};

static bool is_elem(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

/* Name attribute (NULL when absent); caller frees with xmlFree. */
static char *node_name(const xmlNode *n)
{
	return (char *)xmlGetProp(n, (const xmlChar *)"Name");
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode a Stream's Value against its Length. *out malloc'd (at least 1 byte). */
static int stream_bytes(struct rd *rd, const xmlNode *n, const char *what, uint8_t **out,
			size_t *len)
{
	xmlChar *ls = xmlGetProp(n, (const xmlChar *)"Length");
	xmlChar *vs = xmlGetProp(n, (const xmlChar *)"Value");
	const char *v = (const char *)vs;
	unsigned long want;
	char *end;
	uint8_t *buf = NULL;
	size_t k = 0;
	int r = MFW_E_FORMAT;

	*out = NULL;
	*len = 0;
	if (!ls || !vs) {
		r = mfw_fail(rd->ctx, r, "xQCN stream '%s' lacks Length or Value", what);
		goto free_attrs;
	}
	errno = 0;
	want = strtoul((const char *)ls, &end, 10);
	if (errno || end == (const char *)ls || *end || want > MFW_XQCN_MAX_STREAM) {
		r = mfw_fail(rd->ctx, r, "xQCN stream '%s': bad Length '%.32s'", what,
			     (const char *)ls);
		goto free_attrs;
	}
	buf = malloc(want ? want : 1);
	if (!buf) {
		r = mfw_fail(rd->ctx, MFW_E_NOMEM, "out of memory reading xQCN");
		goto free_attrs;
	}
	for (;;) {
		int hi, lo;
		while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')
			v++;
		if (!*v)
			break;
		hi = hexval((unsigned char)v[0]);
		lo = hi < 0 ? -1 : hexval((unsigned char)v[1]);
		if (lo < 0 || (v[2] && v[2] != ' ' && v[2] != '\t' && v[2] != '\n' && v[2] != '\r')) {
			r = mfw_fail(rd->ctx, r, "xQCN stream '%s': Value is not hex bytes at byte %zu",
				     what, k);
			goto free_buf;
		}
		if (k >= want) {
			r = mfw_fail(rd->ctx, r, "xQCN stream '%s': more bytes than Length %lu", what,
				     want);
			goto free_buf;
		}
		buf[k++] = (uint8_t)(hi << 4 | lo);
		v += 2;
	}
	if (k != want) {
		r = mfw_fail(rd->ctx, r, "xQCN stream '%s': %zu bytes, Length says %lu", what, k,
			     want);
		goto free_buf;
	}
	*out = buf;
	*len = k;
	r = 0;
	goto free_attrs;
free_buf:
	free(buf);
free_attrs:
	xmlFree(ls);
	xmlFree(vs);
	return r;
}

static int read_nv_array(struct rd *rd, const xmlNode *n, const char *name)
{
	uint16_t index = 0;
	uint8_t *buf;
	size_t len;
	int r;

	if (!strncmp(name, "NV_ITEM_ARRAY_SIM_", 18)) {
		/* the stream name, not the record field, says which subscription (QPST practice) */
		if (!strcmp(name + 18, "1"))
			index = 1;
		else if (!strcmp(name + 18, "2"))
			index = 2;
		else
			return mfw_fail(rd->ctx, MFW_E_FORMAT, "xQCN: unknown NV array '%.64s'", name);
	} else if (strcmp(name, "NV_ITEM_ARRAY")) {
		return 0; /* something else in NV_NUMBERED_ITEMS: not ours to interpret */
	}
	r = stream_bytes(rd, n, name, &buf, &len);
	if (r < 0)
		return r;
	if (len % MFW_XQCN_RECORD_LEN) {
		r = mfw_fail(rd->ctx, MFW_E_FORMAT,
			     "xQCN %s: %zu bytes is not a whole number of 136-byte records", name, len);
		goto free_buf;
	}
	for (size_t off = 0; off < len; off += MFW_XQCN_RECORD_LEN) {
		const uint8_t *p = buf + off;
		struct mfw_nv_record rec = { .index = index, .status = MFW_NV_DONE };
		uint32_t item = mfw_get_le32(p + 4);

		if (mfw_get_le16(p) != MFW_XQCN_RECORD_LEN || item > 0xFFFF) {
			r = mfw_fail(rd->ctx, MFW_E_FORMAT,
				     "xQCN %s: record %zu has size %u and item %u", name,
				     off / MFW_XQCN_RECORD_LEN, mfw_get_le16(p), item);
			goto free_buf;
		}
		if (rd->b->n_nv >= MFW_XQCN_MAX_NV) {
			r = mfw_fail(rd->ctx, MFW_E_RANGE, "xQCN: more than %u NV records",
				     MFW_XQCN_MAX_NV);
			goto free_buf;
		}
		rec.item = (uint16_t)item;
		memcpy(rec.data, p + 8, MFW_NV_DATA_LEN);
		r = mfw_diag_backup_add_nv(rd->b, &rec);
		if (r < 0) {
			r = mfw_fail(rd->ctx, r, "out of memory reading xQCN");
			goto free_buf;
		}
	}
	r = 0;
free_buf:
	free(buf);
	return r;
}

/* EFS_Dir entry: optional 8-byte header (magic + mode), path, optional NULs. */
static int parse_dir_entry(struct rd *rd, const uint8_t *e, size_t len, bool header_ok,
			   char *path, uint32_t *mode)
{
	size_t off = 0, pl;

	*mode = MFW_EFS_S_IFREG | 0644;
	if (header_ok && len >= 8 && !memcmp(e, MFW_XQCN_EFS_DIR_MAGIC, 4)) {
		*mode = mfw_get_le32(e + 4);
		off = 8;
	}
	pl = len - off;
	while (pl && e[off + pl - 1] == 0)
		pl--;
	if (!pl || pl >= MFW_EFS_PATH_MAX || e[off] != '/')
		return mfw_fail(rd->ctx, MFW_E_FORMAT, "xQCN: EFS path entry is not an absolute path");
	for (size_t i = 0; i < pl; i++)
		if (e[off + i] < 0x20 || e[off + i] >= 0x7f)
			return mfw_fail(rd->ctx, MFW_E_FORMAT,
					"xQCN: EFS path has a control or non-ASCII byte");
	memcpy(path, e + off, pl);
	path[pl] = 0;
	/* the entry describes a file; keep only the permission bits and regular/item type */
	if ((*mode & MFW_EFS_S_IFMT) != MFW_EFS_S_IFITM)
		*mode = MFW_EFS_S_IFREG | (*mode & 07777);
	return 0;
}

/* Sort key for duplicate removal: path, then position (the first copy wins). */
struct efs_ref {
	const char *path;
	size_t pos;
};

static int cmp_ref(const void *a, const void *b)
{
	const struct efs_ref *x = a, *y = b;
	int c = strcmp(x->path, y->path);
	if (c)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * QPST stores some files in two groups (/rfc files in EFS_Backup and NV_Items):
 * keep the first copy of every path from index from on, in file order.
 * O(n log n), so a hostile file with 20000 entries stays fast.
 */
static int dedupe_efs(struct mfw_diag_backup *b, size_t from)
{
	size_t n = b->n_efs - from, k = from;
	struct efs_ref *refs;
	bool *drop;

	if (n < 2)
		return 0;
	refs = malloc(n * sizeof(*refs));
	drop = calloc(n, sizeof(*drop));
	if (!refs || !drop) {
		free(refs);
		free(drop);
		return MFW_E_NOMEM;
	}
	for (size_t i = 0; i < n; i++)
		refs[i] = (struct efs_ref){ b->efs[from + i].path, i };
	qsort(refs, n, sizeof(*refs), cmp_ref);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(refs[i].path, refs[i - 1].path))
			drop[refs[i].pos] = true;
	for (size_t i = 0; i < n; i++) {
		if (drop[i]) {
			free(b->efs[from + i].path);
			free(b->efs[from + i].data);
			continue;
		}
		b->efs[k++] = b->efs[from + i];
	}
	b->n_efs = k;
	free(refs);
	free(drop);
	return 0;
}

static const xmlNode *child_storage(const xmlNode *n, const char *want)
{
	for (const xmlNode *c = n->children; c; c = c->next) {
		char *name;
		bool hit;
		if (!is_elem(c, "Storage"))
			continue;
		name = node_name(c);
		hit = name && !strcmp(name, want);
		xmlFree(name);
		if (hit)
			return c;
	}
	return NULL;
}

struct named {
	char *name;
	const xmlNode *node;
};

static int cmp_named(const void *a, const void *b)
{
	return strcmp(((const struct named *)a)->name, ((const struct named *)b)->name);
}

static void free_index(struct named *idx, size_t n)
{
	for (size_t i = 0; i < n; i++)
		xmlFree(idx[i].name);
	free(idx);
}

/*
 * EFS_Data streams sorted by name, so pairing with EFS_Dir stays
 * O(n log n) however the file orders them.
 */
static int index_data(struct rd *rd, const xmlNode *dat, struct named **out, size_t *n_out)
{
	struct named *idx = NULL;
	size_t n = 0, cap = 0;

	*out = NULL;
	*n_out = 0;
	for (const xmlNode *d = dat ? dat->children : NULL; d; d = d->next) {
		char *name;
		if (!is_elem(d, "Stream"))
			continue;
		if (++rd->efs_streams > MFW_XQCN_MAX_EFS * 4) {
			free_index(idx, n);
			return mfw_fail(rd->ctx, MFW_E_RANGE, "xQCN: too many EFS entries");
		}
		name = node_name(d);
		if (!name)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct named *ni = realloc(idx, ncap * sizeof(*ni));
			if (!ni) {
				xmlFree(name);
				free_index(idx, n);
				return mfw_fail(rd->ctx, MFW_E_NOMEM, "out of memory reading xQCN");
			}
			idx = ni;
			cap = ncap;
		}
		idx[n].name = name;
		idx[n++].node = d;
	}
	if (n)
		qsort(idx, n, sizeof(*idx), cmp_named);
	*out = idx;
	*n_out = n;
	return 0;
}

/* An EFS_Backup / NV_Items / Provisioning_Item_Files storage: pair EFS_Dir and EFS_Data by name. */
static int read_efs_group(struct rd *rd, const xmlNode *group, bool header_ok)
{
	const xmlNode *dir = child_storage(group, "EFS_Dir");
	struct named *idx;
	size_t n_idx;
	int r;

	if (!dir)
		return 0;
	r = index_data(rd, child_storage(group, "EFS_Data"), &idx, &n_idx);
	if (r < 0)
		return r;
	for (const xmlNode *c = dir->children; c && !r; c = c->next) {
		char path[MFW_EFS_PATH_MAX];
		uint8_t *e = NULL, *data = NULL;
		size_t elen, dlen = 0;
		struct named key, *hit = NULL;
		uint32_t mode;

		if (!is_elem(c, "Stream"))
			continue;
		if (++rd->efs_streams > MFW_XQCN_MAX_EFS * 4) {
			r = mfw_fail(rd->ctx, MFW_E_RANGE, "xQCN: too many EFS entries");
			break;
		}
		key.name = node_name(c);
		if (!key.name) {
			r = mfw_fail(rd->ctx, MFW_E_FORMAT, "xQCN: EFS_Dir stream without a name");
			break;
		}
		if (n_idx)
			hit = bsearch(&key, idx, n_idx, sizeof(*idx), cmp_named);
		r = stream_bytes(rd, c, key.name, &e, &elen);
		if (r == 0)
			r = parse_dir_entry(rd, e, elen, header_ok, path, &mode);
		if (r == 0 && !hit)
			r = mfw_fail(rd->ctx, MFW_E_FORMAT, "xQCN: EFS entry '%s' has no EFS_Data", path);
		if (r == 0)
			r = stream_bytes(rd, hit->node, key.name, &data, &dlen);
		/* duplicates across groups are removed once everything is read */
		if (r == 0) {
			if (rd->b->n_efs >= 2 * MFW_XQCN_MAX_EFS)
				r = mfw_fail(rd->ctx, MFW_E_RANGE, "xQCN: more than %u EFS entries",
					     2 * MFW_XQCN_MAX_EFS);
			else if (mfw_diag_backup_add_efs(rd->b, path, mode, data, dlen) < 0)
				r = mfw_fail(rd->ctx, MFW_E_NOMEM, "out of memory reading xQCN");
		}
		free(e);
		free(data);
		xmlFree(key.name);
	}
	free_index(idx, n_idx);
	return r;
}

static int walk(struct rd *rd, const xmlNode *n, int depth, const char *parent)
{
	int r = 0;

	if (depth > MFW_XQCN_MAX_DEPTH)
		return mfw_fail(rd->ctx, MFW_E_FORMAT, "xQCN: storages nested deeper than %d",
				MFW_XQCN_MAX_DEPTH);
	for (const xmlNode *c = n->children; c && !r; c = c->next) {
		char *name;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (++rd->elements > MFW_XQCN_MAX_NV + 4 * MFW_XQCN_MAX_EFS)
			return mfw_fail(rd->ctx, MFW_E_RANGE, "xQCN: too many elements");
		name = node_name(c);
		if (!name) {
			xmlFree(name);
			continue;
		}
		if (is_elem(c, "Stream")) {
			if (!strcmp(parent, "NV_NUMBERED_ITEMS"))
				r = read_nv_array(rd, c, name);
		} else if (is_elem(c, "Storage")) {
			if (!strcmp(name, "EFS_Backup"))
				r = read_efs_group(rd, c, true);
			else if (!strcmp(name, "NV_Items") || !strcmp(name, "Provisioning_Item_Files"))
				r = read_efs_group(rd, c, false);
			else
				r = walk(rd, c, depth + 1, name);
		}
		xmlFree(name);
	}
	return r;
}

int mfw_xqcn_read(struct mfw_ctx *ctx, const char *xml, size_t len, struct mfw_diag_backup *b)
{
	struct rd rd = { .ctx = ctx, .b = b };
	xmlDoc *doc;
	xmlNode *root;
	int r;

	if (len > MFW_XQCN_MAX_FILE)
		return mfw_fail(ctx, MFW_E_RANGE, "xQCN file of %zu bytes is larger than %u", len,
				MFW_XQCN_MAX_FILE);
	if (len == 0 || len > INT32_MAX)
		return mfw_fail(ctx, MFW_E_FORMAT, "empty xQCN file");
	/*
	 * No network, no entity substitution, no DTD loading: the file is data.
	 * HUGE lifts the 10 MB text-node limit (a 4 MiB EFS file is 12 MB of
	 * hex); the size bound above is what protects us.
	 */
	doc = xmlReadMemory(xml, (int)len, "backup.xqcn", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
			    XML_PARSE_NOBLANKS | XML_PARSE_HUGE);
	if (!doc)
		return mfw_fail(ctx, MFW_E_FORMAT, "xQCN is not well-formed XML");
	if (doc->intSubset || doc->extSubset) {
		r = mfw_fail(ctx, MFW_E_FORMAT, "xQCN with a DOCTYPE is refused (entities)");
		goto free_doc;
	}
	root = xmlDocGetRootElement(doc);
	if (!root || !is_elem(root, "Storage")) {
		r = mfw_fail(ctx, MFW_E_FORMAT, "xQCN root element is not a <Storage>");
		goto free_doc;
	}
	{
		size_t from = b->n_efs;
		r = walk(&rd, root, 0, "");
		if (r == 0 && dedupe_efs(b, from) < 0)
			r = mfw_fail(ctx, MFW_E_NOMEM, "out of memory reading xQCN");
	}
	if (r == 0 && b->n_efs > MFW_XQCN_MAX_EFS)
		r = mfw_fail(ctx, MFW_E_RANGE, "xQCN: more than %u EFS files", MFW_XQCN_MAX_EFS);
	if (r == 0 && b->n_nv == 0 && b->n_efs == 0)
		r = mfw_fail(ctx, MFW_E_FORMAT, "xQCN holds no NV items and no EFS files");
free_doc:
	xmlFreeDoc(doc);
	return r;
}

int mfw_xqcn_save(struct mfw_ctx *ctx, const struct mfw_diag_backup *b, const char *path)
{
	const char *base = strrchr(path, '/');
	char *xml;
	size_t len;
	FILE *f;
	int r;

	r = mfw_xqcn_write(ctx, b, base ? base + 1 : path, &xml, &len);
	if (r < 0)
		return r;
	f = fopen(path, "wb");
	if (!f) {
		r = mfw_fail(ctx, MFW_E_IO, "cannot create '%s': %s", path, strerror(errno));
		goto free_xml;
	}
	if (fwrite(xml, 1, len, f) != len) {
		r = mfw_fail(ctx, MFW_E_IO, "writing '%s' failed: %s", path, strerror(errno));
		fclose(f);
		goto free_xml;
	}
	if (fclose(f) != 0)
		r = mfw_fail(ctx, MFW_E_IO, "writing '%s' failed: %s", path, strerror(errno));
free_xml:
	free(xml);
	return r;
}

int mfw_xqcn_load(struct mfw_ctx *ctx, const char *path, struct mfw_diag_backup *b)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long size;
	int r;

	if (!f)
		return mfw_fail(ctx, errno == ENOENT ? MFW_E_NOENT : MFW_E_IO, "cannot open '%s': %s",
				path, strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		r = mfw_fail(ctx, MFW_E_IO, "cannot read '%s'", path);
		goto close_file;
	}
	if ((unsigned long)size > MFW_XQCN_MAX_FILE) {
		r = mfw_fail(ctx, MFW_E_RANGE, "'%s' is larger than %u bytes", path,
			     MFW_XQCN_MAX_FILE);
		goto close_file;
	}
	buf = malloc((size_t)size + 1);
	if (!buf) {
		r = mfw_fail(ctx, MFW_E_NOMEM, "out of memory reading '%s'", path);
		goto close_file;
	}
	if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
		r = mfw_fail(ctx, MFW_E_IO, "cannot read '%s'", path);
		goto free_buf;
	}
	r = mfw_xqcn_read(ctx, buf, (size_t)size, b);
free_buf:
	free(buf);
close_file:
	fclose(f);
	return r;
}
