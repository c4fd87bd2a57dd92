/* pytorch.h: PyTorch's own checkpoint format (torch.save of a state_dict since PyTorch 1.6): a
 * stored zip holding <name>/data.pkl and one raw file per storage under <name>/data/. The pickle is
 * read by a restricted unpickler that knows only what a state_dict uses; nothing is executed. */
#ifndef ALIGN_PYTORCH_H
#define ALIGN_PYTORCH_H

#include "tensors.h"

/* Parses the archive in buf (which must outlive out); out's entries point into buf. */
align_status pytorch_parse(const uint8_t *buf, size_t size, const char *name, tensor_file *out,
                           align_error *err);

#endif
