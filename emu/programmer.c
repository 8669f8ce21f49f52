/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Firehose programmer (reference §3, NAND rules §5). For every command:
 * zero or more <log/> lines, then exactly one <response/>; program and read
 * switch the pipe to raw bytes between a rawmode="true" and a
 * rawmode="false" response. Errors are NAKs with a log saying why, never a
 * crash or a silent stall.
 */
#include "emu-internal.h"
#include "fmt/gpt.h"
#include "fmt/mibib.h"
#include "proto/expr.h"
#include "proto/firehose.h"
#include "util/bytes.h"
#include "util/crc.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Staging buffer for raw data: a multiple of every sector size, one syscall per MiB. */
#define IO_CHUNK (1u << 20)
/* What we announce for device->host payloads (SDX NAND programmers announce 8 KiB). */
#define PAYLOAD_FROM_TARGET 8192u
#define MAX_XML_SIZE 4096u
/*
 * How long the programmer waits for the next raw bytes of a <program>
 * before giving up on it. Hosts pause between chunks only for a ZLP
 * (reference §6: <= 2 s); 60 s leaves room for a loaded test machine.
 */
#define RAW_RX_MS 60000
/* Where the programmer looks for the MIBIB (SBL scans the first blocks for its magic). */
#define MIBIB_SCAN_BLOCKS 64

static const char *const functions[] = {
	"configure", "program", "read", "erase", "patch", "getstorageinfo", "getsha256digest",
	"power", "nop", "setbootablestoragedrive", "benchmark",
};

struct prog {
	struct emu_link *l;
	struct mfw_emu *emu;
	struct emu_store *st;
	struct mfw_fh_splitter sp;
	uint8_t *io;  /* IO_CHUNK */
	uint8_t *chk; /* IO_CHUNK: erased check */
	char out[8192];
	enum emu_end *end;
	struct emu_fault_act act; /* what the fault schedule asks of the current command */
};

/* ---- output ---- */

static int send_log(struct prog *p, const char *fmt, ...) MFW_PRINTF(2, 3);
static int send_log(struct prog *p, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	n = mfw_fh_build_log(p->out, sizeof(p->out), text);
	if (n < 0)
		return n;
	return emu_link_write(p->l, p->out, (size_t)n);
}

static int fault_delay(struct prog *p, uint32_t ms);

/* Chatter of the "flood" fault: logs that say nothing, never inside a raw stream. */
static int flood(struct prog *p, uint32_t lines)
{
	int r = 0;

	for (uint32_t i = 0; r == 0 && i < lines; i++)
		r = send_log(p, "INFO: background task %u of %u: nothing to report", i + 1, lines);
	return r;
}

static int send_response(struct prog *p, bool ack, int rawmode, const struct mfw_fh_attr *extra,
			 size_t nextra)
{
	int n, r = 0;

	/* the command's final response is where the flood and slowack faults act */
	if (rawmode != 1) {
		r = flood(p, p->act.flood_before);
		p->act.flood_before = 0;
		if (r == 0 && p->act.slow_ms)
			r = fault_delay(p, p->act.slow_ms);
		p->act.slow_ms = 0;
		if (r < 0)
			return r;
	}
	n = mfw_fh_build_response(p->out, sizeof(p->out), ack, rawmode, extra, nextra);
	if (n < 0)
		return n;
	mfw_trace(p->emu->ctx, "firehose: %s%s", ack ? "ACK" : "NAK",
		  rawmode < 0 ? "" : rawmode ? " rawmode=true" : " rawmode=false");
	r = emu_link_write(p->l, p->out, (size_t)n);
	if (r == 0 && rawmode != 1) {
		r = flood(p, p->act.flood_after);
		p->act.flood_after = 0;
	}
	return r;
}

static int ack(struct prog *p)
{
	return send_response(p, true, -1, NULL, 0);
}

/* Log the reason, then NAK: the host shows our log text to its user. */
static int nak(struct prog *p, const char *fmt, ...) MFW_PRINTF(2, 3);
static int nak(struct prog *p, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	mfw_dbg(p->emu->ctx, "firehose: NAK: %s", text);
	r = send_log(p, "%s", text);
	return r < 0 ? r : send_response(p, false, -1, NULL, 0);
}

static int send_functions(struct prog *p)
{
	int r = send_log(p, "INFO: Supported Functions (%zu):", MFW_ARRAY_SIZE(functions));

	for (size_t i = 0; r == 0 && i < MFW_ARRAY_SIZE(functions); i++)
		r = send_log(p, "INFO: %s", functions[i]);
	if (r == 0)
		r = send_log(p, "INFO: End of supported functions %zu", MFW_ARRAY_SIZE(functions));
	return r;
}

static const char *mem_name(const struct prog *p)
{
	return p->st->nand ? "NAND" : "eMMC";
}

static const char *target_name(const struct prog *p)
{
	return p->st->nand ? "SDX20" : "MSM8953";
}

/* ---- expressions ---- */

static int crc32_cb(void *user, uint64_t start_sector, uint64_t len, uint32_t *out)
{
	struct prog *p = user;
	uint64_t off = start_sector * p->st->sector;
	uint32_t crc = 0;

	if (start_sector > p->st->nsectors || off > p->st->size || len > p->st->size - off)
		return MFW_E_RANGE;
	while (len) {
		size_t n = len > IO_CHUNK ? IO_CHUNK : (size_t)len;
		int r = emu_store_read(p->st, off, p->chk, n);
		if (r < 0)
			return r;
		crc = mfw_crc32(crc, p->chk, n);
		off += n;
		len -= n;
	}
	*out = crc;
	return 0;
}

