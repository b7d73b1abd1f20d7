// Hardware CRC-32C: 8 bytes per crc32q instruction, enabled per function (no global -msse4.2).
#include "CKVStorage.h"
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>

int kvlab_crc32c_hardware_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

__attribute__((target("sse4.2")))
uint32_t kvlab_crc32c_hardware(uint32_t crc, const void *data, size_t count) {
    const unsigned char *p = (const unsigned char *)data;
    uint64_t c = (uint32_t)~crc;
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
        p += 8;
        count -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (count > 0) {
        c32 = _mm_crc32_u8(c32, *p++);
        count--;
    }
    return ~c32;
}
#else
int kvlab_crc32c_hardware_available(void) { return 0; }
uint32_t kvlab_crc32c_hardware(uint32_t crc, const void *data, size_t count) { (void)data; (void)count; return crc; }
#endif
