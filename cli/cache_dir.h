/* cache_dir.h: the label cache the align command uses: $XDG_CACHE_HOME/align, else
 * ~/.cache/align. A cache that cannot be used is a warning, never a failure. */
#ifndef ALIGN_CLI_CACHE_DIR_H
#define ALIGN_CLI_CACHE_DIR_H

#include "align.h"

/* The model's label cache, or NULL (after a warning, unless quiet) when there is none to use. */
align_label_cache *label_cache_open_default(const align_model *model, int quiet);
/* Prints the cache's last problem as a warning, unless quiet. */
void label_cache_report(const align_label_cache *cache, int quiet);

#endif
