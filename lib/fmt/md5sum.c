/* SPDX-License-Identifier: BSD-3-Clause */
#include "fmt/md5sum.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "fmt/package.h"
#include "util/hash.h"

void mfw_md5sum_free(struct mfw_md5sum *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->entries[i].path);
	free(m->entries);
	m->entries = NULL;
	m->n = 0;
}

static const struct mfw_md5_entry *find_clean(const struct mfw_md5sum *m, const char *clean)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->entries[i].path, clean))
			return &m->entries[i];
	for (size_t i = 0; i < m->n; i++)
		if (!strcasecmp(m->entries[i].path, clean))
			return &m->entries[i];
	return NULL;
}

const struct mfw_md5_entry *mfw_md5sum_find(const struct mfw_md5sum *m, const char *relpath)
{
	char clean[MFW_MD5SUM_MAX_PATH];

	if (mfw_pkg_path_clean(relpath, clean, sizeof(clean)) < 0)
		return NULL;
	return find_clean(m, clean);
}

/* One line without its end; blank lines never reach here. */
static int parse_line(struct mfw_ctx *ctx, const char *name, unsigned lineno, const char *s,
		      size_t len, struct mfw_md5sum *m)
{
	char raw[MFW_MD5SUM_MAX_PATH];
	char clean[MFW_MD5SUM_MAX_PATH];
	uint8_t md5[16];
	const struct mfw_md5_entry *dup;
	struct mfw_md5_entry *e;
	size_t i = 32, plen;
	int r;

	if (len < 32 || mfw_hex_decode(s, 32, md5, sizeof(md5)) < 0)
		return mfw_fail(ctx, MFW_E_FORMAT, "%s line %u: does not start with 32 hex digits",
				name, lineno);
	/* md5sum(1) writes two spaces (text) or space + '*' (binary); Windows tools vary the spacing. */
	if (i >= len || (s[i] != ' ' && s[i] != '\t'))
		return mfw_fail(ctx, MFW_E_FORMAT, "%s line %u: no blank after the hash", name, lineno);
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i < len && s[i] == '*')
		i++;
	plen = len - i;
	while (plen && (s[i + plen - 1] == ' ' || s[i + plen - 1] == '\t'))
		plen--;
	if (!plen)
		return mfw_fail(ctx, MFW_E_FORMAT, "%s line %u: no file name after the hash", name,
				lineno);
	if (plen >= sizeof(raw))
		return mfw_fail(ctx, MFW_E_FORMAT, "%s line %u: file name longer than %u bytes", name,
				lineno, MFW_MD5SUM_MAX_PATH - 1);
	memcpy(raw, s + i, plen);
	raw[plen] = '\0';
	if (memchr(raw, '\0', plen))
		return mfw_fail(ctx, MFW_E_FORMAT, "%s line %u: NUL byte in the file name", name,
				lineno);
	r = mfw_pkg_path_clean(raw, clean, sizeof(clean));
	if (r < 0)
		return mfw_fail(ctx, MFW_E_FORMAT, "%s line %u: file name '%.200s' is not a relative path inside the package",
				name, lineno, raw);
	dup = find_clean(m, clean);
	if (dup && !strcmp(dup->path, clean)) {
		if (!memcmp(dup->md5, md5, sizeof(md5)))
			return 0;
		return mfw_fail(ctx, MFW_E_FORMAT, "%s line %u: '%s' listed again with another hash (first on line %u)",
				name, lineno, clean, dup->line);
	}
	if (m->n >= MFW_MD5SUM_MAX_ENTRIES)
		return mfw_fail(ctx, MFW_E_RANGE, "%s: more than %u entries", name,
				MFW_MD5SUM_MAX_ENTRIES);
	e = &m->entries[m->n];
	e->path = strdup(clean);
	if (!e->path)
		return MFW_E_NOMEM;
	memcpy(e->md5, md5, sizeof(md5));
	e->line = lineno;
	m->n++;
	return 0;
}

int mfw_md5sum_parse(struct mfw_ctx *ctx, const char *name, const void *text, size_t len,
		     struct mfw_md5sum *out)
{
	const char *s = text;
	size_t pos = 0;
	unsigned lineno = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (!name)
		name = "md5.txt";
	if (len > MFW_MD5SUM_MAX_FILE)
		return mfw_fail(ctx, MFW_E_RANGE, "%s: %zu bytes is larger than the %u-byte limit",
				name, len, MFW_MD5SUM_MAX_FILE);
	/* Fixed-size table: the bound is small and it avoids a realloc path per line. */
	out->entries = calloc(MFW_MD5SUM_MAX_ENTRIES, sizeof(*out->entries));
	if (!out->entries)
		return MFW_E_NOMEM;
	if (len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
		pos = 3;
	while (pos < len) {
		const char *nl = memchr(s + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - s) : len;
		size_t l = end - pos;
		size_t k = 0;

		lineno++;
		if (l && s[pos + l - 1] == '\r')
			l--;
		while (k < l && (s[pos + k] == ' ' || s[pos + k] == '\t'))
			k++;
		if (k < l) {
			r = parse_line(ctx, name, lineno, s + pos + k, l - k, out);
			if (r < 0)
				goto free_out;
		}
		pos = nl ? end + 1 : len;
	}
	return 0;
free_out:
	mfw_md5sum_free(out);
	return r;
}
