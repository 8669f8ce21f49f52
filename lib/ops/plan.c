/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * From package to plan. Everything here happens before the device is
 * touched: md5.txt, manifests, referenced files, sizes, protected labels,
 * and the order of operations.
 */
#include "ops/plan.h"
#include "ops/sparse_map.h"
#include "util/fs.h"
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A programmer larger than this is not a programmer (Kaanapali ELFs are ~5 MiB). */
#define MAX_PROGRAMMER (64u * 1024u * 1024u)

const char *const mfw_protected_labels[] = {
	"efs2", "modemst1", "modemst2", "fsg", "fsc", "persist", NULL,
};

const char *mfw_step_name(const struct mfw_step *s, char *buf, size_t cap)
{
	if (s->e->label && s->e->label[0])
		snprintf(buf, cap, "%s", s->e->label);
	else if (s->file[0])
		snprintf(buf, cap, "%s", s->file);
	else
		snprintf(buf, cap, "sector %s", s->e->start_sector ? s->e->start_sector : "?");
	return buf;
}

void mfw_plan_free(struct mfw_plan *plan)
{
	for (size_t i = 0; i < plan->nsteps; i++)
		free(plan->steps[i].patched);
	free(plan->steps);
	for (size_t i = 0; i < plan->nfiles; i++)
		mfw_rp_file_free(&plan->files[i]);
	free(plan->programmer);
	mfw_pkg_close(plan->pkg);
	memset(plan, 0, sizeof(*plan));
}

static bool is_protected(const char *label, const struct mfw_flash_opts *o)
{
	bool prot = false;
	if (!label || !label[0])
		return false;
	for (size_t i = 0; mfw_protected_labels[i]; i++)
		if (!strcasecmp(label, mfw_protected_labels[i]))
			prot = true;
	if (!prot)
		return false;
	for (size_t i = 0; i < o->n_allow_protected; i++)
		if (!strcasecmp(label, o->allow_protected[i]))
			return false;
	return true;
}

static int load_manifest(struct mfw_ctx *ctx, struct mfw_plan *plan, const char *rel, unsigned lun)
{
	void *xml = NULL;
	size_t len = 0;
	int r;
	if (plan->nfiles >= MFW_ARRAY_SIZE(plan->files))
		return mfw_fail(ctx, MFW_E_RANGE, "too many manifests in the package");
	r = mfw_pkg_read_all(ctx, plan->pkg, rel, MFW_RP_MAX_FILE, &xml, &len);
	if (r < 0)
		return r;
	r = mfw_rp_parse(ctx, rel, xml, len, &plan->files[plan->nfiles]);
	free(xml);
	if (r < 0)
		return r;
	plan->file_lun[plan->nfiles] = lun;
	plan->nfiles++;
	return 0;
}

static int add_step(struct mfw_ctx *ctx, struct mfw_plan *plan, const struct mfw_step *s)
{
	struct mfw_step *n = realloc(plan->steps, (plan->nsteps + 1) * sizeof(*n));
	if (!n)
		return mfw_fail(ctx, MFW_E_NOMEM, "out of memory building the plan");
	plan->steps = n;
	plan->steps[plan->nsteps++] = *s;
	return 0;
}

/* Check one program/erase element against the package; fill the step. */
static int check_element(struct mfw_ctx *ctx, struct mfw_plan *plan, unsigned fi,
			 const struct mfw_rp_elem *e, const struct mfw_flash_opts *o,
			 struct mfw_step *s)
{
	const char *manifest = plan->files[fi].name;
	char name[MFW_PKG_PATH_MAX];
	int r;

