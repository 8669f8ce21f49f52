/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * modemfw flash: run a checked plan against a device in EDL.
 */
#include "ops/plan.h"
#include "ops/sparse_map.h"
#include "ops/journal.h"
#include "ops/conn.h"
#include "ops/backup.h"
#include "core/core.h"
#include "proto/expr.h"
#include "qcom/edl.h"
#include "qcom/firehose.h"
#include "util/crc.h"
#include "util/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PAYLOAD (1024u * 1024u)
/* A file patched in memory (MIBIB, GPT) is small; anything larger is refused. */
#define MAX_PATCHED_FILE (64u * 1024u * 1024u)
/* qdl: DelayInSeconds 10 after reset "to avoid reboot failure" (PR #175); the emulator ignores it. */
#define RESET_DELAY_S 1

struct lun_geo {
	bool known;
	struct mfw_fh_storage_info si;
	uint64_t num_disk_sectors;
	uint64_t num_disk_blocks;
};

/*
 * A unit is what is redone as a whole after an interruption: the erases
 * and programs of one partition (steps whose sector ranges overlap).
 */
#define UNIT_MAX_STEPS 16
struct unit {
	unsigned index;
	char label[64];          /* journal-safe: [A-Za-z0-9_.-] */
	unsigned lun;
	uint64_t first, last;    /* sectors */
	size_t steps[UNIT_MAX_STEPS];
	size_t nsteps;
	unsigned programs_left;
	bool has_program;
	bool sparse;
	bool done;               /* skipped or completed */
	uint8_t digest[32];      /* over the programs' local digests */
	bool digest_known;
	uint8_t step_digest[UNIT_MAX_STEPS][32]; /* programs' digests as they were sent */
};

struct flash_run {
	struct mfw_ctx *ctx;
	struct mfw_transport *t;
	struct unit *units;
	size_t nunits;
	size_t *step_unit;       /* plan step -> unit index (SIZE_MAX for patches) */
	struct mfw_journal journal;
	bool have_journal;
	struct mfw_conn conn;
	char package_hash[65];
	const struct mfw_flash_opts *o;
	struct mfw_plan plan;
	struct lun_geo lun[MFW_PKG_MAX_LUNS];
	struct mfw_flash_summary *sum;
	bool use_digest;
	bool use_readback;
};

/* ---- expressions ---- */
struct crc_buf {
	const uint8_t *data;
	size_t len;
	uint32_t sector_size;
};

static int crc_over_buffer(void *user, uint64_t start_sector, uint64_t len, uint32_t *out)
{
	const struct crc_buf *b = user;
	uint64_t off = start_sector * b->sector_size;
	if (off > b->len || len > b->len - off)
		return MFW_E_RANGE;
	*out = mfw_crc32(0, b->data + off, (size_t)len);
	return 0;
}

static void env_for(const struct flash_run *fr, unsigned lun, uint32_t sector_size,
		    struct mfw_expr_env *env)
{
	memset(env, 0, sizeof(*env));
	env->num_disk_sectors = fr->lun[lun].num_disk_sectors;
	env->num_disk_blocks = fr->lun[lun].num_disk_blocks;
	env->sector_size = sector_size;
}

static int eval_sector(struct flash_run *fr, const struct mfw_step *s, uint64_t *out)
{
	struct mfw_expr_env env;
	int r;
	env_for(fr, s->e->physical_partition_number, s->e->sector_size, &env);
	r = mfw_expr_eval_text(fr->ctx, s->e->start_sector, &env, out);
	if (r < 0)
		return mfw_fail_keep(fr->ctx, r, "%s line %u: cannot evaluate start_sector '%s'",
				     fr->plan.files[s->manifest].name, s->e->line, s->e->start_sector);
	return 0;
}

/* ---- file-targeted patches (MIBIB image, gpt_main0.bin) ---- */
static int apply_file_patch(struct flash_run *fr, const struct mfw_rp_file *pf,
			    const struct mfw_rp_elem *p, uint8_t *buf, size_t len)
{
	struct crc_buf cb = { buf, len, p->sector_size };
	struct mfw_expr_env env;
	uint64_t sector, value, off;
	int r;

	env_for(fr, p->physical_partition_number, p->sector_size, &env);
	env.crc32 = crc_over_buffer;
	env.user = &cb;
	r = mfw_expr_eval_text(fr->ctx, p->start_sector, &env, &sector);
	if (r == 0)
		r = mfw_expr_eval_text(fr->ctx, p->value, &env, &value);
	if (r < 0)
		return mfw_fail_keep(fr->ctx, r, "%s line %u: cannot evaluate patch '%s'", pf->name,
				     p->line, p->value);
	off = sector * p->sector_size + p->byte_offset;
	if (p->size_in_bytes == 0 || p->size_in_bytes > 8 || off > len || p->size_in_bytes > len - off)
		return mfw_fail(fr->ctx, MFW_E_FORMAT,
				"%s line %u: patch writes %u bytes at byte %llu of a %zu-byte file",
				pf->name, p->line, p->size_in_bytes, (unsigned long long)off, len);
	for (unsigned i = 0; i < p->size_in_bytes; i++)
		buf[off + i] = (uint8_t)(value >> (8 * i)); /* little-endian (patch file NOTE) */
	mfw_dbg(fr->ctx, "patched %s byte %llu = %llu (%s)", p->filename, (unsigned long long)off,
		(unsigned long long)value, p->what);
	return 0;
}

