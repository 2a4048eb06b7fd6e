/*
 * vec.h - the growable array every room uses (the pending list, the
 * recheck set, pollfd sets, the timer heap, the graveyard), written once.
 *
 * Capacity doubles, so n pushes cost O(n) in all.  The block is returned
 * rather than stored through a `void **`, so that no pointer is written
 * through an lvalue of another type.
 */
#ifndef SIGIO_VEC_H
#define SIGIO_VEC_H

#include <stdlib.h>
#include <string.h>

/* `v` (capacity *cap elements of `elem` bytes) grown to hold `need`
 * (>= 1), starting from `first` elements: the new block, *cap updated, or
 * NULL (v untouched) when memory runs out. */
static inline void *
sio__vec_grow(void *v, size_t *cap, size_t need, size_t elem, size_t first)
{
	if (need <= *cap)
		return v;
	size_t ncap = *cap ? *cap : first;
	while (ncap < need)
		ncap *= 2;
	void *nv = realloc(v, ncap * elem);
	if (nv != NULL)
		*cap = ncap;
	return nv;
}

/* For a struct with `v` (a pointer), `n` and `cap`: room for `need`
 * elements, 0 or -1 (ENOMEM).  `vec` is evaluated more than once. */
#define SIO__VEC_RESERVE(vec, need)                                           \
	((need) <= (vec)->cap ? 0 :                                           \
	 sio__vec_reserve_((void *)&(vec)->v, (vec)->v, &(vec)->cap, (need),  \
	                   sizeof *(vec)->v))

/* Helper of SIO__VEC_RESERVE: stores the grown block through a byte copy,
 * which is allowed whatever the pointer's type. */
static inline int
sio__vec_reserve_(void *slot, void *v, size_t *cap, size_t need, size_t elem)
{
	void *nv = sio__vec_grow(v, cap, need, elem, 16);
	if (nv == NULL)
		return -1;
	memcpy(slot, &nv, sizeof nv);
	return 0;
}

#endif /* SIGIO_VEC_H */
