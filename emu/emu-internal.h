/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_EMU_INTERNAL_H
#define MFW_EMU_INTERNAL_H

/*
 * Inside the virtual modem. Four parts share this header:
 *   storage.c     file-backed flash (NAND pages + bad blocks, eMMC sectors)
 *   factory.c     the image a new module leaves the factory with
 *   pbl.c         the boot ROM's Sahara side (programmer upload, command mode)
 *   programmer.c  the Firehose programmer
 * and emu.c ties them to connections (listener, in-process pair).
 */
#include <modemfw/emu.h>
#include "core/core.h"
#include "transport/transport.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- storage ---- */
struct emu_store {
	int fd;
	bool nand;
	uint64_t size;      /* bytes */
	uint32_t sector;    /* Firehose sector: NAND page or eMMC sector */
	uint64_t nsectors;
	uint32_t block;     /* NAND erase block in bytes (eMMC: = sector) */
	uint32_t ppb;       /* NAND pages per block (eMMC: 1) */
	uint32_t nblocks;
	uint8_t erased;     /* what erased storage reads as: NAND 0xFF, eMMC 0x00 */
	uint8_t *bad;       /* NAND bad-block bitmap, nblocks bits */
	/*
	 * NAND only: erased pages are file holes and read as 0xFF through this
	 * layer (fast to create, no disk), at the price of the raw file
	 * showing 0x00 there. Used for anonymous images, or when asked.
	 */
	bool sparse_erased;
	char *bb_path;      /* sidecar "IMAGE.badblocks"; NULL for an anonymous image */
};

/*
 * Open (or create, sparse, *created = true) the image of cfg. A new NAND
 * image is written erased (0xFF) and its bad blocks filled with 0x00.
 */
int emu_store_open(struct mfw_ctx *ctx, const struct mfw_emu_config *cfg, struct emu_store *st,
		   bool *created);
void emu_store_close(struct emu_store *st);
int emu_store_read(struct emu_store *st, uint64_t off, void *buf, size_t len);
int emu_store_write(struct emu_store *st, uint64_t off, const void *buf, size_t len);
/* Set a byte range to one value (0x00 punches a hole when it can). */
int emu_store_fill(struct emu_store *st, uint64_t off, uint64_t len, uint8_t value);
int emu_store_flush(struct emu_store *st);
bool emu_store_is_bad(const struct emu_store *st, uint64_t block);
/* Grown bad block: recorded in the sidecar so it persists, contents zeroed. */
int emu_store_mark_bad(struct emu_store *st, uint32_t block);

/*
 * NAND page cursor: walks the good pages of a window [page, end), skipping
 * bad blocks, the way the programmer lays data into a partition.
 */
struct emu_nand_cursor {
	uint64_t page; /* next physical page */
	uint64_t end;  /* window end, exclusive */
	bool linear;   /* no partition known: no skipping */
};
/*
 * Position the cursor logical good pages after win_start. MFW_E_NOSPC when
 * the window runs out of good blocks first.
 */
int emu_nand_cursor_init(const struct emu_store *st, struct emu_nand_cursor *c, uint64_t win_start,
			 uint64_t win_end, uint64_t logical, bool linear);
/* Next run of consecutive good pages (at most max); 0 pages = out of good blocks. */
uint64_t emu_nand_cursor_run(const struct emu_store *st, struct emu_nand_cursor *c, uint64_t max,
			     uint64_t *phys);

bool emu_all_bytes(const void *buf, size_t len, uint8_t value);

/* ---- factory image ---- */
int emu_factory_build(struct mfw_ctx *ctx, struct emu_store *st, const struct mfw_emu_config *cfg);
/*
 * Factory NV store (docs/emulator.md; nvstore.c): NV items and EFS tree,
 * returns its length, written into out (cap >= EMU_NV_STORE_MAX).
 */
