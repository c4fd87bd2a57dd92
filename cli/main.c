/* align: zero-shot image classification with ALIGN, from the command line. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "commands.h"
#include "options.h"
#include "outfile.h"
#include "report.h"
#include "signals.h"

static const char *const usage_text =
    "usage: align COMMAND [OPTIONS] ...\n"
    "\n"
    "Zero-shot image classification with Google's ALIGN (kakaobrain/align-base) on the CPU.\n"
    "\n"
    "commands:\n"
    "  classify IMAGE LABEL [LABEL...]            probabilities of the labels for an image\n"
    "  classify (-l LABEL)... | --labels FILE  [IMAGE | DIR]...\n"
    "                                             the same for many images\n"
    "  embed IMAGE... | --text TEXT...            L2-normalised embeddings\n"
    "  tokenize TEXT...                           BERT WordPiece ids and tokens\n"
    "  info                                       the model, the BLAS kernel, the threads\n"
    "  convert DIR [-o OUT] [--dtype f32|f16|bf16]  pytorch_model.bin to model.safetensors\n"
    "  index [--db FILE] [IMAGE | DIR]...         embed images into an index (default ./align.db)\n"
    "  search [--db FILE] QUERY...                the indexed images nearest a text or image query\n"
    "\n"
    "`align COMMAND --help` describes a command's options. The model is read from --model DIR,\n"
    "else $ALIGN_MODEL, else ./weights/align-base, else " ALIGN_SHARE_DIR "/align-base.\n"
    "Exit status: 0 all done; 1 usage error, unusable model, write error or nothing done;\n"
    "2 some inputs failed and the rest were done.\n";

int main(int argc, char **argv)
{
    /* OpenBLAS chooses its kernel as it loads; run again with the right one when it chose badly */
    align_blas_reexec(argv);
#ifdef __GLIBC__
    /* Memory freed stays in the heap for the next image. glibc maps a block over 32 MB (a
     * 12-megapixel photo's pixels are 36 MB) afresh for every image and unmaps it when freed, so
     * each decode faulted 9,000 new pages in; on a VM every fault is a trap to the hypervisor: a
     * folder of such photos 146,000 faults -> 21,000, and a JPEG's decode 135 -> 47 ms, here. One
     * arena for all threads: another thread's heaps hold at most 64 MB, so the decoding threads'
     * photos over 22 megapixels were still mapped afresh (6 of 24 MP: 106,000 -> 18,500). */
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
    mallopt(M_ARENA_MAX, 1);
#endif
    /* a closed pipe (align ... | head) ends the run quietly, as for any filter */
    signal(SIGPIPE, SIG_DFL);
    /* past a file size limit (ulimit -f), a write error like a full disk's: reported, and the
     * output left as it was */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        fputs(usage_text, stderr);
        return EXIT_FAILURE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return check_stdout() ? EXIT_FAILURE : EXIT_SUCCESS;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("align %s\n", ALIGN_VERSION);
        return check_stdout() ? EXIT_FAILURE : EXIT_SUCCESS;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } commands[] = {{"classify", cmd_classify}, {"embed", cmd_embed}, {"tokenize", cmd_tokenize},
                    {"info", cmd_info},         {"convert", cmd_convert},
                    {"index", cmd_index},       {"search", cmd_search}};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(cmd, commands[i].name) != 0) continue;
        int rc = commands[i].fn(argc - 1, argv + 1);
        /* a signal a command deferred (signals.h) ends the process now that its files are closed */
        signals_rethrow();
        return rc;
    }
    return usage_error(NULL, "unknown command '%s'", cmd);
}
