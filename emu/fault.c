/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device-side fault injection: a schedule of faults parsed from specs of
 * the form KIND[@TRIGGER][,param=value...] (docs/emulator.md, "Faults"),
 * and the hooks the link, the boot ROM and the programmer call to learn
 * whether a fault fires now. Everything here runs in the device thread;
 * a fault fires once unless its trigger is "always".
 */
#include "emu-internal.h"
#include "fota.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* How often a hung device looks at its stop/cancel flags. */
#define HANG_POLL_MS 100
/* Defaults of a random trigger's range when none is given. */
#define RANDOM_BYTES_MAX (64ull << 20)
#define RANDOM_OPS_MAX 20
/* A disconnected device is off the bus this long unless delay= says otherwise. */
#define DEFAULT_DELAY_MS 1000
#define DEFAULT_FLOOD_LINES 50
#define NOT_ARMED UINT64_MAX

static const char *const kind_names[] = {
	[EMU_FAULT_NONE_] = "none",        [EMU_FAULT_STALL] = "stall",       [EMU_FAULT_SILENCE] = "silence",
	[EMU_FAULT_DROP] = "drop",         [EMU_FAULT_CORRUPT] = "corrupt",
	[EMU_FAULT_DISCONNECT] = "disconnect", [EMU_FAULT_FLOOD] = "flood",
	[EMU_FAULT_NAK] = "nak",           [EMU_FAULT_SLOWACK] = "slowack",
	[EMU_FAULT_BADBLOCK] = "badblock", [EMU_FAULT_NOHELLO] = "nohello",
	[EMU_FAULT_HALT] = "halt",
};

const char *emu_fault_kind_name(enum emu_fault_kind k)
{
	return (unsigned)k < MFW_ARRAY_SIZE(kind_names) ? kind_names[k] : "?";
}

/* "4096", "0x1000", "64K", "1M", "2G" */
static int parse_num(const char *s, uint64_t *out)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K': mult = 1ull << 10; end++; break;
	case 'm': case 'M': mult = 1ull << 20; end++; break;
	case 'g': case 'G': mult = 1ull << 30; end++; break;
	default:
		return -1;
	}
	if (*end || v > UINT64_MAX / mult)
		return -1;
	*out = v * mult;
	return 0;
}

/* splitmix64: a seed names one trigger point, on every machine. */
static uint64_t mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

static bool kind_takes(enum emu_fault_kind k, const char *param)
{
	switch (k) {
	case EMU_FAULT_DROP:
		return !strcmp(param, "dir") || !strcmp(param, "off");
	case EMU_FAULT_CORRUPT:
		return !strcmp(param, "dir") || !strcmp(param, "off") || !strcmp(param, "mask");
	case EMU_FAULT_DISCONNECT:
		return !strcmp(param, "delay");
	case EMU_FAULT_FLOOD:
		return !strcmp(param, "lines") || !strcmp(param, "when");
	case EMU_FAULT_SLOWACK:
		return !strcmp(param, "ms");
	default:
		return false;
	}
}

#define BAD(...)                                                   \
	do {                                                       \
		int n_ = snprintf(err, errcap, "fault '%s': ", spec);  \
		if (n_ >= 0 && (size_t)n_ < errcap)                \
			snprintf(err + n_, errcap - (size_t)n_, __VA_ARGS__); \
		return MFW_E_INVAL;                                \
	} while (0)

