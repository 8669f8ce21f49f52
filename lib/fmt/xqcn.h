/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_FMT_XQCN_H
#define MFW_FMT_XQCN_H

/*
 * xQCN: QPST's XML form of a QCN backup (reference/diag.md §5, docs/diag.md).
 * A tree of <Storage Name='…'> elements with <Stream Length='N' Name='…'
 * Value='AA BB …'/> leaves, encoding Windows-1252. We map it to and from
 * struct mfw_diag_backup (public, <modemfw/diag.h>):
 *
 *   <root>/File_Version                                   02 00 00 00 00 00
 *   <root>/00000000/default/NV_NUMBERED_ITEMS/NV_ITEM_ARRAY[_SIM_n]
 *        136-byte records: u16 136, u16 index, u16 item, u16 0, data[128]
 *   <root>/00000000/default/EFS_Backup/EFS_Dir/<8 hex>    01 00 01 01, u32 mode, path
 *   <root>/00000000/default/EFS_Backup/EFS_Data/<8 hex>   file content
 *
 * The reader also takes the NV_Items and Provisioning_Item_Files storages
 * (paths without the 8-byte header) and ignores everything it does not
 * know (Mobile_Property_Info, Feature_Mask). Pure apart from save/load.
 */
#include <modemfw/diag.h>

#include <stddef.h>
#include <stdint.h>

#define MFW_XQCN_RECORD_LEN 136u
/* Bounds against hostile files: a real QCN has a few thousand items and files. */
#define MFW_XQCN_MAX_FILE (256u * 1024u * 1024u)
#define MFW_XQCN_MAX_STREAM (16u * 1024u * 1024u)
#define MFW_XQCN_MAX_NV 200000u
#define MFW_XQCN_MAX_EFS 20000u
#define MFW_XQCN_MAX_DEPTH 16
/* EFS_Backup directory entries start with this (QPST files); then u32 mode, then the path. */
#define MFW_XQCN_EFS_DIR_MAGIC "\x01\x00\x01\x01"

#endif
