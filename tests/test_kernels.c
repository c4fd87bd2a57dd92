/* The tuned kernels against their plain references (kernels.h), at every ISA level this CPU runs
 * and avx512_on_avx2 (kernel_levels.h), on random shapes that reach every tile: 3x3 and 5x5
 * windows, strides 1 and 2, both paddings at stride 2, maps narrower than a tile and rows whose
 * tiles end at each edge, channel counts the tiles take and ones they leave to the reference; the
 * text tower's products at row, column and depth counts around each tile's size and the depth
 * block's, its attention rows and LayerNorms at head widths and row lengths that fill their vectors
 * and ones that leave a part; the resize's rows at every filter, shrinking and enlarging. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "depthwise.h"
#include "kernel_levels.h"
#include "kernels.h"
#include "layer_norm.h"
#include "ops.h"
#include "resample.h"
#include "test.h"

/* A small deterministic generator (xorshift32): uniform in [-1, 1). */
static float uniform(unsigned *state)
{
    unsigned x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return (float)(x >> 8) / (1 << 23) - 1.0f;
}

static float *random_floats(size_t n, unsigned *state)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) p[i] = uniform(state);
    return p;
}

/* One map through a level's depthwise_row and through the reference, row by row; returns the
 * worst output difference in units of its bound. */
static double depthwise_case(const kernel_table *kt, int h, int w, int c, int k, int stride, int adjust,
                             unsigned *state)
{
    int pad_y, pad_x, oh = depthwise_output_size(h, k, stride, adjust, &pad_y),
        ow = depthwise_output_size(w, k, stride, adjust, &pad_x);
    float *in = random_floats((size_t)h * w * c, state), *wt = random_floats((size_t)k * k * c, state);
    float *b = random_floats((size_t)c, state);
    float *out = malloc(sizeof(float) * oh * ow * c), *want = malloc(sizeof(float) * oh * ow * c);
    float *sum = calloc((size_t)c, sizeof(float)), *want_sum = calloc((size_t)c, sizeof(float));
    depthwise_job j = {in, wt, b, NULL, NULL, NULL, h, w, oh, ow, c, k, stride, pad_y, pad_x, oh, 1, ACT_SILU};
    /* Inputs, weights and biases in [-1, 1): a window sum adds at most k * k + 1 terms of magnitude
     * below 1, so every partial sum is below 26 and each float32 addition or multiplication rounds
     * it by at most half an ulp of 32, 2^-19. The two versions round the same sums (fused or not,
     * depending on the level), so they differ by at most 2 (k * k + 1) such roundings, and SiLU's
     * slope is below 1.1. Each row sum adds ow such values in the same order: ow output
     * differences plus ow roundings of a sum below 26 * ow. */
    double tol = 1.1 * 2 * (k * k + 1) * ldexp(1, -19), worst = 0;
    double tol_sum = ow * tol + ow * 0.5 * FLT_EPSILON * 32 * ow;
    for (int y = 0; y < oh; y++) {
        kt->depthwise_row(&j, in, out, y, sum);
        depthwise_row_reference(&j, in, want, y, want_sum);
        for (int ch = 0; ch < c; ch++) {
            double d = fabs((double)sum[ch] - want_sum[ch]) / tol_sum;
            worst = d > worst ? d : worst;
            sum[ch] = want_sum[ch] = 0;
        }
    }
    for (size_t i = 0; i < (size_t)oh * ow * c; i++) {
        double d = fabs((double)out[i] - want[i]) / tol;
        worst = d > worst ? d : worst;
    }
    free(in), free(wt), free(b), free(out), free(want), free(sum), free(want_sum);
    return worst;
}

