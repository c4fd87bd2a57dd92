/* checkpoint.c: a weights file read by its format, which its first bytes tell; converting one is
 * reading it and writing safetensors. */
#include "checkpoint.h"

#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "pytorch.h"
#include "safetensors.h"

align_status checkpoint_open(const char *path, tensor_file *out, align_error *err)
{
    memset(out, 0, sizeof *out);
    align_status s = file_map_open(path, &out->map, err);
    if (s) return s;
    const uint8_t *d = out->map.data;
    size_t n = out->map.size;
    if (n >= 4 && d[0] == 'P' && d[1] == 'K' && d[2] == 3 && d[3] == 4)
        s = pytorch_parse(d, n, path, out, err);
    else if (n >= 4 && d[0] == 0x80 && d[1] == 0x02 && d[2] == 0x8a && d[3] == 0x0a)
        /* a bare pickle stream starting with torch's magic number: torch.save before 1.6 */
        s = align_fail(err, ALIGN_ERR_FORMAT,
                       "%s: PyTorch's legacy (pre-1.6) checkpoint format is not supported; re-save it with torch.save",
                       path);
    else
        s = safetensors_parse(d, n, path, out, err);
    if (s) tensor_file_free(out);
    return s;
}

align_status align_convert_checkpoint(const char *in_path, const char *out_path, const char *dtype,
                                      align_error *err)
{
    tensor_dtype d;
    if (!dtype || strcmp(dtype, "f32") == 0)
        d = DTYPE_F32;
    else if (strcmp(dtype, "f16") == 0)
        d = DTYPE_F16;
    else if (strcmp(dtype, "bf16") == 0)
        d = DTYPE_BF16;
    else
        return align_fail(err, ALIGN_ERR_ARG, "unknown dtype \"%s\" (f32, f16 or bf16)", dtype);
    struct stat in, out; /* renamed over its input, the checkpoint would be gone */
    int out_exists = stat(out_path, &out) == 0;
    if (stat(in_path, &in) == 0 && out_exists && in.st_dev == out.st_dev && in.st_ino == out.st_ino)
        return align_fail(err, ALIGN_ERR_ARG, "%s: is the checkpoint being converted; write the new one elsewhere",
                          out_path);
    if (out_exists && S_ISDIR(out.st_mode))
        return align_fail(err, ALIGN_ERR_ARG, "%s: a directory; the output is a file, such as DIR/model.safetensors",
                          out_path);
    tensor_file tf;
    align_status s = checkpoint_open(in_path, &tf, err);
    if (s) return s;
    s = safetensors_write(out_path, &tf, d, err);
    tensor_file_free(&tf);
    return s;
}
