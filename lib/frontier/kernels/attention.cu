// Attention on the GPU, float32, two ways.
//
// 1. softmax_rows: the middle step of "cuBLAS + softmax" attention.  The wrapper computes
//    S = Q K^T with cuBLAS (cupy.matmul), this kernel turns every row of S into
//    softmax(scale * S) in place (with an optional causal mask), and cuBLAS computes P V.
//    Fast, but S is a full (Tq, Tk) matrix per head in device memory.
//
// 2. flash_attention_fwd: a fused tiled kernel with the online softmax (the FlashAttention
//    forward algorithm).  A block owns BLOCK_M query rows (one thread per row, holding its
//    query and its output accumulator in registers) and walks over the keys in tiles of
//    BLOCK_N rows staged in shared memory.  For each tile it updates the running maximum m
//    and normaliser l of its row and rescales the accumulator, so the (Tq, Tk) matrix is
//    never stored.  Plain CUDA cores, no tensor cores: simple rather than fastest.
//    For HEAD_DIM = 128 a row is shared by ROW_SPLIT = 2 lanes (each holds half of q and of the
//    accumulator, the partial dot products are summed with a shuffle), so that no register spills.
//    The grid is one-dimensional: (batch * heads) x query tiles, with no 65,535 limit.
//
// Layouts: Q (BH, Tq, HEAD_DIM), K and V (BH, Tk, HEAD_DIM), O (BH, Tq, HEAD_DIM), contiguous;
// BH = batch * heads.  S is (BH * Tq, Tk).  Causal masking assumes Tq == Tk (key j is visible
// to query i when j <= i).
//
// Compile-time parameters (override with -D...): HEAD_DIM (multiple of 4 * ROW_SPLIT), BLOCK_M,
// BLOCK_N, ROW_SPLIT (1 or 2; BLOCK_M * ROW_SPLIT a multiple of 32), SOFTMAX_THREADS (multiple of 32).

#ifndef HEAD_DIM
#define HEAD_DIM 64
#endif
#ifndef BLOCK_M
#define BLOCK_M 128
#endif
#ifndef BLOCK_N
#define BLOCK_N 16
#endif
#ifndef ROW_SPLIT
#define ROW_SPLIT 1
#endif
#ifndef SOFTMAX_THREADS
#define SOFTMAX_THREADS 256
#endif

#if (HEAD_DIM % (4 * ROW_SPLIT)) != 0
#error "HEAD_DIM must be a multiple of 4 * ROW_SPLIT"
#endif

typedef unsigned long long idx_t;

#define LOG2E_F 1.4426950408889634f
#define NEG_INF_F __int_as_float(0xff800000)

// Merge two (max, sum-of-exp2(x - max)) pairs.
__device__ __forceinline__ void merge_max_sum(float& m, float& l, float m2, float l2)
{
    const float mn = fmaxf(m, m2);
    if (mn == NEG_INF_F) return;                   // both empty
    l = l * exp2f(m - mn) + l2 * exp2f(m2 - mn);
    m = mn;
}