static int prepare_patched(struct flash_run *fr, struct mfw_step *s)
{
	const struct mfw_rp_elem *e = s->e;
	void *data = NULL;
	size_t len = 0;
	int r, found = 0;

	for (unsigned fi = 0; fi < fr->plan.nfiles; fi++) {
		const struct mfw_rp_file *pf = &fr->plan.files[fi];
		if (pf->doc != MFW_RP_DOC_PATCH)
			continue;
		for (size_t i = 0; i < pf->nelem; i++) {
			const struct mfw_rp_elem *p = &pf->elems[i];
			char target[MFW_PKG_PATH_MAX];
			if (p->kind != MFW_RP_PATCH || !strcasecmp(p->filename, "DISK"))
				continue;
			if (mfw_pkg_resolve(NULL, pf->name, p->filename, target, sizeof(target)) < 0 ||
			    strcmp(target, s->file))
				continue;
			if (!data) {
				r = mfw_pkg_read_all(fr->ctx, fr->plan.pkg, s->file, MAX_PATCHED_FILE,
						     &data, &len);
				if (r < 0)
					return r;
			}
			r = apply_file_patch(fr, pf, p, data, len);
			if (r < 0) {
				free(data);
				return r;
			}
			found++;
		}
	}
	(void)e;
	if (found) {
		free(s->patched);
		s->patched = data;
		s->data_size = len - (size_t)(e->file_sector_offset * e->sector_size);
	}
	return 0;
}

/* ---- program source: file (or patched copy), padded to whole sectors, hashed ---- */

/*
 * The last sector is padded. On NAND with 0xFF (the erased value: UBI
 * and the programmer treat such pages as empty); on eMMC with 0x00 as
 * qdl and QFirehose do.
 */
static uint8_t pad_byte(const struct flash_run *fr)
{
	return fr->plan.nand ? 0xFF : 0x00;
}

/* What a plain program of step s sends: its data padded to whole sectors. */
static uint64_t padded_bytes(const struct mfw_step *s)
{
	uint32_t ss = s->e->sector_size;

	return (s->data_size + ss - 1) / ss * ss;
}

struct prog_src {
	struct mfw_ctx *ctx;
	struct mfw_sparse_reader *sparse; /* sparse segment source, or NULL */
	struct mfw_pkg_file *f;
	const uint8_t *mem;
	uint64_t data_left;
	uint64_t mem_off;
	uint8_t pad;
	const uint8_t *map;  /* the file mapped (only when nothing needs hashing), or NULL */
	uint64_t map_off;    /* where the next byte is in map */
	bool digest_cached;  /* digest holds the range's SHA-256 already: do not hash */
	uint8_t digest[32];
	struct mfw_hash sha;
};

static int prog_fill(void *user, uint8_t *buf, size_t len)
{
	struct prog_src *ps = user;
	size_t done = 0;
	if (ps->sparse) {
		int r = mfw_sparse_reader_fill(ps->sparse, buf, len);
		return r < 0 ? r : mfw_hash_update(&ps->sha, buf, len);
	}
	while (done < len && ps->data_left) {
		size_t want = len - done, got = 0;
		int r;
		if (want > ps->data_left)
			want = (size_t)ps->data_left;
		if (ps->mem) {
			memcpy(buf + done, ps->mem + ps->mem_off, want);
			ps->mem_off += want;
			got = want;
		} else {
			r = mfw_pkg_file_read(ps->ctx, ps->f, buf + done, want, &got);
			if (r < 0)
				return r;
			if (!got)
				return mfw_fail(ps->ctx, MFW_E_IO, "file ended early");
			ps->map_off += got;
		}
		done += got;
		ps->data_left -= got;
	}
	if (done < len)
		memset(buf + done, ps->pad, len - done); /* see pad_byte() */
	return ps->digest_cached ? 0 : mfw_hash_update(&ps->sha, buf, len);
}

/*
 * Whole chunks of the file go to the transport without a copy in user
 * space: named by file and offset when the transport sends files itself
 * (a socket: sendfile), else from the read-only mapping (the kernel copies
 * them once, into the USB request). Only when nothing needs hashing:
 * hashing would touch the bytes in user space, where a file truncated
 * under us raises SIGBUS rather than an error. The file position follows,
 * so the padded tail is read as usual.
 */
static int prog_view(void *user, uint8_t *buf, size_t len, struct mfw_fh_chunk *c)
{
	struct prog_src *ps = user;
	int r;

	if (!ps->f || !ps->digest_cached || len > ps->data_left)
		return prog_fill(user, buf, len);
	if (c->file_ok) {
		r = mfw_pkg_file_claim(ps->ctx, ps->f, len, &c->file, &c->off);
		if (r == MFW_E_UNSUPPORTED) /* a zip member */
			return prog_fill(user, buf, len);
		if (r < 0)
			return r;
	} else if (ps->map) {
		r = mfw_pkg_file_skip(ps->ctx, ps->f, len);
		if (r < 0)
			return r;
		c->data = ps->map + ps->map_off;
	} else {
		return prog_fill(user, buf, len);
	}
	ps->map_off += len;
	ps->data_left -= len;
	return 0;
}

/*
 * How a plain program's bytes are named in the package's digest cache:
 * the file range it sends, the padded length and the pad byte. Patched
 * copies and sparse images are not cached (they are not the file's bytes).
 */
static bool range_cache_name(const struct flash_run *fr, const struct mfw_step *s, char *out,
			     size_t cap)
{
	const struct mfw_rp_elem *e = s->e;

	if (s->patched || e->sparse || !s->file[0])
		return false;
	return (size_t)snprintf(out, cap, "sha256:%llu+%llu/%llu:pad%02x",
				(unsigned long long)(e->file_sector_offset * e->sector_size),
				(unsigned long long)s->data_size, (unsigned long long)padded_bytes(s),
				pad_byte(fr)) < cap;
}

static int build_attrs(const struct mfw_step *s, uint64_t sectors, struct mfw_fh_attr **attrs,
		       size_t *n)
{
	char v[32];
	snprintf(v, sizeof(v), "%llu", (unsigned long long)sectors);
	return mfw_rp_attrs_replace(s->e->attrs, s->e->nattr, "num_partition_sectors", v, attrs, n);
}

static int program_and_verify(struct flash_run *fr, struct mfw_step *s,
			      struct mfw_fh_attr *attrs, size_t nattr, uint64_t bytes,
			      struct prog_src *ps, const char *name, uint8_t *out_digest);

/*
 * A sparse image is programmed as one <program> per stretch of data/fill
 * chunks, at start_sector + offset; don't-care stretches are not sent
 * (qdl does the same). The run map keeps memory bounded by the chunk count.
 */