	memset(s, 0, sizeof(*s));
	s->e = e;
	s->manifest = fi;
	s->kind = e->kind == MFW_RP_ERASE ? MFW_STEP_ERASE : MFW_STEP_PROGRAM;
	/* a program without a file writes nothing (modemst1 & co. in eMMC manifests): skipped */
	if (s->kind == MFW_STEP_PROGRAM && (!e->filename || !e->filename[0]))
		return 1;
	if (is_protected(e->label, o))
		return mfw_fail(ctx, MFW_E_PROTECTED,
				"%s line %u would %s protected partition '%s' (identity and "
				"calibration data); refusing. Pass --allow-protected %s only with a "
				"verified backup of this device",
				manifest, e->line, s->kind == MFW_STEP_ERASE ? "erase" : "overwrite",
				e->label, e->label);
	if (!e->start_sector)
		return mfw_fail(ctx, MFW_E_FORMAT, "%s line %u: <%s> has no start_sector", manifest,
				e->line, e->tag);
	if (s->kind == MFW_STEP_ERASE)
		return 0;
	r = mfw_pkg_resolve(ctx, manifest, e->filename, s->file, sizeof(s->file));
	if (r < 0)
		return r;
	r = mfw_pkg_stat(ctx, plan->pkg, s->file, &s->file_size);
	if (r < 0)
		return mfw_fail(ctx, MFW_E_NOENT, "%s line %u names '%s' (%s), which is not in the "
				"package", manifest, e->line, e->filename, s->file);
	if (e->sparse) {
		/* the expanded size is what must fit; file_sector_offset makes no sense here */
		if (e->file_sector_offset)
			return mfw_fail(ctx, MFW_E_FORMAT, "%s line %u: file_sector_offset on a sparse "
					"image", manifest, e->line);
		r = mfw_sparse_map_size(ctx, plan->pkg, s->file, &s->data_size);
		if (r < 0)
			return r;
		goto check_fit;
	}
	if (e->file_sector_offset > s->file_size / (e->sector_size ? e->sector_size : 1))
		return mfw_fail(ctx, MFW_E_FORMAT, "%s line %u: file_sector_offset %llu is past the "
				"end of '%s'", manifest, e->line,
				(unsigned long long)e->file_sector_offset, s->file);
	s->data_size = s->file_size - e->file_sector_offset * e->sector_size;
check_fit:
	if (e->has_num_partition_sectors && e->num_partition_sectors &&
	    s->data_size > e->num_partition_sectors * (uint64_t)e->sector_size)
		return mfw_fail(ctx, MFW_E_FORMAT,
				"'%s' (%llu bytes) does not fit partition '%s' (%llu sectors of %u "
				"bytes, %s line %u)",
				s->file, (unsigned long long)s->data_size, mfw_step_name(s, name, sizeof(name)),
				(unsigned long long)e->num_partition_sectors, e->sector_size, manifest,
				e->line);
	(void)name;
	return 0;
}

static bool is_sector0(const struct mfw_step *s)
{
	return s->kind == MFW_STEP_PROGRAM && s->e->start_sector && !strcmp(s->e->start_sector, "0");
}

/*
 * Order. NAND manifests only make sense as "every erase first, then the
 * programs, sector 0 (SBL) last" (reference §5.3: the EM12-G XML erases TZ
 * and MIBIB after programming them). While SBL is erased the boot ROM falls
 * back to EDL, so an interrupted flash stays rescuable; SBL is written only
 * when everything else is in place. eMMC manifests run in document order.
 * DISK patches always come after every program.
 */
static int order_steps(struct mfw_ctx *ctx, struct mfw_plan *plan, struct mfw_step *raw, size_t n,
		       const struct mfw_flash_opts *o)
{
	int r = 0;
	if (!plan->nand || o->order == MFW_FLASH_ORDER_DOCUMENT) {
		for (size_t i = 0; i < n && r == 0; i++)
			r = add_step(ctx, plan, &raw[i]);
		return r;
	}
	/* erases of sector 0 first (QFirehose does: SBL gone = EDL fallback), then all others */
	for (size_t i = 0; i < n && r == 0; i++)
		if (raw[i].kind == MFW_STEP_ERASE && !strcmp(raw[i].e->start_sector, "0"))
			r = add_step(ctx, plan, &raw[i]);
	for (size_t i = 0; i < n && r == 0; i++)
		if (raw[i].kind == MFW_STEP_ERASE && strcmp(raw[i].e->start_sector, "0"))
			r = add_step(ctx, plan, &raw[i]);
	for (size_t i = 0; i < n && r == 0; i++)
		if (raw[i].kind == MFW_STEP_PROGRAM && !is_sector0(&raw[i]))
			r = add_step(ctx, plan, &raw[i]);
	for (size_t i = 0; i < n && r == 0; i++)
		if (is_sector0(&raw[i]))
			r = add_step(ctx, plan, &raw[i]);
	return r;
}

static int collect_steps(struct mfw_ctx *ctx, struct mfw_plan *plan, const struct mfw_flash_opts *o)
{
	struct mfw_step *raw = NULL;
	size_t n = 0;
	int r = 0;

	for (unsigned fi = 0; fi < plan->nfiles; fi++) {
		const struct mfw_rp_file *f = &plan->files[fi];
		if (f->doc != MFW_RP_DOC_RAWPROGRAM)
			continue;
		for (size_t i = 0; i < f->nelem; i++) {
			const struct mfw_rp_elem *e = &f->elems[i];
			struct mfw_step s, *grown;
			if (e->kind == MFW_RP_OTHER) {
				mfw_dbg(ctx, "%s line %u: <%s> not executed", f->name, e->line, e->tag);
				continue;
			}
			r = check_element(ctx, plan, fi, e, o, &s);
			if (r < 0)
				goto out_free_raw;
			if (r == 1) {
				plan->skipped++;
				r = 0;
				continue;
			}
			grown = realloc(raw, (n + 1) * sizeof(*raw));
			if (!grown) {
				r = mfw_fail(ctx, MFW_E_NOMEM, "out of memory building the plan");
				goto out_free_raw;
			}
			raw = grown;
			raw[n++] = s;
		}
	}
	r = order_steps(ctx, plan, raw, n, o);
	if (r < 0)
		goto out_free_raw;
	/* DISK patches, document order, after every program */
	for (unsigned fi = 0; fi < plan->nfiles && r == 0; fi++) {
		const struct mfw_rp_file *f = &plan->files[fi];
		if (f->doc != MFW_RP_DOC_PATCH)
			continue;
		for (size_t i = 0; i < f->nelem && r == 0; i++) {
			const struct mfw_rp_elem *e = &f->elems[i];
			struct mfw_step s = { .kind = MFW_STEP_PATCH, .e = e, .manifest = fi };
			if (e->kind != MFW_RP_PATCH || strcasecmp(e->filename, "DISK"))
				continue; /* file patches are applied to the image before it is sent */
			r = add_step(ctx, plan, &s);
		}
	}
out_free_raw:
	free(raw);
	return r;
}

