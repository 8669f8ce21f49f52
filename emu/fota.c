/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DFOTA on the virtual modem: the user file system AT+QFUPL uploads into,
 * and the recovery AT+QFOTADL reboots into. The recovery runs modemfw's
 * own updater (mfw_dfota_apply_faults(), public API): this is the one
 * place the emulator runs modemfw library code, because a real module runs
 * its vendor's recovery there, which we replace with ours. Everything the
 * host sees (AT, URCs, the port going away and coming back) is the
 * emulator's own.
 */
#include "fota.h"

#include <modemfw/dfota.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Size of the user file system when not configured (an EC25's UFS is tens of MiB; ours). */
#define EMU_UFS_DEFAULT (64ull << 20)
/* fota-nospace: what the cache partition reports free (less than any update needs). */
#define EMU_NOSPACE_DEFAULT 4096
/* How long the recovery waits for a host on its AT port before it runs anyway. */
#define EMU_RECOVERY_HOST_MS 15000
/* Off the bus during a reboot (into recovery, after a power loss, into the firmware). */
#define EMU_REBOOT_MS 500
/* A URC write: a host that takes nothing for this long is treated as gone. */
#define EMU_URC_TX_MS 5000
#define EMU_POLL_MS 100
#define MAX_CUTS 8
#define RANDOM_RANGE_DEFAULT 400

struct emu_fota {
	bool enabled;
	char *ufs, *root, *parts, *cache;
	uint64_t ufs_size;
	/* faults: power losses in order, each at the op-th mutating I/O op of a run */
	uint64_t cuts[MAX_CUTS];
	size_t ncuts, cuts_fired;
	bool nospace;
	uint64_t nospace_bytes;
	/* the update AT+QFOTADL started (set by the AT thread, taken by the boot loop) */
	atomic_bool pending;
	char pkg[4400];
};

