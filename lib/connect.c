#include "config.h"
#include "sigio-internal.h"
