/*
 * lookup - the address and name databases of the sockets API: what
 * getaddrinfo gives for a host and service, the reverse lookup of each
 * address, the service and protocol databases, and the enumerations of the
 * hosts, networks, protocols and services databases.
 *
 * Usage: lookup [--verbose] HOST [SERVICE]
 *        lookup --hosts | --networks [NAME] | --protocols | --services
 *
 *   - HOST [SERVICE]: getaddrinfo runs on a worker thread of sigio's
 *     pool (sio_getaddrinfo), since it may wait on a name server, and its
 *     answer comes back to the loop (a timer bounds the wait, 30 s, and
 *     gives the lookup up with sio_lookup_cancel); the loop's thread then
 *     prints every result: family, socket type, protocol (through
 *     getprotobynumber), address (inet_ntop) and port (ntohs), the reverse
 *     lookup (getnameinfo), and SERVICE in the services database
 *     (getservbyname for a name, getservbyport for a number).  --verbose
 *     adds the bytes of each address and port in network and host order
 *     (htonl/ntohl, htons/ntohs) and an inet_pton round trip.
 *   - The enumerations walk a database from set...ent to end...ent
 *     (gethostent, getnetent, getprotoent, getservent): local files, read
 *     synchronously.  --networks NAME asks getnetbyname.  An empty
 *     database prints nothing.
 *
 * Exit status: 0 when found, 1 for a runtime error (a name server that
 * does not answer, out of memory), 2 for bad usage or a name the databases
 * do not know.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sigio.h"
#include "echo-common.h"

#define PROG "lookup"
#define RESOLVE_TIMEOUT_MS 30000

/* One lookup and what the loop does with its answer. */
struct query {
	const char *host, *service;
	int verbose;
	int status;                     /* the exit status */
	sio_loop *loop;
	sio_lookup *lookup;             /* until it answered */
	sio_timer *timeout;
};

/* ---- names of constants --------------------------------------------------------- */

static const char *
family_name(int f)
{
	return f == AF_INET ? "inet" : f == AF_INET6 ? "inet6" : "other";
}

static const char *
socktype_name(int t)
{
	switch (t) {
	case SOCK_STREAM:    return "stream";
	case SOCK_DGRAM:     return "dgram";
	case SOCK_RAW:       return "raw";
	case SOCK_SEQPACKET: return "seqpacket";
	default:             return "other";
	}
}

/* The protocol's name from the protocols database (getprotobynumber), or
 * its number when the database lacks it (a machine without /etc/protocols). */
static const char *
protocol_name(int proto, char *buf, size_t len)
{
	struct protoent *pe = getprotobynumber(proto);

	if (pe != NULL)
		return pe->p_name;
	snprintf(buf, len, "%d", proto);
	return buf;
}

/* The rest of a line: `intro` and the aliases, if there are any. */
static void
print_aliases(const char *intro, char **aliases)
{
	if (aliases != NULL && *aliases != NULL)
		printf("%s", intro);
	for (char **a = aliases; a != NULL && *a != NULL; a++)
		printf(" %s", *a);
	printf("\n");
}

/* ---- one getaddrinfo result ---------------------------------------------------- */

static void
print_bytes(const char *what, const void *p, size_t n)
{
	const unsigned char *b = p;

	printf("    %s:", what);
	for (size_t i = 0; i < n; i++)
		printf(" %02x", b[i]);
	printf("\n");
}

/* --verbose: the address and port as they lie in the sockaddr (network
 * order, most significant byte first) and as host integers, both ways. */
