/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The boot ROM (PBL) side of Sahara: HELLO, programmer upload through
 * READ_DATA(_64) the way a real PBL reads an ELF (header, program header
 * table, then each loadable segment), command mode (serial, HW id, PK
 * hash, command list) and the "past HELLO" behaviour of a device whose
 * HELLO was consumed by an earlier host (reference §2.5, §2.7).
 */
#include "emu-internal.h"
#include "fmt/elf.h"
#include "proto/sahara.h"
#include "util/bytes.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Our PBL speaks version 2, accepts hosts down to 1, commands of at most 1024 bytes. */
#define PBL_VERSION 2u
#define PBL_VERSION_COMPAT 1u
#define PBL_MAX_CMD_LEN 1024u
/* A PBL reads segments in pieces; 1 MiB is what real ones ask for at most. */
#define PBL_CHUNK (1u << 20)
/*
 * RAM the programmer may occupy. Real programmers are 0.3..3 MiB; a
 * bigger image is refused like a PBL refuses a segment that does not fit.
 */
#define PBL_IMAGE_MAX (32u << 20)
/* How long the PBL waits for the host to deliver requested bytes (qdl answers at once). */
#define PBL_RX_MS 10000
/* A packet's body follows its header immediately. */
#define PBL_BODY_MS 2000
/* Garbage is drained until the line has been quiet this long. */
#define PBL_DRAIN_QUIET_MS 50

/* status codes, reference §2.3 */
#define ST_SUCCESS 0x00u
#define ST_INVALID_CMD 0x01u
#define ST_PROTOCOL_MISMATCH 0x02u
#define ST_INVALID_DATA_SIZE 0x08u
#define ST_READ_DATA_ERROR 0x0Du
#define ST_UNSUPPORTED_NUM_PHDRS 0x0Eu
#define ST_INVALID_PHDR_SIZE 0x0Fu
#define ST_INVALID_IMAGE_HDR_SIZE 0x13u
#define ST_INVALID_ELF_HDR 0x14u
#define ST_RX_TIMEOUT 0x16u
#define ST_INVALID_HOST_MODE 0x18u
#define ST_MEMDEBUG_UNSUPPORTED 0x1Bu
#define ST_INVALID_MODE_SWITCH 0x1Cu
#define ST_EXEC_UNSUPPORTED 0x1Fu
#define ST_EXEC_DATA_INVALID 0x20u

struct pbl {
	struct emu_link *l;
	struct mfw_emu *emu;
	bool cmd_mode;
	bool awaiting_done;
	bool exec_pending;
	uint32_t exec_cmd;
	uint8_t exec_data[64];
	uint32_t exec_len;
	uint8_t *buf; /* PBL_CHUNK bytes */
};

static int send_pkt(struct pbl *p, const struct mfw_sahara_pkt *pkt)
{
	uint8_t buf[MFW_SAHARA_MAX_PKT];
	int n = mfw_sahara_build(pkt, buf, sizeof(buf));

	if (n < 0)
		return n;
	mfw_trace(p->emu->ctx, "pbl: send %s", mfw_sahara_cmd_name(pkt->cmd));
	return emu_link_write(p->l, buf, (size_t)n);
}

static int send_hello(struct pbl *p, uint32_t mode)
{
	struct mfw_sahara_pkt pkt = { .cmd = MFW_SAHARA_HELLO };

	pkt.u.hello.version = PBL_VERSION;
	pkt.u.hello.version_compat = PBL_VERSION_COMPAT;
	pkt.u.hello.max_len_or_status = PBL_MAX_CMD_LEN;
	pkt.u.hello.mode = mode;
	return send_pkt(p, &pkt);
}

static int send_eoi(struct pbl *p, uint32_t status)
{
	struct mfw_sahara_pkt pkt = { .cmd = MFW_SAHARA_END_OF_IMAGE };

	pkt.u.eoi.image_id = MFW_SAHARA_IMAGE_FIREHOSE;
	pkt.u.eoi.status = status;
	if (status)
		mfw_dbg(p->emu->ctx, "pbl: END_OF_IMAGE status 0x%02x (%s)", status,
			mfw_sahara_status_str(status));
	return send_pkt(p, &pkt);
}

