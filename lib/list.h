/*
 * list.h - the intrusive doubly linked list of every handle type (fd
 * watchers of one fd, timers, signal watchers, async handles), written
 * once.  Any struct with `next` and `prev` pointers to its own type and a
 * head pointer of that type is such a list.
 *
 * Unlinking keeps the element's own `next`: a dispatch walking the list
 * may stand on an element a callback just stopped, and must still find
 * the rest.  Callers that reuse the element clear its links themselves.
 */
#ifndef SIGIO_LIST_H
#define SIGIO_LIST_H

/* Put `x` first in the list that `head` (an lvalue) starts. */
#define SIO__LIST_PUSH(head, x)                                               \
	do {                                                                  \
		(x)->prev = NULL;                                             \
		(x)->next = (head);                                           \
		if ((head) != NULL)                                           \
			(head)->prev = (x);                                   \
		(head) = (x);                                                 \
	} while (0)

/* Take `x` out of the list that `head` starts; x->next is left as it was. */
#define SIO__LIST_UNLINK(head, x)                                             \
	do {                                                                  \
		if ((x)->prev != NULL)                                        \
			(x)->prev->next = (x)->next;                          \
		else                                                          \
			(head) = (x)->next;                                   \
		if ((x)->next != NULL)                                        \
			(x)->next->prev = (x)->prev;                          \
	} while (0)

/* The same list with a tail, kept in order (FIFO): `l` is a pointer to a
 * struct with `head` and `tail`.  Put `x` last. */
#define SIO__TAILQ_APPEND(l, x)                                               \
	do {                                                                  \
		(x)->next = NULL;                                             \
		(x)->prev = (l)->tail;                                        \
		if ((l)->tail != NULL)                                        \
			(l)->tail->next = (x);                                \
		else                                                          \
			(l)->head = (x);                                      \
		(l)->tail = (x);                                              \
	} while (0)

/* Take `x` out of `l`; x->next is left as it was, as above. */
#define SIO__TAILQ_UNLINK(l, x)                                               \
	do {                                                                  \
		if ((x)->prev != NULL)                                        \
			(x)->prev->next = (x)->next;                          \
		else                                                          \
			(l)->head = (x)->next;                                \
		if ((x)->next != NULL)                                        \
			(x)->next->prev = (x)->prev;                          \
		else                                                          \
			(l)->tail = (x)->prev;                                \
	} while (0)

#endif /* SIGIO_LIST_H */
