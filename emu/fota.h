/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_EMU_FOTA_H
#define MFW_EMU_FOTA_H

/*
 * The virtual modem's DFOTA side (docs/emulator.md, "DFOTA over AT"): the
 * user file system AT+QFUPL writes into (<image>.ufs/), the module's root
 * file system, partitions and cache the recovery updates, the pending
 * update AT+QFOTADL starts, the recovery that runs it across power losses,
 * and the fota-* faults. The AT command framing stays in at.c.
 */
#include "normal.h"

#include <stdbool.h>
#include <stdint.h>

struct emu_fota;

/* Quectel FILE error codes the module answers with (+CME ERROR: n; docs/emulator.md). */
#define EMU_FILE_E_DRIVE_FULL 403
#define EMU_FILE_E_NOT_FOUND 405
#define EMU_FILE_E_BAD_NAME 406
#define EMU_FILE_E_EXISTS 407
#define EMU_FILE_E_WRITE 409
#define EMU_FILE_E_TIMEOUT 421
/* 27.007 "operation not allowed": no user file system (an anonymous image) */
#define EMU_CME_NOT_ALLOWED 3

/* Parse the fota-* faults of cfg and make the module's directories next to the image. */
int emu_fota_new(struct mfw_ctx *ctx, const struct mfw_emu_config *cfg, struct emu_fota **ret);
void emu_fota_free(struct emu_fota *f);
/* One "fota-..." fault spec: 0, or MFW_E_INVAL with a sentence in err. */
int emu_fota_fault_check(const char *spec, char *err, size_t cap);

bool emu_fota_enabled(const struct emu_fota *f);
/* AT+QFOTADL accepted a local package: the firmware must reboot into recovery. */
bool emu_fota_pending(const struct emu_fota *f);

/* User file system: free and total bytes. */
void emu_fota_space(struct emu_fota *f, uint64_t *free_bytes, uint64_t *total);
/* Call fn for every file (name, size). */
void emu_fota_list(struct emu_fota *f, void (*fn)(void *user, const char *name, uint64_t size),
		   void *user);
/* 0 or a positive FILE error code. */
int emu_fota_delete(struct emu_fota *f, const char *name);
/* Checks before CONNECT: 0 or a positive FILE error code. */
int emu_fota_upload_check(struct emu_fota *f, const char *name, uint64_t size);
/*
 * The data phase after CONNECT: size bytes into the file, 'A' after each
 * 1 KiB when ack, no byte for timeout_s seconds ends it (421). Returns 0
 * with *sum, a positive FILE error code (the partial file removed), or a
 * negative error when the host went away.
 */
int emu_fota_receive(struct emu_normal *nm, struct mfw_transport *t, struct emu_fota *f,
		     const char *name, uint64_t size, unsigned timeout_s, bool ack, uint16_t *sum);
/*
 * AT+QFOTADL="<path>": a /data/ufs/ (or UFS:) path of an uploaded file.
 * 0: the update is pending (the AT session sends START and ends);
 * positive: a FILE/CME error code to answer.
 */
int emu_fota_start(struct emu_fota *f, const char *path);
/* The firmware version: the root's etc/quectel-project-version, else fallback. */
void emu_fota_version(struct emu_fota *f, const char *fallback, char *out, size_t cap);

/*
 * The module reboots into its recovery: the AT port comes back on at_spec
 * (the normal one has been closed), the updater runs and reports its
 * +QIND lines to the host that connected, power losses reboot it and it
 * runs again, and at the end the port goes away for the reboot into the
 * firmware. 0, or a negative error when the port cannot be opened.
 */
int emu_fota_recovery(struct mfw_emu *emu, const char *at_spec);

#endif
