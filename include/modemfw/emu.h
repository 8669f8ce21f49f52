/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MODEMFW_EMU_H
#define MODEMFW_EMU_H

/*
 * The virtual modem: a PBL (Sahara) that loads a Firehose programmer ELF,
 * then a programmer serving Firehose over NAND or eMMC storage kept in a
 * file. It is a device, not a mirror of our host: it is built on the pure
 * codecs only, never on the host state machines.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mfw_ctx;
struct mfw_transport;
struct mfw_emu;

enum mfw_emu_storage {
	MFW_EMU_NAND = 0,
	MFW_EMU_EMMC = 1,
};

/* What the module boots into (docs/emulator.md, "Normal mode"). */
enum mfw_emu_mode {
	MFW_EMU_MODE_EDL = 0,    /* boot ROM (Sahara) on the listen spec: a module with no firmware */
	MFW_EMU_MODE_NORMAL = 1, /* firmware running: AT and DIAG ports; EDL after the DIAG switch */
};

/* Normal mode: told when ports come and go (the tool prints them). */
enum mfw_emu_event_kind {
	MFW_EMU_EVENT_NORMAL = 0, /* booted into normal mode: at and diag are listening */
	MFW_EMU_EVENT_EDL = 1,    /* switched to EDL: edl is listening, at and diag are gone */
};

struct mfw_emu_event {
	enum mfw_emu_event_kind kind;
	const char *at;   /* resolved listener names, as mfw_emu_listen() reports them */
	const char *diag;
	const char *edl;
};

/* Timing model of the device's link (and of its NAND when it has one). */
enum mfw_emu_link {
	MFW_EMU_LINK_NONE = 0, /* as fast as the transport: the default */
	MFW_EMU_LINK_USB2 = 1, /* USB 2.0 high speed: 40 MB/s, 125 us per transfer */
	MFW_EMU_LINK_USB3 = 2, /* USB 3 SuperSpeed: 350 MB/s, 30 us per transfer */
};

struct mfw_emu_config {
	enum mfw_emu_storage storage;
	const char *image_path;   /* storage file, created sparse when missing; NULL = anonymous temp file */
	uint64_t size;            /* bytes; NAND default 512 MiB, eMMC 4 GiB */
	uint32_t page_size;       /* NAND page = Firehose sector; default 4096 */
	uint32_t block_size;      /* NAND erase block; default 256 KiB */
	uint32_t sector_size;     /* eMMC sector; default 512 */
	const uint32_t *bad_blocks; /* NAND factory bad blocks (block numbers) */
	size_t n_bad_blocks;
	uint32_t max_payload;     /* largest MaxPayloadSizeToTargetInBytes accepted; default 1 MiB */
	uint32_t serial;          /* Sahara serial number; default 0x0DE1F00D */
	uint64_t hw_id;           /* Sahara MSM HW id */
	const char *imei;         /* factory IMEI in the NV store; default 356938035643809 */
	/*
	 * NAND: keep erased pages as file holes (a new image costs no time or
	 * disk) instead of 0xFF bytes; the image file then reads 0x00 where the
	 * flash is erased. Always on for an anonymous image (image_path NULL).
	 */
	bool sparse_erased;
	/* PBL: request the programmer with READ_DATA (32-bit) instead of READ_DATA_64 */
	bool sahara_read_data_32;
	/*
	 * Fault injection (docs/emulator.md). Offsets count the bytes the
	 * device has read from hosts since it started; 0 = off; each fires once.
	 */
	uint64_t fault_stall_at;      /* the device stops reading here: a hung module */
	uint64_t fault_disconnect_at; /* the device drops off the bus here ... */
	uint32_t fault_disconnect_delay_ms; /* ... and is back in its boot ROM after this long */
	/* quirks (docs/emulator.md) */
	uint32_t final_ack_delay_ms; /* "slow final ACK": wait before a program's closing ACK */
	uint32_t log_flood;          /* extra <log> lines after every response */
	/*
	 * Fault schedule: specs KIND[@TRIGGER][,param=value...] as for
	 * `modemfw emu --fault` (docs/emulator.md, "Faults"), parsed by
	 * mfw_emu_new(). The fields above are entries of the same schedule.
	 */
	const char *const *faults;
	size_t nfaults;
	/* bus bandwidth and latency, plus NAND program/erase times (docs/emulator.md, "Link model") */
	enum mfw_emu_link link;
	/*
	 * Normal mode (mfw_emu_serve() only; mfw_emu_attach() is EDL-only).
	 * The module serves AT on listen_at and DIAG on listen_diag; the DIAG
	 * switch (4B 65 01 00) reboots it into the boot ROM on the spec given
	 * to mfw_emu_serve(), and a reset from EDL boots it back.
	 */
	enum mfw_emu_mode mode;
	const char *listen_at;
	const char *listen_diag;
	/* unsolicited log/event/message packets sent before a DIAG answer, per mille (default 20) */
	uint32_t diag_noise_permille;
	/* called from the serving thread; NULL = nobody listens */
	void (*on_event)(void *user, const struct mfw_emu_event *ev);
	void *event_user;
	/*
	 * DFOTA over AT (docs/emulator.md, "DFOTA over AT"; needs image_path):
	 * the module's root file system and partition directory the recovery
	 * updates, used in place (NULL = <image>.rootfs/, <image>.partitions/);
	 * the user file system AT+QFUPL writes into is <image>.ufs/ with
	 * ufs_size bytes (0 = 64 MiB), the cache <image>.cache/.
	 */
	const char *fota_rootfs;
	const char *fota_partitions;
	uint64_t ufs_size;
};