#define EMU_NV_STORE_MAX 16384
int emu_nv_store_build(const char *imei, uint8_t *out, size_t cap);
/* Encode an IMEI as NV item 550 (reference diag.md §3.1): 128 bytes. */
int emu_nv_imei_encode(const char *imei, uint8_t out[128]);

/* ---- faults (fault.c) ---- */
enum emu_fault_kind {
	EMU_FAULT_NONE_ = 0,  /* "no hang" in struct mfw_emu */
	EMU_FAULT_STALL,      /* stop reading host data */
	EMU_FAULT_SILENCE,    /* keep reading, never answer */
	EMU_FAULT_DROP,       /* lose one byte (dir=in|out) */
	EMU_FAULT_CORRUPT,    /* flip bits of one byte (dir=in|out, mask=) */
	EMU_FAULT_DISCONNECT, /* drop off the bus, power-cycle into the boot ROM after delay= */
	EMU_FAULT_FLOOD,      /* lines= logs before (when=after: after) a response */
	EMU_FAULT_NAK,        /* NAK a command with a log saying why */
	EMU_FAULT_SLOWACK,    /* final ACK after ms= */
	EMU_FAULT_BADBLOCK,   /* a <program> grows a bad block and fails */
	EMU_FAULT_NOHELLO,    /* the HELLO of a power-up is lost: past-HELLO state */
	EMU_FAULT_HALT,       /* USB: STALL the transfer carrying a byte (usbredir.c) */
};

enum emu_fault_trigger {
	EMU_TRIG_NONE,   /* nohello only: the first power-up */
	EMU_TRIG_BYTES,  /* host->device bytes since the emulator started */
	EMU_TRIG_OP,     /* the at-th Firehose command (that cmd= names) */
	EMU_TRIG_ALWAYS, /* every command (that cmd= names): quirks */
};

struct emu_fault {
	enum emu_fault_kind kind;
	enum emu_fault_trigger trig;
	uint64_t at;        /* byte count or command number (random: drawn from seed and range) */
	char cmd[32];       /* op/always: only this command counts; "" = every command */
	bool out;           /* drop/corrupt: device->host */
	uint8_t mask;       /* corrupt: XOR mask */
	uint64_t off;       /* drop/corrupt with op=: the byte off= after the command */
	uint32_t delay_ms;  /* disconnect: off the bus; slowack: ACK delay */
	uint32_t lines;     /* flood */
	bool after;         /* flood after the response instead of before */
	/* state */
	bool fired;
	bool logged;
	uint64_t seen;      /* matching commands so far */
	uint64_t armed;     /* drop/corrupt: absolute byte position in its direction, or UINT64_MAX */
};

/* What the schedule asks of the command being handled. */
struct emu_fault_act {
	bool end;           /* stall, silence or disconnect fired: end the session */
	bool nak;
	bool badblock;
	uint32_t flood_before, flood_after;
	uint32_t slow_ms;
};

/* Parse one spec; on failure a sentence in err and MFW_E_INVAL. */
int emu_fault_parse(const char *spec, struct emu_fault *f, char *err, size_t errcap);
/* The schedule of cfg->faults plus the older single-purpose fields. */
int emu_faults_build(struct mfw_ctx *ctx, const struct mfw_emu_config *cfg, struct emu_fault **out,
		     size_t *nout);
const char *emu_fault_kind_name(enum emu_fault_kind k);
struct emu_link;
/* Before a read: byte-count hangs and disconnects (negative), else the cap that lands on them. */
int emu_fault_rx_gate(struct emu_link *l, size_t *cap);
/* After a read of n bytes that started at host byte pos: drop/corrupt; returns the new length. */
size_t emu_fault_rx_bytes(struct mfw_emu *emu, uint8_t *buf, size_t n, uint64_t pos);
/* Before a write of n bytes at device byte pos: index of the byte to drop/corrupt, or -1. */
ssize_t emu_fault_tx_byte(struct mfw_emu *emu, uint64_t pos, size_t n, uint8_t *mask, bool *drop);
/* A command arrived; cmd_end is the host byte count just after its document. */
void emu_fault_on_cmd(struct mfw_emu *emu, const char *tag, uint64_t cmd_end,
		      struct emu_fault_act *act);
