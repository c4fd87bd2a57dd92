/* checkpoint.h: opening a model's weights file, whichever format it is in (align_convert_checkpoint,
 * in align.h, is defined beside it). */
#ifndef ALIGN_CHECKPOINT_H
#define ALIGN_CHECKPOINT_H

#include "tensors.h"

/* Maps path and reads it as safetensors or as a PyTorch zip checkpoint, by its first bytes. */
align_status checkpoint_open(const char *path, tensor_file *out, align_error *err);

#endif