static void expr_env(struct prog *p, struct mfw_expr_env *env)
{
	memset(env, 0, sizeof(*env));
	env->num_disk_sectors = p->st->nsectors;
	env->num_disk_blocks = p->st->nand ? p->st->nblocks : 0;
	env->sector_size = p->st->sector;
	env->crc32 = crc32_cb;
	env->user = p;
}

/* Attribute as a number or manifest expression; *present tells whether it was there. */
static int attr_value(struct prog *p, const struct mfw_fh_elem *e, const char *name, bool *present,
		      uint64_t *out, char *err, size_t errcap)
{
	struct mfw_expr_env env;
	const char *v = mfw_fh_attr_get(e, name);

	*present = v != NULL;
	if (!v)
		return 0;
	if (mfw_fh_parse_u64(v, out) == 0)
		return 0;
	expr_env(p, &env);
	mfw_ctx_clear_detail(p->emu->dctx);
	if (mfw_expr_eval_text(p->emu->dctx, v, &env, out) < 0) {
		snprintf(err, errcap, "ERROR: cannot evaluate %s=\"%s\": %s", name, v,
			 mfw_ctx_detail(p->emu->dctx));
		return -1;
	}
	return 0;
}

/* ---- addressing shared by program, read, erase, getsha256digest ---- */

struct addr {
	uint64_t sector_size;
	uint64_t num;
	uint64_t start;
	bool has_last;
	uint64_t last;
	const char *label;
};

static int label_range(struct prog *p, const char *label, uint64_t *first, uint64_t *last);

static int parse_addr(struct prog *p, const struct mfw_fh_elem *e, struct addr *a, char *err,
		      size_t errcap)
{
	struct emu_store *st = p->st;
	bool have, have_num;
	uint64_t v;

	memset(a, 0, sizeof(*a));
	a->label = mfw_fh_attr_get(e, "label");
	/* the reference fh_loader's default sector size */
	a->sector_size = 512;
	if (attr_value(p, e, "SECTOR_SIZE_IN_BYTES", &have, &a->sector_size, err, errcap) < 0)
		return -1;
	if (attr_value(p, e, "physical_partition_number", &have, &v, err, errcap) < 0)
		return -1;
	if (have && v != 0) {
		snprintf(err, errcap, "ERROR: physical_partition_number %" PRIu64
			 " does not exist (this device has only 0)", v);
		return -1;
	}
	if (st->nand) {
		if (attr_value(p, e, "PAGES_PER_BLOCK", &have, &v, err, errcap) < 0)
			return -1;
		if (have && v != st->ppb) {
			snprintf(err, errcap,
				 "ERROR: Attribute 'PAGES_PER_BLOCK'=%" PRIu64
				 " must be equal to disk pages per block %u", v, st->ppb);
			return -1;
		}
		if (a->sector_size != st->sector) {
			snprintf(err, errcap,
				 "ERROR: start_sector unaligned: SECTOR_SIZE_IN_BYTES=%" PRIu64
				 " is not the page size %u", a->sector_size, st->sector);
			return -1;
		}
	} else if (a->sector_size != st->sector) {
		snprintf(err, errcap,
			 "ERROR: SECTOR_SIZE_IN_BYTES=%" PRIu64 " does not match the sector size %u",
			 a->sector_size, st->sector);
		return -1;
	}
	if (attr_value(p, e, "num_partition_sectors", &have_num, &a->num, err, errcap) < 0)
		return -1;
	if (attr_value(p, e, "start_sector", &have, &a->start, err, errcap) < 0)
		return -1;
	/* a label stands for its partition (MIBIB on NAND, GPT on eMMC) where numbers are missing */
	if ((!have || !have_num) && a->label && *a->label) {
		uint64_t first, last;

		if (label_range(p, a->label, &first, &last) == 0) {
			if (!have)
				a->start = first;
			have = true;
			if (!have_num && a->start >= first && a->start <= last)
				a->num = last - a->start + 1;
		}
	}
	if (!have) {
		snprintf(err, errcap, "ERROR: start_sector is missing");
		return -1;
	}
	if (attr_value(p, e, "last_sector", &a->has_last, &a->last, err, errcap) < 0)
		return -1;
	if (a->start > st->nsectors || a->num > st->nsectors - a->start) {
		snprintf(err, errcap,
			 "ERROR: start_sector %" PRIu64 " + num_partition_sectors %" PRIu64
			 " is past the end of the disk (%" PRIu64 " sectors)",
			 a->start, a->num, st->nsectors);
		return -1;
	}
	if (a->has_last && (a->last < a->start || a->last >= st->nsectors)) {
		snprintf(err, errcap,
			 "ERROR: last_sector %" PRIu64 " is outside start_sector %" PRIu64
			 "..%" PRIu64, a->last, a->start, st->nsectors - 1);
		return -1;
	}
	return 0;
}

/* The MIBIB as the programmer finds it: the first block of the first blocks that carries its magic. */
static int find_mibib(struct prog *p, struct mfw_mibib *m)
{
	struct emu_store *st = p->st;
	size_t len = (size_t)MFW_MIBIB_PAGES * st->sector;
	uint32_t limit = st->nblocks < MIBIB_SCAN_BLOCKS ? st->nblocks : MIBIB_SCAN_BLOCKS;

	for (uint32_t b = 0; b < limit; b++) {
		uint64_t off = (uint64_t)b * st->block;
		if (emu_store_is_bad(st, b))
			continue;
		if (emu_store_read(st, off, p->chk, 8) < 0)
			return MFW_E_IO;
		if (mfw_get_le32(p->chk) != MFW_MIBIB_MAGIC1 ||
		    mfw_get_le32(p->chk + 4) != MFW_MIBIB_MAGIC2)
			continue;
		if (len > st->block || emu_store_read(st, off, p->chk, len) < 0)
			return MFW_E_IO;
		if (mfw_mibib_parse(p->emu->dctx, p->chk, len, st->sector, m) == 0)
			return 0;
	}
	return MFW_E_NOENT;
}