static void
print_byte_orders(const struct sockaddr *sa, const char *text)
{
	uint16_t port_net;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		uint32_t net = sin->sin_addr.s_addr, host = ntohl(net);
		struct in_addr back;
		print_bytes("address bytes, network order", &net, sizeof net);
		printf("    s_addr as this host reads it 0x%08lx, ntohl 0x%08lx, "
		       "htonl(ntohl) %s\n", (unsigned long)net, (unsigned long)host,
		       htonl(host) == net ? "gives s_addr back" : "DIFFERS");
		printf("    inet_pton(\"%s\"): %s\n", text,
		       inet_pton(AF_INET, text, &back) == 1 &&
		       back.s_addr == net ? "the same 4 bytes" : "DIFFERS");
		port_net = sin->sin_port;
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		struct in6_addr back;
		uint32_t w[4];
		print_bytes("address bytes, network order", &sin6->sin6_addr, 16);
		memcpy(w, &sin6->sin6_addr, sizeof w);
		printf("    as four 32-bit words, ntohl: %08lx %08lx %08lx %08lx\n",
		       (unsigned long)ntohl(w[0]), (unsigned long)ntohl(w[1]),
		       (unsigned long)ntohl(w[2]), (unsigned long)ntohl(w[3]));
		printf("    inet_pton(\"%s\"): %s\n", text,
		       inet_pton(AF_INET6, text, &back) == 1 &&
		       memcmp(&back, &sin6->sin6_addr, 16) == 0 ?
		       "the same 16 bytes" : "DIFFERS");
		port_net = sin6->sin6_port;
	}
	print_bytes("port bytes, network order", &port_net, sizeof port_net);
	printf("    sin_port as this host reads it %u, ntohs %u, htons(ntohs) %s\n",
	       (unsigned)port_net, (unsigned)ntohs(port_net),
	       htons(ntohs(port_net)) == port_net ? "gives sin_port back" : "DIFFERS");
}

/* The reverse lookup: the address's name and the port's service. */
static void
print_reverse(const struct addrinfo *ai)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	int flags = ai->ai_socktype == SOCK_DGRAM ? NI_DGRAM : 0;
	int rc = getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof host,
	                     serv, sizeof serv, flags);

	if (rc != 0)
		printf("    getnameinfo: %s\n",
		       rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	else
		printf("    getnameinfo: host %s, service %s\n", host, serv);
}

static void
print_result(const struct addrinfo *ai, int verbose)
{
	char text[INET6_ADDRSTRLEN], num[16];
	const void *addr;
	uint16_t port;

	if (ai->ai_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ai->ai_addr;
		addr = &sin->sin_addr;
		port = sin->sin_port;
	} else if (ai->ai_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ai->ai_addr;
		addr = &sin6->sin6_addr;
		port = sin6->sin6_port;
	} else {
		printf("%-5s (family %d)\n", family_name(ai->ai_family), ai->ai_family);
		return;
	}
	if (inet_ntop(ai->ai_family, addr, text, sizeof text) == NULL)
		snprintf(text, sizeof text, "?");
	printf("%-5s %-6s %-4s %s port %u\n", family_name(ai->ai_family),
	       socktype_name(ai->ai_socktype),
	       protocol_name(ai->ai_protocol, num, sizeof num), text, ntohs(port));
	print_reverse(ai);
	if (verbose)
		print_byte_orders(ai->ai_addr, text);
}

/* ---- the service --------------------------------------------------------------- */

/* SERVICE in the services database, for TCP and for UDP: by port when it
 * is a number (getservbyport wants the port in network order), else by
 * name.  Returns 1 if either protocol knows it. */
static int
print_service(const char *service)
{
	static const char *const protos[] = { "tcp", "udp" };
	unsigned long long n;
	int numeric = echo_parse_uint(service, 0, 65535, &n) == 0, found = 0;

	for (int i = 0; i < 2; i++) {
		struct servent *se = numeric ? getservbyport(htons((uint16_t)n), protos[i])
		                             : getservbyname(service, protos[i]);
		if (se == NULL) {
			printf("service %s/%s: not in the services database\n", service,
			       protos[i]);
			continue;
		}
		found = 1;
		printf("service %s/%s: %s, port %u/%s", service, protos[i],
		       se->s_name, (unsigned)ntohs((uint16_t)se->s_port), se->s_proto);
		print_aliases(", aliases", se->s_aliases);
	}
	return found;
}

/* ---- HOST [SERVICE] on the loop ------------------------------------------------- */