TEST(depthwise_tiles_match_the_reference_at_every_level)
{
    if (test_skip_in_a_rerun()) return;
    static const int channels[] = {16, 32, 48, 8, 12, 6}; /* whole vectors at every level, then fewer */
    unsigned state = 12345;
    for (const kernel_table *const *t = test_kernel_tables(); *t; t++) {
        const kernel_table *kt = *t;
        double worst = 0;
        int cases = 0;
        for (int k = 3; k <= 5; k += 2)
            for (int stride = 1; stride <= 2; stride++)
                for (int adjust = 0; adjust <= (stride == 2); adjust++)
                    for (int w = 1; w <= 23; w += (w < 12 ? 1 : 5))
                        for (int ci = 0; ci < 6; ci++) {
                            int h = 1 + (int)((uniform(&state) + 1) * 4), c = channels[ci];
                            double d = depthwise_case(kt, h, w, c, k, stride, adjust, &state);
                            CHECK_MSG(d <= 1, "%s: %dx%d, %d channels, k %d, stride %d: %.3g of the bound",
                                      kt->isa, w, h, c, k, stride, d);
                            worst = d > worst ? d : worst;
                            cases++;
                        }
        test_note("%s: %d maps, worst %.3g of the bound", kt->isa, cases, worst);
    }
}

TEST(epilogues_match_the_reference_at_every_level)
{
    static const act_kind acts[] = {ACT_SILU, ACT_LINEAR, ACT_GELU};
    unsigned state = 777;
    for (const kernel_table *const *t = test_kernel_tables(); *t; t++) {
        const kernel_table *kt = *t;
        for (int n = 1; n <= 70; n += 3)
            for (int ai = 0; ai < 3; ai++)
                for (int with = 0; with < 4; with++) {
                    float *c = random_floats((size_t)n, &state), *scale = random_floats((size_t)n, &state);
                    float *bias = random_floats((size_t)n, &state), *res = random_floats((size_t)n, &state);
                    float *want = malloc(sizeof(float) * n);
                    memcpy(want, c, sizeof(float) * n);
                    const float *s = with & 1 ? scale : NULL, *r = with & 2 ? res : NULL;
                    kt->epilogue(c, s, bias, r, acts[ai], (size_t)n);
                    epilogue_reference(want, s, bias, r, acts[ai], (size_t)n);
                    /* c * scale + bias, fused or not, then the same activation arithmetic (the
                     * vector loop and act_one compute the same float operations) and one addition:
                     * values below 3, so a few roundings of half an ulp of 4, 2^-22 each */
                    for (int i = 0; i < n; i++)
                        CHECK_MSG(fabsf(c[i] - want[i]) <= 4 * ldexpf(1, -22), "%s, act %d, n %d: %g vs %g",
                                  kt->isa, (int)acts[ai], n, c[i], want[i]);
                    free(c), free(scale), free(bias), free(res), free(want);
                }
    }
}

/* PyTorch's SiLU passes a NaN on, and far out it is 0 and x; exp_fast stops at about 2.4e38, so
 * silu(-1000) is -4e-36 rather than -0 (test_ops.c). The tiles' and epilogues' vector SiLUs must
 * do the same at every level (exp_fast's 2^n once came from converting a NaN to an integer, which
 * C leaves undefined). */
TEST(vector_silus_keep_nan_and_their_limits_at_every_level)
{
    static const float special[] = {NAN, -1000.0f, 1000.0f};
    enum { C = 48, W = 9 };
    for (const kernel_table *const *t = test_kernel_tables(); *t; t++) {
        const kernel_table *kt = *t;
        for (int s = 0; s < 3; s++) {
            float x = special[s], want = x > 0 ? x : 0.0f;
            /* a 3x3 window whose one nonzero weight, 1, is its centre, and bias 0: the tile's SiLU
             * sees the input itself */
            float in[W * C], wt[9 * C] = {0}, b[C] = {0}, out[W * C], sum[C] = {0}, ep[C];
            for (int i = 0; i < W * C; i++) in[i] = 0.5f;
            for (int ch = 0; ch < C; ch++) wt[4 * C + ch] = 1.0f, ep[ch] = ch % 5 == 3 ? x : 0.5f;
            in[4 * C + 3] = x;
            depthwise_job j = {in, wt, b, NULL, NULL, NULL, 1, W, 1, W, C, 3, 1, 1, 1, 1, 1, ACT_SILU};
            kt->depthwise_row(&j, in, out, 0, sum);
            kt->epilogue(ep, NULL, b, NULL, ACT_SILU, C);
            float got[] = {out[4 * C + 3], ep[3], ep[C - 5]}; /* 43: in the last vector at every width */
            for (int g = 0; g < 3; g++)
                CHECK_MSG(s == 0 ? isnan(got[g]) : fabsf(got[g] - want) < 1e-35f,
                          "%s: silu(%g) = %g (%s)", kt->isa, x, got[g], g ? "epilogue" : "depthwise tile");
            CHECK_MSG(fabsf(out[4 * C + 4] - 0.5f / (1.0f + expf(-0.5f))) < 1e-6f, "%s: another channel", kt->isa);
        }
    }
}

