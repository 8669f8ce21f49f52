/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MODEMFW_MODEMFW_H
#define MODEMFW_MODEMFW_H

/* Umbrella header: the whole public API of libmodemfw. */
#include <modemfw/error.h>
#include <modemfw/context.h>
#include <modemfw/delta.h>
#include <modemfw/dfota.h>
#include <modemfw/transport.h>
#include <modemfw/flash.h>
#include <modemfw/diag.h>

#define MODEMFW_VERSION "0.1.0"

#endif
