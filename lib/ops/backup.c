/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Identity and calibration backup and restore over EDL.
 *
 * Reads are linear (no label, no last_sector): the image is the partition's
 * sectors exactly as stored. On NAND a bad block inside a protected
 * partition makes a raw restore impossible (the programmer would shift the
 * data past it); restore then stops with that reason before writing —
 * DIAG-level restore is the right tool there (reference diag.md §6.2).
 */
#include "ops/backup.h"
#include "core/core.h"
#include "fmt/gpt.h"
#include "fmt/mibib.h"
#include "fmt/package.h"
#include "util/hash.h"
#include "util/fs.h"
#include "util/json.h"
#include <modemfw/flash.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* Upper bound of mfw_protected_labels (checked at run time). */
#define MFW_MAX_PROTECTED 16

/* Where Quectel/Qualcomm NAND layouts put the MIBIB: sector 640 (SDX20/MDM9x07), 1024 (SDX7x). */
static const uint64_t mibib_candidates[] = { 640, 1024 };
/* How far to scan block starts for a MIBIB elsewhere. */
#define MIBIB_SCAN_BLOCKS 64

struct buf_sink {
	uint8_t *buf;
	size_t len, cap;
};

static int buf_sink_fn(void *user, const uint8_t *data, size_t len)
{
	struct buf_sink *b = user;
	if (len > b->cap - b->len)
		return MFW_E_RANGE;
	memcpy(b->buf + b->len, data, len);
	b->len += len;
	return 0;
}

static void range_attrs(struct mfw_fh_attr a[4], char v[4][24], uint32_t ss, unsigned lun,
			uint64_t first, uint64_t count)
{
	snprintf(v[0], 24, "%u", ss);
	snprintf(v[1], 24, "%llu", (unsigned long long)count);
	snprintf(v[2], 24, "%u", lun);
	snprintf(v[3], 24, "%llu", (unsigned long long)first);
	a[0] = (struct mfw_fh_attr){ "SECTOR_SIZE_IN_BYTES", v[0] };
	a[1] = (struct mfw_fh_attr){ "num_partition_sectors", v[1] };
	a[2] = (struct mfw_fh_attr){ "physical_partition_number", v[2] };
	a[3] = (struct mfw_fh_attr){ "start_sector", v[3] };
}

static int read_sectors(struct mfw_conn *c, uint32_t ss, unsigned lun, uint64_t first,
			uint64_t count, uint8_t *out, const char *what)
{
	struct mfw_fh_attr a[4];
	char v[4][24];
	struct buf_sink b = { out, 0, (size_t)(count * ss) };
	range_attrs(a, v, ss, lun, first, count);
	return mfw_fh_read(&c->fh, a, 4, count * ss, buf_sink_fn, &b, what);
}

static void add_part(struct mfw_dev_layout *l, const char *label, unsigned lun, uint64_t first,
		     uint64_t count)
{
	struct mfw_dev_part *p;
	if (l->n >= MFW_DEV_MAX_PARTS)
		return;
	p = &l->parts[l->n++];
	snprintf(p->label, sizeof(p->label), "%s", label);
	p->lun = lun;
	p->first = first;
	p->count = count;
}