/* A copy of n floats at `phase` floats past a 64-byte boundary, in a buffer with a vector's room
 * on both sides (the phased tiles read whole aligned vectors, masked to the rows). */
static float *phased_copy(const float *src, size_t n, int phase, float **buf)
{
    *buf = aligned_alloc(64, sizeof(float) * ((n + 32 + 15) / 16 * 16));
    memcpy(*buf + phase, src, sizeof(float) * n);
    return *buf + phase;
}

/* x [m][k] w [n][k]^T through a level's gemm_dot against the reference, w `phase` floats past a
 * 64-byte boundary (as a checkpoint's tensors may be), x once at the same offset (the phased
 * tiles, gemm_dot.c) and once at another (the plain ones): the same bits. Then the rows and
 * columns again on their own: the same bits. Returns the worst difference in units of its bound. */
static double dot_case(const kernel_table *kt, int m, int n, int k, int phase, unsigned *state)
{
    float *x0 = random_floats((size_t)m * k, state), *w0 = random_floats((size_t)n * k, state), *xb, *xob, *wb;
    float *x = phased_copy(x0, (size_t)m * k, phase, &xb), *w = phased_copy(w0, (size_t)n * k, phase, &wb);
    float *xo = phased_copy(x0, (size_t)m * k, (phase + 1) % 16, &xob);
    float *c = malloc(sizeof(float) * m * n), *co = malloc(sizeof(float) * m * n);
    float *want = malloc(sizeof(float) * m * n), *part = malloc(sizeof(float) * n);
    kt->gemm_dot(x, w, c, m, n, k, n);
    kt->gemm_dot(xo, w, co, m, n, k, n);
    CHECK_MSG(memcmp(c, co, sizeof(float) * m * n) == 0, "%s: %dx%dx%d at offset %d: x at w's offset or not",
              kt->isa, m, n, k, phase);
    gemm_dot_reference(x, w, want, m, n, k, n);
    /* Any order of summing k products is within gamma_k = k u / (1 - k u) of the sum of their
     * magnitudes from the exact result (u = 2^-24; a fused multiply-add only removes roundings),
     * so the two are within twice that of each other. */
    double u = ldexp(1, -24), gamma = k * u / (1 - k * u), worst = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double mag = 0;
            for (int q = 0; q < k; q++) mag += fabs((double)x[(size_t)i * k + q] * w[(size_t)j * k + q]);
            double d = fabs((double)c[(size_t)i * n + j] - want[(size_t)i * n + j]) / (2 * gamma * mag + DBL_MIN);
            worst = d > worst ? d : worst;
        }
    /* row i alone, from column 1 on: the same bits as in the whole product */
    for (int i = 0; i < m; i++) {
        kt->gemm_dot(x + (size_t)i * k, w + k, part, 1, n - 1, k, n - 1);
        CHECK_MSG(memcmp(part, c + (size_t)i * n + 1, sizeof(float) * (n - 1)) == 0, "%s: %dx%dx%d, row %d alone",
                  kt->isa, m, n, k, i);
    }
    free(x0), free(w0), free(xb), free(xob), free(wb), free(c), free(co), free(want), free(part);
    return worst;
}

