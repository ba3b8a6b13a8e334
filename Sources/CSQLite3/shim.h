// Shim header for the CSQLite3 system-library module: exposes the system sqlite3 C API to Swift.
// The include path and link flags come from pkg-config (sqlite3.pc, package libsqlite3-dev).
#ifndef CSQLITE3_SHIM_H
#define CSQLITE3_SHIM_H

#include <sqlite3.h>

#endif