/* First and last sector of a partition by label, from the table on the device. */
static int label_range(struct prog *p, const char *label, uint64_t *first, uint64_t *last)
{
	struct emu_store *st = p->st;
	int r;

	if (st->nand) {
		struct mfw_mibib *m = malloc(sizeof(*m));
		if (!m)
			return MFW_E_NOMEM;
		r = find_mibib(p, m);
		if (r == 0)
			r = mfw_mibib_range(p->emu->dctx, m, label, st->ppb, st->nblocks, first, last);
		free(m);
		return r;
	} else {
		size_t len = mfw_gpt_primary_size(st->sector);
		struct mfw_gpt *g = malloc(sizeof(*g));
		const struct mfw_gpt_part *part;

		if (!g)
			return MFW_E_NOMEM;
		r = len <= IO_CHUNK ? emu_store_read(st, 0, p->chk, len) : MFW_E_RANGE;
		if (r == 0)
			r = mfw_gpt_parse(p->emu->dctx, p->chk, len, st->sector, 0, g);
		if (r == 0) {
			part = mfw_gpt_find(g, label);
			if (part) {
				*first = part->first_lba;
				*last = part->last_lba;
			} else {
				r = MFW_E_NOENT;
			}
		}
		free(g);
		return r;
	}
}

/*
 * NAND: the window data is laid into, as the real programmers resolve it:
 * last_sector when given, else the MIBIB entry for the label, else the
 * command's own range (write) or a plain linear mapping (read).
 */
static int nand_cursor(struct prog *p, const struct addr *a, bool for_write,
		       struct emu_nand_cursor *c, char *what, size_t whatcap)
{
	struct emu_store *st = p->st;
	uint64_t ws = a->start, we = a->start + a->num, logical = 0;
	bool linear = !for_write;

	snprintf(what, whatcap, "sectors %" PRIu64 "..%" PRIu64, ws, we ? we - 1 : 0);
	if (a->has_last) {
		we = a->last + 1;
		linear = false;
		snprintf(what, whatcap, "partition '%s' (sectors %" PRIu64 "..%" PRIu64 ")",
			 a->label ? a->label : "", ws, a->last);
	} else if (a->label && *a->label) {
		uint64_t first, last;
		int r = label_range(p, a->label, &first, &last);

		if (r == MFW_E_NOMEM)
			return r;
		if (r == 0 && a->start >= first && a->start <= last) {
			ws = first;
			we = last + 1;
			logical = a->start - first;
			linear = false;
			snprintf(what, whatcap, "partition '%s' (sectors %" PRIu64 "..%" PRIu64 ")",
				 a->label, first, last);
		}
	}
	return emu_nand_cursor_init(st, c, ws, we, logical, linear);
}

/* Good pages left in the cursor's window, up to need. */
static uint64_t good_pages(const struct emu_store *st, struct emu_nand_cursor c, uint64_t need)
{
	uint64_t have = 0, phys;

	while (have < need) {
		uint64_t n = emu_nand_cursor_run(st, &c, need - have, &phys);
		if (!n)
			break;
		have += n;
	}
	return have;
}

/* ---- commands ---- */

static int cmd_configure(struct prog *p, const struct mfw_fh_elem *e)
{
	const char *mem = mfw_fh_attr_get(e, "MemoryName");
	const char *prop = mfw_fh_attr_get(e, "MaxPayloadSizeToTargetInBytes");
	uint32_t max = p->emu->cfg.max_payload;
	uint64_t want = max;
	char smax[24], sacc[24], sfrom[24], sxml[24];
	bool mem_ok;

	if (prop && (mfw_fh_parse_u64(prop, &want) < 0 || want == 0))
		return nak(p, "ERROR: MaxPayloadSizeToTargetInBytes=\"%s\" is not a size", prop);
	mem_ok = !mem || !strcasecmp(mem, p->st->nand ? "nand" : "emmc");
	snprintf(smax, sizeof(smax), "%u", max);
	snprintf(sacc, sizeof(sacc), "%" PRIu64, want < max ? want : max);
	snprintf(sfrom, sizeof(sfrom), "%u", PAYLOAD_FROM_TARGET);
	snprintf(sxml, sizeof(sxml), "%u", MAX_XML_SIZE);
	if (!mem_ok || want > max) {
		/* the NAK carries what the device accepts, so the host can configure again */
		struct mfw_fh_attr at[] = {
			{ "MemoryName", (char *)mem_name(p) },
			{ "MaxPayloadSizeToTargetInBytes", sacc },
			{ "MaxPayloadSizeToTargetInBytesSupported", smax },
			{ "TargetName", (char *)target_name(p) },
		};
		int r;

		if (!mem_ok)
			r = send_log(p, "ERROR: MemoryName '%s' does not match this device's %s",
				     mem, mem_name(p));
		else
			r = send_log(p, "ERROR: MaxPayloadSizeToTargetInBytes %" PRIu64
				     " is larger than the supported %u", want, max);
		mfw_dbg(p->emu->ctx, "firehose: configure NAKed (MemoryName %s, payload %" PRIu64 ")",
			mem ? mem : "-", want);
		return r < 0 ? r : send_response(p, false, -1, at, MFW_ARRAY_SIZE(at));
	}
	p->emu->configured = true;
	p->emu->payload_to_target = (uint32_t)want;
	{
		struct mfw_fh_attr at[] = {
			{ "MemoryName", (char *)mem_name(p) },
			{ "MinVersionSupported", "1" },
			{ "Version", "1" },
			{ "MaxPayloadSizeToTargetInBytes", sacc },
			{ "MaxPayloadSizeToTargetInBytesSupported", smax },
			{ "MaxPayloadSizeFromTargetInBytes", sfrom },
			{ "MaxXMLSizeInBytes", sxml },
			{ "TargetName", (char *)target_name(p) },
		};
		mfw_dbg(p->emu->ctx, "firehose: configured (%s, payload %s)", mem_name(p), sacc);
		return send_response(p, true, -1, at, MFW_ARRAY_SIZE(at));
	}
}