TEST(dot_products_match_the_reference_at_every_level)
{
    if (test_skip_in_a_rerun()) return;
    static const int ms[] = {1, 2, 3, 4, 5, 9}, ns[] = {2, 5, 6, 7, 9, 13}, ks[] = {1, 3, 4, 15, 16, 17, 33, 770, 1600};
    unsigned state = 4242;
    for (const kernel_table *const *t = test_kernel_tables(); *t; t++) {
        const kernel_table *kt = *t;
        double worst = 0;
        for (int a = 0; a < 6; a++)
            for (int b = 0; b < 6; b++)
                for (int q = 0; q < 9; q++) {
                    int phase = (a * 54 + b * 9 + q) % 16; /* 0 to 15, each often */
                    double d = dot_case(kt, ms[a], ns[b], ks[q], phase, &state);
                    CHECK_MSG(d <= 1, "%s: %dx%dx%d at offset %d: %.3g of the bound", kt->isa, ms[a], ns[b], ks[q],
                              phase, d);
                    worst = d > worst ? d : worst;
                }
        test_note("%s: worst %.3g of the bound", kt->isa, worst);
    }
}

/* Pillow's resize with each level's horizontal pass against the reference's, byte for byte: every
 * filter, shrinking (windows of many taps: whole groups of five and a remainder) and enlarging
 * (windows of one to seven taps), rows shorter than one 16-byte read and windows that end at the
 * row's last byte (read in part one tap at a time); on random rows, and on rows of 0 and 255
 * alternating, whose sums under the negative lobes of bicubic and Lanczos clip at both ends. */
TEST(resample_rows_match_the_reference_at_every_level)
{
    if (test_skip_in_a_rerun()) return;
    static const int widths[] = {1, 2, 3, 5, 6, 7, 11, 16, 31, 100, 347, 1001, 4000};
    enum { NW = sizeof widths / sizeof widths[0], ROWS = 2 };
    unsigned state = 7;
    for (const kernel_table *const *t = test_kernel_tables(); *t; t++) {
        const kernel_table *kt = *t;
        size_t cases = 0, differ = 0;
        for (int i = 0; i < NW; i++) {
            int iw = widths[i];
            align_image in = {iw, ROWS, malloc((size_t)iw * ROWS * 3)};
            for (int pattern = 0; pattern < 2; pattern++) {
                for (size_t b = 0; b < (size_t)iw * ROWS * 3; b++)
                    in.rgb[b] = pattern ? (uint8_t)(b / 3 % 2 ? 255 : 0) : (uint8_t)(uniform(&state) * 128 + 128);
                for (int o = 0; o < NW; o++) {
                    for (int f = RESAMPLE_LANCZOS; f <= RESAMPLE_HAMMING; f++) {
                        align_image got, want;
                        align_error err;
                        if (image_resize(&in, widths[o], ROWS, f, kt->resample_row, &got, &err) != ALIGN_OK ||
                            image_resize(&in, widths[o], ROWS, f, resample_row_reference, &want, &err) != ALIGN_OK) {
                            CHECK_MSG(0, "%d -> %d: %s", iw, widths[o], err.message);
                            continue;
                        }
                        cases++;
                        differ += memcmp(got.rgb, want.rgb, (size_t)widths[o] * ROWS * 3) != 0;
                        align_image_free(&got), align_image_free(&want);
                    }
                }
            }
            align_image_free(&in);
        }
        CHECK_MSG(differ == 0, "%s: %zu of %zu resizes differ from the reference", kt->isa, differ, cases);
    }
}

TEST(channel_scales_match_the_baseline_exactly_at_every_level)
{
    unsigned state = 99;
    const kernel_table *base = kernel_table_at(0);
    for (const kernel_table *const *t = test_kernel_tables() + 1; *t; t++) {
        const kernel_table *kt = *t;
        for (int c = 1; c <= 40; c += 13) {
            int pixels = 37;
            float *x = random_floats((size_t)pixels * c, &state), *gate = random_floats((size_t)c, &state);
            float *a = malloc(sizeof(float) * pixels * c), *b = malloc(sizeof(float) * pixels * c);
            /* one multiplication per value: nothing to round differently */
            kt->scale_columns(a, x, gate, pixels, c);
            base->scale_columns(b, x, gate, pixels, c);
            CHECK(memcmp(a, b, sizeof(float) * pixels * c) == 0);
            memcpy(a, x, sizeof(float) * pixels * c);
            kt->scale_pixels(a, gate, pixels, c);
            CHECK(memcmp(a, b, sizeof(float) * pixels * c) == 0);
            free(x), free(gate), free(a), free(b);
        }
    }
}

