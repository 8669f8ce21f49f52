/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_OPS_JOURNAL_H
#define MFW_OPS_JOURNAL_H

/*
 * The flash journal: one append-only text file per (device, package) in
 * the state directory. Each completed unit (a partition's erase + programs)
 * is one line, written and fsync'ed before the next unit starts, so a run
 * cut anywhere (cable, power, Ctrl-C, crash) leaves an exact record:
 *
 *   modemfw-journal 1
 *   device 0de1f00d-000000000009600e1
 *   package 3f2a...(64 hex)
 *   unit 7 modem 9c1e...(64 hex: sha256 over the unit's program digests)
 *   complete
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct mfw_ctx;

#define MFW_JOURNAL_MAX_UNITS 4096

struct mfw_journal {
	char path[1024];
	FILE *f;                /* open for append while a run is going */
	size_t nunits;
	struct {
		unsigned index;
		char label[64];
		uint8_t digest[32];
	} units[MFW_JOURNAL_MAX_UNITS];
	bool complete;          /* the last run finished */
	bool loaded;            /* a journal existed */
};

/*
 * Open (and read) the journal for device_key/package_hash under dir
 * (created when missing). restart: ignore and truncate any previous one.
 */
int mfw_journal_open(struct mfw_ctx *ctx, struct mfw_journal *j, const char *dir,
		     const char *device_key, const char *package_hash, bool restart);
/* True when unit index with this label and digest was completed earlier. */
bool mfw_journal_has(const struct mfw_journal *j, unsigned index, const char *label,
		     const uint8_t digest[32]);
/* True when the journal has any entry for unit index with this label (whatever its digest). */
bool mfw_journal_mentions(const struct mfw_journal *j, unsigned index, const char *label);
/* Append a completed unit (fsync'ed). */
int mfw_journal_unit_done(struct mfw_ctx *ctx, struct mfw_journal *j, unsigned index,
			  const char *label, const uint8_t digest[32]);
int mfw_journal_complete(struct mfw_ctx *ctx, struct mfw_journal *j);
void mfw_journal_close(struct mfw_journal *j);

#endif