static int layout_nand(struct mfw_conn *c, struct mfw_dev_layout *l, uint64_t total_blocks)
{
	size_t len = (size_t)MFW_MIBIB_PAGES * l->sector_size;
	uint8_t *buf = malloc(len);
	struct mfw_mibib *m = malloc(sizeof(*m));
	uint64_t at = UINT64_MAX;
	int r = MFW_E_NOENT;

	if (!buf || !m) {
		r = mfw_fail(c->ctx, MFW_E_NOMEM, "out of memory");
		goto out_free;
	}
	for (size_t i = 0; i < MFW_ARRAY_SIZE(mibib_candidates) + MIBIB_SCAN_BLOCKS && at == UINT64_MAX; i++) {
		uint64_t s = i < MFW_ARRAY_SIZE(mibib_candidates)
				     ? mibib_candidates[i]
				     : (uint64_t)(i - MFW_ARRAY_SIZE(mibib_candidates)) * l->pages_per_block;
		if (s + MFW_MIBIB_PAGES > l->total_sectors)
			continue;
		r = read_sectors(c, l->sector_size, 0, s, MFW_MIBIB_PAGES, buf, "MIBIB");
		if (r < 0)
			goto out_free;
		if (mfw_mibib_parse(NULL, buf, len, l->sector_size, m) == 0)
			at = s;
	}
	if (at == UINT64_MAX) {
		r = mfw_fail(c->ctx, MFW_E_NOENT,
			     "no MIBIB partition table found on the device (looked at sectors 640, "
			     "1024 and the first %d blocks)", MIBIB_SCAN_BLOCKS);
		goto out_free;
	}
	for (size_t i = 0; i < m->nparts; i++) {
		const char *name = m->parts[i].name;
		uint64_t first, last;
		if (!strncmp(name, "0:", 2))
			name += 2;
		if (mfw_mibib_range(c->ctx, m, name, l->pages_per_block, total_blocks, &first, &last) < 0)
			continue;
		add_part(l, name, 0, first, last - first + 1);
	}
	{
		const struct mfw_dev_part *t = mfw_dev_layout_find(l, "MIBIB");
		l->table = t ? *t : (struct mfw_dev_part){ "MIBIB", 0, at, l->pages_per_block };
		snprintf(l->table.label, sizeof(l->table.label), "MIBIB");
	}
	r = 0;
out_free:
	free(buf);
	free(m);
	return r;
}

static int layout_gpt(struct mfw_conn *c, struct mfw_dev_layout *l)
{
	uint32_t ss = l->sector_size;
	uint64_t n = 2 + mfw_gpt_entry_sectors(ss);
	uint8_t *buf = malloc((size_t)(n * ss));
	struct mfw_gpt *g = malloc(sizeof(*g));
	int r;

	if (!buf || !g) {
		r = mfw_fail(c->ctx, MFW_E_NOMEM, "out of memory");
		goto out_free;
	}
	r = read_sectors(c, ss, 0, 0, n, buf, "GPT");
	if (r < 0)
		goto out_free;
	r = mfw_gpt_parse(c->ctx, buf, (size_t)(n * ss), ss, 0, g);
	if (r < 0) {
		mfw_fail_keep(c->ctx, r, "the device's GPT is not valid");
		goto out_free;
	}
	for (size_t i = 0; i < g->nparts; i++)
		add_part(l, g->parts[i].name, 0, g->parts[i].first_lba,
			 g->parts[i].last_lba - g->parts[i].first_lba + 1);
	l->table = (struct mfw_dev_part){ "gpt-primary", 0, 0, n };
out_free:
	free(buf);
	free(g);
	return r;
}

int mfw_dev_layout_read(struct mfw_conn *c, struct mfw_dev_layout *l)
{
	struct mfw_fh_storage_info si;
	int r;

	memset(l, 0, sizeof(*l));
	r = mfw_fh_storage_info(&c->fh, 0, &si);
	if (r < 0)
		return r;
	l->nand = !strcasecmp(c->memory, "nand");
	if (l->nand) {
		if (!si.page_size || !si.block_size || si.block_size % si.page_size)
			return mfw_fail(c->ctx, MFW_E_PROTO, "the programmer reported no NAND geometry");
		l->sector_size = si.page_size;
		l->pages_per_block = si.block_size / si.page_size;
		l->total_sectors = si.total_blocks * l->pages_per_block;
		return layout_nand(c, l, si.total_blocks);
	}
	l->sector_size = si.block_size ? si.block_size : 512;
	l->total_sectors = si.total_blocks;
	return layout_gpt(c, l);
}

const struct mfw_dev_part *mfw_dev_layout_find(const struct mfw_dev_layout *l, const char *label)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcasecmp(l->parts[i].label, label))
			return &l->parts[i];
	return NULL;
}

