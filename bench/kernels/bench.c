// Micro-benchmark of the CKernels matmul: scalar reference vs dispatched SIMD kernels on the
// packed weights (what the model runs), Q8_0 and Q4_0 weights at Llama-3.2-1B shapes, 1 and 2
// threads (rows split in two ranges, as the Swift caller does). Built and run by
// bench/kernels/run.sh.
//
// usage: ck-bench [--quick] [--no-ref] [--ggml] [--kernels avx2|avx512vnni] [--shape ROWSxK] [--tokens N]
//        ck-bench --stream [--tokens N] [--tasks N] [--kernels ...]   (the 16 layers' matrices in model order)
//   --ggml: weights in ggml layout (ck_matmul packs each panel per call) instead of packed once.
#include "CKernels.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// CPU time of the calling thread: robust to other processes time-slicing this shared machine
// (not to cache contention). Every figure below is computed from it; wall time is printed too.
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#if defined(__x86_64__)
#include <immintrin.h>
// Same instruction mix as /work/shared/tools/cpu-peak.c (6 chains of vpmaddubsw + vpmaddwd +
// vpaddd, 32 MACs each), timed with thread CPU time.
__attribute__((target("avx2"))) static double int8_peak_gmacs(void) {
    const long iters = 30000000;
    __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(5), one = _mm256_set1_epi16(1);
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0;
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = cpu_now();
        for (long i = 0; i < iters; i++) {
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), one));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(_mm256_maddubs_epi16(b, a), one));
            s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(_mm256_maddubs_epi16(a, a), one));
            s3 = _mm256_add_epi32(s3, _mm256_madd_epi16(_mm256_maddubs_epi16(b, b), one));
            s4 = _mm256_add_epi32(s4, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), one));
            s5 = _mm256_add_epi32(s5, _mm256_madd_epi16(_mm256_maddubs_epi16(b, a), one));
            __asm__ volatile("" : "+x"(a), "+x"(b));
        }
        double dt = cpu_now() - t0;
        if (dt < best) best = dt;
    }
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(s0, s1), _mm256_add_epi32(s2, s3)), _mm256_add_epi32(s4, s5));
    volatile int sink = _mm256_extract_epi32(s, 0);
    (void)sink;
    return (double)iters * 6 * 32 / best / 1e9;
}
// cpu-peak.c's AVX-512 VNNI loop (10 independent vpdpbusd chains, 64 MACs each) in thread
// CPU time: the int8 limit the AVX-512 kernels are measured against. 0 without VNNI.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static double vnni_loop_gmacs(void) {
    const long iters = 20000000;
    __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(5), s[10];
    for (int k = 0; k < 10; k++) s[k] = _mm512_setzero_si512();
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = cpu_now();
        for (long i = 0; i < iters; i++) {
            for (int k = 0; k < 10; k++) s[k] = _mm512_dpbusd_epi32(s[k], a, b);
            __asm__ volatile("" : "+v"(a), "+v"(b));
        }
        double dt = cpu_now() - t0;
        if (dt < best) best = dt;
    }
    int r = 0;
    for (int k = 0; k < 10; k++) r += _mm512_reduce_add_epi32(s[k]);
    volatile int sink = r;
    (void)sink;
    return (double)iters * 10 * 64 / best / 1e9;
}
static double vnni_peak_gmacs(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") ? vnni_loop_gmacs() : 0;
}
#else
static double int8_peak_gmacs(void) { return 0; }
static double vnni_peak_gmacs(void) { return 0; }
#endif

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 40) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

static int ggml_layout = 0;

typedef struct {
    int ref;
    ck_type type;
    const void *W, *P, *X;
    int64_t k, n, rows, r0, r1;
    float *Y;
    double cpu;
} job;

