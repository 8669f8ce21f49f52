/* SPDX-License-Identifier: BSD-3-Clause */
#include "fmt/rawprogram.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "core/core.h"

/*
 * Parser options: no network, no DTD loading, no entity substitution
 * (entities stay references and a DTD is refused below), no error output
 * on stderr (the library never prints), big line numbers so the detail
 * names the right line in long manifests.
 */
#define RP_XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | \
			XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES)

static const char empty[] = "";
static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

/* libxml2 wants one initialisation before concurrent use, not one per parse. */
static void xml_init(void)
{
	xmlInitParser();
}

static int parse_number(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	int base = 10;
	size_t digits = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (; *s; s++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return MFW_E_RANGE;
		v = v * (uint64_t)base + (uint64_t)d;
		digits++;
	}
	/* ptool marks decimals with a trailing '.' ("131072."); accept it on decimals only. */
	if (base == 10 && *s == '.')
		s++;
	while (*s == ' ' || *s == '\t')
		s++;
	if (!digits || *s)
		return MFW_E_FORMAT;
	*out = v;
	return 0;
}

void mfw_rp_path_normalise(char *path)
{
	for (; *path; path++)
		if (*path == '\\')
			*path = '/';
}

const char *mfw_rp_attr(const struct mfw_rp_elem *e, const char *name)
{
	for (size_t i = 0; i < e->nattr; i++)
		if (!strcmp(e->attrs[i].name, name))
			return e->attrs[i].value;
	for (size_t i = 0; i < e->nattr; i++)
		if (!strcasecmp(e->attrs[i].name, name))
			return e->attrs[i].value;
	return NULL;
}

void mfw_rp_attrs_free(struct mfw_fh_attr *attrs, size_t nattr)
{
	if (!attrs)
		return;
	for (size_t i = 0; i < nattr; i++) {
		free(attrs[i].name);
		free(attrs[i].value);
	}
	free(attrs);
}

int mfw_rp_attrs_replace(const struct mfw_fh_attr *attrs, size_t nattr, const char *name,
			 const char *value, struct mfw_fh_attr **out, size_t *nout)
{
	struct mfw_fh_attr *copy;
	size_t n = 0, idx = nattr;

	*out = NULL;
	*nout = 0;
	for (size_t i = 0; i < nattr; i++) {
		if (!strcasecmp(attrs[i].name, name)) {
			idx = i;
			break;
		}
	}
	copy = calloc(nattr + 1, sizeof(*copy));
	if (!copy)
		return MFW_E_NOMEM;
	for (size_t i = 0; i < nattr; i++, n++) {
		copy[i].name = strdup(attrs[i].name);
		copy[i].value = strdup(i == idx ? value : attrs[i].value);
		if (!copy[i].name || !copy[i].value)
			goto free_copy;
	}
	if (idx == nattr) {
		copy[n].name = strdup(name);
		copy[n].value = strdup(value);
		n++;
		if (!copy[n - 1].name || !copy[n - 1].value)
			goto free_copy;
	}
	*out = copy;
	*nout = n;
	return 0;
free_copy:
	/* calloc'ed: slots not reached yet are NULL and free() ignores them. */
	mfw_rp_attrs_free(copy, nattr + 1);
	return MFW_E_NOMEM;
}

static void elem_free(struct mfw_rp_elem *e)
{
	free(e->tag);
	mfw_rp_attrs_free(e->attrs, e->nattr);
	free(e->filename);
	memset(e, 0, sizeof(*e));
}

void mfw_rp_file_free(struct mfw_rp_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nelem; i++)
		elem_free(&f->elems[i]);
	free(f->elems);
	free(f->name);
	memset(f, 0, sizeof(*f));
}

struct rp_parse {
	struct mfw_ctx *ctx;
	const char *name;
};

/* Required attribute; absent is a format error naming file, line, element and attribute. */
static int need(const struct rp_parse *p, const struct mfw_rp_elem *e, const char *attr,
		const char **out)
{
	*out = mfw_rp_attr(e, attr);
	if (!*out)
		return mfw_fail(p->ctx, MFW_E_FORMAT, "%s line %u: <%s> lacks required attribute '%s'",
				p->name, e->line, e->tag, attr);
	return 0;
}