static int send_simple(struct pbl *p, uint32_t cmd)
{
	struct mfw_sahara_pkt pkt = { .cmd = cmd };
	return send_pkt(p, &pkt);
}

/* Swallow whatever the host is sending until the line is quiet (resynchronise after garbage). */
static int drain(struct pbl *p)
{
	for (;;) {
		int r = emu_link_read(p->l, p->buf, PBL_CHUNK, mfw_deadline_in(PBL_DRAIN_QUIET_MS));
		if (r == MFW_E_TIMEOUT)
			return 0;
		if (r < 0)
			return r;
	}
}

/*
 * Next host packet. Returns 1 with *pkt set, 0 when garbage was dropped,
 * negative when the link ended.
 */
static int read_pkt(struct pbl *p, struct mfw_sahara_pkt *pkt)
{
	uint8_t buf[0x1000];
	uint32_t cmd, len, want;
	int r;

	/* a device waits for its host as long as the link lasts; the link polls stop/cancel */
	r = emu_link_read_full(p->l, buf, MFW_SAHARA_HEADER_LEN, MFW_DEADLINE_NONE);
	if (r < 0)
		return r;
	cmd = mfw_get_le32(buf);
	len = mfw_get_le32(buf + 4);
	want = mfw_sahara_cmd_len(cmd);
	if (!want || len < want || len > sizeof(buf)) {
		/* not Sahara (e.g. a host probing with "<?xml ...<nop/>"): stay silent, resync */
		mfw_dbg(p->emu->ctx, "pbl: dropping %s bytes (cmd 0x%08x, length %u)",
			want ? "malformed" : "non-Sahara", cmd, len);
		r = drain(p);
		return r < 0 ? r : 0;
	}
	r = emu_link_read_full(p->l, buf + MFW_SAHARA_HEADER_LEN, len - MFW_SAHARA_HEADER_LEN,
			       mfw_deadline_in(PBL_BODY_MS));
	if (r == MFW_E_TIMEOUT)
		return 0;
	if (r < 0)
		return r;
	r = mfw_sahara_parse(buf, len, pkt);
	if (r <= 0)
		return 0;
	mfw_trace(p->emu->ctx, "pbl: got %s", mfw_sahara_cmd_name(pkt->cmd));
	return 1;
}

/*
 * Ask the host for len bytes at off. Returns 0 with the bytes in p->buf,
 * a positive Sahara status when the transfer failed in a way the device
 * reports with END_OF_IMAGE, or a negative error when the link ended.
 */
static int request(struct pbl *p, uint64_t off, uint32_t len)
{
	struct mfw_sahara_pkt pkt;
	int r;

	memset(&pkt, 0, sizeof(pkt));
	pkt.u.read.image_id = MFW_SAHARA_IMAGE_FIREHOSE;
	pkt.u.read.offset = off;
	pkt.u.read.length = len;
	if (p->emu->cfg.sahara_read_data_32) {
		if (off > UINT32_MAX)
			return (int)ST_INVALID_DATA_SIZE;
		pkt.cmd = MFW_SAHARA_READ_DATA;
	} else {
		pkt.cmd = MFW_SAHARA_READ_DATA_64;
	}
	r = send_pkt(p, &pkt);
	if (r < 0)
		return r;
	r = emu_link_read_full(p->l, p->buf, len, mfw_deadline_in(PBL_RX_MS));
	if (r == MFW_E_TIMEOUT)
		return (int)ST_RX_TIMEOUT;
	return r;
}

/* Which status a refused ELF header deserves (the fmt parser only says "format"). */
static uint32_t elf_header_status(const uint8_t *h, size_t len)
{
	bool is64;
	uint16_t phentsize, phnum;

	if (len < MFW_ELF32_EHDR_SIZE || memcmp(h, "\x7f" "ELF", 4) || (h[4] != 1 && h[4] != 2) ||
	    h[5] != 1)
		return ST_INVALID_ELF_HDR;
	is64 = h[4] == 2;
	if (is64 && len < MFW_ELF64_EHDR_SIZE)
		return ST_INVALID_ELF_HDR;
	phentsize = mfw_get_le16(h + (is64 ? 54 : 42));
	phnum = mfw_get_le16(h + (is64 ? 56 : 44));
	if (phentsize != (is64 ? MFW_ELF64_PHDR_SIZE : MFW_ELF32_PHDR_SIZE))
		return ST_INVALID_PHDR_SIZE;
	if (phnum == 0 || phnum > MFW_ELF_MAX_PHDRS)
		return ST_UNSUPPORTED_NUM_PHDRS;
	return ST_INVALID_ELF_HDR;
}

