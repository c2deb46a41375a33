/* hex.c - strict lower-case hexadecimal encoding and decoding (see hex.h). */
#include "hex.h"
#include "err.h"

static const signed char ns_hex_table[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6,
    ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

/* The table stores value+1 so that its zero default means "not hex". */
int ns_hex_val(unsigned char c) { return ns_hex_table[c] - 1; }

int ns_hex_decode(const char *s, uint8_t *out, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        int hi = ns_hex_table[u[2 * i]] - 1, lo = ns_hex_table[u[2 * i + 1]] - 1;
        if ((hi | lo) < 0)
            return NS_EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

bool ns_hex_is_lower(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (ns_hex_table[(unsigned char)s[i]] == 0)
            return false;
    return true;
}

void ns_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char dig[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = dig[in[i] >> 4];
        out[2 * i + 1] = dig[in[i] & 15];
    }
    out[2 * n] = '\0';
}