/* Optional numeric attribute: *present says whether it was there. */
static int num_attr(const struct rp_parse *p, const struct mfw_rp_elem *e, const char *attr,
		    bool required, uint64_t max, uint64_t *out, bool *present)
{
	const char *s = mfw_rp_attr(e, attr);
	int r;

	if (present)
		*present = s != NULL;
	if (!s) {
		if (required)
			return need(p, e, attr, &s);
		return 0;
	}
	r = parse_number(s, out);
	if (r == MFW_E_FORMAT)
		return mfw_fail(p->ctx, MFW_E_FORMAT, "%s line %u: <%s> attribute '%s' is not a number: '%.64s'",
				p->name, e->line, e->tag, attr, s);
	if (r < 0 || *out > max)
		return mfw_fail(p->ctx, MFW_E_FORMAT, "%s line %u: <%s> attribute '%s' is out of range: '%.64s'",
				p->name, e->line, e->tag, attr, s);
	return 0;
}

static int fill_fields(const struct rp_parse *p, struct mfw_rp_elem *e)
{
	bool strict = e->kind != MFW_RP_OTHER;
	bool present;
	uint64_t v;
	const char *s;
	int r;

	r = num_attr(p, e, "SECTOR_SIZE_IN_BYTES", strict, UINT32_MAX, &v, &present);
	if (r < 0)
		return r;
	if (present) {
		/* Real devices use 512, 2048 and 4096; anything not a power of two is a typo. */
		if (v < 512 || v > 65536 || (v & (v - 1)))
			return mfw_fail(p->ctx, MFW_E_FORMAT,
					"%s line %u: <%s> attribute 'SECTOR_SIZE_IN_BYTES' must be a power of two in 512..65536, not %llu",
					p->name, e->line, e->tag, (unsigned long long)v);
		e->sector_size = (uint32_t)v;
	}
	r = num_attr(p, e, "physical_partition_number", false, UINT32_MAX, &v, &present);
	if (r < 0)
		return r;
	e->physical_partition_number = present ? (uint32_t)v : 0;

	e->start_sector = mfw_rp_attr(e, "start_sector");
	if (strict && (!e->start_sector || !e->start_sector[0]))
		return mfw_fail(p->ctx, MFW_E_FORMAT, "%s line %u: <%s> lacks required attribute 'start_sector'",
				p->name, e->line, e->tag);

	r = num_attr(p, e, "num_partition_sectors",
		     e->kind == MFW_RP_PROGRAM || e->kind == MFW_RP_ERASE, UINT64_MAX,
		     &e->num_partition_sectors, &e->has_num_partition_sectors);
	if (r < 0)
		return r;
	r = num_attr(p, e, "file_sector_offset", false, UINT64_MAX, &e->file_sector_offset, NULL);
	if (r < 0)
		return r;
	r = num_attr(p, e, "PAGES_PER_BLOCK", false, UINT32_MAX, &v, &present);
	if (r < 0)
		return r;
	e->pages_per_block = present ? (uint32_t)v : 0;
	r = num_attr(p, e, "last_sector", false, UINT64_MAX, &e->last_sector, &e->has_last_sector);
	if (r < 0)
		return r;

	s = mfw_rp_attr(e, "filename");
	if (!s && (e->kind == MFW_RP_PROGRAM || e->kind == MFW_RP_PATCH))
		return need(p, e, "filename", &s);
	e->filename = strdup(s ? s : "");
	if (!e->filename)
		return MFW_E_NOMEM;
	mfw_rp_path_normalise(e->filename);

	s = mfw_rp_attr(e, "label");
	e->label = s ? s : empty;

	s = mfw_rp_attr(e, "sparse");
	if (s) {
		if (!strcasecmp(s, "true"))
			e->sparse = true;
		else if (strcasecmp(s, "false"))
			return mfw_fail(p->ctx, MFW_E_FORMAT,
					"%s line %u: <%s> attribute 'sparse' must be true or false, not '%.32s'",
					p->name, e->line, e->tag, s);
	}

	if (e->kind == MFW_RP_PATCH) {
		r = num_attr(p, e, "byte_offset", true, UINT64_MAX, &e->byte_offset, NULL);
		if (r < 0)
			return r;
		r = num_attr(p, e, "size_in_bytes", true, UINT32_MAX, &v, NULL);
		if (r < 0)
			return r;
		if (v < 1 || v > 8)
			return mfw_fail(p->ctx, MFW_E_FORMAT,
					"%s line %u: <patch> attribute 'size_in_bytes' must be 1..8, not %llu",
					p->name, e->line, (unsigned long long)v);
		e->size_in_bytes = (uint32_t)v;
		r = need(p, e, "value", &e->value);
		if (r < 0)
			return r;
		s = mfw_rp_attr(e, "what");
		e->what = s ? s : empty;
		if (!e->filename[0])
			return mfw_fail(p->ctx, MFW_E_FORMAT, "%s line %u: <patch> has an empty 'filename'",
					p->name, e->line);
	} else {
		e->value = NULL;
		e->what = empty;
	}
	return 0;
}

