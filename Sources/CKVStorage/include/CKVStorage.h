// Hardware CRC-32C (SSE 4.2 `crc32` instruction) for KVStorage's CRC32C, with a runtime check.
#ifndef CKVSTORAGE_H
#define CKVSTORAGE_H
#include <stddef.h>
#include <stdint.h>

/// 1 if this CPU has the SSE 4.2 crc32 instruction (x86-64 only), else 0.
int kvlab_crc32c_hardware_available(void);

/// CRC-32C of `count` bytes at `data`, continuing from `crc` (0 to start), as `CRC32C.checksum`.
/// Call only when `kvlab_crc32c_hardware_available()` returned 1.
uint32_t kvlab_crc32c_hardware(uint32_t crc, const void *data, size_t count);
#endif
