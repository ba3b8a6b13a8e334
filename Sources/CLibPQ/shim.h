// Shim header for the CLibPQ system-library module: exposes the PostgreSQL client library (libpq)
// to Swift. libpq-fe.h lives in /usr/include/postgresql on Debian/Ubuntu; pkg-config (libpq.pc,
// package libpq-dev) supplies that directory as -I, so the plain include below resolves.
#ifndef CLIBPQ_SHIM_H
#define CLIBPQ_SHIM_H

#include <libpq-fe.h>

#endif