static int run_sparse_segment(struct flash_run *fr, struct mfw_step *s, struct mfw_sparse_reader *rd,
			      uint64_t base, uint64_t img_off, uint64_t len, const char *name)
{
	const struct mfw_rp_elem *e = s->e;
	struct prog_src ps = { .ctx = fr->ctx, .sparse = rd };
	struct mfw_fh_attr *a1 = NULL, *a2 = NULL;
	size_t n1 = 0, n2 = 0;
	char v[32];
	int r;

	snprintf(v, sizeof(v), "%llu", (unsigned long long)(base + img_off / e->sector_size));
	r = build_attrs(s, len / e->sector_size, &a1, &n1);
	if (r == 0)
		r = mfw_rp_attrs_replace(a1, n1, "start_sector", v, &a2, &n2);
	if (r < 0) {
		r = mfw_fail(fr->ctx, MFW_E_NOMEM, "out of memory");
		goto out_free_attrs;
	}
	r = program_and_verify(fr, s, a2, n2, len, &ps, name, NULL);
out_free_attrs:
	mfw_rp_attrs_free(a1, n1);
	mfw_rp_attrs_free(a2, n2);
	return r;
}

static int run_sparse_program(struct flash_run *fr, struct mfw_step *s, const char *name)
{
	const struct mfw_rp_elem *e = s->e;
	struct mfw_sparse_reader rd = { .ctx = fr->ctx };
	struct mfw_sparse_map map;
	uint64_t base;
	size_t i = 0;
	int r;

	r = eval_sector(fr, s, &base);
	if (r < 0)
		return r;
	r = mfw_sparse_map_build(fr->ctx, fr->plan.pkg, s->file, &map);
	if (r < 0)
		return r;
	rd.map = &map;
	r = mfw_pkg_file_open(fr->ctx, fr->plan.pkg, s->file, &rd.f);
	if (r < 0)
		goto out_free_map;
	while (i < map.n && r == 0) {
		size_t j = i;
		uint64_t len = 0;
		if (map.runs[i].kind == MFW_SPARSE_RUN_DONT_CARE) {
			i++;
			continue;
		}
		while (j < map.n && map.runs[j].kind != MFW_SPARSE_RUN_DONT_CARE)
			len += map.runs[j++].len;
		if (map.runs[i].img_off % e->sector_size || len % e->sector_size) {
			r = mfw_fail(fr->ctx, MFW_E_FORMAT, "sparse image '%s' has chunks that are not "
				     "multiples of %u-byte sectors", s->file, e->sector_size);
			break;
		}
		rd.run = i;
		rd.in_run = 0;
		r = run_sparse_segment(fr, s, &rd, base, map.runs[i].img_off, len, name);
		i = j;
	}
	if (r == 0)
		fr->sum->programs++;
	mfw_pkg_file_close(rd.f);
out_free_map:
	mfw_sparse_map_free(&map);
	return r;
}

/* out_digest (may be NULL): SHA-256 of exactly what was sent, as local_digest() computes it. */
static int run_program(struct flash_run *fr, struct mfw_step *s, uint8_t *out_digest)
{
	const struct mfw_rp_elem *e = s->e;
	struct prog_src ps = { .ctx = fr->ctx, .pad = pad_byte(fr) };
	struct mfw_fh_attr *attrs = NULL;
	uint64_t sectors, bytes;
	size_t nattr = 0;
	char name[MFW_PKG_PATH_MAX], what[96];
	bool cacheable;
	int r;

	mfw_step_name(s, name, sizeof(name));
	if (e->sparse)
		return run_sparse_program(fr, s, name);
	r = prepare_patched(fr, s);
	if (r < 0)
		return r;
	bytes = padded_bytes(s);
	sectors = bytes / e->sector_size;
	r = build_attrs(s, sectors, &attrs, &nattr);
	if (r < 0)
		return mfw_fail(fr->ctx, r, "out of memory");
	ps.data_left = s->data_size;
	cacheable = range_cache_name(fr, s, what, sizeof(what));
	if (cacheable)
		ps.digest_cached = mfw_pkg_cached_digest(fr->plan.pkg, s->file, what, ps.digest);
	if (s->patched) {
		ps.mem = s->patched;
		ps.mem_off = e->file_sector_offset * e->sector_size;
	} else {
		r = mfw_pkg_file_open(fr->ctx, fr->plan.pkg, s->file, &ps.f);
		if (r < 0)
			goto out_free_attrs;
		r = mfw_pkg_file_skip(fr->ctx, ps.f, e->file_sector_offset * e->sector_size);
		if (r < 0)
			goto out_close_file;
		ps.map_off = e->file_sector_offset * e->sector_size;
		/* sockets send the file themselves (prog_view): nothing to map */
		if (ps.digest_cached && !mfw_transport_can_send_file(fr->conn.fh.t) &&
		    mfw_pkg_file_map(ps.f, &ps.map) < 0)
			ps.map = NULL; /* read it instead */
	}
	mfw_dbg(fr->ctx, "program '%s' from %s: %llu sectors at %s", name, s->file,
		(unsigned long long)sectors, e->start_sector);
	r = program_and_verify(fr, s, attrs, nattr, bytes, &ps, name, out_digest);
	if (r == 0)
		fr->sum->programs++;
	if (r == 0 && cacheable && !ps.digest_cached)
		mfw_pkg_cache_digest(fr->plan.pkg, s->file, what, ps.digest);
out_close_file:
	if (ps.f)
		mfw_pkg_file_close(ps.f);
out_free_attrs:
	mfw_rp_attrs_free(attrs, nattr);
	return r;
}

/* ---- verification ---- */
static int local_digest(struct flash_run *fr, struct mfw_step *s, uint8_t out[32], uint64_t *bytes,
			bool use_cache);

/*
 * want came from the digest cache and the device disagrees: hash the file
 * itself before calling it a failed write. A stale or damaged cache line must
 * not make every flash fail; the correct digest replaces it.
 */
