/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_FMT_GPT_H
#define MFW_FMT_GPT_H

/*
 * GUID partition table (UEFI): protective MBR at LBA 0, header at LBA 1,
 * 128 entries of 128 bytes from LBA 2, backup entries then backup header
 * at the end of the disk. Sector size 512 or 4096. Names are UTF-16LE on
 * disk and UTF-8 here (ASCII in practice).
 *
 * Two forms (docs/formats.md):
 *  - device form: every field filled for a given disk size;
 *  - package form: gpt_main0.bin (MBR + header + entries) and
 *    gpt_backup0.bin (entries + header) with the disk-size-dependent fields
 *    (last usable LBA, backup/current LBA of the backup header, backup
 *    entries LBA, the last partition's end, both CRCs of each header) zero,
 *    left for patch0.xml like Qualcomm's ptool output.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mfw_ctx;

#define MFW_GPT_SIGNATURE "EFI PART"
#define MFW_GPT_REVISION 0x00010000u
#define MFW_GPT_HEADER_SIZE 92
#define MFW_GPT_ENTRY_SIZE 128
#define MFW_GPT_NUM_ENTRIES 128
#define MFW_GPT_ENTRIES_BYTES (MFW_GPT_ENTRY_SIZE * MFW_GPT_NUM_ENTRIES) /* 16384 */
#define MFW_GPT_NAME_UNITS 36          /* UTF-16 code units per name */
#define MFW_GPT_NAME_MAX 109           /* UTF-8 bytes incl. NUL (36 * 3 + 1) */

struct mfw_gpt_part {
	unsigned index;                /* 0-based slot in the entry array */
	uint8_t type_guid[16];         /* on-disk (mixed-endian) byte order */
	uint8_t unique_guid[16];
	uint64_t first_lba;
	uint64_t last_lba;             /* inclusive */
	uint64_t attrs;
	char name[MFW_GPT_NAME_MAX];
};

struct mfw_gpt {
	uint32_t sector_size;
	uint64_t current_lba;          /* of the header parsed */
	uint64_t backup_lba;           /* the other header */
	uint64_t first_usable;
	uint64_t last_usable;
	uint64_t entries_lba;
	uint8_t disk_guid[16];
	uint32_t num_entries;          /* as in the header (<= MFW_GPT_NUM_ENTRIES accepted) */
	uint32_t entry_size;           /* 128 */
	uint32_t header_crc;           /* as stored */
	uint32_t entries_crc;          /* as stored */
	size_t nparts;                 /* used entries, array order */
	struct mfw_gpt_part parts[MFW_GPT_NUM_ENTRIES];
};

/* Parse flags. */
#define MFW_GPT_NO_CRC 1u      /* package form: do not check the CRCs (they are patched later) */
#define MFW_GPT_NO_MBR 2u      /* do not require the protective MBR (primary parse only) */

/* Sectors taken by the entry array (16384 bytes: 32 at 512, 4 at 4096). */
uint32_t mfw_gpt_entry_sectors(uint32_t sector_size);
/* Sizes in bytes of the package images: primary = MBR + header + entries, backup = entries + header. */
size_t mfw_gpt_primary_size(uint32_t sector_size);
size_t mfw_gpt_backup_size(uint32_t sector_size);

/*
 * Primary GPT from a buffer that starts at LBA 0 (gpt_main0.bin or the head
 * of a disk; at least mfw_gpt_primary_size() bytes, or as far as the header's
 * entries_lba requires). Validates the signature, revision, header size,
 * header CRC, entry size/count, entries CRC, and every used entry
 * (first <= last, inside first..last usable when known, no overlap).
 * MFW_E_FORMAT with the failing field in the detail; MFW_E_INVAL for an
 * unsupported sector size.
 */
int mfw_gpt_parse(struct mfw_ctx *ctx, const void *buf, size_t len, uint32_t sector_size,
		  unsigned flags, struct mfw_gpt *out);
/*
 * Backup GPT from a buffer that holds the entries then the header (the last
 * mfw_gpt_backup_size() bytes of a disk, or gpt_backup0.bin): the header is
 * the last sector of buf, the entries the sectors before it.
 */
int mfw_gpt_parse_backup(struct mfw_ctx *ctx, const void *buf, size_t len, uint32_t sector_size,
			 unsigned flags, struct mfw_gpt *out);
/*
 * A whole disk image in memory: primary, then the backup at the header's
 * backup_lba, and both must describe the same partitions.
 */
int mfw_gpt_parse_disk(struct mfw_ctx *ctx, const void *disk, size_t len, uint32_t sector_size,
		       struct mfw_gpt *out);

/* Partition by name (exact, then case-insensitive); NULL when absent. */
const struct mfw_gpt_part *mfw_gpt_find(const struct mfw_gpt *g, const char *name);

/*
 * Serialise: primary image (MBR + header + entries, mfw_gpt_primary_size()
 * bytes) and backup image (entries + header, mfw_gpt_backup_size() bytes)
 * from g, computing the CRCs unless g describes package form
 * (g->last_usable == 0: CRCs written as 0). For the backup the header
 * fields current/backup LBA are swapped and entries_lba is
 * backup_lba - entry_sectors (0 in package form). disk_sectors sizes the
 * protective MBR (0 = unknown: 0xFFFFFFFF). Return bytes written or
 * MFW_E_RANGE / MFW_E_INVAL.
 */
int mfw_gpt_build_primary(struct mfw_ctx *ctx, const struct mfw_gpt *g, uint64_t disk_sectors,
			  uint8_t *out, size_t cap);
int mfw_gpt_build_backup(struct mfw_ctx *ctx, const struct mfw_gpt *g, uint8_t *out, size_t cap);

/* Deterministic GUID for a name: first 16 bytes of SHA-256("modemfw-gpt:" name), RFC 4122 v4/variant bits set. */
void mfw_gpt_guid_from_name(const char *name, uint8_t guid[16]);
/* Microsoft basic data EBD0A0A2-B9E5-4433-87C0-68B6B72699C7 in on-disk order. */
extern const uint8_t mfw_gpt_type_basic_data[16];

enum mfw_gpt_form {
	MFW_GPT_FORM_PACKAGE, /* disk-size-dependent fields 0, CRCs 0 */
	MFW_GPT_FORM_DEVICE,  /* filled for disk_sectors */
};

/*
 * The canonical eMMC table of docs/formats.md for sector_size (LBAs in the
 * doc are 512-byte sectors and are scaled for 4096). disk_sectors is the
 * disk size in sectors of sector_size (DEVICE form; ignored for PACKAGE).
 * MFW_E_RANGE when the disk is too small for the fixed partitions.
 * To lay out a whole disk: primary image at LBA 0, backup image at LBA
 * disk_sectors - mfw_gpt_backup_size() / sector_size.
 */
int mfw_gpt_canonical(struct mfw_ctx *ctx, uint32_t sector_size, uint64_t disk_sectors,
		      enum mfw_gpt_form form, struct mfw_gpt *out);

#endif