/* Within one rounding to float of want, after sums in double that differ only in their order: at
 * most an ulp of want, or 1e-12 where want is so small that its ulp is finer than the sums. */
static int within_one_rounding(float got, float want)
{
    float a = fabsf(want);
    return fabs((double)got - want) <= (double)(nextafterf(a, INFINITY) - a) + 1e-12;
}

TEST(attention_rows_match_the_reference_at_every_level)
{
    static const int widths[] = {64, 32, 16, 24, 8, 5, 1}; /* whole blocks, then a part of one */
    unsigned state = 4242;
    for (const kernel_table *const *t = test_kernel_tables(); *t; t++) {
        const kernel_table *kt = *t;
        double worst = 0;
        for (int wi = 0; wi < 7; wi++)
            for (int len = 1; len <= 20; len += 3) {
                int d = widths[wi];
                size_t stride = (size_t)3 * d; /* three heads side by side */
                float *q = random_floats(stride, &state), *k = random_floats(stride * len, &state);
                float *v = random_floats(stride * len, &state), out[64], want[64];
                double probs[20], want_probs[20];
                kt->attention_probs(q + d, k + d, stride, len, d, probs);
                attention_probs_reference(q + d, k + d, stride, len, d, want_probs);
                /* dot products of d terms below 1 in two orders: each partial sum below d rounds by
                 * at most d 2^-53, d times in each; scaled by 1 / sqrt(d) and through a softmax, whose
                 * slope is below 1 per score */
                double tol = 2.0 * 2 * d * d * ldexp(1, -53);
                for (int c = 0; c < len; c++) {
                    double diff = fabs(probs[c] - want_probs[c]);
                    CHECK_MSG(diff <= tol, "%s: d %d, len %d: probability %d off by %g", kt->isa, d, len, c, diff);
                    worst = diff > worst ? diff : worst;
                }
                kt->attention_context(want_probs, v + d, stride, len, d, out);
                attention_context_reference(want_probs, v + d, stride, len, d, want);
                for (int e = 0; e < d; e++)
                    CHECK_MSG(within_one_rounding(out[e], want[e]), "%s: d %d, len %d: context %d is %.9g, not %.9g",
                              kt->isa, d, len, e, out[e], want[e]);
                free(q), free(k), free(v);
            }
        test_note("%s: probabilities at most %.3g from the reference", kt->isa, worst);
    }
}

TEST(layer_norms_match_the_reference_at_every_level)
{
    static const int widths[] = {768, 64, 13, 8, 7, 1};
    unsigned state = 31337;
    for (const kernel_table *const *t = test_kernel_tables(); *t; t++) {
        const kernel_table *kt = *t;
        for (int wi = 0; wi < 6; wi++)
            for (int three = 0; three < 2; three++) {
                int n = widths[wi];
                float *a = random_floats((size_t)n, &state), *b = random_floats((size_t)n, &state);
                float *c = random_floats((size_t)n, &state), *w = random_floats((size_t)n, &state);
                float *bias = random_floats((size_t)n, &state), *out = malloc(sizeof(float) * n);
                float *want = malloc(sizeof(float) * n);
                const float *third = three ? c : NULL;
                kt->layer_norm(out, a, b, third, n, w, bias, 1e-12);
                layer_norm_reference(want, a, b, third, n, w, bias, 1e-12);
                for (int i = 0; i < n; i++)
                    CHECK_MSG(within_one_rounding(out[i], want[i]), "%s: n %d: %d is %.9g, not %.9g", kt->isa,
                              n, i, out[i], want[i]);
                /* in place, as the residual sums run */
                memcpy(c, a, sizeof(float) * n);
                kt->layer_norm(c, c, b, NULL, n, w, bias, 1e-12);
                layer_norm_reference(want, a, b, NULL, n, w, bias, 1e-12);
                for (int i = 0; i < n; i++) CHECK(within_one_rounding(c[i], want[i]));
                free(a), free(b), free(c), free(w), free(bias), free(out), free(want);
            }
    }
}