int emu_fault_parse(const char *spec, struct emu_fault *f, char *err, size_t errcap)
{
	char buf[256], *kind, *rest, *tok, *save = NULL;
	bool random = false, have_range = false, have_ms = false;
	bool random_ops = false, have_off = false;
	uint64_t seed = 1, lo = 0, hi = 0, v;
	size_t i;

	memset(f, 0, sizeof(*f));
	f->trig = EMU_TRIG_NONE;
	f->mask = 0xFF;
	f->delay_ms = DEFAULT_DELAY_MS;
	f->lines = DEFAULT_FLOOD_LINES;
	f->armed = NOT_ARMED;
	if (!spec || !*spec)
		BAD("empty");
	if (strlen(spec) >= sizeof(buf))
		BAD("longer than %zu characters", sizeof(buf) - 1);
	strcpy(buf, spec);
	kind = buf;
	rest = buf + strcspn(buf, "@,");
	{
		char sep = *rest;
		*rest = '\0';
		rest = sep ? rest + 1 : rest;
		for (i = EMU_FAULT_STALL; i < MFW_ARRAY_SIZE(kind_names); i++)
			if (!strcmp(kind, kind_names[i]))
				break;
		if (i == MFW_ARRAY_SIZE(kind_names))
			BAD("unknown kind '%s' (stall, silence, drop, corrupt, disconnect, flood, nak, "
			    "slowack, badblock, nohello, halt)", kind);
		f->kind = (enum emu_fault_kind)i;
		if (sep == '@') {
			/* the trigger is the first item after '@' */
			tok = rest;
			rest = tok + strcspn(tok, ",");
			if (*rest)
				*rest++ = '\0';
			if (!strncmp(tok, "bytes=", 6)) {
				if (parse_num(tok + 6, &f->at) < 0)
					BAD("bytes=%s is not a byte count", tok + 6);
				f->trig = EMU_TRIG_BYTES;
			} else if (!strncmp(tok, "op=", 3)) {
				if (parse_num(tok + 3, &f->at) < 0 || f->at == 0)
					BAD("op=%s is not a command number (1 is the first)", tok + 3);
				f->trig = EMU_TRIG_OP;
			} else if (!strcmp(tok, "random") || !strcmp(tok, "random=bytes")) {
				random = true;
				f->trig = EMU_TRIG_BYTES;
			} else if (!strcmp(tok, "random=op")) {
				random = random_ops = true;
				f->trig = EMU_TRIG_OP;
			} else if (!strcmp(tok, "always")) {
				f->trig = EMU_TRIG_ALWAYS;
			} else {
				BAD("unknown trigger '%s' (bytes=N, op=N, random[=bytes|op], always)", tok);
			}
		}
	}
	for (tok = strtok_r(rest, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *val = strchr(tok, '=');

		if (!val)
			BAD("'%s' is not param=value", tok);
		*val++ = '\0';
		if (!strcmp(tok, "seed") || !strcmp(tok, "range")) {
			if (!random)
				BAD("%s= only goes with a random trigger", tok);
		} else if (!strcmp(tok, "cmd")) {
			if (f->trig != EMU_TRIG_OP && f->trig != EMU_TRIG_ALWAYS)
				BAD("cmd= only goes with op=N, random=op or always");
		} else if (!kind_takes(f->kind, tok)) {
			BAD("'%s' takes no parameter '%s'", kind_names[f->kind], tok);
		}
		if (!strcmp(tok, "seed")) {
			if (parse_num(val, &seed) < 0)
				BAD("seed=%s is not a number", val);
		} else if (!strcmp(tok, "range")) {
			char *dash = strchr(val, '-');
			if (dash) {
				*dash = '\0';
				if (parse_num(val, &lo) < 0 || parse_num(dash + 1, &hi) < 0 || lo > hi)
					BAD("range=%s-%s is not LOW-HIGH", val, dash + 1);
			} else {
				if (parse_num(val, &hi) < 0 || hi == 0)
					BAD("range=%s is not a positive number", val);
				lo = random_ops ? 1 : 0;
			}
			have_range = true;
		} else if (!strcmp(tok, "cmd")) {
			if (!*val || strlen(val) >= sizeof(f->cmd) || strspn(val,
			    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != strlen(val))
				BAD("cmd=%s is not a Firehose command name", val);
			strcpy(f->cmd, val);
		} else if (!strcmp(tok, "dir")) {
			if (!strcmp(val, "in"))
				f->out = false;
			else if (!strcmp(val, "out"))
				f->out = true;
			else
				BAD("dir=%s: in (host to device) or out (device to host)", val);
		} else if (!strcmp(tok, "mask")) {
			if (parse_num(val, &v) < 0 || v == 0 || v > 0xFF)
				BAD("mask=%s is not a byte 1..0xff", val);
			f->mask = (uint8_t)v;
		} else if (!strcmp(tok, "off")) {
			if (parse_num(val, &f->off) < 0)
				BAD("off=%s is not a byte count", val);
			have_off = true;
		} else if (!strcmp(tok, "delay") || !strcmp(tok, "ms") || !strcmp(tok, "lines")) {
			if (parse_num(val, &v) < 0 || v > 24ull * 3600 * 1000)
				BAD("%s=%s is not a number up to a day's milliseconds", tok, val);
			if (!strcmp(tok, "delay"))
				f->delay_ms = (uint32_t)v;
			else if (!strcmp(tok, "ms"))
				f->delay_ms = (uint32_t)v, have_ms = true;
			else if (v == 0 || v > 100000)
				BAD("lines=%s is not 1..100000", val);
			else
				f->lines = (uint32_t)v;
		} else if (!strcmp(tok, "when")) {
			if (!strcmp(val, "before"))
				f->after = false;
			else if (!strcmp(val, "after"))
				f->after = true;
			else
				BAD("when=%s: before or after the response", val);
		}
	}
	if (f->trig == EMU_TRIG_NONE && f->kind != EMU_FAULT_NOHELLO)
		BAD("'%s' needs a trigger: %s@bytes=N, @op=N or @random,seed=S", kind_names[f->kind],
		    kind_names[f->kind]);
	if (f->trig == EMU_TRIG_ALWAYS &&
	    (f->kind == EMU_FAULT_STALL || f->kind == EMU_FAULT_SILENCE || f->kind == EMU_FAULT_DROP ||
	     f->kind == EMU_FAULT_CORRUPT || f->kind == EMU_FAULT_DISCONNECT ||
	     f->kind == EMU_FAULT_BADBLOCK || f->kind == EMU_FAULT_NOHELLO ||
	     f->kind == EMU_FAULT_HALT))
		BAD("'%s' fires once: use bytes=N, op=N or random", kind_names[f->kind]);
	if (f->kind == EMU_FAULT_HALT && f->trig != EMU_TRIG_BYTES)
		BAD("halt stalls the transfer carrying a byte: halt@bytes=N or @random");
	if (f->kind == EMU_FAULT_NOHELLO && f->trig == EMU_TRIG_OP)
		BAD("nohello happens in the boot ROM, before any Firehose command: no op=");
	if (f->kind == EMU_FAULT_SLOWACK && !have_ms)
		BAD("slowack needs ms=N (the final ACK's delay)");
	if (have_off && f->trig != EMU_TRIG_OP)
		BAD("off= counts bytes after command N: it needs op=N");
	if (f->kind == EMU_FAULT_BADBLOCK && f->cmd[0] && strcasecmp(f->cmd, "program"))
		BAD("badblock hits a <program>: cmd=%s makes no sense", f->cmd);
	if (random) {
		if (!have_range) {
			lo = random_ops ? 1 : 0;
			hi = random_ops ? RANDOM_OPS_MAX : RANDOM_BYTES_MAX;
		}
		if (random_ops && lo == 0)
			BAD("range of a random=op trigger starts at 1");
		f->at = lo + mix(seed) % (hi - lo + 1);
	}
	if (f->kind == EMU_FAULT_BADBLOCK && !f->cmd[0])
		strcpy(f->cmd, "program");
	/* a byte fault on a byte count is armed from the start */
	if ((f->kind == EMU_FAULT_DROP || f->kind == EMU_FAULT_CORRUPT) && f->trig == EMU_TRIG_BYTES)
		f->armed = f->at;
	return 0;
}

#undef BAD

int emu_faults_build(struct mfw_ctx *ctx, const struct mfw_emu_config *cfg, struct emu_fault **out,
		     size_t *nout)
{
	size_t n = cfg->nfaults + 4, k = 0;
	struct emu_fault *v;
	char err[320];

	*out = NULL;
	*nout = 0;
	if (cfg->nfaults && !cfg->faults)
		return mfw_fail(ctx, MFW_E_INVAL, "virtual modem: %zu faults but no list", cfg->nfaults);
	v = calloc(n, sizeof(*v));
	if (!v)
		return mfw_fail(ctx, MFW_E_NOMEM, "no memory for the fault schedule");
	for (size_t i = 0; i < cfg->nfaults; i++) {
		/* fota-* faults belong to the recovery (fota.c), not to the link */
		if (!strncmp(cfg->faults[i], "fota-", 5))
			continue;
		if (emu_fault_parse(cfg->faults[i], &v[k], err, sizeof(err)) < 0) {
			free(v);
			return mfw_fail(ctx, MFW_E_INVAL, "%s", err);
		}
		if (v[k].kind == EMU_FAULT_BADBLOCK && cfg->storage != MFW_EMU_NAND) {
			free(v);
			return mfw_fail(ctx, MFW_E_INVAL,
					"fault '%s': bad blocks exist on NAND only", cfg->faults[i]);
		}
		k++;
	}
	/* the older single-purpose fields are entries of the same schedule */
	if (cfg->fault_stall_at) {
		emu_fault_parse("stall@bytes=0", &v[k], err, sizeof(err));
		v[k++].at = cfg->fault_stall_at;
	}
	if (cfg->fault_disconnect_at) {
		emu_fault_parse("disconnect@bytes=0", &v[k], err, sizeof(err));
		v[k].at = cfg->fault_disconnect_at;
		v[k++].delay_ms = cfg->fault_disconnect_delay_ms;
	}
	if (cfg->final_ack_delay_ms) {
		emu_fault_parse("slowack@always,cmd=program,ms=0", &v[k], err, sizeof(err));
		v[k++].delay_ms = cfg->final_ack_delay_ms;
	}
	if (cfg->log_flood) {
		emu_fault_parse("flood@always,when=after", &v[k], err, sizeof(err));
		v[k++].lines = cfg->log_flood;
	}
	*out = v;
	*nout = k;
	return 0;
}

int mfw_emu_fault_check(struct mfw_ctx *ctx, const char *spec)
{
	struct emu_fault f;
	char err[320];

	if (!strncmp(spec, "fota-", 5)) {
		if (emu_fota_fault_check(spec, err, sizeof(err)) < 0)
			return mfw_fail(ctx, MFW_E_INVAL, "%s", err);
		return 0;
	}
	if (emu_fault_parse(spec, &f, err, sizeof(err)) < 0)
		return mfw_fail(ctx, MFW_E_INVAL, "%s", err);
	return 0;
}

/* ---- hooks ---- */

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/*
 * A hung module. stall: reads nothing more and answers nothing (the host's
 * writes stop completing once the buffers between are full). silence:
 * keeps taking bytes and throws them away, answers nothing. Both last
 * until the device is stopped (power cycle) or, for silence, until the
 * host goes away; the hang survives a reconnect.
 */
int emu_fault_hang(struct emu_link *l)
{
	struct mfw_emu *emu = l->emu;
	uint8_t sink[4096];

	if (emu->hang == EMU_FAULT_STALL) {
		while (!emu_link_stopping(l))
			sleep_ms(HANG_POLL_MS);
		return MFW_E_CANCELLED;
	}
	for (;;) {
		int r;

		if (emu_link_stopping(l))
			return MFW_E_CANCELLED;
		r = mfw_transport_read(l->t, sink, sizeof(sink), mfw_deadline_in(HANG_POLL_MS));
		if (r < 0 && r != MFW_E_TIMEOUT)
			return r;
	}
}

static void fire(struct mfw_emu *emu, struct emu_fault *f, const char *where)
{
	if (f->trig != EMU_TRIG_ALWAYS)
		f->fired = true;
	if (f->trig == EMU_TRIG_ALWAYS && f->logged)
		return;
	f->logged = true;
	mfw_dbg(emu->ctx, "fault: %s fires %s (after %" PRIu64 " bytes from the host)",
		kind_names[f->kind], where, (uint64_t)atomic_load(&emu->in_bytes));
}

static void start_hang(struct mfw_emu *emu, struct emu_fault *f)
{
	if (f->kind == EMU_FAULT_DISCONNECT) {
		emu->unplugged = true;
		emu->unplug_ms = f->delay_ms;
	} else {
		emu->hang = f->kind;
	}
}

int emu_fault_rx_gate(struct emu_link *l, size_t *cap)
{
	struct mfw_emu *emu = l->emu;
	uint64_t pos = atomic_load(&emu->in_bytes);

	if (emu->hang)
		return emu_fault_hang(l);
	for (size_t i = 0; i < emu->nfaults; i++) {
		struct emu_fault *f = &emu->faults[i];

		if (f->fired || f->trig != EMU_TRIG_BYTES ||
		    (f->kind != EMU_FAULT_STALL && f->kind != EMU_FAULT_SILENCE &&
		     f->kind != EMU_FAULT_DISCONNECT && f->kind != EMU_FAULT_HALT))
			continue;
		if (pos >= f->at && f->kind == EMU_FAULT_HALT) {
			/*
			 * USB: the endpoint answers the transfer carrying this
			 * byte with STALL; its unread rest is lost and the
			 * device carries on (usbredir.c). Other links have no
			 * endpoint to halt.
			 */
			fire(emu, f, "on the byte count");
			if (emu_usbredir_halt(l->t) < 0)
				mfw_dbg(emu->ctx, "fault: halt: '%s' has no USB endpoint, ignored",
					l->t->name);
			continue;
		}
		if (pos >= f->at) {
			fire(emu, f, "on the byte count");
			start_hang(emu, f);
			if (emu->unplugged)
				return MFW_E_NODEV;
			return emu_fault_hang(l);
		}
		/* read no further than the fault, so it lands on its exact byte */
		if (*cap > f->at - pos)
			*cap = (size_t)(f->at - pos);
	}
	return 0;
}

size_t emu_fault_rx_bytes(struct mfw_emu *emu, uint8_t *buf, size_t n, uint64_t pos)
{
	for (size_t i = 0; i < emu->nfaults; i++) {
		struct emu_fault *f = &emu->faults[i];
		size_t k;

		if (f->fired || f->out || f->armed == NOT_ARMED ||
		    (f->kind != EMU_FAULT_DROP && f->kind != EMU_FAULT_CORRUPT))
			continue;
		if (f->armed < pos || f->armed - pos >= n)
			continue;
		k = (size_t)(f->armed - pos);
		fire(emu, f, "on a byte from the host");
		if (f->kind == EMU_FAULT_CORRUPT) {
			buf[k] ^= f->mask;
		} else {
			memmove(buf + k, buf + k + 1, n - k - 1);
			n--;
			/* positions of later faults in this buffer moved down by one */
			pos++;
		}
	}
	return n;
}

ssize_t emu_fault_tx_byte(struct mfw_emu *emu, uint64_t pos, size_t n, uint8_t *mask,
			  bool *drop)
{
	for (size_t i = 0; i < emu->nfaults; i++) {
		struct emu_fault *f = &emu->faults[i];

		if (f->fired || !f->out || f->armed == NOT_ARMED ||
		    (f->kind != EMU_FAULT_DROP && f->kind != EMU_FAULT_CORRUPT))
			continue;
		if (f->armed < pos || f->armed - pos >= n)
			continue;
		fire(emu, f, "on a byte to the host");
		*drop = f->kind == EMU_FAULT_DROP;
		*mask = f->mask;
		return (ssize_t)(f->armed - pos);
	}
	return -1;
}

static bool cmd_matches(const struct emu_fault *f, const char *tag)
{
	return !f->cmd[0] || !strcasecmp(f->cmd, tag);
}

void emu_fault_on_cmd(struct mfw_emu *emu, const char *tag, uint64_t cmd_end,
		      struct emu_fault_act *act)
{
	uint64_t pos = atomic_load(&emu->in_bytes);

	memset(act, 0, sizeof(*act));
	for (size_t i = 0; i < emu->nfaults; i++) {
		struct emu_fault *f = &emu->faults[i];
		bool now = false;

		if (f->fired || f->kind == EMU_FAULT_NOHELLO)
			continue;
		switch (f->trig) {
		case EMU_TRIG_OP:
			if (!cmd_matches(f, tag))
				continue;
			now = ++f->seen == f->at;
			break;
		case EMU_TRIG_ALWAYS:
			now = cmd_matches(f, tag);
			break;
		case EMU_TRIG_BYTES:
			/* the link faults of a byte count fire in the link; the rest at the next command */
			now = pos >= f->at && cmd_matches(f, tag) &&
			      (f->kind == EMU_FAULT_FLOOD || f->kind == EMU_FAULT_NAK ||
			       f->kind == EMU_FAULT_SLOWACK);
			break;
		default:
			break;
		}
		if (!now)
			continue;
		switch (f->kind) {
		case EMU_FAULT_STALL:
		case EMU_FAULT_SILENCE:
		case EMU_FAULT_DISCONNECT:
			fire(emu, f, tag);
			start_hang(emu, f);
			act->end = true;
			break;
		case EMU_FAULT_DROP:
		case EMU_FAULT_CORRUPT:
			/* armed: the byte off= bytes after this command, either way */
			f->armed = (f->out ? emu->out_bytes : cmd_end) + f->off;
			mfw_dbg(emu->ctx, "fault: %s armed at <%s> for %s byte %" PRIu64,
				kind_names[f->kind], tag, f->out ? "outgoing" : "incoming", f->armed);
			break;
		case EMU_FAULT_FLOOD:
			fire(emu, f, tag);
			if (f->after)
				act->flood_after += f->lines;
			else
				act->flood_before += f->lines;
			break;
		case EMU_FAULT_NAK:
			fire(emu, f, tag);
			act->nak = true;
			break;
		case EMU_FAULT_SLOWACK:
			fire(emu, f, tag);
			act->slow_ms += f->delay_ms;
			break;
		case EMU_FAULT_BADBLOCK:
			fire(emu, f, tag);
			act->badblock = true;
			break;
		default:
			break;
		}
	}
}

bool emu_fault_badblock_due(struct mfw_emu *emu)
{
	uint64_t pos = atomic_load(&emu->in_bytes);

	for (size_t i = 0; i < emu->nfaults; i++) {
		struct emu_fault *f = &emu->faults[i];

		if (!f->fired && f->kind == EMU_FAULT_BADBLOCK && f->trig == EMU_TRIG_BYTES &&
		    pos >= f->at) {
			fire(emu, f, "during a <program>");
			return true;
		}
	}
	return false;
}

bool emu_fault_nohello(struct mfw_emu *emu)
{
	uint64_t pos = atomic_load(&emu->in_bytes);

	for (size_t i = 0; i < emu->nfaults; i++) {
		struct emu_fault *f = &emu->faults[i];

		if (f->fired || f->kind != EMU_FAULT_NOHELLO)
			continue;
		if (f->trig == EMU_TRIG_NONE || pos >= f->at) {
			fire(emu, f, "at power-up");
			return true;
		}
	}
	return false;
}