/* Which status a refused program header table deserves. */
static uint32_t phdr_status(const struct mfw_elf *elf, const uint8_t *t)
{
	for (uint16_t i = 0; i < elf->phnum; i++) {
		const uint8_t *ph = t + (size_t)i * elf->phentsize;
		uint64_t filesz, memsz;

		if (mfw_get_le32(ph) != MFW_ELF_PT_LOAD)
			continue;
		filesz = elf->is64 ? mfw_get_le64(ph + 32) : mfw_get_le32(ph + 16);
		memsz = elf->is64 ? mfw_get_le64(ph + 40) : mfw_get_le32(ph + 20);
		if (filesz > memsz)
			return ST_INVALID_IMAGE_HDR_SIZE;
	}
	return ST_INVALID_PHDR_SIZE;
}

/*
 * Load the programmer. Returns 0 when END_OF_IMAGE(success) was sent, a
 * positive status after sending END_OF_IMAGE(status), negative when the
 * link ended.
 */
static int load_image(struct pbl *p)
{
	struct mfw_elf *elf;
	uint64_t total = 0;
	size_t hdr_len = MFW_ELF32_EHDR_SIZE, loadable = 0;
	uint8_t hdr[MFW_ELF64_EHDR_SIZE];
	int r;

	elf = calloc(1, sizeof(*elf));
	if (!elf)
		return MFW_E_NOMEM;
	/* the ELF32 header is the shorter one; its e_ident says whether 64 bytes are needed */
	r = request(p, 0, MFW_ELF32_EHDR_SIZE);
	if (r)
		goto out_status;
	memcpy(hdr, p->buf, MFW_ELF32_EHDR_SIZE);
	if (!memcmp(hdr, "\x7f" "ELF", 4) && hdr[4] == 2) {
		r = request(p, 0, MFW_ELF64_EHDR_SIZE);
		if (r)
			goto out_status;
		memcpy(hdr, p->buf, MFW_ELF64_EHDR_SIZE);
		hdr_len = MFW_ELF64_EHDR_SIZE;
	}
	r = mfw_elf_parse_header(p->emu->dctx, hdr, hdr_len, 0, elf);
	if (r < 0) {
		r = (int)elf_header_status(hdr, hdr_len);
		goto out_status;
	}
	r = request(p, elf->phoff, (uint32_t)mfw_elf_phdrs_size(elf));
	if (r)
		goto out_status;
	r = mfw_elf_parse_phdrs(p->emu->dctx, elf, p->buf, mfw_elf_phdrs_size(elf));
	if (r < 0) {
		r = (int)phdr_status(elf, p->buf);
		goto out_status;
	}
	for (size_t i = 0; i < elf->nphdr; i++) {
		const struct mfw_elf_phdr *ph = &elf->phdrs[i];
		if (!mfw_elf_phdr_loadable(ph))
			continue;
		if (ph->filesz > ph->memsz || ph->offset + ph->filesz < ph->offset) {
			r = (int)ST_INVALID_IMAGE_HDR_SIZE;
			goto out_status;
		}
		total += ph->memsz;
		if (total > PBL_IMAGE_MAX) {
			r = (int)ST_INVALID_DATA_SIZE;
			goto out_status;
		}
		loadable++;
	}
	if (!loadable) {
		r = (int)ST_UNSUPPORTED_NUM_PHDRS;
		goto out_status;
	}
	total = 0;
	for (size_t i = 0; i < elf->nphdr; i++) {
		const struct mfw_elf_phdr *ph = &elf->phdrs[i];
		if (!mfw_elf_phdr_loadable(ph))
			continue;
		for (uint64_t done = 0; done < ph->filesz;) {
			uint64_t left = ph->filesz - done;
			uint32_t n = left > PBL_CHUNK ? PBL_CHUNK : (uint32_t)left;
			r = request(p, ph->offset + done, n);
			if (r)
				goto out_status;
			done += n;
			total += n;
		}
	}
	p->emu->image_bytes = total;
	mfw_dbg(p->emu->ctx, "pbl: programmer loaded (%" PRIu64 " bytes, %zu segments)", total,
		loadable);
	r = send_eoi(p, ST_SUCCESS);
	p->awaiting_done = r == 0;
	free(elf);
	return r;

out_status:
	free(elf);
	if (r <= 0)
		return r;
	/* a refused image: tell the host, then wait for whatever it does next */
	{
		int w = send_eoi(p, (uint32_t)r);
		return w < 0 ? w : r;
	}
}

