/* Where the label cache lives, and its problems reported as warnings. */
#include "cache_dir.h"

#include <stdio.h>
#include <stdlib.h>

#include "report.h"

align_label_cache *label_cache_open_default(const align_model *m, int quiet)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char dir[4096];
    /* XDG: a relative $XDG_CACHE_HOME is invalid and is ignored */
    if (xdg && xdg[0] == '/')
        snprintf(dir, sizeof dir, "%s/align", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.cache/align", home);
    else
        return NULL;
    align_model_info info;
    align_model_get_info(m, &info);
    align_error err;
    align_label_cache *c = align_label_cache_open(dir, align_model_id(m), info.projection_dim, &err);
    if (!c && !quiet) error_msg("warning: label cache not used: %s", err.message);
    return c;
}

void label_cache_report(const align_label_cache *c, int quiet)
{
    const char *w = c ? align_label_cache_warning(c) : NULL;
    if (w && !quiet) error_msg("warning: label cache: %s", w);
}
