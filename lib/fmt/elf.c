/* SPDX-License-Identifier: BSD-3-Clause */
#include "fmt/elf.h"

#include <string.h>

#include "core/core.h"
#include "util/bytes.h"

#define EI_CLASS 4
#define EI_DATA 5
#define EI_VERSION 6
#define ELFCLASS32 1
#define ELFCLASS64 2
#define ELFDATA2LSB 1

int mfw_elf_parse_header(struct mfw_ctx *ctx, const void *data, size_t len, uint64_t file_size,
			 struct mfw_elf *out)
{
	const uint8_t *d = data;
	size_t need;
	uint64_t table;

	memset(out, 0, sizeof(*out));
	out->file_size = file_size;
	if (len < MFW_ELF_IDENT_SIZE)
		return MFW_E_AGAIN;
	if (memcmp(d, "\x7F" "ELF", 4))
		return mfw_fail(ctx, MFW_E_FORMAT, "not an ELF image (magic %02x %02x %02x %02x)",
				d[0], d[1], d[2], d[3]);
	if (d[EI_CLASS] != ELFCLASS32 && d[EI_CLASS] != ELFCLASS64)
		return mfw_fail(ctx, MFW_E_FORMAT, "ELF class %u is neither 32 nor 64 bit", d[EI_CLASS]);
	/* Every Qualcomm programmer is little-endian ARM/AArch64. */
	if (d[EI_DATA] != ELFDATA2LSB)
		return mfw_fail(ctx, MFW_E_FORMAT, "ELF data encoding %u is not little-endian", d[EI_DATA]);
	if (d[EI_VERSION] != 1)
		return mfw_fail(ctx, MFW_E_FORMAT, "ELF ident version %u is not 1", d[EI_VERSION]);
	out->is64 = d[EI_CLASS] == ELFCLASS64;
	need = out->is64 ? MFW_ELF64_EHDR_SIZE : MFW_ELF32_EHDR_SIZE;
	if (len < need)
		return MFW_E_AGAIN;
	if (file_size && file_size < need)
		return mfw_fail(ctx, MFW_E_FORMAT, "ELF image of %llu bytes is shorter than its header",
				(unsigned long long)file_size);
	out->type = mfw_get_le16(d + 16);
	out->machine = mfw_get_le16(d + 18);
	if (mfw_get_le32(d + 20) != 1)
		return mfw_fail(ctx, MFW_E_FORMAT, "ELF version %u is not 1", mfw_get_le32(d + 20));
	if (out->is64) {
		out->entry = mfw_get_le64(d + 24);
		out->phoff = mfw_get_le64(d + 32);
		out->phentsize = mfw_get_le16(d + 54);
		out->phnum = mfw_get_le16(d + 56);
	} else {
		out->entry = mfw_get_le32(d + 24);
		out->phoff = mfw_get_le32(d + 28);
		out->phentsize = mfw_get_le16(d + 42);
		out->phnum = mfw_get_le16(d + 44);
	}
	if (out->phentsize != (out->is64 ? MFW_ELF64_PHDR_SIZE : MFW_ELF32_PHDR_SIZE))
		return mfw_fail(ctx, MFW_E_FORMAT, "ELF program header size %u does not match the %s-bit class",
				out->phentsize, out->is64 ? "64" : "32");
	if (out->phnum == 0 || out->phnum > MFW_ELF_MAX_PHDRS)
		return mfw_fail(ctx, MFW_E_FORMAT, "ELF has %u program headers (1..%d accepted)",
				out->phnum, MFW_ELF_MAX_PHDRS);
	table = (uint64_t)out->phnum * out->phentsize;
	if (out->phoff < need || out->phoff > UINT64_MAX - table)
		return mfw_fail(ctx, MFW_E_FORMAT, "ELF program header table offset %llu is invalid",
				(unsigned long long)out->phoff);
	if (file_size && out->phoff + table > file_size)
		return mfw_fail(ctx, MFW_E_FORMAT, "ELF program header table (%llu+%llu) runs past the %llu-byte image",
				(unsigned long long)out->phoff, (unsigned long long)table,
				(unsigned long long)file_size);
	return 0;
}

