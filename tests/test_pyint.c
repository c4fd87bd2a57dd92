/* py_int and py_float against Python's own int(s, base) and float(s): each case's value is what
 * Python 3 gives (or its ValueError), int's low 24 bits as XPM's colours keep them. */
#include <locale.h>
#include <math.h>
#include <stdlib.h>
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

/* py_float against Python's float(s): each value (or ValueError) is what Python 3 gives. */
TEST(py_float_reads_text_as_python_float_does)
{
    static const struct {
        const char *text;
        int ok;
        double value;
    } cases[] = {
        {"12", 1, 12.0},          {"-2.5", 1, -2.5},       {"+110.", 1, 110.0},     {"0.5e1", 1, 5.0},
        {".5", 1, 0.5},           {"5.", 1, 5.0},          {"1_0.5", 1, 10.5},      {"1e1_0", 1, 1e10},
        {"1__0", 0, 0},           {"_1", 0, 0},            {"1_", 0, 0},            {".", 0, 0},
        {"1.e5", 1, 100000.0},    {".e5", 0, 0},           {"+.5", 1, 0.5},         {"-inf", 1, -INFINITY},
        {"InFiNiTy", 1, INFINITY}, {"nAn", 1, NAN},        {"-nan", 1, NAN},        {"1e", 0, 0},
        {"1e+", 0, 0},            {"0x10", 0, 0},          {"1_e5", 0, 0},          {"1_.5", 0, 0},
        {"1._5", 0, 0},           {"", 0, 0},              {"-", 0, 0},             {"infinit", 0, 0},
        {"1e-400", 1, 0.0},       {"1e400", 1, INFINITY},  {"0.1", 1, 0.1},
        {"123456789012345678901234567890", 1, 1.2345678901234568e+29},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double value = 0;
        int ok = py_float((const uint8_t *)cases[i].text, strlen(cases[i].text), &value);
        CHECK_MSG(ok == cases[i].ok, "float(\"%s\"): %s", cases[i].text, ok ? "read" : "refused");
        if (ok && cases[i].ok)
            CHECK_MSG(isnan(cases[i].value) ? isnan(value) : value == cases[i].value, "float(\"%s\"): %.17g", cases[i].text,
                      value);
    }
}

/* A program that links the library may set a locale whose decimal point is a comma: float() reads
 * a point all the same (C's strtod would stop at it). */
TEST(py_float_ignores_the_programs_locale)
{
    const char *comma[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8"};
    const char *set = NULL;
    for (size_t i = 0; i < sizeof comma / sizeof comma[0] && !set; i++) set = setlocale(LC_NUMERIC, comma[i]);
    if (!set) {
        test_skip("no locale with a decimal comma is installed (localedef -i de_DE -f UTF-8 de_DE.UTF-8 makes one)");
        return;
    }
    CHECK_MSG(strtod("2.5", NULL) == 2.0, "%s: the locale's strtod reads \"2.5\" as %g", set, strtod("2.5", NULL));
    double value = 0;
    CHECK(py_float((const uint8_t *)"2.5", 3, &value) && value == 2.5);
    CHECK(py_float((const uint8_t *)"-1_0.25e1", 9, &value) && value == -102.5);
    CHECK(py_float((const uint8_t *)"INF", 3, &value) && value == INFINITY);
    setlocale(LC_NUMERIC, "C");
}