/* A byte-count badblock fault whose count passed during a <program>. */
bool emu_fault_badblock_due(struct mfw_emu *emu);
/* Does the next HELLO get lost? */
bool emu_fault_nohello(struct mfw_emu *emu);
/* Hang as emu->hang says until stopped (or the host leaves a silent device); returns < 0. */
int emu_fault_hang(struct emu_link *l);

/* ---- link and NAND timing model (link.c) ---- */
struct emu_lm {
	bool on;
	bool nand;
	uint64_t bytes_per_s;
	int64_t xfer_ns;      /* per bulk transfer */
	int64_t page_ns;      /* effective program time per page */
	int64_t block_ns;     /* effective erase time per block */
	int64_t buffer_ns;    /* how far NAND may trail the bus */
	int64_t bus_free;     /* CLOCK_MONOTONIC ns */
	int64_t nand_free;
	bool turned;          /* we wrote since the last receive: the host starts a new transfer */
	uint64_t rx_in_xfer;
	/* counters since the last report */
	uint64_t bytes_in, bytes_out, transfers;
	int64_t erase_ns, tail_ns, nand_stall_ns;
	int64_t busy_ns;      /* device work a host waits for (digests) */
	int64_t late_ns;      /* how late the device woke from its sleeps in total */
	int64_t overslept;    /* how late the last sleep ended */
};
int emu_lm_init(struct emu_lm *lm, enum mfw_emu_link link, bool nand, uint32_t page_size);
/*
 * Bytes received (the read took read_ns: quick means they were waiting):
 * charged to the bus; emu_lm_wait() before the next read waits them out.
 */
void emu_lm_rx(struct emu_lm *lm, size_t n, int64_t read_ns);
void emu_lm_wait(struct emu_lm *lm);
/* Device work the host waits for (a digest), counted for the report. */
void emu_lm_busy(struct emu_lm *lm, int64_t ns);
int64_t emu_lm_now(void);
void emu_lm_tx(struct emu_lm *lm, size_t n);
void emu_lm_program(struct emu_lm *lm, uint64_t pages);
void emu_lm_program_done(struct emu_lm *lm);
/* Erase: charge the NAND time first, do the work, then wait for the rest. */
void emu_lm_erase(struct emu_lm *lm, uint64_t blocks);
void emu_lm_erase_wait(struct emu_lm *lm);
/* One log line with the session's counters (the benchmark's ideal time), then zero them. */
void emu_lm_report(struct mfw_emu *emu);

/* ---- device ---- */
enum emu_state {
	EMU_ST_FRESH,       /* PBL powered up, HELLO not yet sent */
	EMU_ST_PBL,         /* PBL past HELLO: waiting for the host's packets */
	EMU_ST_PROGRAMMER,  /* Firehose programmer running */
};

/* Why a session ended. */
enum emu_end {
	EMU_END_DISCONNECT, /* host went away; device state kept */
	EMU_END_RESET,      /* device reset / powered off: drop the link, back to FRESH */
	EMU_END_STOP,       /* cancelled or stopped by its owner */
};

struct mfw_emu {
	struct mfw_ctx *ctx;     /* caller's context: cancel flag, log sink */
	struct mfw_ctx *dctx;    /* device-side context: detail sentences of the device thread */
	struct mfw_emu_config cfg;
	char *image_path;
	struct emu_store st;
	_Atomic int state;       /* enum emu_state */
	atomic_bool stop;        /* set by mfw_emu_free / a new attach */

	/* programmer state that outlives a connection */
	bool configured;
	uint32_t payload_to_target;
	uint64_t image_bytes;    /* size of the loaded programmer */