static bool cached_digest_was_stale(struct flash_run *fr, struct mfw_step *s,
				    const uint8_t device[32])
{
	uint8_t real[32];
	uint64_t bytes;

	if (local_digest(fr, s, real, &bytes, false) < 0)
		return false;
	mfw_dbg(fr->ctx, "'%s': the cached digest was stale, the file's own %s the device's",
		s->file, memcmp(real, device, 32) ? "differs from" : "matches");
	return !memcmp(real, device, 32);
}

static int verify_range(struct flash_run *fr, struct mfw_step *s, struct mfw_fh_attr *attrs,
			size_t nattr, uint64_t bytes, uint8_t want[32], bool want_cached,
			const char *name)
{
	uint8_t got[32];
	char a[65], b[65];
	int r;

	if (!fr->use_digest && !fr->use_readback)
		return 0;
	mfw_progress(fr->ctx, "verify", name, 0, bytes);
	r = mfw_fh_range_sha256(&fr->conn.fh, attrs, nattr, bytes, fr->use_digest, name, got);
	if (r < 0)
		return r;
	mfw_progress(fr->ctx, "verify", name, bytes, bytes);
	if (memcmp(got, want, 32) && want_cached && cached_digest_was_stale(fr, s, got))
		memcpy(want, got, 32); /* the file's own digest, now also in the cache */
	if (memcmp(got, want, 32)) {
		mfw_hex_encode(want, 32, a);
		mfw_hex_encode(got, 32, b);
		return mfw_fail(fr->ctx, MFW_E_VERIFY,
				"'%s' (%llu bytes at sector %s) reads back different from what was "
				"written: sha256 %s expected, device has %s",
				name, (unsigned long long)bytes, s->e->start_sector, a, b);
	}
	fr->sum->verified++;
	return 0;
}

/*
 * Program bytes from ps (hashing what is sent), count them, verify the
 * range. out_digest (may be NULL) gets the SHA-256 of what was sent.
 */
static int program_and_verify(struct flash_run *fr, struct mfw_step *s,
			      struct mfw_fh_attr *attrs, size_t nattr, uint64_t bytes,
			      struct prog_src *ps, const char *name, uint8_t *out_digest)
{
	int r = ps->digest_cached ? 0 : mfw_hash_init(&ps->sha, MFW_HASH_SHA256);
	if (r < 0)
		return r;
	r = mfw_fh_program_view(&fr->conn.fh, attrs, nattr, bytes, prog_view, ps, name);
	if (r < 0) {
		if (!ps->digest_cached)
			mfw_hash_free(&ps->sha);
		return r;
	}
	if (!ps->digest_cached) {
		r = mfw_hash_final(&ps->sha, ps->digest, sizeof(ps->digest));
		if (r < 0)
			return r;
	}
	fr->sum->bytes += bytes;
	r = verify_range(fr, s, attrs, nattr, bytes, ps->digest, ps->digest_cached, name);
	if (r == 0 && out_digest)
		memcpy(out_digest, ps->digest, 32);
	return r;
}

/* ---- device phases ---- */
static int open_session(struct flash_run *fr)
{
	struct mfw_conn_opts co = {
		.programmer = fr->plan.programmer,
		.programmer_len = fr->plan.programmer_len,
		.programmer_name = fr->plan.layout.programmer,
		.memory = fr->plan.nand ? "nand" : "emmc",
		.max_payload = fr->o->max_payload,
		.stall_ms = fr->o->stall_ms,
	};
	int r = mfw_conn_open(&fr->conn, fr->ctx, fr->t, &co);
	fr->sum->programmer_uploaded = fr->conn.programmer_uploaded;
	return r;
}

static bool lun_used(const struct mfw_plan *p, unsigned lun)
{
	for (size_t i = 0; i < p->nsteps; i++)
		if (p->steps[i].e->physical_partition_number == lun)
			return true;
	return false;
}

/* Read each used LUN's geometry and check the package against it before anything is erased. */
static int check_geometry(struct flash_run *fr)
{
	for (unsigned lun = 0; lun < MFW_PKG_MAX_LUNS; lun++) {
		struct lun_geo *g = &fr->lun[lun];
		int r;
		if (!lun_used(&fr->plan, lun))
			continue;
		r = mfw_fh_storage_info(&fr->conn.fh, lun, &g->si);
		if (r < 0)
			return r;
		g->known = true;
		if (fr->plan.nand) {
			uint32_t ppb;
			if (!(g->si.have & MFW_FH_SI_PAGE_SIZE) || !(g->si.have & MFW_FH_SI_BLOCK_SIZE) ||
			    !g->si.page_size || g->si.block_size % g->si.page_size)
				return mfw_fail(fr->ctx, MFW_E_PROTO,
						"the programmer did not report NAND page and block size");
			ppb = g->si.block_size / g->si.page_size;
			g->num_disk_blocks = g->si.total_blocks;
			g->num_disk_sectors = g->si.total_blocks * ppb;
			if (fr->plan.layout.page_size &&
			    (fr->plan.layout.page_size != g->si.page_size ||
			     fr->plan.layout.block_size != g->si.block_size))
				return mfw_fail(fr->ctx, MFW_E_MISMATCH,
						"the package is for %u-byte pages and %u KiB blocks but "
						"the device has %u-byte pages and %u KiB blocks; nothing "
						"was erased",
						fr->plan.layout.page_size, fr->plan.layout.block_size / 1024,
						g->si.page_size, g->si.block_size / 1024);
			for (size_t i = 0; i < fr->plan.nsteps; i++) {
				const struct mfw_rp_elem *e = fr->plan.steps[i].e;
				if (fr->plan.steps[i].kind == MFW_STEP_PATCH)
					continue;
				if (e->sector_size != g->si.page_size ||
				    (e->pages_per_block && e->pages_per_block != ppb))
					return mfw_fail(fr->ctx, MFW_E_MISMATCH,
							"%s line %u uses %u-byte sectors and %u pages "
							"per block; the device has %u and %u; nothing "
							"was erased",
							fr->plan.files[fr->plan.steps[i].manifest].name,
							e->line, e->sector_size, e->pages_per_block,
							g->si.page_size, ppb);
			}
		} else {
			g->num_disk_sectors = g->si.total_blocks;
		}
		mfw_dbg(fr->ctx, "lun %u: %llu sectors (%s)", lun,
			(unsigned long long)g->num_disk_sectors, g->si.mem_type);
	}
	return 0;
}