static int read_attrs(const struct rp_parse *p, xmlDocPtr doc, xmlNodePtr node,
		      struct mfw_rp_elem *e)
{
	size_t n = 0;

	for (xmlAttrPtr a = node->properties; a; a = a->next)
		n++;
	if (n > MFW_RP_MAX_ATTRS)
		return mfw_fail(p->ctx, MFW_E_RANGE, "%s line %u: <%s> has %zu attributes (at most %u)",
				p->name, e->line, e->tag, n, MFW_RP_MAX_ATTRS);
	e->attrs = calloc(n ? n : 1, sizeof(*e->attrs));
	if (!e->attrs)
		return MFW_E_NOMEM;
	for (xmlAttrPtr a = node->properties; a; a = a->next) {
		xmlChar *v = xmlNodeListGetString(doc, a->children, 1);
		struct mfw_fh_attr *dst = &e->attrs[e->nattr];

		dst->name = strdup((const char *)a->name);
		dst->value = strdup(v ? (const char *)v : "");
		xmlFree(v);
		e->nattr++;
		if (!dst->name || !dst->value)
			return MFW_E_NOMEM;
		if (strlen(dst->value) > MFW_RP_MAX_VALUE)
			return mfw_fail(p->ctx, MFW_E_RANGE, "%s line %u: <%s> attribute '%s' is longer than %u bytes",
					p->name, e->line, e->tag, dst->name, MFW_RP_MAX_VALUE);
	}
	return 0;
}

static int read_elements(const struct rp_parse *p, xmlDocPtr doc, xmlNodePtr root,
			 struct mfw_rp_file *out)
{
	size_t cap = 0;
	int r;

	for (xmlNodePtr node = root->children; node; node = node->next) {
		struct mfw_rp_elem *e;
		const char *tag;

		if (node->type != XML_ELEMENT_NODE)
			continue;
		if (out->nelem >= MFW_RP_MAX_ELEMS)
			return mfw_fail(p->ctx, MFW_E_RANGE, "%s: more than %u elements", p->name,
					MFW_RP_MAX_ELEMS);
		if (out->nelem == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			struct mfw_rp_elem *ne = realloc(out->elems, ncap * sizeof(*ne));

			if (!ne)
				return MFW_E_NOMEM;
			out->elems = ne;
			cap = ncap;
		}
		e = &out->elems[out->nelem++];
		memset(e, 0, sizeof(*e));
		tag = (const char *)node->name;
		e->line = (unsigned)xmlGetLineNo(node);
		e->tag = strdup(tag);
		if (!e->tag)
			return MFW_E_NOMEM;
		if (!strcmp(tag, "program"))
			e->kind = MFW_RP_PROGRAM;
		else if (!strcmp(tag, "erase"))
			e->kind = MFW_RP_ERASE;
		else if (!strcmp(tag, "patch"))
			e->kind = MFW_RP_PATCH;
		else
			e->kind = MFW_RP_OTHER;
		r = read_attrs(p, doc, node, e);
		if (r < 0)
			return r;
		r = fill_fields(p, e);
		if (r < 0)
			return r;
	}
	return 0;
}

int mfw_rp_parse(struct mfw_ctx *ctx, const char *name, const void *xml, size_t len,
		 struct mfw_rp_file *out)
{
	struct rp_parse p = { .ctx = ctx, .name = name ? name : "manifest" };
	xmlParserCtxtPtr pctx;
	xmlDocPtr doc;
	xmlNodePtr root;
	int r;

