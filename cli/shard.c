/* Shares of the inputs by a hash of their paths. */
#include "shard.h"

#include <string.h>

#include "hash.h"

/* One decimal number of at most 7 digits, the text after it in *end. */
static int parse_number(const char *s, const char **end, uint32_t *v)
{
    uint32_t x = 0;
    int digits = 0;
    for (; *s >= '0' && *s <= '9' && digits < 8; s++, digits++) x = x * 10 + (uint32_t)(*s - '0');
    *end = s;
    *v = x;
    return digits > 0 && digits <= 7 ? 0 : -1;
}

int shard_parse(const char *s, shard *out)
{
    const char *end;
    uint32_t k, n;
    if (parse_number(s, &end, &k) || *end != '/' || parse_number(end + 1, &end, &n) || *end) return -1;
    if (n < 1 || n > SHARD_MAX || k >= n) return -1;
    *out = (shard){k, n};
    return 0;
}

uint32_t shard_of(const char *path, uint32_t n)
{
    /* byte by byte, hash_bytes is FNV-1a, whose result does not depend on the machine's byte
     * order (its 8-byte steps would); its top bits are the well-mixed ones */
    uint64_t h = HASH_INIT;
    for (size_t i = 0, len = strlen(path); i < len; i++) h = hash_bytes(h, path + i, 1);
    return (uint32_t)(((h >> 32) * n) >> 32);
}

int shard_has(const shard *s, const char *path)
{
    return !s->n || shard_of(path, s->n) == s->k;
}
