/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_FMT_ELF_H
#define MFW_FMT_ELF_H

/*
 * Minimal ELF32/ELF64 (little-endian) reader: the ELF header and the
 * program header table, bounds-checked. Firehose programmers are ELF
 * images; a PBL reads them the way this API is split: the ELF header
 * first, then the program header table at e_phoff, then each PT_LOAD
 * segment's file range.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mfw_ctx;

#define MFW_ELF_IDENT_SIZE 16
#define MFW_ELF32_EHDR_SIZE 52
#define MFW_ELF64_EHDR_SIZE 64
#define MFW_ELF32_PHDR_SIZE 32
#define MFW_ELF64_PHDR_SIZE 56
#define MFW_ELF_MAX_PHDRS 128   /* more is refused (hostile image) */

#define MFW_ELF_PT_NULL 0u
#define MFW_ELF_PT_LOAD 1u

struct mfw_elf_phdr {
	uint32_t type;
	uint32_t flags;
	uint64_t offset;   /* in the file */
	uint64_t vaddr;
	uint64_t paddr;
	uint64_t filesz;
	uint64_t memsz;
	uint64_t align;
};

struct mfw_elf {
	bool is64;
	uint16_t type;        /* e_type */
	uint16_t machine;     /* e_machine */
	uint64_t entry;
	uint64_t phoff;       /* program header table offset */
	uint16_t phentsize;
	uint16_t phnum;
	uint64_t file_size;   /* bound used for checks; 0 = unknown */
	size_t nphdr;         /* filled by mfw_elf_parse_phdrs() */
	struct mfw_elf_phdr phdrs[MFW_ELF_MAX_PHDRS];
};

/*
 * Parse the ELF header from the first bytes of an image (len >= 52 for
 * ELF32, 64 for ELF64; MFW_E_AGAIN with too few bytes to decide). file_size
 * bounds the program header table (0 = unknown: only overflow checks).
 * MFW_E_FORMAT for no ELF magic, big-endian, bad class/version, a phentsize
 * that does not match the class, phnum 0 or > MFW_ELF_MAX_PHDRS, or a table
 * past file_size.
 */
int mfw_elf_parse_header(struct mfw_ctx *ctx, const void *data, size_t len, uint64_t file_size,
			 struct mfw_elf *out);
/* Bytes of the program header table (phnum * phentsize) to read at elf->phoff. */
size_t mfw_elf_phdrs_size(const struct mfw_elf *elf);
/*
 * Parse the program header table (data = the bytes at phoff, len >=
 * mfw_elf_phdrs_size()). Every segment with filesz > 0 must lie inside
 * file_size when known (MFW_E_FORMAT naming the segment index).
 */
int mfw_elf_parse_phdrs(struct mfw_ctx *ctx, struct mfw_elf *elf, const void *data, size_t len);
/* Both steps on a whole file in memory (file_size = len). */
int mfw_elf_parse(struct mfw_ctx *ctx, const void *data, size_t len, struct mfw_elf *out);
/* True for a PT_LOAD segment with file bytes (the ones a PBL loads). */
bool mfw_elf_phdr_loadable(const struct mfw_elf_phdr *ph);

#endif