/* ---- units ---- */
static void safe_label(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	for (; in && *in && o + 1 < cap; in++) {
		char c = *in;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '_' || c == '.' || c == '-';
		out[o++] = ok ? c : '_';
	}
	if (!o && cap > 1)
		out[o++] = '_';
	out[o] = '\0';
}

static int step_range(struct flash_run *fr, const struct mfw_step *s, uint64_t *first, uint64_t *last)
{
	uint64_t start, n;
	int r = eval_sector(fr, s, &start);
	if (r < 0)
		return r;
	if (s->e->has_last_sector && s->e->last_sector >= start)
		n = s->e->last_sector - start + 1;
	else if (s->kind == MFW_STEP_PROGRAM)
		n = (s->data_size + s->e->sector_size - 1) / s->e->sector_size;
	else
		n = s->e->num_partition_sectors;
	*first = start;
	*last = start + (n ? n : 1) - 1;
	return 0;
}

static int build_units(struct flash_run *fr)
{
	struct mfw_plan *p = &fr->plan;
	int r;

	fr->units = calloc(p->nsteps ? p->nsteps : 1, sizeof(*fr->units));
	fr->step_unit = calloc(p->nsteps ? p->nsteps : 1, sizeof(*fr->step_unit));
	if (!fr->units || !fr->step_unit)
		return mfw_fail(fr->ctx, MFW_E_NOMEM, "out of memory");
	for (size_t i = 0; i < p->nsteps; i++) {
		struct mfw_step *s = &p->steps[i];
		uint64_t first, last;
		struct unit *u = NULL;
		fr->step_unit[i] = SIZE_MAX;
		if (s->kind == MFW_STEP_PATCH)
			continue;
		r = step_range(fr, s, &first, &last);
		if (r < 0)
			return r;
		for (size_t k = 0; k < fr->nunits && !u; k++) {
			struct unit *c = &fr->units[k];
			if (c->lun == s->e->physical_partition_number && first <= c->last &&
			    last >= c->first && c->nsteps < UNIT_MAX_STEPS)
				u = c;
		}
		if (!u) {
			u = &fr->units[fr->nunits];
			u->index = (unsigned)fr->nunits++;
			u->lun = s->e->physical_partition_number;
			u->first = first;
			u->last = last;
			safe_label(s->e->label && s->e->label[0] ? s->e->label : s->file, u->label,
				   sizeof(u->label));
		}
		if (first < u->first)
			u->first = first;
		if (last > u->last)
			u->last = last;
		u->steps[u->nsteps++] = i;
		fr->step_unit[i] = (size_t)u->index;
		if (s->kind == MFW_STEP_PROGRAM) {
			u->has_program = true;
			u->programs_left++;
			if (s->e->sparse)
				u->sparse = true;
		}
	}
	fr->sum->units = (unsigned)fr->nunits;
	return 0;
}

/*
 * SHA-256 of exactly what run_program would send for step s; from the
 * package's digest cache when use_cache and it knows the range (a computed
 * digest is remembered there).
 */
static int local_digest(struct flash_run *fr, struct mfw_step *s, uint8_t out[32], uint64_t *bytes,
			bool use_cache)
{
	const struct mfw_rp_elem *e = s->e;
	struct prog_src ps = { .ctx = fr->ctx, .pad = pad_byte(fr) };
	uint64_t total, done = 0;
	uint8_t *buf;
	char what[96];
	bool cacheable;
	int r;

	r = prepare_patched(fr, s);
	if (r < 0)
		return r;
	total = padded_bytes(s);
	*bytes = total;
	cacheable = range_cache_name(fr, s, what, sizeof(what));
	if (cacheable && use_cache && mfw_pkg_cached_digest(fr->plan.pkg, s->file, what, out))
		return 0;
	buf = malloc(1 << 20);
	if (!buf)
		return mfw_fail(fr->ctx, MFW_E_NOMEM, "out of memory");
	ps.data_left = s->data_size;
	if (s->patched) {
		ps.mem = s->patched;
		ps.mem_off = e->file_sector_offset * e->sector_size;
	} else {
		r = mfw_pkg_file_open(fr->ctx, fr->plan.pkg, s->file, &ps.f);
		if (r == 0)
			r = mfw_pkg_file_skip(fr->ctx, ps.f, e->file_sector_offset * e->sector_size);
		if (r < 0)
			goto out_free;
	}
	r = mfw_hash_init(&ps.sha, MFW_HASH_SHA256);
	while (r == 0 && done < total) {
		size_t n = total - done > (1 << 20) ? (1 << 20) : (size_t)(total - done);
		r = prog_fill(&ps, buf, n);
		done += n;
	}
	if (r == 0)
		r = mfw_hash_final(&ps.sha, out, 32);
	else
		mfw_hash_free(&ps.sha);
	if (r >= 0 && cacheable)
		mfw_pkg_cache_digest(fr->plan.pkg, s->file, what, out);
out_free:
	if (ps.f)
		mfw_pkg_file_close(ps.f);
	free(buf);
	return r < 0 ? r : 0;
}

/* Does the journal of an earlier run know this unit at all (whatever its digest)? */
static bool journal_knows(const struct flash_run *fr, const struct unit *u)
{
	if (!fr->have_journal)
		return false;
	for (size_t i = 0; i < fr->journal.nunits; i++)
		if (fr->journal.units[i].index == u->index && !strcmp(fr->journal.units[i].label, u->label))
			return true;
	return false;
}

/* Where run_program leaves the digest of plan step i of unit u. */
static uint8_t *unit_step_digest(struct unit *u, size_t step)
{
	for (size_t k = 0; k < u->nsteps; k++)
		if (u->steps[k] == step)
			return u->step_digest[k];
	return NULL;
}