/* The answer, on the loop's thread: print it.  Nothing is left then, and
 * the loop returns. */
static void
on_resolved(sio_lookup *l, int rc, const struct addrinfo *res, void *arg)
{
	(void)l;
	struct query *q = arg;
	sio_timer_stop(q->timeout);
	q->timeout = NULL;
	q->lookup = NULL;
	if (rc != 0) {
		fprintf(stderr, PROG ": %s%s%s: %s\n", q->host, q->service ? " " : "",
		        q->service ? q->service : "", gai_strerror(rc));
		q->status = rc == EAI_AGAIN || rc == EAI_SYSTEM ||
		            rc == EAI_MEMORY || rc == EAI_FAIL ? 1 : 2;
		return;
	}
	if (res->ai_canonname != NULL)
		printf("canonical name: %s\n", res->ai_canonname);
	/* A reverse lookup per result, not per address: the service name
	 * depends on the socket type (NI_DGRAM). */
	for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
		print_result(ai, q->verbose);
	if (q->service != NULL)
		print_service(q->service);
	q->status = 0;
}

/* The name server does not answer.  getaddrinfo cannot be interrupted,
 * but the lookup can be given up: its worker's answer is dropped when it
 * comes, and nothing holds the loop any more. */
static void
on_resolve_timeout(sio_timer *t, void *arg)
{
	struct query *q = arg;

	fprintf(stderr, PROG ": %s: no answer within %d s\n", q->host,
	        RESOLVE_TIMEOUT_MS / 1000);
	q->status = 1;
	sio_lookup_cancel(q->lookup);
	q->lookup = NULL;
	sio_timer_stop(t);
	q->timeout = NULL;
}

static int
lookup_host(struct query *q)
{
	struct addrinfo hints;

	q->status = 1;
	q->loop = sio_loop_new(NULL);
	if (q->loop == NULL) {
		fprintf(stderr, PROG ": sio_loop_new: %s\n", strerror(errno));
		return 1;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_CANONNAME;
	/* On a worker thread of sigio's pool, since it may wait on a name
	 * server; the answer comes back to this loop's thread. */
	q->lookup = sio_getaddrinfo(q->loop, q->host, q->service, &hints,
	                            on_resolved, q);
	q->timeout = sio_timer_start(q->loop, RESOLVE_TIMEOUT_MS, 0, on_resolve_timeout, q);
	if (q->lookup == NULL || q->timeout == NULL) {
		fprintf(stderr, PROG ": %s\n", strerror(errno));
		sio_lookup_cancel(q->lookup);
		sio_timer_stop(q->timeout);
		sio_loop_free(q->loop);
		return 1;
	}
	if (sio_loop_run(q->loop, SIO_RUN_DEFAULT) < 0) {
		fprintf(stderr, PROG ": sio_loop_run: %s\n", strerror(errno));
		q->status = 1;
	}
	sio_timer_stop(q->timeout);
	sio_loop_free(q->loop);
	return q->status;
}

/* ---- the enumerations ------------------------------------------------------------ */

static void
list_hosts(void)
{
	struct hostent *h;

	sethostent(1);                  /* 1: keep the file open between calls */
	while ((h = gethostent()) != NULL) {
		char text[INET6_ADDRSTRLEN];
		for (char **a = h->h_addr_list; *a != NULL; a++) {
			if (inet_ntop(h->h_addrtype, *a, text, sizeof text) == NULL)
				continue;
			printf("%-15s %s", text, h->h_name);
			print_aliases("", h->h_aliases);
		}
	}
	endhostent();
}

/* A network number is a host-order integer (n_net): htonl puts it in the
 * network order inet_ntop wants.  "loopback 127.0.0.0" is stored as 127. */
static void
print_network(const struct netent *ne)
{
	char text[INET_ADDRSTRLEN];
	struct in_addr a;

	a.s_addr = htonl(ne->n_net);
	if (ne->n_addrtype != AF_INET ||
	    inet_ntop(AF_INET, &a, text, sizeof text) == NULL)
		snprintf(text, sizeof text, "(family %d)", ne->n_addrtype);
	printf("%-15s %s", ne->n_name, text);
	print_aliases("", ne->n_aliases);
}

static int
list_networks(const char *name)
{
	struct netent *ne;

	if (name != NULL) {
		if ((ne = getnetbyname(name)) == NULL) {
			fprintf(stderr, PROG ": %s: not in the networks database\n", name);
			return 2;
		}
		print_network(ne);
		return 0;
	}
	setnetent(1);
	while ((ne = getnetent()) != NULL)
		print_network(ne);
	endnetent();
	return 0;
}

static void
list_protocols(void)
{
	struct protoent *pe;

	setprotoent(1);
	while ((pe = getprotoent()) != NULL) {
		printf("%-15s %d", pe->p_name, pe->p_proto);
		print_aliases("", pe->p_aliases);
	}
	endprotoent();
}

static void
list_services(void)
{
	struct servent *se;

	setservent(1);
	while ((se = getservent()) != NULL) {
		printf("%-15s %u/%s", se->s_name, (unsigned)ntohs((uint16_t)se->s_port),
		       se->s_proto);
		print_aliases("", se->s_aliases);
	}
	endservent();
}

/* ---- main ------------------------------------------------------------------------ */

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: " PROG " [--verbose] HOST [SERVICE]\n"
	        "       " PROG " --hosts | --networks [NAME] | --protocols | --services\n"
	        "Shows what getaddrinfo and getnameinfo say of HOST (and SERVICE), or lists\n"
	        "a database.\n");
}