/* Wait for the "slowack" fault, in slices so a stop is still seen. */
static int fault_delay(struct prog *p, uint32_t ms)
{
	mfw_deadline_t until = mfw_deadline_in(ms);

	while (!mfw_deadline_passed(until)) {
		int left = mfw_deadline_left(until);
		struct timespec ts;

		if (emu_link_stopping(p->l))
			return MFW_E_CANCELLED;
		if (left > 50)
			left = 50;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000L;
		nanosleep(&ts, NULL);
	}
	return 0;
}

struct wstate {
	struct addr a;
	struct emu_nand_cursor c;
	uint64_t done;      /* bytes written (or skipped after a failure) */
	bool failed;
	char fail[512];
};

/* Write one staged batch (a whole number of sectors). */
static void write_batch(struct prog *p, struct wstate *w, const uint8_t *data, size_t len)
{
	struct emu_store *st = p->st;
	int r;

	if (w->failed)
		return;
	if (!st->nand) {
		uint64_t off = w->a.start * st->sector + w->done;

		/* zeros read the same as a hole: keep the image sparse (expanded sparse images) */
		if (off % 4096 == 0 && len % 4096 == 0 && emu_all_bytes(data, len, 0x00))
			r = emu_store_fill(st, off, len, 0x00);
		else
			r = emu_store_write(st, off, data, len);
		if (r < 0) {
			w->failed = true;
			snprintf(w->fail, sizeof(w->fail), "ERROR: Write Failed: %s at sector %" PRIu64,
				 mfw_strerror(r), w->a.start + w->done / st->sector);
		}
		return;
	}
	for (uint64_t pages = len / st->sector; pages;) {
		uint64_t phys, n = emu_nand_cursor_run(st, &w->c, pages, &phys);
		size_t bytes;

		if (!n) {
			w->failed = true;
			snprintf(w->fail, sizeof(w->fail), "ERROR: Write Failed: out of good blocks");
			return;
		}
		bytes = (size_t)(n * st->sector);
		if (p->emu->nfaults && (p->act.badblock || emu_fault_badblock_due(p->emu))) {
			/* the "badblock" fault: this block fails to program and is marked bad for good */
			uint64_t b = phys / st->ppb;

			p->act.badblock = false;
			r = emu_store_mark_bad(st, (uint32_t)b);
			w->failed = true;
			snprintf(w->fail, sizeof(w->fail),
				 "ERROR: Write Failed: program status fail at sector %" PRIu64
				 ": block %" PRIu64 " is a bad block%s", phys, b,
				 r < 0 ? " (marking it failed)" : ", marked bad");
			return;
		}
		/* NAND programs only erased pages */
		r = emu_store_read(st, phys * st->sector, p->chk, bytes);
		if (r == 0 && !emu_all_bytes(p->chk, bytes, 0xFF)) {
			uint64_t i = 0;
			while (emu_all_bytes(p->chk + i * st->sector, st->sector, 0xFF))
				i++;
			if (i)
				emu_store_write(st, phys * st->sector, data, (size_t)(i * st->sector));
			w->failed = true;
			snprintf(w->fail, sizeof(w->fail),
				 "ERROR: Write Failed: page not erased at sector %" PRIu64, phys + i);
			return;
		}
		/* programming 0xFF onto erased pages changes nothing: skip the I/O */
		if (r == 0 && !emu_all_bytes(data, bytes, 0xFF))
			r = emu_store_write(st, phys * st->sector, data, bytes);
		if (r < 0) {
			w->failed = true;
			snprintf(w->fail, sizeof(w->fail), "ERROR: Write Failed: %s at sector %" PRIu64,
				 mfw_strerror(r), phys);
			return;
		}
		emu_lm_program(&p->emu->lm, n);
		data += bytes;
		pages -= n;
	}
}

/* Only blanks: what a host may send after a document in the same transfer. */
static bool all_space(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != ' ' && b[i] != '\n' && b[i] != '\r' && b[i] != '\t')
			return false;
	return true;
}

