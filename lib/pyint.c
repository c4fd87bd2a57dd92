/* pyint.c: Python's int() of a header's text (pyint.h). */
#include "pyint.h"

static int digit_value(uint8_t c, int base)
{
    int d = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : 99;
    return d < base ? d : -1;
}

int py_int(const uint8_t *s, size_t len, int base, long long *value, unsigned long long *low)
{
    size_t i = 0;
    int negative = len && s[0] == '-';
    if (len && (s[0] == '-' || s[0] == '+')) i++;
    int after_prefix = 0;
    if (base == 16 && len - i >= 2 && s[i] == '0' && (s[i + 1] | 0x20) == 'x') i += 2, after_prefix = 1;
    long long v = 0;
    unsigned long long wrapped = 0;
    int digits = 0;
    for (; i < len; i++) {
        /* an underscore between two digits, or right after the prefix */
        if (s[i] == '_' && (digits || after_prefix) && i + 1 < len && digit_value(s[i + 1], base) >= 0) {
            after_prefix = 0;
            continue;
        }
        int d = digit_value(s[i], base);
        if (d < 0) return 0;
        v = v >= PYINT_HUGE ? PYINT_HUGE : v * base + d;
        wrapped = wrapped * (unsigned)base + (unsigned)d;
        digits++, after_prefix = 0;
    }
    if (!digits) return 0;
    *value = negative ? -v : v;
    if (low) *low = negative ? 0 - wrapped : wrapped;
    return 1;
}