/*
 * Decide which units need no work. A unit is skipped when the device proves
 * it holds exactly what we would write (getsha256digest of every program
 * range), and on NAND only when this device's journal also says the whole
 * partition (erased tail included) was written by an earlier run of this
 * package: a digest of the program range cannot see the rest of the
 * partition. Without a digest function a journaled unit is trusted only for
 * a device whose identity is known.
 */
static int plan_skips(struct flash_run *fr)
{
	for (size_t k = 0; k < fr->nunits; k++) {
		struct unit *u = &fr->units[k];
		uint8_t local[UNIT_MAX_STEPS][32];
		uint64_t bytes[UNIT_MAX_STEPS] = { 0 };
		struct mfw_hash h;
		bool device_match, vouched;
		int r;

		if (!u->has_program || u->sparse || u->done)
			continue;
		/*
		 * The local digest reads and hashes the whole unit from the
		 * package. It can prove a unit unchanged only against a journal
		 * that knows the unit, or (off NAND) against the device's digest;
		 * a unit that will be written gets it while it is sent instead
		 * (unit_completed), so a first flash hashes every byte once.
		 */
		if (!journal_knows(fr, u) && (fr->plan.nand || !fr->use_digest))
			continue;
		r = mfw_hash_init(&h, MFW_HASH_SHA256);
		for (size_t i = 0; i < u->nsteps && r == 0; i++) {
			struct mfw_step *s = &fr->plan.steps[u->steps[i]];
			if (s->kind != MFW_STEP_PROGRAM)
				continue;
			r = local_digest(fr, s, local[i], &bytes[i], true);
			if (r == 0)
				r = mfw_hash_update(&h, local[i], 32);
		}
		if (r < 0) {
			mfw_hash_free(&h);
			return r;
		}
		r = mfw_hash_final(&h, u->digest, 32);
		if (r < 0)
			return r;
		u->digest_known = true;
		vouched = fr->have_journal && mfw_journal_has(&fr->journal, u->index, u->label, u->digest);
		if (!fr->use_digest) {
			u->done = vouched && fr->conn.identity_known;
		} else if (fr->plan.nand && !vouched) {
			u->done = false; /* the digest cannot prove the partition's tail */
		} else {
			device_match = true;
			for (size_t i = 0; i < u->nsteps && device_match; i++) {
				struct mfw_step *s = &fr->plan.steps[u->steps[i]];
				struct mfw_fh_attr *attrs = NULL;
				size_t nattr = 0;
				uint8_t dev[32];
				if (s->kind != MFW_STEP_PROGRAM)
					continue;
				r = build_attrs(s, bytes[i] / s->e->sector_size, &attrs, &nattr);
				if (r < 0)
					return mfw_fail(fr->ctx, MFW_E_NOMEM, "out of memory");
				/* a NAK (range unreadable, bad block) just means "not proven" */
				if (mfw_fh_sha256(&fr->conn.fh, attrs, nattr, dev) < 0 ||
				    memcmp(local[i], dev, 32))
					device_match = false;
				mfw_ctx_clear_detail(fr->ctx);
				mfw_rp_attrs_free(attrs, nattr);
			}
			u->done = device_match;
		}
		if (u->done) {
			fr->sum->units_skipped++;
			mfw_notice(fr->ctx, "'%s' unchanged (%s): skipped", u->label,
				   fr->use_digest ? (vouched ? "device digest and journal"
							     : "device digest")
						  : "journal");
		}
	}
	return 0;
}

static int unit_completed(struct flash_run *fr, struct unit *u)
{
	u->done = true;
	if (!fr->have_journal)
		return 0;
	if (!u->digest_known && u->has_program && !u->sparse) {
		/* the same digest plan_skips computes, from what the programs sent */
		struct mfw_hash h;
		int r = mfw_hash_init(&h, MFW_HASH_SHA256);
		for (size_t i = 0; i < u->nsteps && r == 0; i++)
			if (fr->plan.steps[u->steps[i]].kind == MFW_STEP_PROGRAM)
				r = mfw_hash_update(&h, u->step_digest[i], 32);
		if (r < 0) {
			mfw_hash_free(&h);
			return r;
		}
		r = mfw_hash_final(&h, u->digest, 32);
		if (r < 0)
			return r;
		u->digest_known = true;
	}
	if (!u->digest_known) {
		/* erase-only units and sparse programs: digest over the steps' identity */
		struct mfw_hash h;
		int r = mfw_hash_init(&h, MFW_HASH_SHA256);
		if (r == 0)
			r = mfw_hash_update(&h, u->label, strlen(u->label));
		if (r == 0)
			r = mfw_hash_final(&h, u->digest, 32);
		if (r < 0)
			return r;
	}
	return mfw_journal_unit_done(fr->ctx, &fr->journal, u->index, u->label, u->digest);
}