	char *imei;
	/* fault injection (fault.c): the schedule, bytes moved so far, what fired */
	struct emu_fault *faults;
	size_t nfaults;
	_Atomic uint64_t in_bytes; /* read from hosts */
	uint64_t out_bytes;        /* written to hosts */
	enum emu_fault_kind hang;  /* EMU_FAULT_STALL / _SILENCE once a hang fired (until power cycle) */
	bool unplugged;          /* a disconnect fault fired: power-cycle before the next host */
	uint32_t unplug_ms;      /* ... and stay off the bus this long */
	/* link and NAND timing model (link.c) */
	struct emu_lm lm;
	/* listener (mfw_emu_listen) */
	struct mfw_listener *listener;
	struct emu_usbredir *usbredir; /* instead of a listener: a USB device behind QEMU */
	/* normal mode (normal.c): serving the boot ROM after the DIAG switch, until a reset */
	bool edl_phase;
	/* normal mode: user file system, DFOTA recovery and its faults (fota.c) */
	struct emu_fota *fota;

	/* in-process session */
	pthread_t thread;
	bool thread_running;
};

/* A device link: reads poll the stop/cancel flags in short slices. */
struct emu_link {
	struct mfw_emu *emu;
	struct mfw_transport *t;
	struct mfw_ctx *cancel_ctx; /* serve: the owner's cancel flag; in-process: NULL */
};

/* Read up to cap bytes before deadline; MFW_E_CANCELLED when stopped. */
int emu_link_read(struct emu_link *l, void *buf, size_t cap, mfw_deadline_t deadline);
int emu_link_read_full(struct emu_link *l, void *buf, size_t len, mfw_deadline_t deadline);
int emu_link_write(struct emu_link *l, const void *buf, size_t len);
bool emu_stopping(const struct mfw_emu *emu);
/* Stopped by its owner, or (when served by the tool) cancelled by a signal. */
bool emu_link_stopping(const struct emu_link *l);

/*
 * normal.c: normal mode (AT and DIAG ports, NV store); after the DIAG
 * switch the boot ROM serves on edl_spec until a reset boots the firmware
 * again. Returns like mfw_emu_serve().
 */
int emu_normal_serve(struct mfw_emu *emu, const char *edl_spec);

/*
 * usbredir.c: the device on a QEMU usb-redir socket ("usbredir:PATH" or
 * "usbredir:HOST:PORT"). accept() plugs the device in and returns once the
 * host has configured it; closing that transport unplugs it.
 */
struct emu_usbredir;
int emu_usbredir_open(struct mfw_emu *emu, const char *spec, struct emu_usbredir **ret);
int emu_usbredir_accept(struct emu_usbredir *u, mfw_deadline_t deadline,
			struct mfw_transport **ret);
void emu_usbredir_close(struct emu_usbredir *u); /* NULL is fine */
const char *emu_usbredir_name(const struct emu_usbredir *u);
/*
 * Normal mode: plug in as an EC25 (2c7c:0125: DIAG, NMEA, AT, modem, QMI)
 * and return interface iface once configured; closing it leaves the
 * device on the bus. unplug() takes the device off (mode switch).
 */
int emu_usbredir_port(struct emu_usbredir *u, int iface, mfw_deadline_t deadline,
		      struct mfw_transport **ret);
void emu_usbredir_unplug(struct emu_usbredir *u);
/*
 * The "halt" fault: t's OUT endpoint answers the transfer being read with
 * STALL and every later one until the host clears the halt. MFW_E_UNSUPPORTED
 * when t is not a usbredir transport.
 */
int emu_usbredir_halt(struct mfw_transport *t);

/* pbl.c: run the boot ROM until the programmer starts (returns 0) or the session ends (< 0 / end). */
int emu_pbl_run(struct emu_link *l, enum emu_end *end);
/* programmer.c: serve Firehose until the session ends. */
int emu_programmer_start(struct emu_link *l);
int emu_programmer_run(struct emu_link *l, enum emu_end *end);

#endif