extern "C" __global__ void __launch_bounds__(SOFTMAX_THREADS)
softmax_rows(float* __restrict__ S, int rows_per_matrix, int ncols, float scale, int causal)
{
    const idx_t row = blockIdx.x;
    const int i = (int)(row % (idx_t)rows_per_matrix);       // query index within its head
    float* s = S + row * (idx_t)ncols;
    const int nvalid = causal ? min(ncols, i + 1) : ncols;
    const float sl2 = scale * LOG2E_F;                        // scale > 0 (checked by the caller)

    // one pass: each thread keeps a running max and a sum rescaled to it (online softmax)
    float m = NEG_INF_F, l = 0.f;
    for (int j = threadIdx.x; j < nvalid; j += SOFTMAX_THREADS) {
        const float x = s[j] * sl2;
        if (x > m) { l = l * exp2f(m - x) + 1.f; m = x; }
        else       { l += exp2f(x - m); }
    }
    // combine within the warp, then across warps
    for (int off = 16; off > 0; off >>= 1) {
        const float m2 = __shfl_xor_sync(0xffffffffu, m, off);
        const float l2 = __shfl_xor_sync(0xffffffffu, l, off);
        merge_max_sum(m, l, m2, l2);
    }
    __shared__ float sm[SOFTMAX_THREADS / 32];
    __shared__ float sl[SOFTMAX_THREADS / 32];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) { sm[warp] = m; sl[warp] = l; }
    __syncthreads();
    if (warp == 0) {
        m = (lane < SOFTMAX_THREADS / 32) ? sm[lane] : NEG_INF_F;
        l = (lane < SOFTMAX_THREADS / 32) ? sl[lane] : 0.f;
        for (int off = 16; off > 0; off >>= 1) {
            const float m2 = __shfl_xor_sync(0xffffffffu, m, off);
            const float l2 = __shfl_xor_sync(0xffffffffu, l, off);
            merge_max_sum(m, l, m2, l2);
        }
        if (lane == 0) { sm[0] = m; sl[0] = l; }
    }
    __syncthreads();
    const float mx = sm[0];
    const float inv = 1.f / sl[0];
    for (int j = threadIdx.x; j < ncols; j += SOFTMAX_THREADS)
        s[j] = (j < nvalid) ? exp2f(s[j] * sl2 - mx) * inv : 0.f;
}

#define ROW_THREADS (BLOCK_M * ROW_SPLIT)      // threads per block
#define DPT (HEAD_DIM / ROW_SPLIT)              // head dimensions held by one thread

