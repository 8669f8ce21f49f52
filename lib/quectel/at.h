/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_QUECTEL_AT_H
#define MFW_QUECTEL_AT_H

/* AT session: the public calls are in <modemfw/at.h>; this adds the transport for library code. */
#include <modemfw/at.h>
#include "transport/transport.h"

/* Writing one command line: even a 9600 baud UART moves 512 bytes in under 1 s. */
#define MFW_AT_WRITE_TIMEOUT_MS 2000

#endif