/* ---- backup ---- */
struct file_sink {
	int fd;
	struct mfw_hash sha;
	const char *path;
	struct mfw_ctx *ctx;
};

static int file_sink_fn(void *user, const uint8_t *data, size_t len)
{
	struct file_sink *f = user;
	int r = mfw_write_all(f->fd, data, len);

	if (r < 0)
		return mfw_fail(f->ctx, r, "writing '%s' failed: %s", f->path, strerror(errno));
	return mfw_hash_update(&f->sha, data, len);
}

struct saved {
	const struct mfw_dev_part *p;
	char file[96];
	uint8_t sha[32];
};

static int backup_one(struct mfw_conn *c, const struct mfw_dev_layout *l,
		      const struct mfw_dev_part *p, const char *tmpdir, bool digest, struct saved *s)
{
	struct file_sink fs = { .fd = -1, .ctx = c->ctx };
	struct mfw_fh_attr a[4];
	char v[4][24], path[1200], hex1[65], hex2[65];
	uint8_t again[32];
	uint64_t bytes = p->count * l->sector_size;
	int r;

	s->p = p;
	snprintf(s->file, sizeof(s->file), "%s.bin", p->label);
	snprintf(path, sizeof(path), "%s/%s", tmpdir, s->file);
	fs.path = path;
	fs.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fs.fd < 0)
		return mfw_fail(c->ctx, MFW_E_IO, "cannot create '%s': %s", path, strerror(errno));
	r = mfw_hash_init(&fs.sha, MFW_HASH_SHA256);
	if (r < 0)
		goto out_close;
	range_attrs(a, v, l->sector_size, p->lun, p->first, p->count);
	r = mfw_fh_read(&c->fh, a, 4, bytes, file_sink_fn, &fs, p->label);
	if (r < 0) {
		mfw_hash_free(&fs.sha);
		goto out_close;
	}
	r = mfw_hash_final(&fs.sha, s->sha, 32);
	if (r < 0)
		goto out_close;
	if (fsync(fs.fd) < 0) {
		r = mfw_fail(c->ctx, MFW_E_IO, "fsync of '%s' failed: %s", path, strerror(errno));
		goto out_close;
	}
	/* prove the read: the device's own digest of the range, else a second read */
	r = mfw_fh_range_sha256(&c->fh, a, 4, bytes, digest, p->label, again);
	if (r < 0)
		goto out_close;
	if (memcmp(again, s->sha, 32)) {
		mfw_hex_encode(s->sha, 32, hex1);
		mfw_hex_encode(again, 32, hex2);
		r = mfw_fail(c->ctx, MFW_E_VERIFY,
			     "backup of '%s' could not be proven: read %s, %s %s", p->label, hex1,
			     digest ? "device digest" : "second read", hex2);
	}
out_close:
	close(fs.fd);
	return r;
}