/* Command-mode results (reference §2.4). */
static int exec_prepare(struct pbl *p, uint32_t cmd)
{
	const struct mfw_emu_config *cfg = &p->emu->cfg;

	switch (cmd) {
	case MFW_SAHARA_EXEC_NOP:
		p->exec_len = 0;
		break;
	case MFW_SAHARA_EXEC_SERIAL_NUM:
		mfw_put_le32(p->exec_data, cfg->serial);
		p->exec_len = 4;
		break;
	case MFW_SAHARA_EXEC_MSM_HW_ID:
		mfw_put_le64(p->exec_data, cfg->hw_id);
		p->exec_len = 8;
		break;
	case MFW_SAHARA_EXEC_OEM_PK_HASH:
		/* a made-up but stable hash: bytes derived from the serial */
		for (uint32_t i = 0; i < 32; i++)
			p->exec_data[i] = (uint8_t)(cfg->serial >> (8 * (i % 4)) ^ (i * 37u));
		p->exec_len = 32;
		break;
	case MFW_SAHARA_EXEC_SBL_SW_VERSION:
		mfw_put_le32(p->exec_data, 0x00000001);
		p->exec_len = 4;
		break;
	case MFW_SAHARA_EXEC_CMD_ID_LIST: {
		static const uint32_t ids[] = {
			MFW_SAHARA_EXEC_NOP, MFW_SAHARA_EXEC_SERIAL_NUM, MFW_SAHARA_EXEC_MSM_HW_ID,
			MFW_SAHARA_EXEC_OEM_PK_HASH, MFW_SAHARA_EXEC_SBL_SW_VERSION,
			MFW_SAHARA_EXEC_CMD_ID_LIST,
		};
		for (size_t i = 0; i < MFW_ARRAY_SIZE(ids); i++)
			mfw_put_le32(p->exec_data + 4 * i, ids[i]);
		p->exec_len = (uint32_t)(4 * MFW_ARRAY_SIZE(ids));
		break;
	}
	default:
		return -1;
	}
	return 0;
}

static int on_hello_resp(struct pbl *p, const struct mfw_sahara_pkt *pkt)
{
	int r;

	p->cmd_mode = false;
	p->awaiting_done = false;
	p->exec_pending = false;
	if (pkt->u.hello.version < PBL_VERSION_COMPAT)
		return send_eoi(p, ST_PROTOCOL_MISMATCH);
	switch (pkt->u.hello.mode) {
	case MFW_SAHARA_MODE_IMAGE_TX_PENDING:
		r = load_image(p);
		return r > 0 ? 0 : r;
	case MFW_SAHARA_MODE_COMMAND:
		p->cmd_mode = true;
		return send_simple(p, MFW_SAHARA_CMD_READY);
	case MFW_SAHARA_MODE_MEMORY_DEBUG:
		return send_eoi(p, ST_MEMDEBUG_UNSUPPORTED);
	default:
		return send_eoi(p, ST_INVALID_HOST_MODE);
	}
}

static int on_exec(struct pbl *p, const struct mfw_sahara_pkt *pkt)
{
	struct mfw_sahara_pkt resp = { .cmd = MFW_SAHARA_EXECUTE_RESP };

	if (!p->cmd_mode)
		return send_eoi(p, ST_INVALID_CMD);
	if (exec_prepare(p, pkt->u.exec.client_cmd) < 0) {
		p->exec_pending = false;
		return send_eoi(p, ST_EXEC_UNSUPPORTED);
	}
	p->exec_pending = true;
	p->exec_cmd = pkt->u.exec.client_cmd;
	resp.u.exec_resp.client_cmd = p->exec_cmd;
	resp.u.exec_resp.data_len = p->exec_len;
	return send_pkt(p, &resp);
}

