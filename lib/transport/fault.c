/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault-injecting wrapper for tests: stalls, dropped or corrupted bytes,
 * a disconnect and slow reads, each at an exact byte offset so a failing
 * case can be replayed. Offsets count bytes of one direction since the
 * wrap; the disconnect counts both directions together.
 */
#include "transport/internal.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fault_transport {
	struct mfw_transport base;
	struct mfw_transport *inner;
	struct mfw_fault_spec spec;
	uint64_t in_pos;  /* bytes read from inner */
	uint64_t out_pos; /* bytes passed to inner */
	bool gone;
};

void mfw_fault_spec_init(struct mfw_fault_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->stall_out_at = MFW_FAULT_OFF;
	s->drop_in_at = MFW_FAULT_OFF;
	s->corrupt_in_at = MFW_FAULT_OFF;
	s->drop_out_at = MFW_FAULT_OFF;
	s->corrupt_out_at = MFW_FAULT_OFF;
	s->disconnect_at = MFW_FAULT_OFF;
	s->corrupt_mask = 0xff;
}

/* xorshift32: tiny, seedable and the same everywhere, so a seed names a case */
static uint32_t next_rand(uint32_t *state)
{
	uint32_t x = *state ? *state : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

void mfw_fault_spec_random(struct mfw_fault_spec *s, uint32_t seed, uint64_t limit)
{
	uint32_t st = seed;
	uint64_t at;

	mfw_fault_spec_init(s);
	if (!limit)
		limit = 1;
	at = (((uint64_t)next_rand(&st) << 32) | next_rand(&st)) % limit;
	switch (next_rand(&st) % 6) {
	case 0:
		s->stall_out_at = at;
		break;
	case 1:
		s->drop_in_at = at;
		break;
	case 2:
		s->corrupt_in_at = at;
		break;
	case 3:
		s->drop_out_at = at;
		break;
	case 4:
		s->corrupt_out_at = at;
		break;
	default:
		s->disconnect_at = at;
		break;
	}
	s->corrupt_mask = (uint8_t)(1u << (next_rand(&st) % 8));
}

static int gone(struct fault_transport *f)
{
	f->gone = true;
	return mfw_fail(f->base.ctx, MFW_E_NODEV, "'%s' disconnected (injected after %llu bytes)",
			f->base.name, (unsigned long long)f->spec.disconnect_at);
}

/* Bytes that may still move before the injected disconnect. */
static uint64_t before_disconnect(const struct fault_transport *f)
{
	uint64_t moved = f->in_pos + f->out_pos;

	if (f->spec.disconnect_at == MFW_FAULT_OFF)
		return UINT64_MAX;
	return moved >= f->spec.disconnect_at ? 0 : f->spec.disconnect_at - moved;
}

static void sleep_until(mfw_deadline_t deadline, int64_t ms)
{
	int left = mfw_deadline_left(deadline);

	if (ms > left)
		ms = left;
	if (ms > 0)
		poll(NULL, 0, (int)ms);
}

/* Is absolute offset at inside the window [pos, pos + n)? */
static bool hits(uint64_t at, uint64_t pos, size_t n)
{
	return at != MFW_FAULT_OFF && at >= pos && at - pos < n;
}

static int fault_read(struct mfw_transport *t, void *buf, size_t cap, mfw_deadline_t deadline)
{
	struct fault_transport *f = (struct fault_transport *)t;
	unsigned char *p = buf;

	if (f->gone)
		return mfw_fail(t->ctx, MFW_E_NODEV, "'%s' is disconnected", t->name);
	if (cap == 0)
		return 0;
	if (f->spec.read_delay_ms)
		sleep_until(deadline, f->spec.read_delay_ms);
	for (;;) {
		uint64_t room = before_disconnect(f);
		uint64_t pos = f->in_pos;
		int r;

		if (room == 0)
			return gone(f);
		if (cap > room)
			cap = (size_t)room;
		r = mfw_transport_read(f->inner, p, cap, deadline);
		if (r <= 0)
			return r;
		f->in_pos += (uint64_t)r;
		if (hits(f->spec.corrupt_in_at, pos, (size_t)r))
			p[f->spec.corrupt_in_at - pos] ^= f->spec.corrupt_mask;
		if (hits(f->spec.drop_in_at, pos, (size_t)r)) {
			size_t i = (size_t)(f->spec.drop_in_at - pos);

			memmove(p + i, p + i + 1, (size_t)r - i - 1);
			r--;
		}
		if (r > 0)
			return r;
		/* the only byte was dropped: the caller asked for data, keep reading */
	}
}

static int fault_write(struct mfw_transport *t, const void *buf, size_t len,
		       mfw_deadline_t deadline, size_t *written)
{
	struct fault_transport *f = (struct fault_transport *)t;
	const unsigned char *src = buf;
	unsigned char *copy = NULL;
	size_t pass = len, moved = 0, drop_i = SIZE_MAX;
	uint64_t room = before_disconnect(f), pos = f->out_pos;
	bool stall = false, cut = false;
	int r = 0;

	*written = 0;
	if (f->gone)
		return mfw_fail(t->ctx, MFW_E_NODEV, "'%s' is disconnected", t->name);
	if (pass > room) {
		pass = (size_t)room;
		cut = true;
	}
	if (f->spec.stall_out_at != MFW_FAULT_OFF && pos + pass > f->spec.stall_out_at) {
		pass = pos >= f->spec.stall_out_at ? 0 : (size_t)(f->spec.stall_out_at - pos);
		stall = true;
		cut = false;
	}
	if (hits(f->spec.corrupt_out_at, pos, pass) || hits(f->spec.drop_out_at, pos, pass)) {
		copy = malloc(pass);
		if (!copy)
			return mfw_fail(t->ctx, MFW_E_NOMEM, "no memory for an injected fault");
		memcpy(copy, src, pass);
		if (hits(f->spec.corrupt_out_at, pos, pass))
			copy[f->spec.corrupt_out_at - pos] ^= f->spec.corrupt_mask;
		if (hits(f->spec.drop_out_at, pos, pass)) {
			drop_i = (size_t)(f->spec.drop_out_at - pos);
			memmove(copy + drop_i, copy + drop_i + 1, pass - drop_i - 1);
		}
		src = copy;
	}
	if (pass) {
		size_t n = pass - (drop_i != SIZE_MAX ? 1 : 0);

		r = mfw_transport_write(f->inner, src, n, deadline, &moved);
		/* report in the caller's bytes: the dropped one counts as sent */
		if (drop_i != SIZE_MAX && moved >= drop_i)
			moved++;
	}
	free(copy);
	f->out_pos += moved;
	*written = moved;
	if (r < 0)
		return r;
	if (stall) {
		/* the device "stops accepting data": the write ends at its deadline */
		sleep_until(deadline, INT64_MAX);
		return mfw_fail(t->ctx, MFW_E_TIMEOUT,
				"'%s' stopped accepting data after %zu of %zu bytes (injected stall)",
				t->name, moved, len);
	}
	if (cut)
		return gone(f);
	return 0;
}

static void fault_close(struct mfw_transport *t)
{
	struct fault_transport *f = (struct fault_transport *)t;

	mfw_transport_close(f->inner);
	free(f);
}

static const struct mfw_transport_ops fault_ops = {
	.kind = "fault",
	.read = fault_read,
	.write = fault_write,
	.close = fault_close,
};

int mfw_transport_fault(struct mfw_ctx *ctx, struct mfw_transport *inner,
			const struct mfw_fault_spec *spec, struct mfw_transport **ret)
{
	struct fault_transport *f = calloc(1, sizeof(*f));

	if (!f) {
		mfw_transport_close(inner);
		return mfw_fail(ctx, MFW_E_NOMEM, "no memory for a fault wrapper");
	}
	f->base.ops = &fault_ops;
	f->base.ctx = ctx;
	f->base.max_packet = inner->max_packet;
	memcpy(f->base.name, inner->name, sizeof(f->base.name));
	f->inner = inner;
	f->spec = *spec;
	if (!f->spec.corrupt_mask)
		f->spec.corrupt_mask = 0xff;
	*ret = &f->base;
	return 0;
}
