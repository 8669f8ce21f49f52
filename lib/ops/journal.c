/* SPDX-License-Identifier: BSD-3-Clause */
#include "ops/journal.h"
#include "core/core.h"
#include "util/hash.h"
#include "util/fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Parse the previous journal; a damaged line ends the trusted part (torn last write). */
static void load(struct mfw_journal *j, FILE *f, const char *device_key, const char *package_hash)
{
	char line[512];
	bool header_ok = false, dev_ok = false, pkg_ok = false;
	while (fgets(line, sizeof(line), f)) {
		char label[64], hex[80];
		unsigned idx;
		size_t l = strlen(line);
		if (!l || line[l - 1] != '\n')
			break; /* torn write: stop trusting here */
		line[l - 1] = '\0';
		if (!strcmp(line, "modemfw-journal 1")) {
			header_ok = true;
		} else if (!strncmp(line, "device ", 7)) {
			dev_ok = !strcmp(line + 7, device_key);
		} else if (!strncmp(line, "package ", 8)) {
			pkg_ok = !strcmp(line + 8, package_hash);
		} else if (!strcmp(line, "complete")) {
			j->complete = true;
		} else if (sscanf(line, "unit %u %63s %79s", &idx, label, hex) == 3) {
			if (!header_ok || !dev_ok || !pkg_ok || j->nunits >= MFW_JOURNAL_MAX_UNITS)
				break;
			if (mfw_hex_decode(hex, strlen(hex), j->units[j->nunits].digest, 32) < 0)
				break;
			j->units[j->nunits].index = idx;
			snprintf(j->units[j->nunits].label, sizeof(j->units[0].label), "%s", label);
			j->nunits++;
		} else if (!strncmp(line, "started ", 8)) {
			j->complete = false; /* a later run started after a completed one */
		} else {
			break;
		}
	}
	j->loaded = header_ok && dev_ok && pkg_ok;
	if (!j->loaded) {
		j->nunits = 0;
		j->complete = false;
	}
}

int mfw_journal_open(struct mfw_ctx *ctx, struct mfw_journal *j, const char *dir,
		     const char *device_key, const char *package_hash, bool restart)
{
	FILE *f;
	memset(j, 0, sizeof(*j));
	if (mfw_mkdir_p(ctx, dir, 0700) < 0)
		return mfw_fail_keep(ctx, MFW_E_IO, "cannot create the journal directory '%s'", dir);
	if ((size_t)snprintf(j->path, sizeof(j->path), "%s/%s-%.16s.journal", dir, device_key,
			     package_hash) >= sizeof(j->path))
		return mfw_fail(ctx, MFW_E_RANGE, "journal path too long");
	if (!restart && (f = fopen(j->path, "r"))) {
		load(j, f, device_key, package_hash);
		fclose(f);
	}
	/*
	 * Rewrite the file with what we trust (drops a torn tail), then append.
	 * Written to a temporary name and renamed, so a cut here keeps the old one.
	 */
	{
		char tmp[1100];
		char hex[65];
		snprintf(tmp, sizeof(tmp), "%s.tmp", j->path);
		f = fopen(tmp, "w");
		if (!f)
			return mfw_fail(ctx, MFW_E_IO, "cannot write the journal '%s': %s", tmp,
					strerror(errno));
		fprintf(f, "modemfw-journal 1\ndevice %s\npackage %s\n", device_key, package_hash);
		for (size_t i = 0; i < j->nunits; i++) {
			mfw_hex_encode(j->units[i].digest, 32, hex);
			fprintf(f, "unit %u %s %s\n", j->units[i].index, j->units[i].label, hex);
		}
		if (j->complete)
			fprintf(f, "complete\n");
		fprintf(f, "started %lld\n", (long long)time(NULL));
		if (fflush(f) || fsync(fileno(f)) || fclose(f) || rename(tmp, j->path))
			return mfw_fail(ctx, MFW_E_IO, "cannot write the journal '%s': %s", j->path,
					strerror(errno));
	}
	j->f = fopen(j->path, "a");
	if (!j->f)
		return mfw_fail(ctx, MFW_E_IO, "cannot append to the journal '%s': %s", j->path,
				strerror(errno));
	return 0;
}

bool mfw_journal_has(const struct mfw_journal *j, unsigned index, const char *label,
		     const uint8_t digest[32])
{
	for (size_t i = 0; i < j->nunits; i++)
		if (j->units[i].index == index && !strcmp(j->units[i].label, label) &&
		    !memcmp(j->units[i].digest, digest, 32))
			return true;
	return false;
}

bool mfw_journal_mentions(const struct mfw_journal *j, unsigned index, const char *label)
{
	for (size_t i = 0; i < j->nunits; i++)
		if (j->units[i].index == index && !strcmp(j->units[i].label, label))
			return true;
	return false;
}

static int append(struct mfw_ctx *ctx, struct mfw_journal *j, const char *line)
{
	if (!j->f)
		return 0;
	if (fputs(line, j->f) < 0 || fflush(j->f) || fsync(fileno(j->f)))
		return mfw_fail(ctx, MFW_E_IO, "cannot append to the journal '%s': %s", j->path,
				strerror(errno));
	return 0;
}

int mfw_journal_unit_done(struct mfw_ctx *ctx, struct mfw_journal *j, unsigned index,
			  const char *label, const uint8_t digest[32])
{
	char hex[65], line[256];
	mfw_hex_encode(digest, 32, hex);
	snprintf(line, sizeof(line), "unit %u %s %s\n", index, label, hex);
	if (j->nunits < MFW_JOURNAL_MAX_UNITS) {
		j->units[j->nunits].index = index;
		snprintf(j->units[j->nunits].label, sizeof(j->units[0].label), "%s", label);
		memcpy(j->units[j->nunits].digest, digest, 32);
		j->nunits++;
	}
	return append(ctx, j, line);
}

int mfw_journal_complete(struct mfw_ctx *ctx, struct mfw_journal *j)
{
	j->complete = true;
	return append(ctx, j, "complete\n");
}

void mfw_journal_close(struct mfw_journal *j)
{
	if (j->f)
		fclose(j->f);
	j->f = NULL;
}