extern "C" __global__ void __launch_bounds__(ROW_THREADS)
flash_attention_fwd(const float* __restrict__ Q, const float* __restrict__ K,
                    const float* __restrict__ V, float* __restrict__ O,
                    int Tq, int Tk, float scale, int causal)
{
    __shared__ __align__(16) float Ks[BLOCK_N][HEAD_DIM];
    __shared__ __align__(16) float Vs[BLOCK_N][HEAD_DIM];

    // one-dimensional grid: block = bh * ntiles + query tile (no gridDim.y limit of 65,535)
    const int ntiles = (Tq + BLOCK_M - 1) / BLOCK_M;
    const idx_t bh = blockIdx.x / (unsigned)ntiles;
    const int q0 = (int)(blockIdx.x % (unsigned)ntiles) * BLOCK_M;
    const int row = threadIdx.x / ROW_SPLIT;        // this thread's query row within the tile
    const int part = threadIdx.x % ROW_SPLIT;       // which float4 columns of the row it holds
    const int i = q0 + row;
    const bool valid = i < Tq;
    const float* Qb = Q + bh * (idx_t)Tq * HEAD_DIM;
    const float* Kb = K + bh * (idx_t)Tk * HEAD_DIM;
    const float* Vb = V + bh * (idx_t)Tk * HEAD_DIM;

    // A thread holds the float4 columns c = part, part + ROW_SPLIT, ... of its row: interleaved,
    // so that the ROW_SPLIT lanes of a row read different shared-memory banks.
    // Fold scale and log2(e) into q, so that scores are in base 2.
    const float sl2 = scale * LOG2E_F;
    float q[DPT], acc[DPT];
#pragma unroll
    for (int e = 0; e < DPT; e += 4) {
        const int col = 4 * (part + ROW_SPLIT * (e / 4));
        float4 qq = make_float4(0.f, 0.f, 0.f, 0.f);
        if (valid) qq = *reinterpret_cast<const float4*>(Qb + (idx_t)i * HEAD_DIM + col);
        q[e] = qq.x * sl2; q[e + 1] = qq.y * sl2; q[e + 2] = qq.z * sl2; q[e + 3] = qq.w * sl2;
        acc[e] = acc[e + 1] = acc[e + 2] = acc[e + 3] = 0.f;
    }
    float m = NEG_INF_F;     // running maximum of this row's scores
    float l = 0.f;           // running sum of exp2(score - m)

    const int kend = causal ? min(Tk, q0 + BLOCK_M) : Tk;   // later keys are masked for every row
    for (int k0 = 0; k0 < kend; k0 += BLOCK_N) {
        // stage the K and V tiles (BLOCK_N x HEAD_DIM) with 16-byte loads
#pragma unroll
        for (int e4 = threadIdx.x; e4 < BLOCK_N * HEAD_DIM / 4; e4 += ROW_THREADS) {
            const int j = e4 / (HEAD_DIM / 4), c = e4 % (HEAD_DIM / 4);
            float4 kk = make_float4(0.f, 0.f, 0.f, 0.f), vv = kk;
            if (k0 + j < Tk) {
                kk = reinterpret_cast<const float4*>(Kb + (idx_t)(k0 + j) * HEAD_DIM)[c];
                vv = reinterpret_cast<const float4*>(Vb + (idx_t)(k0 + j) * HEAD_DIM)[c];
            }
            reinterpret_cast<float4*>(&Ks[j][0])[c] = kk;
            reinterpret_cast<float4*>(&Vs[j][0])[c] = vv;
        }
        __syncthreads();

        float s[BLOCK_N];
        float tile_max = NEG_INF_F;
#pragma unroll
        for (int j = 0; j < BLOCK_N; ++j) {
            // one fused multiply-add per product: the chain compiles to FFMAs only
            float dot = 0.f;
#pragma unroll
            for (int e = 0; e < DPT; e += 4) {
                const float4 kk = *reinterpret_cast<const float4*>(&Ks[j][4 * (part + ROW_SPLIT * (e / 4))]);
                dot = fmaf(q[e], kk.x, dot);
                dot = fmaf(q[e + 1], kk.y, dot);
                dot = fmaf(q[e + 2], kk.z, dot);
                dot = fmaf(q[e + 3], kk.w, dot);
            }
#pragma unroll
            for (int off = ROW_SPLIT / 2; off > 0; off >>= 1)
                dot += __shfl_xor_sync(0xffffffffu, dot, off);
            const int kj = k0 + j;
            const bool keep = (kj < Tk) && (!causal || kj <= i);
            s[j] = keep ? dot : NEG_INF_F;
            tile_max = fmaxf(tile_max, s[j]);
        }
        const float m_new = fmaxf(m, tile_max);
        if (m_new != NEG_INF_F) {
            const float corr = exp2f(m - m_new);          // 0 when m was -inf
            l *= corr;
#pragma unroll
            for (int e = 0; e < DPT; ++e) acc[e] *= corr;
#pragma unroll
            for (int j = 0; j < BLOCK_N; ++j) {
                const float p = exp2f(s[j] - m_new);      // 0 for masked keys
                l += p;
#pragma unroll
                for (int e = 0; e < DPT; e += 4) {
                    const float4 vv = *reinterpret_cast<const float4*>(&Vs[j][4 * (part + ROW_SPLIT * (e / 4))]);
                    acc[e] = fmaf(p, vv.x, acc[e]);
                    acc[e + 1] = fmaf(p, vv.y, acc[e + 1]);
                    acc[e + 2] = fmaf(p, vv.z, acc[e + 2]);
                    acc[e + 3] = fmaf(p, vv.w, acc[e + 3]);
                }
            }
            m = m_new;
        }
        __syncthreads();   // the next tile overwrites Ks and Vs
    }

    if (valid) {
        const float inv = 1.f / l;
#pragma unroll
        for (int e = 0; e < DPT; e += 4) {
            const int col = 4 * (part + ROW_SPLIT * (e / 4));
            *reinterpret_cast<float4*>(O + ((idx_t)bh * Tq + i) * HEAD_DIM + col) =
                make_float4(acc[e] * inv, acc[e + 1] * inv, acc[e + 2] * inv, acc[e + 3] * inv);
        }
    }
}
