/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Link and NAND timing model (docs/emulator.md, "Link model"). With
 * --link usb2|usb3 the device takes and sends bytes no faster than the bus
 * would carry them, pays a fixed latency per bulk transfer, and its NAND
 * programs pages and erases blocks in the time a real chip needs. With
 * --link none (the default) every hook returns at its first test.
 *
 * Time is kept as absolute CLOCK_MONOTONIC targets ("the bus is free at
 * t", "the NAND is done at t") and the device sleeps until them with
 * clock_nanosleep(TIMER_ABSTIME), so sleeping late once does not add up:
 * the model does not drift, it only catches up.
 */
#include "emu-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#define NS 1000000000ll

/*
 * USB 2.0 high speed: 480 Mbit/s raw; a bulk endpoint gets at most 13
 * packets of 512 bytes per 125 us microframe = 53.2 MB/s, and real host
 * controllers deliver 35..45 MB/s to one bulk pipe: 40 MB/s. A transfer
 * (URB) completes and the next starts on a microframe boundary at best:
 * 125 us per transfer.
 */
#define USB2_BYTES_PER_S 40000000ull
#define USB2_XFER_NS 125000ll
/*
 * USB 3 SuperSpeed: 5 Gbit/s raw, 8b/10b coding leaves 500 MB/s; one bulk
 * pipe of a typical xHCI + device reaches 300..400 MB/s: 350 MB/s. No
 * microframe wait for bulk; about 30 us from one completion to the next
 * transfer on the wire (software + controller).
 */
#define USB3_BYTES_PER_S 350000000ull
#define USB3_XFER_NS 30000ll
/* A host streams raw data in transfers of at most this size (qdl: 1 MiB per URB). */
#define XFER_BYTES (1u << 20)

/*
 * NAND (SLC, as on MDM9x07 modules): page program tPROG 250 us and block
 * erase tBERS 2 ms (datasheet typical values of 2..8 Gbit SLC parts). The
 * controller drives 2 planes on each of 2 dies, and with cache program it
 * takes the next pages into its buffer while the array programs the last
 * ones: 4 pages per tPROG, 4 x 4 KiB / 250 us = 65.5 MB/s, faster than
 * USB 2.0, so the bus is the limit as on real modules. Erase runs on the
 * same 4 planes: 4 blocks per tBERS.
 */
#define NAND_TPROG_NS 250000ll
#define NAND_TBERS_NS 2000000ll
#define NAND_PARALLEL 4
/* The programmer's receive buffer: NAND may trail the bus by this much before the device stops reading. */
#define NAND_BUFFER_BYTES (1u << 20)
/*
 * A sleeping device wakes up late (50..100 us on an idle Linux box, more
 * on a busy one). What it overslept is not charged when the next bytes were
 * already waiting (the host kept the bus busy): the bus continues where the
 * model left it. WAKE_SLACK_NS covers the wake-up of a read that found no
 * data at first; it is also all an idle bus may bank.
 */
#define WAKE_SLACK_NS 200000ll
/* A read that returns this fast found its bytes already waiting. */
#define READY_NS 50000ll

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

/*
 * Linux lets a sleeping thread wake up to its timer slack late (50 us by
 * default) so that wake-ups can be batched; the model sleeps thousands of
 * times per flash, and that slack is a real device's bus time the host
 * would be blamed for. One nanosecond of slack for the sleeping thread
 * (the setting is per thread, so set it where the sleeps happen).
 */
static void tighten_timer_slack(void)
{
	static _Thread_local bool done;

	if (!done) {
		(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
		done = true;
	}
}

static void sleep_until(struct emu_lm *lm, int64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / NS), .tv_nsec = (long)(t % NS) };
	int64_t late;

	tighten_timer_slack();
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	late = now_ns() - t;
	if (late > 0) {
		lm->late_ns += late;
		lm->overslept = late;
	}
}

int emu_lm_init(struct emu_lm *lm, enum mfw_emu_link link, bool nand, uint32_t page_size)
{
	memset(lm, 0, sizeof(*lm));
	switch (link) {
	case MFW_EMU_LINK_NONE:
		return 0;
	case MFW_EMU_LINK_USB2:
		lm->bytes_per_s = USB2_BYTES_PER_S;
		lm->xfer_ns = USB2_XFER_NS;
		break;
	case MFW_EMU_LINK_USB3:
		lm->bytes_per_s = USB3_BYTES_PER_S;
		lm->xfer_ns = USB3_XFER_NS;
		break;
	default:
		return MFW_E_INVAL;
	}
	lm->on = true;
	lm->nand = nand;
	lm->page_ns = NAND_TPROG_NS / NAND_PARALLEL;
	lm->block_ns = NAND_TBERS_NS / NAND_PARALLEL;
	lm->buffer_ns = lm->page_ns * (NAND_BUFFER_BYTES / page_size);
	lm->turned = true;
	return 0;
}