static int on_exec_data(struct pbl *p, const struct mfw_sahara_pkt *pkt)
{
	if (!p->cmd_mode || !p->exec_pending || pkt->u.exec.client_cmd != p->exec_cmd)
		return send_eoi(p, ST_EXEC_DATA_INVALID);
	p->exec_pending = false;
	if (!p->exec_len)
		return 0;
	return emu_link_write(p->l, p->exec_data, p->exec_len);
}

int emu_pbl_run(struct emu_link *l, enum emu_end *end)
{
	struct mfw_emu *emu = l->emu;
	struct pbl p = { .l = l, .emu = emu };
	int r;

	*end = EMU_END_DISCONNECT;
	p.buf = malloc(PBL_CHUNK);
	if (!p.buf)
		return MFW_E_NOMEM;
	if (atomic_load(&emu->state) == EMU_ST_FRESH) {
		/* past HELLO from the moment it is on the wire, even if the host never reads it */
		atomic_store(&emu->state, EMU_ST_PBL);
		if (emu->nfaults && emu_fault_nohello(emu)) {
			/* the "nohello" fault: the HELLO went to someone else (reference §2.7) */
			mfw_dbg(emu->ctx, "fault: HELLO lost, the boot ROM is past HELLO");
		} else {
			r = send_hello(&p, MFW_SAHARA_MODE_IMAGE_TX_PENDING);
			if (r < 0)
				goto out_free_buf;
		}
	} else {
		/* past HELLO: a real PBL does not repeat it for a new host (reference §2.7) */
		mfw_dbg(emu->ctx, "pbl: already past HELLO, waiting silently");
	}

	for (;;) {
		struct mfw_sahara_pkt pkt;

		r = read_pkt(&p, &pkt);
		if (r < 0)
			goto out_free_buf;
		if (r == 0)
			continue;
		switch (pkt.cmd) {
		case MFW_SAHARA_HELLO_RESP:
			r = on_hello_resp(&p, &pkt);
			break;
		case MFW_SAHARA_DONE:
			if (!p.awaiting_done) {
				r = send_eoi(&p, ST_INVALID_CMD);
				break;
			}
			/* the programmer runs once DONE arrived, whether or not the host reads DONE_RESP */
			atomic_store(&emu->state, EMU_ST_PROGRAMMER);
			emu->configured = false;
			{
				struct mfw_sahara_pkt resp = { .cmd = MFW_SAHARA_DONE_RESP };
				resp.u.done_resp.status = MFW_SAHARA_DONE_COMPLETE;
				r = send_pkt(&p, &resp);
			}
			if (r == 0)
				r = emu_programmer_start(l);
			goto out_free_buf;
		case MFW_SAHARA_EXECUTE:
			r = on_exec(&p, &pkt);
			break;
		case MFW_SAHARA_EXECUTE_DATA:
			r = on_exec_data(&p, &pkt);
			break;
		case MFW_SAHARA_SWITCH_MODE:
			if (pkt.u.switch_mode.mode != MFW_SAHARA_MODE_IMAGE_TX_PENDING &&
			    pkt.u.switch_mode.mode != MFW_SAHARA_MODE_COMMAND) {
				r = send_eoi(&p, ST_INVALID_MODE_SWITCH);
				break;
			}
			p.cmd_mode = false;
			p.exec_pending = false;
			p.awaiting_done = false;
			r = send_hello(&p, pkt.u.switch_mode.mode);
			break;
		case MFW_SAHARA_RESET_STATE_MACHINE:
			p.cmd_mode = false;
			p.exec_pending = false;
			p.awaiting_done = false;
			r = send_hello(&p, MFW_SAHARA_MODE_IMAGE_TX_PENDING);
			break;
		case MFW_SAHARA_RESET:
			r = send_simple(&p, MFW_SAHARA_RESET_RESP);
			if (r == 0)
				*end = EMU_END_RESET;
			goto out_free_buf;
		default:
			r = send_eoi(&p, ST_INVALID_CMD);
			break;
		}
		if (r < 0)
			goto out_free_buf;
	}
out_free_buf:
	free(p.buf);
	return r;
}
