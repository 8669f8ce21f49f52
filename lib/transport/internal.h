/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_LIB_TRANSPORT_INTERNAL_H
#define MFW_LIB_TRANSPORT_INTERNAL_H

/* Helpers shared by the transport backends; not part of the area's interface. */
#include "transport/transport.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

struct addrinfo;

/*
 * How long mfw_transport_open() waits for a connect or a name lookup: a
 * local bridge or emulator answers in microseconds, a remote one over a
 * slow VPN in well under a second; 5 s leaves margin without looking hung.
 */
#define MFW_TRANSPORT_OPEN_MS 5000

/* fd.c: open a /dev node as a raw tty or a plain char device, exclusively. */
int mfw_tr_open_dev(struct mfw_ctx *ctx, const char *path, struct mfw_transport **ret);

/* socket.c: resolve host/port before the deadline (numeric hosts never block). */
int mfw_tr_resolve(struct mfw_ctx *ctx, const char *host, const char *port, bool passive,
		   mfw_deadline_t deadline, struct addrinfo **ret);
/* Split "HOST:PORT" or "[V6]:PORT" into its parts. */
int mfw_tr_split_host_port(const char *hp, char *host, size_t host_len, char *port,
			   size_t port_len);
int mfw_tr_connect(struct mfw_ctx *ctx, const char *spec, mfw_deadline_t deadline,
		   struct mfw_transport **ret);

/* usb.c */
int mfw_tr_usb_open(struct mfw_ctx *ctx, const char *spec, struct mfw_transport **ret);

/* Condition variables in this area wait on CLOCK_MONOTONIC, the clock of mfw_deadline_t. */
static inline int mfw_tr_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	int r;

	if (pthread_condattr_init(&attr))
		return MFW_E_NOMEM;
	r = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!r)
		r = pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
	return r ? MFW_E_NOMEM : 0;
}

/* Returns 0 when woken (maybe spuriously), MFW_E_TIMEOUT once the deadline passed. */
static inline int mfw_tr_cond_wait(pthread_cond_t *cond, pthread_mutex_t *lock,
				   mfw_deadline_t deadline)
{
	struct timespec ts;

	if (deadline == MFW_DEADLINE_NONE)
		return pthread_cond_wait(cond, lock) ? MFW_E_IO : 0;
	if (mfw_deadline_passed(deadline))
		return MFW_E_TIMEOUT;
	ts.tv_sec = (time_t)(deadline / 1000);
	ts.tv_nsec = (long)(deadline % 1000) * 1000000L;
	return pthread_cond_timedwait(cond, lock, &ts) == ETIMEDOUT ? MFW_E_TIMEOUT : 0;
}

#endif