static int cmd_program(struct prog *p, const struct mfw_fh_elem *e)
{
	struct emu_store *st = p->st;
	struct wstate w;
	char err[512], what[160];
	uint64_t total, got = 0;
	size_t fill = 0;
	int r;

	memset(&w, 0, sizeof(w));
	if (parse_addr(p, e, &w.a, err, sizeof(err)) < 0)
		return nak(p, "%s", err);
	if (st->nand) {
		uint64_t have;
		r = nand_cursor(p, &w.a, true, &w.c, what, sizeof(what));
		if (r == MFW_E_NOMEM)
			return r;
		have = r < 0 ? 0 : good_pages(st, w.c, w.a.num);
		if (have < w.a.num)
			return nak(p, "ERROR: Write Failed: out of good blocks in %s: %" PRIu64
				   " pages to write, %" PRIu64 " good pages left", what, w.a.num, have);
	}
	mfw_dbg(p->emu->ctx, "firehose: program %s start_sector %" PRIu64 " sectors %" PRIu64,
		w.a.label ? w.a.label : "-", w.a.start, w.a.num);
	if (p->act.nak) {
		/* the "nak" fault: the data is taken, the first page fails, nothing is written */
		w.failed = true;
		snprintf(w.fail, sizeof(w.fail),
			 "ERROR: Write Failed: sector %" PRIu64 ", %s status 0x01 (program error)",
			 w.a.start, st->nand ? "NAND" : "eMMC");
	}
	total = w.a.num * st->sector;
	r = send_response(p, true, 1, NULL, 0);
	if (r < 0)
		return r;
	/* bytes that arrived with the command already sit in the splitter */
	fill = mfw_fh_splitter_take_raw(&p->sp, p->io, total < IO_CHUNK ? (size_t)total : IO_CHUNK);
	/*
	 * On USB a command is one transfer, and a read returns at most one:
	 * whitespace after "</data>" in it (qdl ends its documents with a
	 * newline) belongs to the command, not to the data. A byte stream
	 * cannot tell, so only packet transports drop it.
	 */
	if (fill && p->l->t->max_packet && all_space(p->io, fill))
		fill = 0;
	got = fill;
	while (got < total || fill) {
		size_t want = IO_CHUNK - fill;
		if (want > total - got)
			want = (size_t)(total - got);
		if (want) {
			r = emu_link_read(p->l, p->io + fill, want, mfw_deadline_in(RAW_RX_MS));
			if (r == MFW_E_TIMEOUT) {
				r = send_log(p, "ERROR: timed out waiting for data after %" PRIu64
					     " of %" PRIu64 " bytes", got, total);
				return r < 0 ? r : send_response(p, false, 0, NULL, 0);
			}
			if (r < 0)
				return r;
			fill += (size_t)r;
			got += (uint64_t)r;
		}
		if (fill == IO_CHUNK || got == total) {
			write_batch(p, &w, p->io, fill);
			w.done += fill;
			fill = 0;
		}
	}
	/* the final ACK comes when the last page is programmed */
	emu_lm_program_done(&p->emu->lm);
	if (w.failed) {
		mfw_dbg(p->emu->ctx, "firehose: program failed: %s", w.fail);
		r = send_log(p, "%s", w.fail);
		return r < 0 ? r : send_response(p, false, 0, NULL, 0);
	}
	return send_response(p, true, 0, NULL, 0);
}

/* Stream num sectors device->host; calls back per batch for the digest too. */
static int read_range(struct prog *p, const struct addr *a, struct emu_nand_cursor *c,
		      bool send, EVP_MD_CTX *md, uint64_t *sent)
{
	struct emu_store *st = p->st;
	uint64_t left = a->num, lin = a->start;
	int r = 0;

	*sent = 0;
	while (left) {
		uint64_t pages = left > IO_CHUNK / st->sector ? IO_CHUNK / st->sector : left;
		size_t fill = 0;

		if (st->nand) {
			while (pages) {
				uint64_t phys, n = emu_nand_cursor_run(st, c, pages, &phys);
				if (!n)
					return MFW_E_RANGE;
				r = emu_store_read(st, phys * st->sector, p->io + fill,
						   (size_t)(n * st->sector));
				if (r < 0)
					return r;
				fill += (size_t)(n * st->sector);
				pages -= n;
			}
		} else {
			fill = (size_t)(pages * st->sector);
			r = emu_store_read(st, lin * st->sector, p->io, fill);
			if (r < 0)
				return r;
			lin += pages;
		}
		if (md && EVP_DigestUpdate(md, p->io, fill) != 1)
			return MFW_E_IO;
		if (send) {
			r = emu_link_write(p->l, p->io, fill);
			if (r < 0)
				return r;
			*sent += fill;
		}
		left -= fill / st->sector;
	}
	return 0;
}

static int prepare_read(struct prog *p, const struct mfw_fh_elem *e, struct addr *a,
			struct emu_nand_cursor *c, char *err, size_t errcap)
{
	char what[160];

	if (parse_addr(p, e, a, err, errcap) < 0)
		return -1;
	if (p->st->nand) {
		int r = nand_cursor(p, a, false, c, what, sizeof(what));
		if (r == MFW_E_NOMEM)
			return r;
		if (r < 0 || good_pages(p->st, *c, a->num) < a->num) {
			snprintf(err, errcap, "ERROR: read past the good blocks of %s", what);
			return -1;
		}
	}
	return 0;
}