/* What the command line asks for. */
struct options {
	const char *list;               /* "--hosts", ...: a database to list */
	const char *args[2];            /* HOST and SERVICE, or a network name */
	int nargs;
	int verbose;
};

/* The command line into *o.  Returns 0 to run, -1 after --help (exit 0),
 * or 2 after a message.  fuzz/fuzz_args_lookup.c calls it on any argv. */
static int
parse_options(struct options *o, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--verbose") == 0)
			o->verbose = 1;
		else if (strcmp(a, "--hosts") == 0 || strcmp(a, "--networks") == 0 ||
		         strcmp(a, "--protocols") == 0 || strcmp(a, "--services") == 0) {
			if (o->list != NULL) {
				fprintf(stderr, PROG ": %s: one database at a time\n", a);
				return 2;
			}
			o->list = a;
		} else if (strcmp(a, "--help") == 0) {
			usage(stdout);
			return -1;
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, PROG ": %s: unknown option (see --help)\n", a);
			return 2;
		} else if (o->nargs == 2 || a[0] == '\0') {
			fprintf(stderr, PROG ": %s%s\n", a[0] ? a : "",
			        a[0] ? ": one host and one service at most" : "an empty argument");
			return 2;
		} else
			o->args[o->nargs++] = a;
	}
	if (o->list != NULL) {
		int named = strcmp(o->list, "--networks") == 0;
		if (o->verbose || o->nargs > named) {
			fprintf(stderr, PROG ": %s takes %s\n", o->list,
			        named ? "one network name at most" : "no argument");
			return 2;
		}
	} else if (o->nargs == 0) {
		fprintf(stderr, PROG ": which host? (see --help)\n");
		return 2;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct options o;
	struct query q;
	int rc;

	memset(&o, 0, sizeof o);
	if ((rc = parse_options(&o, argc, argv)) != 0)
		return rc < 0 ? 0 : rc;
	if (o.list != NULL) {
		if (strcmp(o.list, "--networks") == 0)
			return list_networks(o.args[0]);
		if (strcmp(o.list, "--hosts") == 0)
			list_hosts();
		else if (strcmp(o.list, "--protocols") == 0)
			list_protocols();
		else
			list_services();
		return 0;
	}
	memset(&q, 0, sizeof q);
	q.verbose = o.verbose;
	q.host = o.args[0];
	q.service = o.args[1];
	return lookup_host(&q);
}
