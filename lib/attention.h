/* attention.h: one query row of scaled dot-product attention over one head of one label, in two
 * steps: the probabilities (scores q . k / sqrt(d), then their softmax) and the context (the
 * probabilities' weighted sum of the value rows). Scores, probabilities and sums are doubles: they
 * cost little next to the matrix products, and an ill-conditioned label's scores amplify every
 * rounding of q and k. A label attends over its own tokens only, which is all BERT's attention
 * mask does for an unpadded label.
 *
 * attention_probs_<level> and attention_context_<level> (attention.c) are the tuned versions;
 * the _reference ones (attention_reference.c) are the plain ones tests/test_kernels.c checks
 * them against. */
#ifndef ALIGN_ATTENTION_H
#define ALIGN_ATTENTION_H

#include <stddef.h>

/* probs[c] = softmax over c < len of q . k_c / sqrt(d): q [d], k_c the d floats at k + c * stride. */
void attention_probs_reference(const float *q, const float *k, size_t stride, int len, int d, double *probs);
/* out[e] = sum over c < len of probs[c] v_c[e] for e < d, rounded to float once: v_c at v + c * stride. */
void attention_context_reference(const double *probs, const float *v, size_t stride, int len, int d,
                                 float *out);

#endif