static int cmd_read(struct prog *p, const struct mfw_fh_elem *e)
{
	struct emu_nand_cursor c;
	struct addr a;
	char err[512];
	uint64_t sent = 0;
	int r;

	r = prepare_read(p, e, &a, &c, err, sizeof(err));
	if (r == -1)
		return nak(p, "%s", err);
	if (r < 0)
		return r;
	if (p->act.nak)
		return nak(p, "ERROR: Read failed at sector %" PRIu64 ": uncorrectable ECC error",
			   a.start);
	mfw_dbg(p->emu->ctx, "firehose: read start_sector %" PRIu64 " sectors %" PRIu64, a.start,
		a.num);
	r = send_response(p, true, 1, NULL, 0);
	if (r == 0)
		r = read_range(p, &a, &c, true, NULL, &sent);
	if (r == MFW_E_IO || r == MFW_E_RANGE) {
		/* the host counts on every byte it asked for, then on a final response */
		int err = r;
		uint64_t left = a.num * p->st->sector - sent;

		memset(p->io, 0, IO_CHUNK);
		for (r = 0; r == 0 && left;) {
			size_t n = left > IO_CHUNK ? IO_CHUNK : (size_t)left;
			r = emu_link_write(p->l, p->io, n);
			left -= n;
		}
		if (r == 0)
			r = send_log(p, "ERROR: read failed: %s", mfw_strerror(err));
		return r < 0 ? r : send_response(p, false, 0, NULL, 0);
	}
	if (r < 0)
		return r;
	return send_response(p, true, 0, NULL, 0);
}