void mfw_emu_config_defaults(struct mfw_emu_config *cfg, enum mfw_emu_storage storage);

/* Check one fault spec: 0, or MFW_E_INVAL with a sentence saying what is wrong on ctx. */
int mfw_emu_fault_check(struct mfw_ctx *ctx, const char *spec);

/* Open or create the storage (a new image is factory-like: partition table, content, efs2 NV store). */
int mfw_emu_new(struct mfw_ctx *ctx, const struct mfw_emu_config *cfg, struct mfw_emu **ret);

/*
 * Serve connections on spec (tcp:HOST:PORT, unix:PATH, pty:LINK) one at a
 * time until the context is cancelled (SIGINT/SIGTERM in the tool). Device
 * state (PBL waiting, programmer running) survives a host disconnect, like a
 * powered module whose USB host tool restarts. Returns 0 once cancelled
 * (the image flushed), negative when listening or flushing failed.
 * In normal mode the module first serves AT and DIAG (cfg.listen_at,
 * cfg.listen_diag) and opens spec only once the host switched it to EDL;
 * a tcp port 0 is resolved the first time and kept across reboots. The
 * spec "diag" puts the boot ROM where the DIAG port was.
 */
int mfw_emu_serve(struct mfw_emu *emu, const char *listen_spec);

/*
 * Split form of mfw_emu_serve() for tools that print where they listen:
 * open the listener and write its resolved name into bound (for tcp port 0
 * the port the kernel chose, "tcp:127.0.0.1:40123"), then call
 * mfw_emu_serve(emu, NULL) to serve on it.
 */
int mfw_emu_listen(struct mfw_emu *emu, const char *listen_spec, char *bound, size_t cap);

enum mfw_emu_state {
	MFW_EMU_STATE_FRESH = 0,      /* powered up; the next connection gets HELLO */
	MFW_EMU_STATE_PBL = 1,        /* boot ROM past HELLO (silent on a new connection) */
	MFW_EMU_STATE_PROGRAMMER = 2, /* Firehose programmer running */
};
enum mfw_emu_state mfw_emu_state(const struct mfw_emu *emu);

/*
 * Grow a bad block (NAND): persists in IMAGE.badblocks, its pages read 0x00.
 * MFW_E_RANGE, MFW_E_UNSUPPORTED on eMMC. Call while no host is served
 * (the device thread reads the bad-block map without a lock).
 */
int mfw_emu_mark_bad(struct mfw_emu *emu, uint32_t block);

/*
 * In-process device: creates a transport pair and serves one end in a
 * thread. *host_end is the host's side; closing it ends the session.
 */
int mfw_emu_attach(struct mfw_emu *emu, struct mfw_transport **host_end);

/* Write all storage to the image file (fsync). Called by free too. */
int mfw_emu_flush(struct mfw_emu *emu);
/* Stop any attached thread, flush, release. */
void mfw_emu_free(struct mfw_emu *emu);

#endif
