/* shard.h: --shard K/N, one worker's share of the inputs, so that N align processes (GNU parallel,
 * a Slurm job array) split a collection with no coordinator. An input belongs to shard
 * floor(h * N / 2^32), h the top 32 bits of the 64-bit FNV-1a hash of its path's bytes: the path
 * as the input list has it (an operand as typed, a directory's file as DIR/NAME with DIR as typed,
 * a --files-from line as written). So the share of a file depends on its path and N alone: adding
 * files moves no other file to another shard, every machine computes the same shares, and the N
 * shards cover every input exactly once, provided every worker names the inputs the same way. */
#ifndef ALIGN_CLI_SHARD_H
#define ALIGN_CLI_SHARD_H

#include <stdint.h>

/* The largest N: far past any cluster, and small enough that h * N fits in 64 bits. */
#define SHARD_MAX 1000000u

typedef struct {
    uint32_t k, n; /* n == 0: not sharded, every input */
} shard;

/* Parses "K/N" (decimal, 0 <= K < N <= SHARD_MAX, nothing else); 0, or -1 when it is not one. */
int shard_parse(const char *s, shard *out);
/* The shard of n that path belongs to. */
uint32_t shard_of(const char *path, uint32_t n);
/* Whether path is in the share s (always, when s is not sharded). */
int shard_has(const shard *s, const char *path);

#endif
