/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * In-process transport pair: two bounded ring buffers behind one mutex.
 * Used by the built-in virtual modem (device thread on one end, host on the
 * other) and by unit tests. Bounded so that a writer feels backpressure
 * like on a real link and a stall can be reproduced with an exact count.
 */
#include "transport/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Big enough for a 1 MiB Firehose payload to stream without lock-step. */
#define PAIR_DEFAULT_CAPACITY (256 * 1024)

struct ring {
	unsigned char *buf;
	size_t cap;
	size_t head; /* index of the oldest byte */
	size_t len;
};

struct pair_shared {
	pthread_mutex_t lock;
	/* one condvar for all waiters: traffic is low and broadcast keeps it simple */
	pthread_cond_t cond;
	struct ring ring[2]; /* ring[i] carries bytes written by end i */
	bool closed[2];
	int refs;
};

struct pair_end {
	struct mfw_transport base;
	struct pair_shared *s;
	int side;
};

static size_t ring_put(struct ring *r, const unsigned char *src, size_t n)
{
	size_t tail = (r->head + r->len) % r->cap;
	size_t room = r->cap - r->len;
	size_t first;

	if (n > room)
		n = room;
	first = r->cap - tail;
	if (first > n)
		first = n;
	memcpy(r->buf + tail, src, first);
	memcpy(r->buf, src + first, n - first);
	r->len += n;
	return n;
}

static size_t ring_get(struct ring *r, unsigned char *dst, size_t n)
{
	size_t first;

	if (n > r->len)
		n = r->len;
	first = r->cap - r->head;
	if (first > n)
		first = n;
	memcpy(dst, r->buf + r->head, first);
	memcpy(dst + first, r->buf, n - first);
	r->head = (r->head + n) % r->cap;
	r->len -= n;
	return n;
}

static int pair_read(struct mfw_transport *t, void *buf, size_t cap, mfw_deadline_t deadline)
{
	struct pair_end *e = (struct pair_end *)t;
	struct pair_shared *s = e->s;
	struct ring *r = &s->ring[1 - e->side];
	int ret;

	if (cap == 0)
		return 0;
	if (cap > INT32_MAX)
		cap = INT32_MAX;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		if (r->len) {
			ret = (int)ring_get(r, buf, cap);
			pthread_cond_broadcast(&s->cond);
			break;
		}
		if (s->closed[1 - e->side]) {
			ret = MFW_E_NODEV;
			break;
		}
		ret = mfw_tr_cond_wait(&s->cond, &s->lock, deadline);
		if (ret < 0)
			break;
	}
	pthread_mutex_unlock(&s->lock);
	/* the detail is set outside the lock: the context belongs to this end's thread */
	if (ret == MFW_E_NODEV)
		return mfw_fail(t->ctx, ret, "'%s': the other end closed", t->name);
	if (ret == MFW_E_IO)
		return mfw_fail(t->ctx, ret, "'%s': waiting for data failed", t->name);
	return ret;
}

static int pair_write(struct mfw_transport *t, const void *buf, size_t len,
		      mfw_deadline_t deadline, size_t *written)
{
	struct pair_end *e = (struct pair_end *)t;
	struct pair_shared *s = e->s;
	struct ring *r = &s->ring[e->side];
	const unsigned char *p = buf;
	size_t done = 0;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	while (done < len) {
		size_t n;

		if (s->closed[1 - e->side]) {
			ret = MFW_E_NODEV;
			break;
		}
		n = ring_put(r, p + done, len - done);
		if (n) {
			done += n;
			pthread_cond_broadcast(&s->cond);
			continue;
		}
		ret = mfw_tr_cond_wait(&s->cond, &s->lock, deadline);
		if (ret < 0)
			break;
	}
	pthread_mutex_unlock(&s->lock);
	*written = done;
	switch (ret) {
	case MFW_E_NODEV:
		return mfw_fail(t->ctx, ret, "'%s': the other end closed after %zu of %zu bytes",
				t->name, done, len);
	case MFW_E_TIMEOUT:
		return mfw_fail(t->ctx, ret, "'%s' stopped accepting data after %zu of %zu bytes",
				t->name, done, len);
	case MFW_E_IO:
		return mfw_fail(t->ctx, ret, "'%s': waiting for space failed", t->name);
	}
	return 0;
}

static void shared_free(struct pair_shared *s)
{
	free(s->ring[0].buf);
	free(s->ring[1].buf);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void pair_close(struct mfw_transport *t)
{
	struct pair_end *e = (struct pair_end *)t;
	struct pair_shared *s = e->s;
	bool last;

	pthread_mutex_lock(&s->lock);
	s->closed[e->side] = true;
	last = --s->refs == 0;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (last)
		shared_free(s);
	free(e);
}

static const struct mfw_transport_ops pair_ops = {
	.kind = "pair",
	.read = pair_read,
	.write = pair_write,
	.close = pair_close,
};

int mfw_transport_pair(struct mfw_ctx *ctx, size_t capacity,
		       struct mfw_transport **a, struct mfw_transport **b)
{
	struct pair_shared *s;
	struct pair_end *end[2] = { NULL, NULL };
	int i;

	if (!capacity)
		capacity = PAIR_DEFAULT_CAPACITY;
	s = calloc(1, sizeof(*s));
	if (!s)
		return mfw_fail(ctx, MFW_E_NOMEM, "no memory for a transport pair");
	if (pthread_mutex_init(&s->lock, NULL))
		goto out_free_shared;
	if (mfw_tr_cond_init(&s->cond) < 0)
		goto out_destroy_lock;
	for (i = 0; i < 2; i++) {
		s->ring[i].cap = capacity;
		s->ring[i].buf = malloc(capacity);
		end[i] = calloc(1, sizeof(*end[i]));
		if (!s->ring[i].buf || !end[i])
			goto out_free_ends;
		end[i]->base.ops = &pair_ops;
		end[i]->base.ctx = ctx;
		snprintf(end[i]->base.name, sizeof(end[i]->base.name), "pair:%c", 'a' + i);
		end[i]->s = s;
		end[i]->side = i;
	}
	s->refs = 2;
	*a = &end[0]->base;
	*b = &end[1]->base;
	return 0;

out_free_ends:
	for (i = 0; i < 2; i++) {
		free(end[i]);
		free(s->ring[i].buf);
	}
	pthread_cond_destroy(&s->cond);
out_destroy_lock:
	pthread_mutex_destroy(&s->lock);
out_free_shared:
	free(s);
	return mfw_fail(ctx, MFW_E_NOMEM, "no memory for a transport pair of %zu bytes", capacity);
}