static int run_steps(struct flash_run *fr)
{
	for (size_t i = 0; i < fr->plan.nsteps; i++) {
		struct mfw_step *s = &fr->plan.steps[i];
		struct unit *u = fr->step_unit[i] == SIZE_MAX ? NULL : &fr->units[fr->step_unit[i]];
		char name[MFW_PKG_PATH_MAX];
		uint64_t start;
		int r;

		if (u && u->done)
			continue;
		/* the safe point: between steps, never inside a transfer */
		if (mfw_cancelled(fr->ctx))
			return mfw_fail(fr->ctx, MFW_E_CANCELLED,
					"stopped at a safe point before step %zu of %zu; run the same "
					"command again to continue", i + 1, fr->plan.nsteps);
		/* every expression is evaluated before it is sent: a bad one stops here */
		if (s->kind != MFW_STEP_PATCH) {
			r = eval_sector(fr, s, &start);
			if (r < 0)
				return r;
		}
		mfw_step_name(s, name, sizeof(name));
		switch (s->kind) {
		case MFW_STEP_ERASE:
			mfw_progress(fr->ctx, "erase", name, 0, 1);
			r = mfw_fh_erase(&fr->conn.fh, s->e->attrs, s->e->nattr, name);
			if (r == 0) {
				fr->sum->erases++;
				mfw_progress(fr->ctx, "erase", name, 1, 1);
				if (u && !u->has_program)
					r = unit_completed(fr, u);
			}
			break;
		case MFW_STEP_PROGRAM:
			r = run_program(fr, s, u ? unit_step_digest(u, i) : NULL);
			if (r == 0 && u && --u->programs_left == 0)
				r = unit_completed(fr, u);
			break;
		case MFW_STEP_PATCH:
			r = mfw_fh_patch(&fr->conn.fh, s->e->attrs, s->e->nattr);
			if (r == 0)
				fr->sum->patches++;
			break;
		default:
			r = MFW_E_INVAL;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* A unit interrupted half-way is redone from its first step (erase first on NAND). */
static void reset_unfinished_units(struct flash_run *fr)
{
	for (size_t k = 0; k < fr->nunits; k++) {
		struct unit *u = &fr->units[k];
		if (u->done)
			continue;
		u->programs_left = 0;
		for (size_t i = 0; i < u->nsteps; i++)
			if (fr->plan.steps[u->steps[i]].kind == MFW_STEP_PROGRAM)
				u->programs_left++;
	}
}

static void choose_verify(struct flash_run *fr)
{
	bool digest = mfw_fh_funcs_has(&fr->conn.fh.funcs, "getsha256digest");
	fr->use_digest = fr->use_readback = false;
	switch (fr->o->verify) {
	case MFW_VERIFY_NONE:
		break;
	case MFW_VERIFY_DIGEST:
		fr->use_digest = true;
		break;
	case MFW_VERIFY_READBACK:
		fr->use_readback = true;
		break;
	default:
		fr->use_digest = digest;
		fr->use_readback = !digest;
	}
	fr->sum->verify_method = fr->use_digest ? "digest" : fr->use_readback ? "readback" : "none";
}

/*
 * The package's identity for the journal: md5.txt pins every file, the
 * manifests pin the plan, the programmer pins the protocol peer.
 */
static int package_hash(struct flash_run *fr)
{
	struct mfw_hash h;
	uint8_t d[32];
	int r = mfw_hash_init(&h, MFW_HASH_SHA256);
	const char *names[2 + 2 * MFW_PKG_MAX_LUNS];
	size_t n = 0;

	names[n++] = fr->plan.layout.md5sum;
	for (size_t i = 0; i < fr->plan.layout.nmanifest; i++) {
		names[n++] = fr->plan.layout.manifests[i].rawprogram;
		names[n++] = fr->plan.layout.manifests[i].patch;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		void *data = NULL;
		size_t len = 0;
		if (!names[i][0])
			continue;
		r = mfw_pkg_read_all(fr->ctx, fr->plan.pkg, names[i], MFW_RP_MAX_FILE, &data, &len);
		if (r == 0)
			r = mfw_hash_update(&h, data, len);
		free(data);
	}
	if (r == 0)
		r = mfw_hash_update(&h, fr->plan.programmer, fr->plan.programmer_len);
	/* without md5.txt the file contents are not pinned: add their sizes at least */
	for (size_t i = 0; i < fr->plan.nsteps && r == 0 && !fr->plan.layout.md5sum[0]; i++)
		r = mfw_hash_update(&h, &fr->plan.steps[i].file_size, sizeof(uint64_t));
	if (r < 0) {
		mfw_hash_free(&h);
		return r;
	}
	r = mfw_hash_final(&h, d, sizeof(d));
	if (r < 0)
		return r;
	mfw_hex_encode(d, 32, fr->package_hash);
	return 0;
}

static int open_journal(struct flash_run *fr)
{
	int r;
	if (!fr->o->journal_dir || fr->have_journal)
		return 0;
	r = mfw_journal_open(fr->ctx, &fr->journal, fr->o->journal_dir,
			     fr->conn.identity_known ? fr->conn.device_key : "unknown", fr->package_hash,
			     fr->o->restart);
	if (r < 0)
		return r;
	fr->have_journal = true;
	snprintf(fr->sum->journal, sizeof(fr->sum->journal), "%s", fr->journal.path);
	if (fr->journal.loaded && fr->journal.nunits)
		mfw_notice(fr->ctx, "journal %s: %zu partitions done in an earlier run%s",
			   fr->journal.path, fr->journal.nunits,
			   fr->journal.complete ? " (it completed)" : "");
	return 0;
}

static bool plan_writes(const struct flash_run *fr)
{
	for (size_t k = 0; k < fr->nunits; k++)
		if (!fr->units[k].done)
			return true;
	return false;
}

/*
 * Promise 2: before anything destructive, the device's identity and
 * calibration partitions are backed up and the backup is proven. A failed
 * backup stops the flash before the first erase.
 */
static int backup_before_writing(struct flash_run *fr)
{
	struct mfw_dev_layout *l;
	struct mfw_backup_summary bs;
	char dir[1100], when[32];
	time_t now = time(NULL);
	struct tm tm;
	int r;

	if (!fr->o->backup_dir || fr->o->no_backup || !plan_writes(fr))
		return 0;
	l = malloc(sizeof(*l));
	if (!l)
		return mfw_fail(fr->ctx, MFW_E_NOMEM, "out of memory");
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y%m%d-%H%M%S", &tm);
	/* one folder per device and time; two flashes in one second get -2, -3, ... */
	for (int k = 1; k < 100; k++) {
		char partial[1200];
		if (k == 1)
			snprintf(dir, sizeof(dir), "%s/%s/%s", fr->o->backup_dir, fr->conn.device_key, when);
		else
			snprintf(dir, sizeof(dir), "%s/%s/%s-%d", fr->o->backup_dir, fr->conn.device_key,
				 when, k);
		snprintf(partial, sizeof(partial), "%s.partial", dir);
		if (access(dir, F_OK) != 0 && access(partial, F_OK) != 0)
			break;
	}
	r = mfw_dev_layout_read(&fr->conn, l);
	if (r == 0)
		r = mfw_backup_session(&fr->conn, l, dir, &bs);
	free(l);
	if (r < 0)
		return mfw_fail_keep(fr->ctx, r, "backup before flashing failed; nothing was erased");
	snprintf(fr->sum->backup, sizeof(fr->sum->backup), "%s", bs.dir);
	mfw_notice(fr->ctx, "backed up %s (%.1f MiB, proven by %s) to %s", bs.labels,
		   (double)bs.bytes / 1048576.0, bs.method, bs.dir);
	return 0;
}

/* An allowed protected label also needs a verified backup of this very device. */
static int check_protected(struct flash_run *fr)
{
	for (size_t i = 0; i < fr->o->n_allow_protected; i++) {
		const char *label = fr->o->allow_protected[i];
		char found[1400];
		bool used = false;
		for (size_t k = 0; k < fr->plan.nsteps; k++)
			if (fr->plan.steps[k].e->label && !strcasecmp(fr->plan.steps[k].e->label, label))
				used = true;
		if (!used)
			continue;
		if (!fr->conn.identity_known)
			return mfw_fail(fr->ctx, MFW_E_PROTECTED,
					"'%s' is protected and this device's identity is unknown (a "
					"programmer was already running), so no backup can be proven to "
					"be its own; power-cycle the module and try again; nothing was "
					"erased", label);
		if (!fr->o->backup_dir ||
		    mfw_backup_find(fr->ctx, fr->o->backup_dir, fr->conn.device_key, label, found,
				    sizeof(found)) < 0)
			return mfw_fail(fr->ctx, MFW_E_PROTECTED,
					"'%s' may only be written with a verified backup of this device "
					"(%s), and there is none (--no-backup?); nothing was erased",
					label, fr->conn.device_key);
		mfw_notice(fr->ctx, "'%s' will be overwritten; its verified backup is %s", label, found);
	}
	return 0;
}

/* Wait for the device to come back and bring the session up again. */
static int recover(struct flash_run *fr, int err)
{
	int r;
	if (!fr->o->reconnect)
		return err;
	if (fr->sum->recoveries >= (fr->o->max_recoveries ? fr->o->max_recoveries : 5))
		return mfw_fail_keep(fr->ctx, err, "device disconnected again after %u recoveries",
				     fr->sum->recoveries);
	mfw_notice(fr->ctx, "device disconnected (%s); waiting for it to come back",
		   mfw_ctx_detail(fr->ctx)[0] ? mfw_ctx_detail(fr->ctx) : mfw_strerror(err));
	mfw_ctx_clear_detail(fr->ctx);
	r = fr->o->reconnect(fr->o->reconnect_user, &fr->t);
	if (r < 0)
		return mfw_fail_keep(fr->ctx, r, "the device did not come back after a disconnect");
	fr->sum->recoveries++;
	r = open_session(fr);
	if (r == 0)
		r = check_geometry(fr);
	if (r == 0)
		mfw_notice(fr->ctx, "device is back; continuing (recovery %u)", fr->sum->recoveries);
	return r;
}

static bool is_disconnect(int err)
{
	return err == MFW_E_NODEV || err == MFW_E_IO;
}

int mfw_flash(struct mfw_ctx *ctx, struct mfw_transport *t, const struct mfw_flash_opts *o,
	      struct mfw_flash_summary *sum)
{
	struct flash_run fr = { .ctx = ctx, .o = o, .sum = sum, .t = t };
	int64_t start;
	int r;

	memset(sum, 0, sizeof(*sum));
	if (!o->package)
		return mfw_fail(ctx, MFW_E_INVAL, "no package given");
	r = mfw_plan_build(ctx, o, &fr.plan);
	if (r < 0)
		return r;
	snprintf(sum->manifest_note, sizeof(sum->manifest_note), "%s", fr.plan.layout.note);
	snprintf(sum->storage, sizeof(sum->storage), "%s", fr.plan.nand ? "nand" : "emmc");
	snprintf(sum->programmer, sizeof(sum->programmer), "%s", fr.plan.layout.programmer);
	sum->skipped = fr.plan.skipped;
	r = package_hash(&fr);
	if (r < 0)
		goto out_free_plan;

	start = mfw_now_ms();
	for (;;) {
		r = open_session(&fr);
		if (r == 0)
			r = check_geometry(&fr);
		if (r == 0 || !is_disconnect(r) || !o->reconnect)
			break;
		r = recover(&fr, r);
		if (r == 0 || !is_disconnect(r))
			break;
	}
	if (r < 0)
		goto out_free_session;
	snprintf(sum->device_key, sizeof(sum->device_key), "%s", fr.conn.device_key);
	choose_verify(&fr);
	r = open_journal(&fr);
	if (r == 0)
		r = build_units(&fr);
	if (r == 0 && !o->restart)
		r = plan_skips(&fr);
	if (r == 0)
		r = backup_before_writing(&fr);
	if (r == 0)
		r = check_protected(&fr);
	if (r < 0)
		goto out_free_session;
	for (;;) {
		r = run_steps(&fr);
		if (r == 0 || !is_disconnect(r) || !o->reconnect)
			break;
		r = recover(&fr, r);
		if (r < 0)
			break;
		reset_unfinished_units(&fr);
	}
	if (r < 0)
		goto out_free_session;
	if (fr.have_journal) {
		r = mfw_journal_complete(ctx, &fr.journal);
		if (r < 0)
			goto out_free_session;
	}
	if (!o->no_reset) {
		r = mfw_fh_power(&fr.conn.fh, "reset", RESET_DELAY_S);
		if (r < 0)
			goto out_free_session;
	}
	sum->seconds = (double)(mfw_now_ms() - start) / 1000.0;
out_free_session:
	if (fr.have_journal)
		mfw_journal_close(&fr.journal);
	free(fr.units);
	free(fr.step_unit);
	mfw_conn_close(&fr.conn);
out_free_plan:
	mfw_plan_free(&fr.plan);
	return r;
}
