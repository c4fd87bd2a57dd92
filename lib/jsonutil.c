#include "jsonutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"

size_t json_value_bound(const char *text, size_t len)
{
    size_t count = 1;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '"') { /* a string: its commas and brackets are text */
            for (i++; i < len && text[i] != '"'; i++)
                if (text[i] == '\\') i++;
        } else if (c == ',' || c == '[' || c == '{') {
            count++;
        }
    }
    return count;
}

align_status json_parse_object(const char *text, size_t len, const char *file, cJSON **out,
                               align_error *err)
{
    *out = NULL;
    if (json_value_bound(text, len) > JSON_MAX_VALUES)
        return align_fail(err, ALIGN_ERR_LIMIT, "%s: more than %d JSON values", file, JSON_MAX_VALUES);
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (!j) return align_fail(err, ALIGN_ERR_FORMAT, "%s: not valid JSON", file);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return align_fail(err, ALIGN_ERR_FORMAT, "%s: not a JSON object", file);
    }
    *out = j;
    return ALIGN_OK;
}

align_status json_read_object(const char *path, size_t max_size, cJSON **out, align_error *err)
{
    char *text;
    size_t len;
    *out = NULL;
    align_status s = file_read_all(path, max_size, &text, &len, err);
    if (s) return s;
    s = json_parse_object(text, len, path, out, err);
    free(text);
    return s;
}

static const cJSON *lookup(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNull(v) ? NULL : v;
}

static align_status check_int(const cJSON *v, const char *key, const char *ctx, long lo, long hi,
                              int *out, align_error *err)
{
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return align_fail(err, ALIGN_ERR_CONFIG, "%s: %s: expected an integer", ctx, key);
    if (v->valuedouble < (double)lo || v->valuedouble > (double)hi)
        return align_fail(err, ALIGN_ERR_CONFIG, "%s: %s: %.17g is out of range [%ld, %ld]", ctx, key,
                          v->valuedouble, lo, hi);
    *out = (int)v->valuedouble;
    return ALIGN_OK;
}

static align_status check_double(const cJSON *v, const char *key, const char *ctx, double lo,
                                 double hi, double *out, align_error *err)
{
    if (!cJSON_IsNumber(v)) return align_fail(err, ALIGN_ERR_CONFIG, "%s: %s: expected a number", ctx, key);
    if (!(v->valuedouble >= lo && v->valuedouble <= hi))
        return align_fail(err, ALIGN_ERR_CONFIG, "%s: %s: %.17g is out of range [%g, %g]", ctx, key,
                          v->valuedouble, lo, hi);
    *out = v->valuedouble;
    return ALIGN_OK;
}

align_status json_int(const cJSON *obj, const char *key, const char *ctx, long lo, long hi, int *out,
                      align_error *err)
{
    const cJSON *v = lookup(obj, key);
    return v ? check_int(v, key, ctx, lo, hi, out, err) : ALIGN_OK;
}

align_status json_double(const cJSON *obj, const char *key, const char *ctx, double lo, double hi,
                         double *out, align_error *err)
{
    const cJSON *v = lookup(obj, key);
    return v ? check_double(v, key, ctx, lo, hi, out, err) : ALIGN_OK;
}

align_status json_bool(const cJSON *obj, const char *key, const char *ctx, int *out, align_error *err)
{
    const cJSON *v = lookup(obj, key);
    if (!v) return ALIGN_OK;
    if (!cJSON_IsBool(v)) return align_fail(err, ALIGN_ERR_CONFIG, "%s: %s: expected true or false", ctx, key);
    *out = cJSON_IsTrue(v);
    return ALIGN_OK;
}

align_status json_string(const cJSON *obj, const char *key, const char *ctx, char *buf, size_t cap,
                         align_error *err)
{
    const cJSON *v = lookup(obj, key);
    if (!v) return ALIGN_OK;
    if (!cJSON_IsString(v)) return align_fail(err, ALIGN_ERR_CONFIG, "%s: %s: expected a string", ctx, key);
    size_t n = strlen(v->valuestring);
    if (n >= cap) return align_fail(err, ALIGN_ERR_CONFIG, "%s: %s: string too long", ctx, key);
    memcpy(buf, v->valuestring, n + 1);
    return ALIGN_OK;
}

static align_status check_array(const cJSON *v, const char *key, const char *ctx, int max, int *n,
                                align_error *err)
{
    if (!cJSON_IsArray(v)) return align_fail(err, ALIGN_ERR_CONFIG, "%s: %s: expected an array", ctx, key);
    int count = cJSON_GetArraySize(v);
    if (count > max)
        return align_fail(err, ALIGN_ERR_CONFIG, "%s: %s: %d entries, at most %d", ctx, key, count, max);
    *n = count;
    return ALIGN_OK;
}

align_status json_int_array(const cJSON *obj, const char *key, const char *ctx, long lo, long hi,
                            int *out, int max, int *n, align_error *err)
{
    const cJSON *v = lookup(obj, key), *item;
    if (!v) return ALIGN_OK;
    int count = 0, i = 0;
    align_status s = check_array(v, key, ctx, max, &count, err);
    if (s) return s;
    cJSON_ArrayForEach(item, v) {
        if ((s = check_int(item, key, ctx, lo, hi, &out[i++], err))) return s;
    }
    *n = count;
    return ALIGN_OK;
}

align_status json_double_array(const cJSON *obj, const char *key, const char *ctx, double lo,
                               double hi, double *out, int max, int *n, align_error *err)
{
    const cJSON *v = lookup(obj, key), *item;
    if (!v) return ALIGN_OK;
    int count = 0, i = 0;
    align_status s = check_array(v, key, ctx, max, &count, err);
    if (s) return s;
    cJSON_ArrayForEach(item, v) {
        if ((s = check_double(item, key, ctx, lo, hi, &out[i++], err))) return s;
    }
    *n = count;
    return ALIGN_OK;
}