static void *run_job(void *p) {
    job *j = p;
    double t0 = cpu_now();
    if (j->ref) ck_matmul_ref(j->type, j->W, j->k, j->X, j->n, j->Y, j->rows, j->r0, j->r1);
    else if (ggml_layout) ck_matmul(j->type, j->W, j->k, j->X, j->n, j->Y, j->rows, j->r0, j->r1);
    else ck_matmul_packed(j->type, j->P, j->k, j->X, j->n, j->Y, j->rows, j->r0, j->r1);
    j->cpu = cpu_now() - t0;
    return NULL;
}

// Returns the best (over repetitions) per-call time: the largest thread CPU time of the call.
// *wall gets the best wall time.
static double time_matmul(int ref, int threads, ck_type type, const void *W, const void *P, const void *X, int64_t k,
                          int64_t n, int64_t rows, float *Y, double min_seconds, double *wall) {
    double best = 1e30, best_wall = 1e30, total = 0;
    int reps = 0;
    do {
        job jobs[2];
        pthread_t th[2];
        double t0 = now();
        for (int i = 0; i < threads; i++) {
            // split on a multiple of 16 rows
            int64_t cut = ((rows / threads) + 15) / 16 * 16;
            jobs[i] = (job){ref, type, W, P, X, k, n, rows, i == 0 ? 0 : cut, i == threads - 1 ? rows : cut, Y, 0};
            if (threads == 1) jobs[i].r1 = rows;
        }
        if (threads == 1) run_job(&jobs[0]);
        else {
            for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, run_job, &jobs[i]);
            for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
        }
        double dt = now() - t0, cpu = 0;
        for (int i = 0; i < threads; i++) cpu = jobs[i].cpu > cpu ? jobs[i].cpu : cpu;
        if (cpu < best) best = cpu;
        if (dt < best_wall) best_wall = dt;
        total += dt;
        reps++;
    } while (total < min_seconds && reps < 50);
    *wall = best_wall;
    return best;
}

// --stream: the 112 matrices of Llama-3.2-1B's 16 layers (q, k, v, o, gate, up, down), packed
// (random quants, fixed scales), multiplied in model order for `n` tokens on 2 threads (rows
// split in two at a panel boundary, as MatMul does). The weights (550 MB Q4_0, 1 GB Q8_0) do
// not fit in any cache, so this measures the kernels as the forward pass runs them.
typedef struct {
    ck_type type;
    void **P;
    const int64_t (*shape)[2];
    int count;
    void *X[2];
    int64_t n, r_split;
    float *Y;
    int thread;
    double cpu;
} stream_job;

static const int64_t layer_shapes[7][2] = {{2048, 2048}, {512, 2048}, {512, 2048}, {2048, 2048},
                                           {8192, 2048}, {8192, 2048}, {2048, 8192}};

// --tasks N: each matrix's rows in N equal ranges claimed dynamically by the 2 threads (as
// MatMul does with its range list); 0 (default) = two fixed halves. Threads meet at a barrier
// after every matrix, like the forward pass's joins.
static int stream_tasks = 0;
static int stream_next[4096];
static pthread_barrier_t stream_barrier;
// --prepare: before every matrix the 2 threads quantize the activations again, each half of
// the tokens (as MatMul.prepare does), so half of what each thread reads was written by the
// other core. --prepare-own: each thread quantizes all tokens into its own buffer.
static int stream_prepare = 0;
static float *stream_xf[2];
static void *stream_own[2][2];

