/* pyint.c: Python's int() and float() of a header's text (pyint.h). */
#include "pyint.h"

#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* float()'s digitpart at s[*i..len): digits with single underscores between them, copied to buf
 * without the underscores. The count of digits. */
static size_t digit_part(const uint8_t *s, size_t len, size_t *i, char *buf, size_t *k)
{
    size_t digits = 0;
    while (*i < len) {
        if (s[*i] == '_' && digits && *i + 1 < len && digit_value(s[*i + 1], 10) >= 0) {
            ++*i;
            continue;
        }
        if (digit_value(s[*i], 10) < 0) break;
        buf[(*k)++] = (char)s[(*i)++];
        digits++;
    }
    return digits;
}

/* s[0..len) is word, whatever the letters' case (the C locale's case: a program's own locale,
 * Turkish say, may fold I otherwise) */
static int same_letters(const uint8_t *s, size_t len, const char *word)
{
    if (strlen(word) != len) return 0;
    for (size_t i = 0; i < len; i++)
        if ((s[i] | 0x20) != (uint8_t)word[i]) return 0;
    return 1;
}

/* strtod in the C locale, whatever locale the program that links the library has set (a decimal
 * comma would stop it at the point): POSIX's per-thread locale, set for the call. glibc gives its
 * built-in C locale without allocating. */
static double c_strtod(const char *text)
{
    locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (!c) return strtod(text, NULL);
    locale_t was = uselocale(c);
    double v = strtod(text, NULL);
    uselocale(was);
    freelocale(c);
    return v;
}

int py_float(const uint8_t *s, size_t len, double *value)
{
    if (len > PYFLOAT_MAX_LEN) return 0;
    char buf[PYFLOAT_MAX_LEN + 1];
    size_t i = 0, k = 0;
    if (len && (s[0] == '-' || s[0] == '+')) buf[k++] = (char)s[i++];
    double sign = k && buf[0] == '-' ? -1.0 : 1.0;
    if (same_letters(s + i, len - i, "inf") || same_letters(s + i, len - i, "infinity")) return *value = sign * INFINITY, 1;
    if (same_letters(s + i, len - i, "nan")) return *value = NAN, 1;
    size_t digits = digit_part(s, len, &i, buf, &k);
    if (i < len && s[i] == '.') {
        buf[k++] = s[i++];
        digits += digit_part(s, len, &i, buf, &k);
    }
    if (!digits) return 0;
    if (i < len && (s[i] | 0x20) == 'e') {
        buf[k++] = s[i++];
        if (i < len && (s[i] == '-' || s[i] == '+')) buf[k++] = (char)s[i++];
        if (!digit_part(s, len, &i, buf, &k)) return 0;
    }
    if (i != len) return 0;
    buf[k] = '\0';
    *value = c_strtod(buf);
    return 1;
}