TEST(isa_cap_picks_the_lower_of_the_cap_and_the_cpu)
{
    const kernel_table *kt = NULL;
    align_error err = {0};
    CHECK(kernel_table_choose(NULL, "ALIGN_ISA", &kt, &err) == ALIGN_OK);
    CHECK(kt == kernel_table_at(kernel_cpu_level()));
    CHECK(kernel_table_choose("", "ALIGN_ISA", &kt, &err) == ALIGN_OK);
    CHECK(kt == kernel_table_at(kernel_cpu_level()));
    CHECK(kernel_table_choose("baseline", "ALIGN_ISA", &kt, &err) == ALIGN_OK);
    CHECK(kt == kernel_table_at(0));
    CHECK(kernel_table_choose("avx512", "ALIGN_ISA", &kt, &err) == ALIGN_OK);
    CHECK(kt == kernel_table_at(kernel_cpu_level()));
    CHECK_INT(kernel_table_choose("sse4", "ALIGN_ISA", &kt, &err), ALIGN_ERR_ARG);
    CHECK_STR(err.message, "ALIGN_ISA=sse4: expected baseline, avx2 or avx512");
}

TEST(align_isa_is_read_at_load)
{
    align_error err = {0};
    setenv("ALIGN_ISA", "avx1024", 1);
    align_model *m = align_model_load(fixture("tiny-a"), &err);
    CHECK(m == NULL);
    CHECK_INT(err.code, ALIGN_ERR_ARG);
    CHECK_STR(err.message, "ALIGN_ISA=avx1024: expected baseline, avx2 or avx512");
    setenv("ALIGN_ISA", "baseline", 1);
    m = align_model_load(fixture("tiny-a"), &err);
    CHECK_MSG(m != NULL, "%s", err.message);
    unsetenv("ALIGN_ISA");
    align_model_info info = {0};
    if (m) align_model_get_info(m, &info);
    CHECK_STR(info.isa, kernel_table_at(0)->isa);
    align_model_free(m);
    m = align_model_load(fixture("tiny-a"), &err);
    if (m) align_model_get_info(m, &info);
    CHECK_STR(info.isa, kernel_table_at(kernel_cpu_level())->isa);
    align_model_free(m);
}

/* A tap over a column of rows at each level is the plain loop's: lengths around each vector width,
 * weights of both signs up to the largest a filter makes (with sums that stay in int32, as the
 * resize's do). */
TEST(resample_taps_match_the_reference_at_every_level)
{
    enum { MAX = 100 };
    static const int32_t weights[] = {0, 1, -1, 4194304, -1398101, 5592405, 123457};
    unsigned state = 3;
    for (const kernel_table *const *t = test_kernel_tables(); *t; t++) {
        const kernel_table *kt = *t;
        size_t differ = 0;
        for (size_t n = 0; n <= MAX; n++)
            for (size_t w = 0; w < sizeof weights / sizeof weights[0]; w++) {
                uint8_t src[MAX];
                int32_t got[MAX], want[MAX];
                for (size_t i = 0; i < n; i++) {
                    src[i] = (uint8_t)((uniform(&state) + 1) * 128);
                    got[i] = want[i] = (int32_t)(uniform(&state) * 1e8);
                }
                kt->resample_taps(got, src, n, weights[w]);
                resample_taps_reference(want, src, n, weights[w]);
                differ += memcmp(got, want, sizeof(int32_t) * n) != 0;
            }
        CHECK_MSG(differ == 0, "%s: %zu tap columns differ from the reference", kt->isa, differ);
    }
}