static void *run_stream(void *p) {
    stream_job *j = p;
    double t0 = cpu_now();
    for (int m = 0; m < j->count; m++) {
        const int64_t rows = j->shape[m % 7][0], k = j->shape[m % 7][1];
        const void *X = j->X[k == 8192];
        if (stream_prepare == 1) {
            const int64_t half = j->n / 2, t0 = j->thread ? half : 0, t1 = j->thread ? j->n : half;
            const size_t per = ck_activations_size(j->type, k, 1);
            ck_prepare_activations(j->type, stream_xf[k == 8192] + t0 * k, k, k, t1 - t0, (char *)j->X[k == 8192] + t0 * per);
            pthread_barrier_wait(&stream_barrier);
        } else if (stream_prepare == 2) {
            ck_prepare_activations(j->type, stream_xf[k == 8192], k, k, j->n, stream_own[j->thread][k == 8192]);
            X = stream_own[j->thread][k == 8192];
        }
        if (stream_tasks <= 0) {
            const int64_t cut = (rows / 2 + 15) / 16 * 16;
            if (j->thread == 0) ck_matmul_packed(j->type, j->P[m], k, X, j->n, j->Y, rows, 0, cut);
            else ck_matmul_packed(j->type, j->P[m], k, X, j->n, j->Y, rows, cut, rows);
        } else {
            const int64_t per = (rows / stream_tasks + 15) / 16 * 16;
            for (;;) {
                const int t = __atomic_fetch_add(&stream_next[m], 1, __ATOMIC_RELAXED);
                const int64_t r0 = t * per;
                if (r0 >= rows) break;
                ck_matmul_packed(j->type, j->P[m], k, X, j->n, j->Y, rows, r0, r0 + per < rows ? r0 + per : rows);
            }
        }
        pthread_barrier_wait(&stream_barrier);
    }
    j->cpu = cpu_now() - t0;
    return NULL;
}

static const char *type_name(ck_type type) {
    return type == CK_TYPE_Q4_0 ? "Q4_0" : type == CK_TYPE_Q8_R ? "Q8_R" : "Q8_0";
}

// --type q4_0|q8_0|q8_r: only that weight type (default: all three).
static ck_type only_type = (ck_type)-1;

static double vnni_peak1 = 0;

static int stream_bench(int64_t n, int layers) {
    const ck_type types[] = {CK_TYPE_Q4_0, CK_TYPE_Q8_0, CK_TYPE_Q8_R};
    const int count = 7 * layers;
    for (int ti = 0; ti < 3; ti++) {
        const ck_type type = types[ti];
        if (only_type != (ck_type)-1 && type != only_type) continue;
        void **P = malloc(sizeof(void *) * count);
        double macs = 0;
        for (int m = 0; m < count; m++) {
            const int64_t rows = layer_shapes[m % 7][0], k = layer_shapes[m % 7][1];
            const size_t bytes = ck_packed_size(type, rows, k);
            uint8_t *b = aligned_alloc(64, (bytes + 63) / 64 * 64);
            for (size_t i = 0; i < bytes; i += 8) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; memcpy(b + i, &rng, 8); }
            // Scales: a fixed normal fp16 (random bits would include denormals and NaNs).
            const int64_t nb = k / CK_QK, panels = rows / CK_PANEL_ROWS;
            const size_t pb = bytes / (size_t)panels, sb = ((size_t)nb * 32 + 63) / 64 * 64;
            for (int64_t pn = 0; pn < panels; pn++) {
                if (type == CK_TYPE_Q8_R) // 16 f32 row scales
                    for (size_t i = 0; i < 64; i += 4) { const float f = 0.01f; memcpy(b + pn * pb + i, &f, 4); }
                else
                    for (size_t i = 0; i < sb; i += 2) { const uint16_t h = 0x2c00; memcpy(b + pn * pb + i, &h, 2); }
            }
            P[m] = b;
            macs += (double)rows * k * n;
        }
        stream_job jobs[2];
        void *X[2];
        for (int i = 0; i < 2; i++) {
            const int64_t k = i ? 8192 : 2048;
            float *x = malloc(sizeof(float) * n * k);
            for (int64_t e = 0; e < n * k; e++) x[e] = frand();
            X[i] = malloc(ck_activations_size(type, k, n));
            ck_prepare_activations(type, x, k, k, n, X[i]);
            stream_own[0][i] = malloc(ck_activations_size(type, k, n));
            stream_own[1][i] = malloc(ck_activations_size(type, k, n));
            free(stream_xf[i]);
            stream_xf[i] = x;
        }
        float *Y = malloc(sizeof(float) * n * 8192);
        double best = 1e30, best_wall = 1e30;
        pthread_barrier_init(&stream_barrier, NULL, 2);
        for (int rep = 0; rep < 3; rep++) {
            memset(stream_next, 0, sizeof(stream_next));
            pthread_t th[2];
            double t0 = now();
            for (int i = 0; i < 2; i++) {
                jobs[i] = (stream_job){type, P, layer_shapes, count, {X[0], X[1]}, n, 0, Y, i, 0};
                pthread_create(&th[i], NULL, run_stream, &jobs[i]);
            }
            for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
            const double wall = now() - t0, cpu = jobs[0].cpu > jobs[1].cpu ? jobs[0].cpu : jobs[1].cpu;
            if (cpu < best) best = cpu;
            if (wall < best_wall) best_wall = wall;
        }
        printf("stream %s %d layers, %ld tokens, 2 threads: %.1f GMAC/s (slower thread's CPU time; %.0f%% of 2 x the vpdpbusd loop), %.1f wall; %.0f tok/s at CPU rate\n",
               type_name(type), layers, n, macs / best / 1e9, vnni_peak1 > 0 ? 100 * macs / best / 1e9 / (2 * vnni_peak1) : 0.0,
               macs / best_wall / 1e9, n / best);
        fflush(stdout);
        for (int m = 0; m < count; m++) free(P[m]);
        free(P); free(Y); free(X[0]); free(X[1]);
    }
    return 0;
}

