/* SHA-256 (FIPS 180-4), to check every data file against its published digest. */
#ifndef QAT_CORE_SHA256_H
#define QAT_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t nbuf;
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t n);
/* Writes 64 lowercase hex digits and a NUL into hex[65]. */
void sha256_final_hex(Sha256 *s, char hex[65]);
/* Digest of a whole file; returns 0 when the file cannot be read. */
int sha256_file_hex(const char *path, char hex[65]);

#endif