	memset(out, 0, sizeof(*out));
	if (len > MFW_RP_MAX_FILE)
		return mfw_fail(ctx, MFW_E_RANGE, "%s: %zu bytes is larger than the %u-byte limit for a manifest",
				p.name, len, MFW_RP_MAX_FILE);
	out->name = strdup(p.name);
	if (!out->name)
		return MFW_E_NOMEM;
	/*
	 * Refuse a DOCTYPE before libxml2 sees it: no DTD processing at all is
	 * simpler to trust than limits on entity amplification. The check
	 * after parsing below still catches encodings this scan cannot see.
	 */
	if (len >= 9 && memmem(xml, len, "<!DOCTYPE", 9)) {
		r = mfw_fail(ctx, MFW_E_FORMAT, "%s: a DTD is not allowed in a manifest", p.name);
		goto free_out;
	}

	pthread_once(&xml_once, xml_init);
	pctx = xmlNewParserCtxt();
	if (!pctx) {
		r = MFW_E_NOMEM;
		goto free_out;
	}
	doc = xmlCtxtReadMemory(pctx, xml, (int)len, NULL, NULL, RP_XML_OPTIONS);
	if (!doc) {
		const xmlError *err = xmlCtxtGetLastError(pctx);
		char msg[160] = "not well-formed";

		if (err && err->message) {
			snprintf(msg, sizeof(msg), "%s", err->message);
			msg[strcspn(msg, "\n")] = '\0';
		}
		r = mfw_fail(ctx, MFW_E_FORMAT, "%s line %d: malformed XML: %s", p.name,
			     err ? err->line : 0, msg);
		goto free_pctx;
	}
	/* A DTD could declare entities or defaults that silently change attribute values. */
	if (doc->intSubset || doc->extSubset) {
		r = mfw_fail(ctx, MFW_E_FORMAT, "%s: a DTD is not allowed in a manifest", p.name);
		goto free_doc;
	}
	root = xmlDocGetRootElement(doc);
	if (!root) {
		r = mfw_fail(ctx, MFW_E_FORMAT, "%s: no root element", p.name);
		goto free_doc;
	}
	if (!strcmp((const char *)root->name, "data")) {
		out->doc = MFW_RP_DOC_RAWPROGRAM;
	} else if (!strcmp((const char *)root->name, "patches")) {
		out->doc = MFW_RP_DOC_PATCH;
	} else {
		r = mfw_fail(ctx, MFW_E_FORMAT, "%s line %ld: root element is <%.32s>, expected <data> or <patches>",
			     p.name, xmlGetLineNo(root), (const char *)root->name);
		goto free_doc;
	}
	r = read_elements(&p, doc, root, out);
	if (r < 0)
		goto free_doc;
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(pctx);
	return 0;

free_doc:
	xmlFreeDoc(doc);
free_pctx:
	xmlFreeParserCtxt(pctx);
free_out:
	mfw_rp_file_free(out);
	return r;
}

int mfw_rp_load(struct mfw_ctx *ctx, const char *path, struct mfw_rp_file *out)
{
	FILE *f;
	char *buf;
	size_t len;
	const char *base;
	int r;

	memset(out, 0, sizeof(*out));
	f = fopen(path, "rb");
	if (!f)
		return mfw_fail(ctx, errno == ENOENT ? MFW_E_NOENT : MFW_E_IO, "cannot open '%s': %s",
				path, strerror(errno));
	buf = malloc(MFW_RP_MAX_FILE + 1);
	if (!buf) {
		r = MFW_E_NOMEM;
		goto close_file;
	}
	len = fread(buf, 1, MFW_RP_MAX_FILE + 1, f);
	if (ferror(f)) {
		r = mfw_fail(ctx, MFW_E_IO, "cannot read '%s'", path);
		goto free_buf;
	}
	if (len > MFW_RP_MAX_FILE) {
		r = mfw_fail(ctx, MFW_E_RANGE, "'%s' is larger than the %u-byte limit for a manifest",
			     path, MFW_RP_MAX_FILE);
		goto free_buf;
	}
	base = strrchr(path, '/');
	r = mfw_rp_parse(ctx, base ? base + 1 : path, buf, len, out);
free_buf:
	free(buf);
close_file:
	fclose(f);
	return r;
}