int main(int argc, char **argv) {
    int quick = 0, with_ref = 1, stream = 0;
    int64_t only_rows = 0, only_k = 0, only_n = 0;
    double peak1 = 0, peak2 = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--no-ref")) with_ref = 0;
        else if (!strcmp(argv[i], "--ggml")) ggml_layout = 1;
        else if (!strcmp(argv[i], "--stream")) stream = 1;
        else if (!strcmp(argv[i], "--tasks") && i + 1 < argc) stream_tasks = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--prepare")) stream_prepare = 1;
        else if (!strcmp(argv[i], "--prepare-own")) stream_prepare = 2;
        else if (!strcmp(argv[i], "--kernels") && i + 1 < argc) {
            if (!ck_set_kernels(argv[++i])) { fprintf(stderr, "kernels %s not available\n", argv[i]); return 1; }
        }
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc) sscanf(argv[++i], "%ldx%ld", &only_rows, &only_k);
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) only_n = atol(argv[++i]);
        else if (!strcmp(argv[i], "--type") && i + 1 < argc) {
            const char *t = argv[++i];
            only_type = !strcmp(t, "q4_0") ? CK_TYPE_Q4_0 : !strcmp(t, "q8_0") ? CK_TYPE_Q8_0 : CK_TYPE_Q8_R;
        }
        else if (!strcmp(argv[i], "--peak") && i + 2 < argc) { peak1 = atof(argv[++i]); peak2 = atof(argv[++i]); }
    }
    if (stream) {
        vnni_peak1 = vnni_peak_gmacs();
        printf("kernel: %s; vpdpbusd loop (1 thread, CPU time): %.1f GMAC/s\n", ck_kernel_name(), vnni_peak1);
        return stream_bench(only_n ? only_n : 64, 16);
    }
    const int64_t shapes[][2] = {{2048, 2048}, {8192, 2048}, {2048, 8192}, {512, 2048}};
    const int64_t tokens[] = {64, 512};
    const ck_type types[] = {CK_TYPE_Q8_0, CK_TYPE_Q4_0, CK_TYPE_Q8_R};
    const double own_peak = int8_peak_gmacs();
    const double vnni = vnni_peak_gmacs();
    if (vnni > 0) printf("vpdpbusd loop (1 thread, CPU time): %.1f GMAC/s\n", vnni);
    printf("kernel: %s, %s weights; int8 peak (cpu-peak mix, 1 thread, CPU time): %.1f GMAC/s\n", ck_kernel_name(), ggml_layout ? "ggml-layout" : "packed", own_peak);
    if (peak1 <= 0) peak1 = own_peak;
    if (peak2 <= 0) peak2 = 2 * own_peak;
    printf("GMAC/s from per-thread CPU time (2 threads: slowest thread); %%peak vs %.1f (1 thr) / %.1f (2 thr)\n", peak1, peak2);
    printf("%-5s %-11s %4s %3s | %10s | %10s %6s %6s | %9s | %7s\n", "type", "shape", "tok", "thr", "ref GMAC/s",
           "fast GMAC/s", "%peak", "x ref", "wall GMAC/s", "prep ms");
    for (int s = 0; s < (quick ? 2 : 3); s++) {
        const int64_t rows = shapes[s][0], k = shapes[s][1];
        if (only_rows && (rows != only_rows || k != only_k)) continue;
        float *wf = malloc(sizeof(float) * rows * k);
        for (int64_t i = 0; i < rows * k; i++) wf[i] = frand() * 0.05f;
        for (int ti = 0; ti < 3; ti++) {
            const ck_type type = types[ti];
            if ((only_type != (ck_type)-1 && type != only_type) || (ggml_layout && type == CK_TYPE_Q8_R)) continue;
            // Q8_R exists only packed (from the f32 weights); the reference column is empty.
            void *W = type == CK_TYPE_Q8_R ? NULL : malloc(ck_row_size(type, rows * k));
            for (int64_t r = 0; W && r < rows; r++) {
                if (type == CK_TYPE_Q8_0) ck_quantize_row_q8_0(wf + r * k, (ck_block_q8_0 *)((char *)W + ck_row_size(type, k) * r), k);
                else ck_quantize_row_q4_0(wf + r * k, (ck_block_q4_0 *)((char *)W + ck_row_size(type, k) * r), k);
            }
            void *P = aligned_alloc(64, (ck_packed_size(type, rows, k) + 63) / 64 * 64);
            if (type == CK_TYPE_Q8_R) ck_pack_weights_q8r(CK_TYPE_F32, wf, rows, k, 0, (rows + CK_PANEL_ROWS - 1) / CK_PANEL_ROWS, P);
            else ck_pack_weights(type, W, rows, k, 0, (rows + CK_PANEL_ROWS - 1) / CK_PANEL_ROWS, P);
            for (int ni = 0; ni < 2; ni++) {
                const int64_t n = only_n ? only_n : tokens[ni];
                if (only_n && ni) break;
                float *x = malloc(sizeof(float) * n * k);
                for (int64_t i = 0; i < n * k; i++) x[i] = frand();
                void *X = malloc(ck_activations_size(type, k, n));
                double tp = now();
                ck_prepare_activations(type, x, k, k, n, X);
                tp = now() - tp;
                float *Y = malloc(sizeof(float) * n * rows);
                const double macs = (double)rows * k * n;
                for (int threads = 1; threads <= 2; threads++) {
                    double tref = 0, wall_ref = 0, wall = 0;
                    if (with_ref && W && !(quick && threads == 2)) tref = time_matmul(1, threads, type, W, P, X, k, n, rows, Y, 0.0, &wall_ref);
                    double tf = time_matmul(0, threads, type, W, P, X, k, n, rows, Y, 0.5, &wall);
                    const double peak = threads == 1 ? peak1 : peak2;
                    printf("%-5s %5ldx%-5ld %4ld %3d | %10.2f | %10.1f %5.0f%% %6.1f | %9.1f | %7.2f\n",
                           type_name(type), rows, k, n, threads,
                           tref > 0 ? macs / tref / 1e9 : 0.0, macs / tf / 1e9,
                           peak > 0 ? 100.0 * macs / tf / 1e9 / peak : 0.0, tref > 0 ? tref / tf : 0.0,
                           macs / wall / 1e9, tp * 1e3);
                    fflush(stdout);
                }
                free(Y); free(X); free(x);
            }
            free(W);
            free(P);
        }
        free(wf);
    }
    return 0;
}
