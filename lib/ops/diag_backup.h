/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_OPS_DIAG_BACKUP_H
#define MFW_OPS_DIAG_BACKUP_H

/*
 * Whole-unit identity backup and restore over DIAG (public API in
 * <modemfw/diag.h>: mfw_diag_backup_run, mfw_diag_restore_run,
 * mfw_diag_backup_load). A backup directory holds:
 *
 *   manifest.json      device version info, IMEI(s), counts, sha256 of every file
 *   nv/NNNNN.bin       128 data bytes of each readable numbered item (index 0)
 *   nv/NNNNN-I.bin     subscription index I (dual SIM)
 *   efs/<path>         every EFS2 file the walk found
 *   backup.xqcn        the same NV items and EFS files as a QPST xQCN
 *
 * Restore reads backup.xqcn (after checking the manifest hashes): one source
 * of truth, and the same code path as an xQCN from QPST.
 */
#include <modemfw/diag.h>

#define MFW_DIAG_BACKUP_FORMAT "modemfw-diag-backup"
#define MFW_DIAG_BACKUP_VERSION 1
#define MFW_DIAG_MANIFEST "manifest.json"
#define MFW_DIAG_XQCN "backup.xqcn"
/* Manifest lines we accept (a backup of 20000 EFS files + 7500 items fits with room). */
#define MFW_DIAG_MANIFEST_MAX (16u * 1024u * 1024u)

#endif
