/* py_int against Python's own int(s, base): each case's value is what Python 3 gives (or its
 * ValueError), the low 24 bits as XPM's colours keep them. */
#include <string.h>

#include "pyint.h"
#include "test.h"

TEST(py_int_reads_text_as_python_int_does)
{
    static const struct {
        const char *text;
        int base, ok;
        long long value;       /* saturated at PYINT_HUGE */
        unsigned long long low; /* the number's low 24 bits */
    } cases[] = {
        {"12", 10, 1, 12, 0xc},          {"+7", 10, 1, 7, 0x7},           {"-3", 10, 1, -3, 0xfffffd},
        {"007", 10, 1, 7, 0x7},          {"1_000", 10, 1, 1000, 0x3e8},   {"1__0", 10, 0, 0, 0},
        {"_1", 10, 0, 0, 0},             {"1_", 10, 0, 0, 0},             {"", 10, 0, 0, 0},
        {"+", 10, 0, 0, 0},              {"1a", 10, 0, 0, 0},             {"ff", 16, 1, 255, 0xff},
        {"FF", 16, 1, 255, 0xff},        {"0x_1f", 16, 1, 31, 0x1f},      {"0X1F", 16, 1, 31, 0x1f},
        {"-0x1", 16, 1, -1, 0xffffff},   {"0x", 16, 0, 0, 0},             {"0x__1", 16, 0, 0, 0},
        {"-1", 16, 1, -1, 0xffffff},     {"0x1f", 10, 0, 0, 0},
        {"123456789abcdef0", 16, 1, PYINT_HUGE, 0xbcdef0},
        {"99999999999999", 10, 1, PYINT_HUGE, 0x7a3fff},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long long value = 0;
        unsigned long long low = 0;
        int ok = py_int((const uint8_t *)cases[i].text, strlen(cases[i].text), cases[i].base, &value, &low);
        CHECK_MSG(ok == cases[i].ok, "int(\"%s\", %d): %s", cases[i].text, cases[i].base, ok ? "read" : "refused");
        if (ok && cases[i].ok)
            CHECK_MSG(value == cases[i].value && (low & 0xffffff) == cases[i].low, "int(\"%s\", %d): %lld, low %llx",
                      cases[i].text, cases[i].base, value, low & 0xffffff);
    }
}