static int cmd_digest(struct prog *p, const struct mfw_fh_elem *e)
{
	struct emu_nand_cursor c;
	uint8_t md[32];
	char hex[65];
	struct addr a;
	char err[512];
	uint64_t sent;
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx;
	int64_t t0;
	int r;

	r = prepare_read(p, e, &a, &c, err, sizeof(err));
	if (r == -1)
		return nak(p, "%s", err);
	if (r < 0)
		return r;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return MFW_E_NOMEM;
	t0 = emu_lm_now();
	r = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 ? 0 : MFW_E_IO;
	if (r == 0)
		r = read_range(p, &a, &c, false, ctx, &sent);
	if (r == 0 && EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		r = MFW_E_IO;
	EVP_MD_CTX_free(ctx);
	/* the link model's report counts this as device time the host waits for */
	emu_lm_busy(&p->emu->lm, emu_lm_now() - t0);
	if (r < 0)
		return nak(p, "ERROR: digest failed: %s", mfw_strerror(r));
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02X", md[i]);
	r = send_log(p, "Digest: %s", hex);
	return r < 0 ? r : ack(p);
}

static int cmd_erase(struct prog *p, const struct mfw_fh_elem *e)
{
	struct emu_store *st = p->st;
	struct addr a;
	char err[512];
	uint64_t num;
	int r;

	if (parse_addr(p, e, &a, err, sizeof(err)) < 0)
		return nak(p, "%s", err);
	num = a.num;
	if (!num && a.has_last)
		num = a.last - a.start + 1;
	if (!st->nand) {
		r = emu_store_fill(st, a.start * st->sector, num * st->sector, 0x00);
		if (r < 0)
			return nak(p, "ERROR: erase failed: %s", mfw_strerror(r));
		mfw_dbg(p->emu->ctx, "firehose: erase sectors %" PRIu64 "+%" PRIu64, a.start, num);
		return ack(p);
	}
	if (a.start % st->ppb || num % st->ppb)
		return nak(p, "ERROR: start_sector unaligned: erase of sectors %" PRIu64 "+%" PRIu64
			   " is not on %u-page block boundaries", a.start, num, st->ppb);
	{
		uint64_t first = a.start / st->ppb, n = num / st->ppb, erased = 0, bad = 0;

		/* the modelled erase time runs while the file is written, not after it */
		if (p->emu->lm.on) {
			uint64_t good = 0;
			for (uint64_t b = first; b < first + n; b++)
				good += !emu_store_is_bad(st, b);
			emu_lm_erase(&p->emu->lm, good);
		}
		for (uint64_t b = first; b < first + n; b++) {
			/* bad blocks are never erased: their marking must survive */
			if (emu_store_is_bad(st, b)) {
				bad++;
				continue;
			}
			r = emu_store_fill(st, b * st->block, st->block, 0xFF);
			if (r < 0)
				return nak(p, "ERROR: erase of block %" PRIu64 " failed: %s", b,
					   mfw_strerror(r));
			erased++;
		}
		emu_lm_erase_wait(&p->emu->lm);
		mfw_dbg(p->emu->ctx, "firehose: erase %s blocks %" PRIu64 "+%" PRIu64 " (%" PRIu64
			" bad skipped)", a.label ? a.label : "-", first, n, bad);
		r = send_log(p, "INFO: Erased %" PRIu64 " blocks from sector %" PRIu64
			     " (%" PRIu64 " bad blocks skipped)", erased, a.start, bad);
	}
	return r < 0 ? r : ack(p);
}

static int cmd_patch(struct prog *p, const struct mfw_fh_elem *e)
{
	struct emu_store *st = p->st;
	const char *file = mfw_fh_attr_get(e, "filename");
	const char *value = mfw_fh_attr_get(e, "value");
	uint64_t sector_size = 512, start, byte_off, size, ppn, v;
	struct mfw_expr_env env;
	uint8_t le[8];
	bool have;
	char err[512];
	uint64_t off;
	int r;

	if (!file || strcmp(file, "DISK"))
		return nak(p, "ERROR: patch of file '%s' is not for the device: only filename=\"DISK\""
			   " is patched here", file ? file : "");
	if (attr_value(p, e, "SECTOR_SIZE_IN_BYTES", &have, &sector_size, err, sizeof(err)) < 0 ||
	    attr_value(p, e, "physical_partition_number", &have, &ppn, err, sizeof(err)) < 0)
		return nak(p, "%s", err);
	if (have && ppn)
		return nak(p, "ERROR: physical_partition_number %" PRIu64 " does not exist", ppn);
	if (sector_size != st->sector)
		return nak(p, "ERROR: SECTOR_SIZE_IN_BYTES=%" PRIu64 " does not match the sector size %u",
			   sector_size, st->sector);
	if (attr_value(p, e, "start_sector", &have, &start, err, sizeof(err)) < 0)
		return nak(p, "%s", err);
	if (!have)
		return nak(p, "ERROR: patch without start_sector");
	if (attr_value(p, e, "byte_offset", &have, &byte_off, err, sizeof(err)) < 0)
		return nak(p, "%s", err);
	if (!have)
		byte_off = 0;
	if (attr_value(p, e, "size_in_bytes", &have, &size, err, sizeof(err)) < 0)
		return nak(p, "%s", err);
	if (!have || size == 0 || size > 8)
		return nak(p, "ERROR: size_in_bytes must be 1..8");
	if (!value)
		return nak(p, "ERROR: patch without value");
	expr_env(p, &env);
	mfw_ctx_clear_detail(p->emu->dctx);
	r = mfw_expr_eval_text(p->emu->dctx, value, &env, &v);
	if (r < 0)
		return nak(p, "ERROR: cannot evaluate value=\"%s\": %s", value,
			   mfw_ctx_detail(p->emu->dctx));
	if (start > st->nsectors || byte_off > st->size ||
	    start * st->sector > st->size - byte_off ||
	    start * st->sector + byte_off > st->size - size)
		return nak(p, "ERROR: patch at sector %" PRIu64 " byte %" PRIu64
			   " is past the end of the disk", start, byte_off);
	off = start * st->sector + byte_off;
	mfw_put_le64(le, v);
	/* written in place; on NAND this stands for the programmer's read-erase-rewrite of the block */
	r = emu_store_write(st, off, le, (size_t)size);
	if (r < 0)
		return nak(p, "ERROR: patch write failed: %s", mfw_strerror(r));
	mfw_dbg(p->emu->ctx, "firehose: patch sector %" PRIu64 " byte %" PRIu64 " = 0x%" PRIx64
		" (%s)", start, byte_off, v, value);
	return ack(p);
}

static int cmd_storage_info(struct prog *p)
{
	struct emu_store *st = p->st;
	int r;

	if (st->nand)
		r = send_log(p, "INFO: {\"storage_info\": {\"total_blocks\":%u, \"block_size\":%u, "
			     "\"page_size\":%u, \"num_physical\":1, \"mem_type\":\"NAND\", "
			     "\"prod_name\":\"MFW-VNAND\"}}", st->nblocks, st->block, st->sector);
	else
		r = send_log(p, "INFO: {\"storage_info\": {\"total_blocks\":%" PRIu64
			     ", \"block_size\":%u, \"page_size\":%u, \"num_physical\":1, "
			     "\"mem_type\":\"eMMC\", \"prod_name\":\"MFW-VEMMC\"}}",
			     st->nsectors, st->sector, st->sector);
	return r < 0 ? r : ack(p);
}

static int cmd_power(struct prog *p, const struct mfw_fh_elem *e)
{
	const char *v = mfw_fh_attr_get(e, "value");
	int r;

	if (!v || (strcasecmp(v, "reset") && strcasecmp(v, "off") &&
		   strcasecmp(v, "reset_to_edl")))
		return nak(p, "ERROR: power value '%s' is not supported (reset, off, reset_to_edl)",
			   v ? v : "");
	r = send_log(p, "INFO: %s in progress", !strcasecmp(v, "off") ? "Power off" : "Reset");
	if (r == 0)
		r = ack(p);
	if (r == 0) {
		/* DelayInSeconds is not waited out: the link drops at once (docs/emulator.md) */
		mfw_dbg(p->emu->ctx, "firehose: power %s", v);
		*p->end = EMU_END_RESET;
	}
	return r;
}

/* The "nak" fault: the refusal a real programmer gives for a failing operation. */
static int nak_fault(struct prog *p, const struct mfw_fh_elem *e)
{
	const char *tag = e->tag, *start = mfw_fh_attr_get(e, "start_sector");

	if (!strcasecmp(tag, "erase"))
		return nak(p, "ERROR: Failed to erase block at sector %s: %s status 0x01 (erase error)",
			   start ? start : "?", p->st->nand ? "NAND" : "eMMC");
	if (!strcasecmp(tag, "patch"))
		return nak(p, "ERROR: Failed to patch sector %s: write error", start ? start : "?");
	if (!strcasecmp(tag, "getsha256digest"))
		return nak(p, "ERROR: Failed to read sector %s for the digest: uncorrectable ECC error",
			   start ? start : "?");
	if (!strcasecmp(tag, "configure"))
		return nak(p, "ERROR: Storage init failed: %s controller status 0x05",
			   mem_name(p));
	return nak(p, "ERROR: %s failed: status 0x01", tag);
}

static int handle_doc(struct prog *p, const char *doc, size_t len)
{
	struct mfw_fh_msg msg = { 0 };
	const struct mfw_fh_elem *e;
	const char *tag;
	int r;

	/* what we announced in MaxXMLSizeInBytes is what we take */
	if (len > MAX_XML_SIZE)
		return nak(p, "ERROR: XML of %zu bytes exceeds MaxXMLSizeInBytes %u", len,
			   MAX_XML_SIZE);
	mfw_ctx_clear_detail(p->emu->dctx);
	r = mfw_fh_parse(p->emu->dctx, doc, len, &msg);
	if (r < 0)
		return nak(p, "ERROR: XML not parsed: %s", mfw_ctx_detail(p->emu->dctx));
	if (!msg.nelem) {
		r = nak(p, "ERROR: no command in the XML");
		goto out_free;
	}
	e = &msg.elems[0];
	tag = e->tag;
	mfw_trace(p->emu->ctx, "firehose: <%s>", tag);
	memset(&p->act, 0, sizeof(p->act));
	if (p->emu->nfaults) {
		/* bytes that came with the command are still in the splitter */
		uint64_t end = atomic_load(&p->emu->in_bytes) - mfw_fh_splitter_pending(&p->sp);

		emu_fault_on_cmd(p->emu, tag, end, &p->act);
		if (p->act.end) {
			/* a hang or a disconnect instead of an answer */
			r = p->emu->unplugged ? MFW_E_NODEV : emu_fault_hang(p->l);
			goto out_free;
		}
		if (p->act.nak && strcasecmp(tag, "program") && strcasecmp(tag, "read")) {
			r = nak_fault(p, e);
			goto out_free;
		}
	}
	if (!strcasecmp(tag, "configure")) {
		r = cmd_configure(p, e);
	} else if (!strcasecmp(tag, "nop")) {
		r = send_functions(p);
		if (r == 0)
			r = ack(p);
	} else if (!strcasecmp(tag, "power")) {
		r = cmd_power(p, e);
	} else if (!p->emu->configured && (!strcasecmp(tag, "program") ||
					    !strcasecmp(tag, "read") || !strcasecmp(tag, "erase") ||
					    !strcasecmp(tag, "patch") ||
					    !strcasecmp(tag, "getstorageinfo") ||
					    !strcasecmp(tag, "getsha256digest") ||
					    !strcasecmp(tag, "setbootablestoragedrive") ||
					    !strcasecmp(tag, "benchmark"))) {
		r = nak(p, "ERROR: <%s> before <configure>: configure the storage first", tag);
	} else if (!strcasecmp(tag, "program")) {
		r = cmd_program(p, e);
	} else if (!strcasecmp(tag, "read")) {
		r = cmd_read(p, e);
	} else if (!strcasecmp(tag, "erase")) {
		r = cmd_erase(p, e);
	} else if (!strcasecmp(tag, "patch")) {
		r = cmd_patch(p, e);
	} else if (!strcasecmp(tag, "getstorageinfo")) {
		r = cmd_storage_info(p);
	} else if (!strcasecmp(tag, "getsha256digest")) {
		r = cmd_digest(p, e);
	} else if (!strcasecmp(tag, "setbootablestoragedrive")) {
		if (p->st->nand)
			r = nak(p, "ERROR: setbootablestoragedrive is not meaningful on NAND");
		else
			r = ack(p);
	} else if (!strcasecmp(tag, "benchmark")) {
		r = send_log(p, "INFO: benchmark: storage is a file, nothing to measure");
		if (r == 0)
			r = ack(p);
	} else {
		r = nak(p, "ERROR: Unsupported command <%s>", tag);
	}
out_free:
	mfw_fh_msg_free(&msg);
	return r;
}

int emu_programmer_start(struct emu_link *l)
{
	struct prog p = { .l = l, .emu = l->emu, .st = &l->emu->st };
	int r;

	mfw_dbg(l->emu->ctx, "programmer started");
	r = send_log(&p, "INFO: Binary build date: Nov 21 2026 @ 00:00:00");
	if (r == 0)
		r = send_log(&p, "INFO: Binary build id: modemfw virtual modem %s programmer",
			     p.st->nand ? "NAND" : "eMMC");
	if (r == 0)
		r = send_log(&p, "INFO: Chip serial num: %u (0x%x)", l->emu->cfg.serial,
			     l->emu->cfg.serial);
	if (r == 0)
		r = send_functions(&p);
	return r;
}

int emu_programmer_run(struct emu_link *l, enum emu_end *end)
{
	struct prog *p;
	uint8_t rx[4096];
	int r;

	*end = EMU_END_DISCONNECT;
	p = calloc(1, sizeof(*p));
	if (!p)
		return MFW_E_NOMEM;
	p->l = l;
	p->emu = l->emu;
	p->st = &l->emu->st;
	p->end = end;
	mfw_fh_splitter_init(&p->sp);
	p->io = malloc(IO_CHUNK);
	p->chk = malloc(IO_CHUNK);
	if (!p->io || !p->chk) {
		r = MFW_E_NOMEM;
		goto out_free;
	}
	for (;;) {
		const char *doc;
		size_t len;

		r = mfw_fh_splitter_next(&p->sp, &doc, &len);
		if (r < 0) {
			/* an oversized document: drop what we have and tell the host */
			mfw_fh_splitter_free(&p->sp);
			mfw_fh_splitter_init(&p->sp);
			r = nak(p, "ERROR: XML document larger than %u bytes", MFW_FH_MAX_DOC);
			if (r < 0)
				goto out_free;
			continue;
		}
		if (r == 1) {
			r = handle_doc(p, doc, len);
			if (r < 0 || *end == EMU_END_RESET)
				goto out_free;
			continue;
		}
		/* a programmer waits for its host as long as the link lasts; the link polls stop/cancel */
		r = emu_link_read(l, rx, sizeof(rx), MFW_DEADLINE_NONE);
		if (r < 0)
			goto out_free;
		if (mfw_fh_splitter_push(&p->sp, rx, (size_t)r) < 0) {
			mfw_fh_splitter_free(&p->sp);
			mfw_fh_splitter_init(&p->sp);
			r = nak(p, "ERROR: XML document larger than %u bytes", MFW_FH_MAX_DOC);
			if (r < 0)
				goto out_free;
		}
	}
out_free:
	mfw_fh_splitter_free(&p->sp);
	free(p->io);
	free(p->chk);
	free(p);
	return r;
}