/* Occupy the bus for n bytes (plus new transfers); ready: they were waiting for us. */
static void bus(struct emu_lm *lm, size_t n, unsigned transfers, bool ready)
{
	int64_t t = now_ns() - WAKE_SLACK_NS - (ready ? lm->overslept : 0);

	lm->overslept = 0;
	if (lm->bus_free < t)
		lm->bus_free = t; /* an idle bus banks no credit (beyond the wake-up slack) */
	lm->bus_free += (int64_t)((uint64_t)n * NS / lm->bytes_per_s) + (int64_t)transfers * lm->xfer_ns;
	lm->transfers += transfers;
}

void emu_lm_wait(struct emu_lm *lm)
{
	if (lm->on && lm->bus_free > now_ns())
		sleep_until(lm, lm->bus_free);
}

void emu_lm_rx(struct emu_lm *lm, size_t n, int64_t read_ns)
{
	unsigned transfers = 0;

	if (!lm->on)
		return;
	lm->bytes_in += n;
	/* the host's next transfer starts after it saw our answer, then one per XFER_BYTES */
	if (lm->turned) {
		transfers++;
		lm->rx_in_xfer = 0;
		lm->turned = false;
	}
	lm->rx_in_xfer += n;
	while (lm->rx_in_xfer > XFER_BYTES) {
		transfers++;
		lm->rx_in_xfer -= XFER_BYTES;
	}
	/*
	 * No sleep here: the device works on these bytes while the bus still
	 * carries them, and waits for the bus before it takes more
	 * (emu_lm_wait() at the next read), as a controller with a posted
	 * buffer does.
	 */
	bus(lm, n, transfers, read_ns < READY_NS);
}

void emu_lm_tx(struct emu_lm *lm, size_t n)
{
	if (!lm->on)
		return;
	lm->bytes_out += n;
	lm->turned = true;
	/* every write of ours is one IN transfer (a log, a response, a read chunk) ... */
	bus(lm, n, 1 + (unsigned)(n > XFER_BYTES ? (n - 1) / XFER_BYTES : 0), true);
	/* ... that the host has once the bus carried it */
	emu_lm_wait(lm);
}

void emu_lm_program(struct emu_lm *lm, uint64_t pages)
{
	int64_t t;

	if (!lm->on || !lm->nand || !pages)
		return;
	t = now_ns();
	if (lm->nand_free < t)
		lm->nand_free = t;
	lm->nand_free += (int64_t)pages * lm->page_ns;
	/* cache program: the buffer fills while the array works; a full buffer stops the reading */
	if (lm->nand_free - t > lm->buffer_ns) {
		lm->nand_stall_ns += lm->nand_free - lm->buffer_ns - t;
		sleep_until(lm, lm->nand_free - lm->buffer_ns);
	}
}

void emu_lm_program_done(struct emu_lm *lm)
{
	int64_t t;

	if (!lm->on || !lm->nand)
		return;
	t = now_ns();
	/* the final ACK comes when the last page is programmed */
	/* the last bytes are still on the bus until bus_free: the tail starts there */
	if (lm->bus_free > t)
		t = lm->bus_free;
	if (lm->nand_free > t) {
		lm->tail_ns += lm->nand_free - t;
		sleep_until(lm, lm->nand_free);
	}
}

void emu_lm_erase(struct emu_lm *lm, uint64_t blocks)
{
	int64_t t, until;

	if (!lm->on || !lm->nand || !blocks)
		return;
	/* the erase starts once its command is off the bus and the array is idle */
	t = now_ns();
	if (lm->bus_free > t)
		t = lm->bus_free;
	until = (lm->nand_free > t ? lm->nand_free : t) + (int64_t)blocks * lm->block_ns;
	lm->erase_ns += until - t;
	lm->nand_free = until;
}

void emu_lm_erase_wait(struct emu_lm *lm)
{
	if (lm->on && lm->nand && lm->nand_free > now_ns())
		sleep_until(lm, lm->nand_free);
}

void emu_lm_busy(struct emu_lm *lm, int64_t ns)
{
	if (lm->on)
		lm->busy_ns += ns;
}

int64_t emu_lm_now(void)
{
	return now_ns();
}

void emu_lm_report(struct mfw_emu *emu)
{
	struct emu_lm *lm = &emu->lm;
	double link_s;

	if (!lm->on)
		return;
	link_s = (double)(lm->bytes_in + lm->bytes_out) / (double)lm->bytes_per_s +
		 (double)lm->transfers * (double)lm->xfer_ns / 1e9;
	mfw_notice(emu->ctx, "link model: %" PRIu64 " bytes in, %" PRIu64 " bytes out, %" PRIu64
		   " transfers, bus %.3f s, erase %.3f s, program tail %.3f s, nand stall %.3f s, "
		   "device digest %.3f s, late wake-ups %.3f s",
		   lm->bytes_in, lm->bytes_out, lm->transfers, link_s, (double)lm->erase_ns / 1e9,
		   (double)lm->tail_ns / 1e9, (double)lm->nand_stall_ns / 1e9,
		   (double)lm->busy_ns / 1e9, (double)lm->late_ns / 1e9);
	lm->bytes_in = lm->bytes_out = lm->transfers = 0;
	lm->erase_ns = lm->tail_ns = lm->nand_stall_ns = lm->busy_ns = lm->late_ns = 0;
}