static uint64_t mix(uint64_t x)
{
	/* splitmix64 finalizer: a seed gives the same cut point every run */
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static int num(const char *s, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

/*
 * fota-powercut@op=N | fota-powercut@random,seed=S[,range=LO-HI] |
 * fota-nospace[,bytes=N]. *cut gets the op (0 for nospace).
 */
static int parse(const char *spec, uint64_t *cut, bool *nospace, uint64_t *bytes, char *err,
		 size_t cap)
{
	char buf[128], *save = NULL, *tok;
	uint64_t seed = 0, lo = 1, hi = RANDOM_RANGE_DEFAULT;
	bool random = false, have_seed = false;

	*cut = 0;
	*nospace = false;
	*bytes = EMU_NOSPACE_DEFAULT;
	if (strlen(spec) >= sizeof(buf))
		goto bad;
	snprintf(buf, sizeof(buf), "%s", spec);
	if (!strncmp(buf, "fota-powercut@", 14)) {
		for (tok = strtok_r(buf + 14, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (!strncmp(tok, "op=", 3)) {
				if (num(tok + 3, cut) < 0 || !*cut)
					goto bad;
			} else if (!strcmp(tok, "random")) {
				random = true;
			} else if (!strncmp(tok, "seed=", 5)) {
				if (num(tok + 5, &seed) < 0)
					goto bad;
				have_seed = true;
			} else if (!strncmp(tok, "range=", 6)) {
				char *dash = strchr(tok + 6, '-');
				if (!dash)
					goto bad;
				*dash = 0;
				if (num(tok + 6, &lo) < 0 || num(dash + 1, &hi) < 0 || !lo || hi < lo)
					goto bad;
			} else {
				goto bad;
			}
		}
		if (random == !!*cut || (have_seed && !random))
			goto bad;
		if (random)
			*cut = lo + mix(seed) % (hi - lo + 1);
		return 0;
	}
	if (!strcmp(buf, "fota-nospace") || !strncmp(buf, "fota-nospace,", 13)) {
		*nospace = true;
		if (buf[12] == ',' && (strncmp(buf + 13, "bytes=", 6) || num(buf + 19, bytes) < 0))
			goto bad;
		return 0;
	}
bad:
	snprintf(err, cap,
		 "fault '%s': expected fota-powercut@op=N, fota-powercut@random,seed=S[,range=LO-HI] "
		 "or fota-nospace[,bytes=N]", spec);
	return MFW_E_INVAL;
}

int emu_fota_fault_check(const char *spec, char *err, size_t cap)
{
	uint64_t cut, bytes;
	bool ns;

	return parse(spec, &cut, &ns, &bytes, err, cap);
}

static char *dir_next_to(const char *image, const char *suffix)
{
	size_t n = strlen(image) + strlen(suffix) + 1;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s%s", image, suffix);
	return p;
}

static int ensure_dir(struct mfw_ctx *ctx, const char *p)
{
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return mfw_fail(ctx, MFW_E_IO, "cannot create '%s': %s", p, strerror(errno));
	return 0;
}

void emu_fota_free(struct emu_fota *f)
{
	if (!f)
		return;
	free(f->ufs);
	free(f->root);
	free(f->parts);
	free(f->cache);
	free(f);
}

int emu_fota_new(struct mfw_ctx *ctx, const struct mfw_emu_config *cfg, struct emu_fota **ret)
{
	struct emu_fota *f = calloc(1, sizeof(*f));
	char err[320];
	int r;

	if (!f)
		return mfw_fail(ctx, MFW_E_NOMEM, "no memory for the user file system");
	atomic_init(&f->pending, false);
	f->ufs_size = cfg->ufs_size ? cfg->ufs_size : EMU_UFS_DEFAULT;
	for (size_t i = 0; i < cfg->nfaults; i++) {
		uint64_t cut, bytes;
		bool ns;

		if (!cfg->faults || strncmp(cfg->faults[i], "fota-", 5))
			continue;
		if (parse(cfg->faults[i], &cut, &ns, &bytes, err, sizeof(err)) < 0) {
			r = mfw_fail(ctx, MFW_E_INVAL, "%s", err);
			goto out_free;
		}
		if (ns) {
			f->nospace = true;
			f->nospace_bytes = bytes;
		} else if (f->ncuts == MAX_CUTS) {
			r = mfw_fail(ctx, MFW_E_INVAL, "at most %d fota-powercut faults", MAX_CUTS);
			goto out_free;
		} else {
			f->cuts[f->ncuts++] = cut;
		}
	}
	*ret = f;
	/*
	 * An anonymous image has nowhere to keep files: the FILE commands
	 * answer an error. In EDL mode no firmware runs: no directories are
	 * made next to the image.
	 */
	if (!cfg->image_path || cfg->mode != MFW_EMU_MODE_NORMAL)
		return 0;
	f->ufs = dir_next_to(cfg->image_path, ".ufs");
	f->root = cfg->fota_rootfs ? strdup(cfg->fota_rootfs) : dir_next_to(cfg->image_path, ".rootfs");
	f->parts = cfg->fota_partitions ? strdup(cfg->fota_partitions) :
					  dir_next_to(cfg->image_path, ".partitions");
	f->cache = dir_next_to(cfg->image_path, ".cache");
	if (!f->ufs || !f->root || !f->parts || !f->cache) {
		r = mfw_fail(ctx, MFW_E_NOMEM, "no memory for the user file system");
		goto out_free;
	}
	r = ensure_dir(ctx, f->ufs);
	if (r == 0)
		r = ensure_dir(ctx, f->root);
	if (r == 0)
		r = ensure_dir(ctx, f->parts);
	if (r == 0)
		r = ensure_dir(ctx, f->cache);
	if (r < 0)
		goto out_free;
	f->enabled = true;
	return 0;

out_free:
	*ret = NULL;
	emu_fota_free(f);
	return r;
}

bool emu_fota_enabled(const struct emu_fota *f)
{
	return f && f->enabled;
}

bool emu_fota_pending(const struct emu_fota *f)
{
	return f && atomic_load(&f->pending);
}

/* A file name the module accepts: no path, no quotes, not too long. */
static bool good_name(const char *name)
{
	size_t n = strlen(name);

	return n && n <= 80 && !strpbrk(name, "/\\\"") && strcmp(name, ".") && strcmp(name, "..");
}

static void ufs_path(struct emu_fota *f, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", f->ufs, name);
}

void emu_fota_list(struct emu_fota *f, void (*fn)(void *user, const char *name, uint64_t size),
		   void *user)
{
	struct dirent *de;
	DIR *d;

	if (!emu_fota_enabled(f) || !(d = opendir(f->ufs)))
		return;
	while ((de = readdir(d))) {
		char p[4400];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		ufs_path(f, de->d_name, p, sizeof(p));
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			fn(user, de->d_name, (uint64_t)st.st_size);
	}
	closedir(d);
}

static void add_size(void *user, const char *name, uint64_t size)
{
	(void)name;
	*(uint64_t *)user += size;
}

void emu_fota_space(struct emu_fota *f, uint64_t *free_bytes, uint64_t *total)
{
	uint64_t used = 0;

	emu_fota_list(f, add_size, &used);
	*total = f->ufs_size;
	*free_bytes = used < f->ufs_size ? f->ufs_size - used : 0;
}

int emu_fota_delete(struct emu_fota *f, const char *name)
{
	char p[4400];

	if (!good_name(name))
		return EMU_FILE_E_BAD_NAME;
	ufs_path(f, name, p, sizeof(p));
	if (unlink(p) < 0)
		return errno == ENOENT ? EMU_FILE_E_NOT_FOUND : EMU_FILE_E_WRITE;
	return 0;
}

int emu_fota_upload_check(struct emu_fota *f, const char *name, uint64_t size)
{
	uint64_t fr, total;
	char p[4400];
	struct stat st;

	if (!good_name(name))
		return EMU_FILE_E_BAD_NAME;
	ufs_path(f, name, p, sizeof(p));
	if (lstat(p, &st) == 0)
		return EMU_FILE_E_EXISTS;
	emu_fota_space(f, &fr, &total);
	if (size > fr)
		return EMU_FILE_E_DRIVE_FULL;
	return 0;
}

/*
 * The module's own checksum: 16-bit words, big-endian, XORed; an odd last
 * byte is a high byte. Written again here (not the host's function) so a
 * mistake on one side shows.
 */
static uint16_t sum_bytes(uint16_t sum, uint64_t pos, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++, pos++)
		sum ^= (pos & 1) ? p[i] : (uint16_t)(p[i] << 8);
	return sum;
}

int emu_fota_receive(struct emu_normal *nm, struct mfw_transport *t, struct emu_fota *f,
		     const char *name, uint64_t size, unsigned timeout_s, bool ack, uint16_t *sum)
{
	uint8_t buf[1024];
	uint64_t got = 0;
	char p[4400];
	int fd, r = 0;

	*sum = 0;
	ufs_path(f, name, p, sizeof(p));
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno == EEXIST ? EMU_FILE_E_EXISTS : EMU_FILE_E_WRITE;
	while (got < size) {
		/* never past a block end: the 'A' goes out as soon as a block is complete */
		size_t cap = sizeof(buf) - (size_t)(got % sizeof(buf));
		int n;

		if (size - got < cap)
			cap = (size_t)(size - got);
		n = emu_port_read(nm, t, buf, cap, mfw_deadline_in((int64_t)timeout_s * 1000));
		if (n == MFW_E_TIMEOUT) {
			r = EMU_FILE_E_TIMEOUT;
			goto out_unlink;
		}
		if (n < 0) {
			r = n;
			goto out_unlink;
		}
		if (write(fd, buf, (size_t)n) != n) {
			r = EMU_FILE_E_WRITE;
			goto out_unlink;
		}
		*sum = sum_bytes(*sum, got, buf, (size_t)n);
		got += (uint64_t)n;
		if (ack && got % sizeof(buf) == 0) {
			r = emu_port_write(nm, t, "A", 1);
			if (r < 0)
				goto out_unlink;
		}
	}
	if (fsync(fd) < 0) {
		r = EMU_FILE_E_WRITE;
		goto out_unlink;
	}
	close(fd);
	return 0;

out_unlink:
	close(fd);
	unlink(p);
	return r;
}

int emu_fota_start(struct emu_fota *f, const char *path)
{
	const char *name = NULL;
	char p[4400];
	struct stat st;

	/* the forms a module names its user file system by */
	if (!strncmp(path, "/data/ufs/", 10))
		name = path + 10;
	else if (!strncmp(path, "UFS:", 4))
		name = path + 4;
	if (!name || !good_name(name))
		return EMU_FILE_E_BAD_NAME;
	ufs_path(f, name, p, sizeof(p));
	if (stat(p, &st) < 0 || !S_ISREG(st.st_mode))
		return EMU_FILE_E_NOT_FOUND;
	snprintf(f->pkg, sizeof(f->pkg), "%s", p);
	atomic_store(&f->pending, true);
	return 0;
}

void emu_fota_version(struct emu_fota *f, const char *fallback, char *out, size_t cap)
{
	char p[4400];
	FILE *fp;

	snprintf(out, cap, "%s", fallback);
	if (!emu_fota_enabled(f))
		return;
	snprintf(p, sizeof(p), "%s/etc/quectel-project-version", f->root);
	fp = fopen(p, "r");
	if (!fp)
		return;
	if (fgets(out, (int)cap, fp)) {
		out[strcspn(out, "\r\n")] = 0;
		if (!out[0])
			snprintf(out, cap, "%s", fallback);
	} else {
		snprintf(out, cap, "%s", fallback);
	}
	fclose(fp);
}

/* ---- recovery ---- */

struct rec {
	struct mfw_emu *emu;
	struct mfw_transport *host;
	size_t lines;
};

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static bool stopping(struct mfw_emu *emu)
{
	return emu_stopping(emu) || mfw_cancelled(emu->ctx);
}

/* The updater's status line, as the module reports it: a URC on the AT port. */
static void report(void *user, const char *line)
{
	struct rec *rc = user;
	char buf[600];
	int n;

	rc->lines++;
	mfw_dbg(rc->emu->ctx, "recovery: %s", line);
	if (!rc->host)
		return;
	n = snprintf(buf, sizeof(buf), "\r\n%s\r\n", line);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return;
	if (mfw_transport_write(rc->host, buf, (size_t)n, mfw_deadline_in(EMU_URC_TX_MS), NULL) < 0) {
		/* the host left: the update goes on, as on a module */
		mfw_transport_close(rc->host);
		rc->host = NULL;
	}
}

/* Off the bus for a moment, unless the tool is being stopped. */
static void reboot_pause(struct mfw_emu *emu)
{
	for (int left = EMU_REBOOT_MS; left > 0 && !stopping(emu); left -= EMU_POLL_MS)
		sleep_ms(left < EMU_POLL_MS ? left : EMU_POLL_MS);
}

int emu_fota_recovery(struct mfw_emu *emu, const char *at_spec)
{
	struct emu_fota *f = emu->fota;
	struct mfw_dfota_apply_opts o = { 0 };
	struct mfw_dfota_apply_result res;
	int r = 0;

	o.root = f->root;
	o.cache = f->cache;
	o.partitions = f->parts;
	o.report = report;
	mfw_dbg(emu->ctx, "recovery: updating from %s", f->pkg);
	reboot_pause(emu);
	for (;;) {
		struct mfw_dfota_recovery_faults fl = { 0 };
		struct mfw_listener *l;
		struct rec rc = { .emu = emu };
		mfw_deadline_t wait = mfw_deadline_in(EMU_RECOVERY_HOST_MS);
		bool lost = false;
		uint64_t ops = 0;

		if (stopping(emu))
			return 0;
		r = mfw_listener_open(emu->dctx, at_spec, &l);
		if (r < 0)
			return mfw_fail(emu->ctx, r, "recovery: AT port %s: %s", at_spec,
					mfw_ctx_detail(emu->dctx));
		/* progress is reported to a host that is there: give it time to reopen the port */
		while (!mfw_deadline_passed(wait) && !stopping(emu)) {
			r = mfw_listener_accept(l, mfw_deadline_in(EMU_POLL_MS), &rc.host);
			if (r == 0)
				break;
			if (r != MFW_E_TIMEOUT)
				sleep_ms(EMU_POLL_MS);
		}
		mfw_dbg(emu->ctx, "recovery: %s", rc.host ? "host connected" : "no host; updating anyway");
		if (f->cuts_fired < f->ncuts)
			fl.cut_at_op = f->cuts[f->cuts_fired];
		fl.cache_limited = f->nospace;
		fl.cache_free = f->nospace_bytes;
		o.report_user = &rc;
		r = mfw_dfota_apply_faults(emu->dctx, f->pkg, &o, &fl, &lost, &ops, &res);
		if (lost) {
			f->cuts_fired++;
			/* a notice: tests and users see where the fault hit */
			mfw_notice(emu->ctx, "fault: power lost at I/O operation %" PRIu64
				   " of the update; rebooting into recovery", ops);
		} else {
			mfw_notice(emu->ctx, "recovery: update ended with %d%s%s", res.code,
				   res.message[0] ? ": " : "", res.message);
		}
		/* the reboot (after a power loss, or into the firmware): the port goes away */
		if (rc.host)
			mfw_transport_close(rc.host);
		mfw_listener_close(l);
		if (!lost)
			break;
		reboot_pause(emu);
	}
	atomic_store(&f->pending, false);
	reboot_pause(emu);
	return 0;
}