size_t mfw_elf_phdrs_size(const struct mfw_elf *elf)
{
	return (size_t)elf->phnum * elf->phentsize;
}

int mfw_elf_parse_phdrs(struct mfw_ctx *ctx, struct mfw_elf *elf, const void *data, size_t len)
{
	const uint8_t *d = data;

	elf->nphdr = 0;
	if (!elf->phnum || elf->phnum > MFW_ELF_MAX_PHDRS ||
	    elf->phentsize != (elf->is64 ? MFW_ELF64_PHDR_SIZE : MFW_ELF32_PHDR_SIZE))
		return mfw_fail(ctx, MFW_E_INVAL, "ELF header was not parsed");
	if (len < mfw_elf_phdrs_size(elf))
		return mfw_fail(ctx, MFW_E_FORMAT, "ELF program header table: %zu bytes given, %zu needed",
				len, mfw_elf_phdrs_size(elf));
	for (unsigned i = 0; i < elf->phnum; i++) {
		const uint8_t *p = d + (size_t)i * elf->phentsize;
		struct mfw_elf_phdr *ph = &elf->phdrs[i];

		ph->type = mfw_get_le32(p);
		if (elf->is64) {
			ph->flags = mfw_get_le32(p + 4);
			ph->offset = mfw_get_le64(p + 8);
			ph->vaddr = mfw_get_le64(p + 16);
			ph->paddr = mfw_get_le64(p + 24);
			ph->filesz = mfw_get_le64(p + 32);
			ph->memsz = mfw_get_le64(p + 40);
			ph->align = mfw_get_le64(p + 48);
		} else {
			ph->offset = mfw_get_le32(p + 4);
			ph->vaddr = mfw_get_le32(p + 8);
			ph->paddr = mfw_get_le32(p + 12);
			ph->filesz = mfw_get_le32(p + 16);
			ph->memsz = mfw_get_le32(p + 20);
			ph->flags = mfw_get_le32(p + 24);
			ph->align = mfw_get_le32(p + 28);
		}
		if (!ph->filesz)
			continue;
		if (ph->offset > UINT64_MAX - ph->filesz)
			return mfw_fail(ctx, MFW_E_FORMAT, "ELF segment %u: offset %llu + size %llu overflows",
					i, (unsigned long long)ph->offset, (unsigned long long)ph->filesz);
		if (elf->file_size && ph->offset + ph->filesz > elf->file_size)
			return mfw_fail(ctx, MFW_E_FORMAT, "ELF segment %u (%llu+%llu) runs past the %llu-byte image",
					i, (unsigned long long)ph->offset, (unsigned long long)ph->filesz,
					(unsigned long long)elf->file_size);
		if (ph->type == MFW_ELF_PT_LOAD && ph->memsz < ph->filesz)
			return mfw_fail(ctx, MFW_E_FORMAT, "ELF segment %u: %llu file bytes exceed its %llu memory bytes",
					i, (unsigned long long)ph->filesz, (unsigned long long)ph->memsz);
	}
	elf->nphdr = elf->phnum;
	return 0;
}

int mfw_elf_parse(struct mfw_ctx *ctx, const void *data, size_t len, struct mfw_elf *out)
{
	int r = mfw_elf_parse_header(ctx, data, len, len, out);

	if (r == MFW_E_AGAIN)
		return mfw_fail(ctx, MFW_E_FORMAT, "ELF image of %zu bytes is shorter than its header", len);
	if (r < 0)
		return r;
	return mfw_elf_parse_phdrs(ctx, out, (const uint8_t *)data + out->phoff,
				   len - (size_t)out->phoff);
}

bool mfw_elf_phdr_loadable(const struct mfw_elf_phdr *ph)
{
	return ph->type == MFW_ELF_PT_LOAD && ph->filesz > 0;
}
