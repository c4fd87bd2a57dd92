/* stb_image compiled into the fuzz targets and oom_check, instrumented and sanitized like the
 * rest: the normal build links Debian's libstb, whose code libFuzzer could neither see nor check.
 * For oom_check, stb_image's allocations go through hooks that say a refused one happened inside
 * stb_image, whose API cannot tell "out of memory" from "not this format" (it tries the next
 * format and reports that one's complaint). */
#include <stddef.h>

#ifdef ALIGN_OOM_CHECK
void *oom_stb_malloc(size_t n);
void *oom_stb_realloc(void *p, size_t n);
void oom_stb_free(void *p);
#define STBI_MALLOC(n) oom_stb_malloc(n)
#define STBI_REALLOC(p, n) oom_stb_realloc(p, n)
#define STBI_FREE(p) oom_stb_free(p)
#endif

#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