static int write_manifests(struct mfw_conn *c, const struct mfw_dev_layout *l, const char *tmpdir,
			   const struct saved *sv, size_t n, bool digest)
{
	char path[1200], hex[65], pk[129] = "-";
	time_t now = time(NULL);
	struct tm tm;
	char when[32];
	FILE *f;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (c->id.pk_hash_len)
		mfw_hex_encode(c->id.pk_hash, c->id.pk_hash_len, pk);
	snprintf(path, sizeof(path), "%s/manifest.txt", tmpdir);
	f = fopen(path, "w");
	if (!f)
		return mfw_fail(c->ctx, MFW_E_IO, "cannot write '%s': %s", path, strerror(errno));
	fprintf(f, "modemfw-backup 1\ncreated %s\ndevice %s\nserial 0x%08x\nhw_id 0x%016llx\n"
		   "pk_hash %s\nstorage %s\nsector_size %u\nverified %s\n",
		when, c->device_key, c->id.serial, (unsigned long long)c->id.hw_id, pk,
		l->nand ? "nand" : "emmc", l->sector_size, digest ? "digest" : "double-read");
	for (size_t i = 0; i < n; i++) {
		mfw_hex_encode(sv[i].sha, 32, hex);
		fprintf(f, "part %s %u %llu %llu %s %s\n", sv[i].p->label, sv[i].p->lun,
			(unsigned long long)sv[i].p->first, (unsigned long long)sv[i].p->count,
			sv[i].file, hex);
	}
	if (fflush(f) || fsync(fileno(f)) || fclose(f))
		return mfw_fail(c->ctx, MFW_E_IO, "cannot write '%s'", path);

	snprintf(path, sizeof(path), "%s/manifest.json", tmpdir);
	f = fopen(path, "w");
	if (!f)
		return mfw_fail(c->ctx, MFW_E_IO, "cannot write '%s': %s", path, strerror(errno));
	fprintf(f, "{\n  \"format\": \"modemfw-backup-1\",\n  \"created\": \"%s\",\n  \"device\": {"
		   "\"key\": ", when);
	mfw_json_put_str(f, c->device_key);
	fprintf(f, ", \"serial\": \"0x%08x\", \"hw_id\": \"0x%016llx\", \"pk_hash\": \"%s\"},\n"
		   "  \"storage\": \"%s\",\n  \"sector_size\": %u,\n  \"verified\": \"%s\",\n"
		   "  \"partitions\": [\n",
		c->id.serial, (unsigned long long)c->id.hw_id, pk, l->nand ? "nand" : "emmc",
		l->sector_size, digest ? "digest" : "double-read");
	for (size_t i = 0; i < n; i++) {
		mfw_hex_encode(sv[i].sha, 32, hex);
		fprintf(f, "    {\"label\": ");
		mfw_json_put_str(f, sv[i].p->label);
		fprintf(f, ", \"lun\": %u, \"start_sector\": %llu, \"sectors\": %llu, \"bytes\": %llu, "
			   "\"file\": ",
			sv[i].p->lun, (unsigned long long)sv[i].p->first,
			(unsigned long long)sv[i].p->count,
			(unsigned long long)(sv[i].p->count * l->sector_size));
		mfw_json_put_str(f, sv[i].file);
		fprintf(f, ", \"sha256\": \"%s\"}%s\n", hex, i + 1 < n ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	if (fflush(f) || fsync(fileno(f)) || fclose(f))
		return mfw_fail(c->ctx, MFW_E_IO, "cannot write '%s'", path);
	return 0;
}

int mfw_backup_session(struct mfw_conn *c, const struct mfw_dev_layout *l, const char *dir,
		       struct mfw_backup_summary *out)
{
	const struct mfw_dev_part *todo[MFW_MAX_PROTECTED + 1];
	struct saved sv[MFW_MAX_PROTECTED + 1];
	bool digest = mfw_fh_funcs_has(&c->fh.funcs, "getsha256digest");
	char tmpdir[1100], parent[1100];
	uint64_t need = 0;
	struct statvfs vfs;
	size_t n = 0;
	int r;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; mfw_protected_labels[i] && n < MFW_MAX_PROTECTED; i++) {
		const struct mfw_dev_part *p = mfw_dev_layout_find(l, mfw_protected_labels[i]);
		if (p)
			todo[n++] = p;
	}
	todo[n++] = &l->table;
	for (size_t i = 0; i < n; i++)
		need += todo[i]->count * l->sector_size;

	/* the whole backup is written next to its final name and renamed: it exists complete or not at all */
	if ((size_t)snprintf(tmpdir, sizeof(tmpdir), "%s.partial", dir) >= sizeof(tmpdir))
		return mfw_fail(c->ctx, MFW_E_RANGE, "backup path too long");
	snprintf(parent, sizeof(parent), "%s", dir);
	if (strrchr(parent, '/'))
		*strrchr(parent, '/') = '\0';
	else
		snprintf(parent, sizeof(parent), ".");
	r = mfw_mkdir_p(c->ctx, parent, 0700);
	if (r < 0)
		return r;
	if (access(dir, F_OK) == 0)
		return mfw_fail(c->ctx, MFW_E_EXIST, "'%s' already exists; not overwriting a backup", dir);
	if (statvfs(parent, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < need + (1 << 20))
		return mfw_fail(c->ctx, MFW_E_NOSPC,
				"the backup needs %.1f MiB but '%s' has %.1f MiB free; nothing was "
				"changed on the device", (double)need / 1048576.0, parent,
				(double)vfs.f_bavail * vfs.f_frsize / 1048576.0);
	if (mkdir(tmpdir, 0700) < 0 && errno != EEXIST)
		return mfw_fail(c->ctx, MFW_E_IO, "cannot create '%s': %s", tmpdir, strerror(errno));
	for (size_t i = 0; i < n; i++) {
		char f[1200];
		snprintf(f, sizeof(f), "%s/%s.bin", tmpdir, todo[i]->label);
		unlink(f); /* a stale partial file from a cut run */
		r = backup_one(c, l, todo[i], tmpdir, digest, &sv[i]);
		if (r < 0)
			return r;
		out->bytes += todo[i]->count * l->sector_size;
		snprintf(out->labels + strlen(out->labels), sizeof(out->labels) - strlen(out->labels),
			 "%s%s", i ? " " : "", todo[i]->label);
	}
	r = write_manifests(c, l, tmpdir, sv, n, digest);
	if (r < 0)
		return r;
	if (rename(tmpdir, dir) < 0)
		return mfw_fail(c->ctx, MFW_E_IO, "cannot rename '%s' to '%s': %s", tmpdir, dir,
				strerror(errno));
	snprintf(out->dir, sizeof(out->dir), "%s", dir);
	snprintf(out->device_key, sizeof(out->device_key), "%s", c->device_key);
	out->parts = (unsigned)n;
	out->method = digest ? "digest" : "double-read";
	return 0;
}

/* ---- manifest reading ---- */
struct manifest {
	char device[64];
	char storage[8];
	uint32_t sector_size;
	bool verified;
	size_t n;
	struct {
		char label[72];
		unsigned lun;
		uint64_t first, count;
		char file[96];
		uint8_t sha[32];
	} parts[MFW_MAX_PROTECTED + 2];
};

static int manifest_read(struct mfw_ctx *ctx, const char *dir, struct manifest *m)
{
	char path[1200], line[512];
	bool header = false;
	FILE *f;

	memset(m, 0, sizeof(*m));
	snprintf(path, sizeof(path), "%s/manifest.txt", dir);
	f = fopen(path, "r");
	if (!f)
		return mfw_fail(ctx, MFW_E_NOENT, "'%s' is not a modemfw backup (no manifest.txt)", dir);
	while (fgets(line, sizeof(line), f)) {
		char label[72], file[96], hex[80], val[128];
		unsigned lun;
		unsigned long long first, count;
		line[strcspn(line, "\n")] = '\0';
		if (!strcmp(line, "modemfw-backup 1"))
			header = true;
		else if (sscanf(line, "device %63s", m->device) == 1)
			continue;
		else if (sscanf(line, "storage %7s", m->storage) == 1)
			continue;
		else if (sscanf(line, "sector_size %u", &m->sector_size) == 1)
			continue;
		else if (sscanf(line, "verified %127s", val) == 1)
			m->verified = true;
		else if (sscanf(line, "part %71s %u %llu %llu %95s %79s", label, &lun, &first, &count,
				file, hex) == 6) {
			if (m->n >= MFW_ARRAY_SIZE(m->parts) || strchr(file, '/') ||
			    mfw_hex_decode(hex, strlen(hex), m->parts[m->n].sha, 32) < 0) {
				fclose(f);
				return mfw_fail(ctx, MFW_E_FORMAT, "%s: bad line '%s'", path, line);
			}
			snprintf(m->parts[m->n].label, sizeof(m->parts[0].label), "%s", label);
			snprintf(m->parts[m->n].file, sizeof(m->parts[0].file), "%s", file);
			m->parts[m->n].lun = lun;
			m->parts[m->n].first = first;
			m->parts[m->n].count = count;
			m->n++;
		}
	}
	fclose(f);
	if (!header || !m->sector_size || !m->device[0])
		return mfw_fail(ctx, MFW_E_FORMAT, "%s is damaged", path);
	return 0;
}

int mfw_backup_find(struct mfw_ctx *ctx, const char *base, const char *device_key,
		    const char *label, char *found, size_t cap)
{
	char dirpath[1100], best[256] = "";
	struct dirent *de;
	DIR *d;

	snprintf(dirpath, sizeof(dirpath), "%s/%s", base, device_key);
	d = opendir(dirpath);
	if (!d)
		return MFW_E_NOENT;
	while ((de = readdir(d))) {
		char sub[1400];
		struct manifest m;
		if (de->d_name[0] == '.' || strstr(de->d_name, ".partial"))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dirpath, de->d_name);
		if (manifest_read(NULL, sub, &m) < 0 || !m.verified || strcmp(m.device, device_key))
			continue;
		for (size_t i = 0; i < m.n; i++)
			if (!strcasecmp(m.parts[i].label, label) && strcmp(de->d_name, best) > 0)
				snprintf(best, sizeof(best), "%s", de->d_name);
	}
	closedir(d);
	(void)ctx;
	if (!best[0])
		return MFW_E_NOENT;
	snprintf(found, cap, "%s/%s", dirpath, best);
	return 0;
}

/* ---- public operations ---- */
static int load_programmer(struct mfw_ctx *ctx, const struct mfw_edl_prog *p, struct mfw_conn_opts *o,
			   void **prog, struct mfw_pkg **pkg)
{
	size_t len = 0;
	int r;
	*prog = NULL;
	*pkg = NULL;
	o->memory = p->storage;
	if (p->package) {
		struct mfw_pkg_layout lay;
		r = mfw_pkg_open(ctx, p->package, pkg);
		if (r < 0)
			return r;
		r = mfw_pkg_detect(ctx, *pkg, NULL, &lay);
		if (r < 0)
			return r;
		if (!lay.programmer[0])
			return mfw_fail(ctx, MFW_E_NOENT, "the package has no Firehose programmer");
		r = mfw_pkg_read_all(ctx, *pkg, lay.programmer, 64u << 20, prog, &len);
		if (r < 0)
			return r;
		o->programmer_name = "programmer";
		if (!o->memory)
			o->memory = lay.storage == MFW_PKG_STORAGE_NAND ? "nand" : "emmc";
	} else if (p->programmer) {
		FILE *f = fopen(p->programmer, "rb");
		long sz;
		if (!f)
			return mfw_fail(ctx, MFW_E_NOENT, "cannot open programmer '%s': %s", p->programmer,
					strerror(errno));
		fseek(f, 0, SEEK_END);
		sz = ftell(f);
		fseek(f, 0, SEEK_SET);
		if (sz <= 0 || sz > (64l << 20) || !(*prog = malloc((size_t)sz)) ||
		    fread(*prog, 1, (size_t)sz, f) != (size_t)sz) {
			fclose(f);
			return mfw_fail(ctx, MFW_E_FORMAT, "cannot read programmer '%s'", p->programmer);
		}
		fclose(f);
		len = (size_t)sz;
		o->programmer_name = p->programmer;
	}
	o->programmer = *prog;
	o->programmer_len = len;
	return 0;
}

int mfw_backup_edl(struct mfw_ctx *ctx, struct mfw_transport *t, const struct mfw_edl_prog *p,
		   const char *dir, struct mfw_backup_summary *out)
{
	struct mfw_conn c = { 0 };
	struct mfw_conn_opts o = { 0 };
	struct mfw_dev_layout *l = malloc(sizeof(*l));
	struct mfw_pkg *pkg = NULL;
	void *prog = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if (!l)
		return mfw_fail(ctx, MFW_E_NOMEM, "out of memory");
	r = load_programmer(ctx, p, &o, &prog, &pkg);
	if (r == 0)
		r = mfw_conn_open(&c, ctx, t, &o);
	if (r == 0)
		r = mfw_dev_layout_read(&c, l);
	if (r == 0)
		r = mfw_backup_session(&c, l, dir, out);
	/* like flash: leave the device as it was before the programmer (reset) unless asked */
	if (r == 0 && !p->no_reset)
		r = mfw_fh_power(&c.fh, "reset", 1);
	mfw_conn_close(&c);
	mfw_pkg_close(pkg);
	free(prog);
	free(l);
	return r;
}

static bool wanted(const struct mfw_restore_opts *o, const char *label, bool is_table)
{
	if (!o->labels || !o->nlabels)
		return !is_table || o->include_table;
	for (size_t i = 0; i < o->nlabels; i++)
		if (!strcasecmp(o->labels[i], label))
			return true;
	return false;
}

struct file_src {
	FILE *f;
	struct mfw_ctx *ctx;
};

static int file_src_fn(void *user, uint8_t *buf, size_t len)
{
	struct file_src *s = user;
	if (fread(buf, 1, len, s->f) != len)
		return mfw_fail(s->ctx, MFW_E_IO, "backup image ended early");
	return 0;
}

static int check_file(struct mfw_ctx *ctx, const char *path, uint64_t bytes, const uint8_t sha[32])
{
	uint8_t buf[65536], got[32];
	struct mfw_hash h;
	uint64_t total = 0;
	size_t n;
	FILE *f = fopen(path, "rb");
	int r;
	if (!f)
		return mfw_fail(ctx, MFW_E_NOENT, "backup image '%s' is missing", path);
	r = mfw_hash_init(&h, MFW_HASH_SHA256);
	while (r == 0 && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
		r = mfw_hash_update(&h, buf, n);
		total += n;
	}
	fclose(f);
	if (r == 0)
		r = mfw_hash_final(&h, got, 32);
	else
		mfw_hash_free(&h);
	if (r < 0)
		return r;
	if (total != bytes || memcmp(got, sha, 32))
		return mfw_fail(ctx, MFW_E_FORMAT, "backup image '%s' is damaged (size or sha256 differs "
				"from the manifest); nothing was written", path);
	return 0;
}

int mfw_restore_edl(struct mfw_ctx *ctx, struct mfw_transport *t, const struct mfw_edl_prog *p,
		    const char *dir, const struct mfw_restore_opts *ro, struct mfw_restore_summary *out)
{
	struct mfw_conn c = { 0 };
	struct mfw_conn_opts o = { 0 };
	struct mfw_edl_prog prog_opts = *p;
	struct manifest *m = malloc(sizeof(*m));
	struct mfw_dev_layout *l = malloc(sizeof(*l));
	struct mfw_pkg *pkg = NULL;
	void *prog = NULL;
	char path[1300];
	int r;

	memset(out, 0, sizeof(*out));
	if (!m || !l) {
		r = mfw_fail(ctx, MFW_E_NOMEM, "out of memory");
		goto out_free;
	}
	r = manifest_read(ctx, dir, m);
	if (r < 0)
		goto out_free;
	/* check every image before touching the device */
	for (size_t i = 0; i < m->n && r == 0; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, m->parts[i].file);
		r = check_file(ctx, path, m->parts[i].count * m->sector_size, m->parts[i].sha);
	}
	if (r < 0)
		goto out_free;
	if (!prog_opts.storage)
		prog_opts.storage = m->storage;
	r = load_programmer(ctx, &prog_opts, &o, &prog, &pkg);
	if (r == 0)
		r = mfw_conn_open(&c, ctx, t, &o);
	if (r == 0)
		r = mfw_dev_layout_read(&c, l);
	if (r < 0)
		goto out_close;
	snprintf(out->device_key, sizeof(out->device_key), "%s", c.device_key);
	if (!ro->force && (!c.identity_known || strcmp(c.device_key, m->device))) {
		r = mfw_fail(ctx, MFW_E_MISMATCH,
			     c.identity_known
				     ? "this backup belongs to device %s, not to this one (%s); restoring "
				       "another unit's calibration and IMEI is refused (--force overrides)"
				     : "this backup belongs to device %s and this device's identity is "
				       "unknown (%s: a programmer was already running; power-cycle it), "
				       "so the restore is refused (--force overrides)",
			     m->device, c.device_key);
		goto out_close;
	}
	if (l->sector_size != m->sector_size) {
		r = mfw_fail(ctx, MFW_E_MISMATCH, "the backup has %u-byte sectors, the device %u",
			     m->sector_size, l->sector_size);
		goto out_close;
	}
	for (size_t i = 0; i < m->n && r == 0; i++) {
		bool is_table = !strcasecmp(m->parts[i].label, l->table.label);
		const struct mfw_dev_part *dp = is_table ? &l->table : mfw_dev_layout_find(l, m->parts[i].label);
		struct mfw_fh_attr a[4];
		char v[4][24];
		uint8_t dev[32];
		uint64_t bytes = m->parts[i].count * m->sector_size;
		struct file_src src = { .ctx = ctx };

		if (!wanted(ro, m->parts[i].label, is_table))
			continue;
		if (!dp || dp->first != m->parts[i].first || dp->count != m->parts[i].count) {
			if (!ro->force) {
				r = mfw_fail(ctx, MFW_E_MISMATCH,
					     "partition '%s' is not where the backup says (sector %llu, "
					     "%llu sectors); the partition table changed — refusing",
					     m->parts[i].label, (unsigned long long)m->parts[i].first,
					     (unsigned long long)m->parts[i].count);
				break;
			}
		}
		range_attrs(a, v, m->sector_size, m->parts[i].lun, m->parts[i].first, m->parts[i].count);
		if (l->nand) {
			if (m->parts[i].first % l->pages_per_block || m->parts[i].count % l->pages_per_block) {
				r = mfw_fail(ctx, MFW_E_FORMAT, "'%s' is not block aligned", m->parts[i].label);
				break;
			}
			r = mfw_fh_erase(&c.fh, a, 4, m->parts[i].label);
			if (r < 0)
				break;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, m->parts[i].file);
		src.f = fopen(path, "rb");
		if (!src.f) {
			r = mfw_fail(ctx, MFW_E_NOENT, "cannot open '%s'", path);
			break;
		}
		r = mfw_fh_program(&c.fh, a, 4, bytes, file_src_fn, &src, m->parts[i].label);
		fclose(src.f);
		if (r < 0)
			break;
		/* verify: device digest, else read-back */
		r = mfw_fh_range_sha256(&c.fh, a, 4, bytes,
					mfw_fh_funcs_has(&c.fh.funcs, "getsha256digest"),
					m->parts[i].label, dev);
		if (r == 0 && memcmp(dev, m->parts[i].sha, 32))
			r = mfw_fail(ctx, MFW_E_VERIFY, "'%s' reads back different after the restore",
				     m->parts[i].label);
		if (r == 0) {
			out->parts++;
			out->bytes += bytes;
			snprintf(out->labels + strlen(out->labels), sizeof(out->labels) - strlen(out->labels),
				 "%s%s", out->parts > 1 ? " " : "", m->parts[i].label);
		}
	}
	if (r == 0 && !p->no_reset)
		r = mfw_fh_power(&c.fh, "reset", 1);
out_close:
	mfw_conn_close(&c);
out_free:
	mfw_pkg_close(pkg);
	free(prog);
	free(m);
	free(l);
	return r;
}
