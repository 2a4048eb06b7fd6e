/*
 * fuzz_icmp_packet - what icmp-echo makes of a received packet:
 * take_packet() of demo/icmp-echo.c, the whole path after recvmsg (the
 * TTL control message, the IPv4 header of a raw socket, the ICMP header,
 * the checksum, the match to a request by identifier and sequence, the
 * payload check, the reply line).  On a raw socket every ICMP packet the
 * host receives arrives here, from anyone.
 *
 * Input: 8 header bytes, then the control messages, the sender's address
 * and the packet, each in a buffer of exactly its length:
 *   [0] bit 0 IPv6, bit 1 datagram socket, bits 2-3 the state of every
 *       request slot (free, waiting, answered, lost), bit 4 a count that
 *       ends the run on this reply
 *   [1] payload size we "sent"   [2..3] our identifier
 *   [4] control bytes (0..95)    [5] sender address bytes (0..128)
 *   [6..7] unused
 * The demo's source is compiled in with its main renamed.
 */
#include "config.h"

int icmp_echo_main(int argc, char **argv);

#define main icmp_echo_main
#include "../demo/icmp-echo.c"
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Setting all 65536 request slots each run would make it 100 times slower,
 * and a run reads one: the one named by the sequence at byte 6 of the ICMP
 * header, after an IPv4 header of 20 to 60 bytes or none.  Put `state` in
 * each candidate (between runs every slot is free). */
static void
slots(struct ping *p, size_t n, int state)
{
	for (size_t off = 0; off <= 60; off += off == 0 ? 20 : 4)
		if (n >= off + ICMP_HDR)
			p->req[p->in[off + 6] << 8 | p->in[off + 7]].state =
				(unsigned char)state;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct request *req;
	struct sockaddr_storage from;
	struct msghdr mh;
	static struct ping p;           /* static: every slot points to it */
	size_t ctllen, namelen, n;
	unsigned char *ctl = NULL;
	int flags;

	if (size < 8)
		return 0;
	flags = data[0];
	if (req == NULL) {
		if ((req = calloc(NSEQ, sizeof *req)) == NULL)
			return 0;
		for (size_t i = 0; i < NSEQ; i++)
			req[i].p = &p;
	}
	memset(&p, 0, sizeof p);
	p.family = flags & 1 ? AF_INET6 : AF_INET;
	p.dgram = (flags >> 1) & 1;
	p.size = data[1];
	p.ident = (uint16_t)(data[2] << 8 | data[3]);
	p.req = req;
	p.host = "fuzz";
	p.waiting = NSEQ;
	if (flags & 16) {             /* the reply to the last request */
		p.count = 1;
		p.sent = 1;
		p.waiting = 1;
	}
	ctllen = data[4] % 96;
	namelen = data[5] % 129;
	data += 8;
	size -= 8;
	if (ctllen + namelen > size)
		return 0;

	memset(&mh, 0, sizeof mh);
	memset(&from, 0, sizeof from);
	memcpy(&from, data, namelen);
	mh.msg_name = &from;
	mh.msg_namelen = (socklen_t)namelen;
	if (ctllen > 0) {
		if ((ctl = malloc(ctllen)) == NULL)
			return 0;
		memcpy(ctl, data + namelen, ctllen);
		mh.msg_control = ctl;
		mh.msg_controllen = ctllen;
	}
	n = size - namelen - ctllen;
	p.in = malloc(n > 0 ? n : 1);
	if (p.in != NULL) {
		memcpy(p.in, data + namelen + ctllen, n);
		slots(&p, n, flags >> 2 & 3);
		take_packet(&p, &mh, n);
		slots(&p, n, REQ_FREE);
	}
	free(p.in);
	free(ctl);
	return 0;
}