int mfw_plan_build(struct mfw_ctx *ctx, const struct mfw_flash_opts *o, struct mfw_plan *plan)
{
	struct mfw_pkg_layout_opts lo = { .pick = (enum mfw_pkg_pick)o->pick, .rawprogram = o->rawprogram };
	int r;

	memset(plan, 0, sizeof(*plan));
	r = mfw_pkg_open(ctx, o->package, &plan->pkg);
	if (r < 0)
		return r;
	r = mfw_pkg_detect(ctx, plan->pkg, &lo, &plan->layout);
	if (r < 0)
		goto out_free_plan;
	plan->nand = plan->layout.storage == MFW_PKG_STORAGE_NAND;
	mfw_notice(ctx, "%s", plan->layout.note);
	if (!plan->layout.programmer[0]) {
		r = mfw_fail(ctx, MFW_E_NOENT,
			     "the package has no Firehose programmer (prog_*firehose*.mbn or .elf)");
		goto out_free_plan;
	}
	if (o->skip_md5) {
		mfw_warn(ctx, "not checking md5.txt (--no-md5): a damaged file would be written as is");
	} else if (!plan->layout.md5sum[0]) {
		mfw_warn(ctx, "the package has no md5.txt: file integrity cannot be checked");
	} else {
		struct mfw_pkg_verify_report rep;
		/* files verified earlier and unchanged since are not hashed again */
		if (o->journal_dir) {
			char cache[1100];
			if (mfw_mkdir_p(NULL, o->journal_dir, 0700) == 0 &&
			    (size_t)snprintf(cache, sizeof(cache), "%s/verified-files", o->journal_dir) <
				    sizeof(cache))
				mfw_pkg_set_verify_cache(plan->pkg, cache);
		}
		r = mfw_pkg_verify(ctx, plan->pkg, &plan->layout, NULL, NULL, &rep);
		/* a corrupt package is bad input (exit 3), not a failed write-verify (exit 7) */
		if (r == MFW_E_VERIFY)
			r = MFW_E_FORMAT;
		if (r < 0)
			goto out_free_plan;
		mfw_dbg(ctx, "md5.txt: %zu files match", rep.checked);
		mfw_pkg_verify_report_free(&rep);
	}
	r = mfw_pkg_read_all(ctx, plan->pkg, plan->layout.programmer, MAX_PROGRAMMER,
			     (void **)&plan->programmer, &plan->programmer_len);
	if (r < 0)
		goto out_free_plan;
	for (size_t i = 0; i < plan->layout.nmanifest; i++) {
		const struct mfw_pkg_manifest *m = &plan->layout.manifests[i];
		r = load_manifest(ctx, plan, m->rawprogram, m->lun);
		if (r < 0)
			goto out_free_plan;
		if (m->patch[0]) {
			r = load_manifest(ctx, plan, m->patch, m->lun);
			if (r < 0)
				goto out_free_plan;
		}
	}
	r = collect_steps(ctx, plan, o);
	if (r < 0)
		goto out_free_plan;
	return 0;
out_free_plan:
	mfw_plan_free(plan);
	return r;
}

int mfw_package_probe(struct mfw_ctx *ctx, const char *path, enum mfw_flash_pick pick,
		      const char *rawprogram, struct mfw_package_info *out)
{
	struct mfw_pkg_layout_opts lo = { .pick = (enum mfw_pkg_pick)pick, .rawprogram = rawprogram };
	struct mfw_pkg_layout layout;
	struct mfw_pkg *pkg;
	int r;

	memset(out, 0, sizeof(*out));
	r = mfw_pkg_open(ctx, path, &pkg);
	if (r < 0)
		return r;
	r = mfw_pkg_detect(ctx, pkg, &lo, &layout);
	mfw_pkg_close(pkg);
	if (r < 0)
		return r;
	out->nand = layout.storage == MFW_PKG_STORAGE_NAND;
	out->page_size = layout.page_size;
	out->block_size = layout.block_size;
	snprintf(out->note, sizeof(out->note), "%s", layout.note);
	return 0;
}
