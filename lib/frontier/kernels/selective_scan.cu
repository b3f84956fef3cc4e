// Fused selective scan (Mamba's recurrence), forward pass, float32.
//
//   h_t = exp(dt_t * A) * h_{t-1} + dt_t * B_t * u_t        (DSTATE numbers per channel)
//   y_t = <C_t, h_t> + D * u_t ;  out_t = y_t * silu(z_t)
//   dt_t = softplus(delta_t + delta_bias)  (softplus optional)
//
// The discretisation happens on the fly in registers: no (batch, dim, seqlen, dstate)
// array is ever written.  Each input element is read once and each output element
// written once, so the kernel is meant to be limited by memory bandwidth (and by the
// exp units: one exp per state and step).
//
// Work split
//   One block owns CH_PER_BLOCK channels of one group and one segment of time; SPLIT
//   consecutive lanes share a channel (SPLIT = 1, one lane per channel, for d_state <= 16),
//   each holding ceil(DSTATE / SPLIT) of its state values (padding states have A = B = C = 0
//   and stay 0); <C, h> is summed with shuffles.
//   The grid is one-dimensional (block index = ((b * ngroups + g) * nseg + seg) * nchb + chb),
//   so no grid dimension meets the 65,535 limit of gridDim.y and gridDim.z.
//   Time advances in chunks of TCHUNK steps.  Per chunk the block
//     1. issues all of the chunk's global loads (float4 when VEC4) into registers,
//     2. computes, once per element, dt = softplus(delta + bias), dt * u and silu(z),
//        and stores them (float4) to shared memory,
//     3. runs the recurrence from shared memory, four steps per float4 read,
//     4. writes the output tile back with coalesced (float4) stores.
//   Steps past the end of the sequence get dt = 0 and dt * u = 0, so they leave h alone.
//
// Sequence parallelism (the chunked two-pass scan, used when batch x channel blocks
// cannot fill the device): the time axis is cut into nseg segments of seg_len steps.
//   pass 1 (MODE = 1): every block scans its segment from h = 0 and writes the end state
//           hend[b, seg, d, :] and the segment's summed step S[b, seg, d] = sum of dt;
//           the segment's cumulative decay for state k is exp(A[d, k] * S).
//   carry  (selective_scan_carry): h0[seg] = exp(A * S[seg-1]) * h0[seg-1] + hend[seg-1].
//   pass 2 (MODE = 0 with h0): every block scans its segment again from h0[b, seg, d, :]
//           and writes the outputs (and, for the last segment, last_state).
// With nseg = 1 and h0 = NULL, MODE = 0 is the ordinary single-pass scan.
//
// Layouts (all contiguous, row-major):
//   u, delta, z, out : (batch, dim, seqlen)      A : (dim, DSTATE)
//   Bm, Cm           : (batch, ngroups, DSTATE, seqlen)
//   Dv, delta_bias   : (dim)   (may be null)     last_state : (batch, dim, DSTATE) (may be null)
//   h0, hend         : (batch, nseg, dim, DSTATE)  dsum : (batch, nseg, dim)
//
// Compile-time parameters (override with -D...): DSTATE, SPLIT, CH_PER_BLOCK, TCHUNK
// (a multiple of 4), SOFTPLUS and HAS_Z (0 or 1), VEC4 (1: seqlen % 4 == 0 and every pointer
// 16-byte aligned, so rows can be read and written as float4), MODE (0 or 1, see above).

#ifndef DSTATE
#define DSTATE 16
#endif
#ifndef SPLIT
#define SPLIT 1
#endif
#ifndef CH_PER_BLOCK
#define CH_PER_BLOCK 64
#endif
#ifndef TCHUNK
#define TCHUNK 32
#endif
#ifndef SOFTPLUS
#define SOFTPLUS 1
#endif
#ifndef HAS_Z
#define HAS_Z 1
#endif
#ifndef VEC4
#define VEC4 1
#endif
#ifndef MODE
#define MODE 0
#endif

typedef unsigned long long idx_t;

#define NTHREADS (CH_PER_BLOCK * SPLIT)
#define STATE_PER_THREAD ((DSTATE + SPLIT - 1) / SPLIT)
#define DSTATE_PAD (STATE_PER_THREAD * SPLIT)   // states DSTATE.. are padding: A = B = C = h = 0
#define ROW (TCHUNK + 4)          // padded row: float4-aligned, and float4 reads of 8 rows hit 32 banks
#define TILE4 (CH_PER_BLOCK * TCHUNK / 4)   // float4s per (channel x time) tile
#define BC4 (DSTATE * TCHUNK / 4)           // float4s per (state x time) tile
#define LOG2E_F 1.4426950408889634f
#define LN2_F 0.6931471805599453f

#if (SPLIT != 1) && (SPLIT != 2) && (SPLIT != 4) && (SPLIT != 8) && (SPLIT != 16) && (SPLIT != 32)
#error "SPLIT must be a power of two no larger than 32"
#endif
#if (TCHUNK % 4) != 0
#error "TCHUNK must be a multiple of 4"
#endif
#if (NTHREADS % 32) != 0
#error "CH_PER_BLOCK * SPLIT must be a multiple of 32"
#endif

struct Tiles {
    float dt[CH_PER_BLOCK][ROW];   // softplus(delta + bias), 0 past the end
    float du[CH_PER_BLOCK][ROW];   // dt * u; overwritten with the output of the step
    float u[CH_PER_BLOCK][ROW];
#if HAS_Z && MODE == 0
    float g[CH_PER_BLOCK][ROW];    // silu(z)
#endif
    float B[DSTATE_PAD][TCHUNK];
#if MODE == 0
    float C[DSTATE_PAD][TCHUNK];
#endif
};

__device__ __forceinline__ float step_size(float raw)
{
#if SOFTPLUS
    // softplus(x) = log(1 + e^x), the identity above 20 (as the official kernel); two MUFU ops
    const float e = exp2f(raw * LOG2E_F);
    return raw > 20.f ? raw : __log2f(1.f + e) * LN2_F;
#else
    return raw;
#endif
}

__device__ __forceinline__ float silu(float z)
{
    // z * sigmoid(z): two MUFU ops (exp2, reciprocal).  tanh.approx would need one, but its relative
    // error (about 2^-11) is far from float32 accuracy for negative z.
    return __fdividef(z, 1.f + __expf(-z));
}

// Element (r, c) of the chunk: derived values into shared memory (valid == false: padding).
__device__ __forceinline__ void put(Tiles& s, int r, int c, bool valid, float vu, float vd, float vz,
                                    float bias)
{
    const float dt = valid ? step_size(vd + bias) : 0.f;
    s.dt[r][c] = dt;
    s.du[r][c] = dt * vu;
    s.u[r][c] = vu;
#if HAS_Z && MODE == 0
    s.g[r][c] = silu(vz);
#endif
}

// Stage one chunk.  FULL: all TCHUNK steps exist and (with VEC4) rows are float4-aligned;
// every load of the chunk is issued before the first shared-memory store.
#define PER ((TILE4 + NTHREADS - 1) / NTHREADS)     // float4s of a (channel x time) tile per thread
#define PERBC ((BC4 + NTHREADS - 1) / NTHREADS)    // float4s of a (state x time) tile per thread

template <bool FULL>
__device__ __forceinline__ void load_chunk(Tiles& s, const float (&rbias)[PER], const float* __restrict__ u, const float* __restrict__ delta,
                                           const float* __restrict__ z, const float* __restrict__ Bm,
                                           const float* __restrict__ Cm, const float* __restrict__ delta_bias,
                                           idx_t row0, idx_t bc0, int d0, int nch, int seqlen, int t0, int tn)
{
    const int tid = threadIdx.x;
    if (FULL && VEC4) {
        float4 ru[PER], rd[PER], rz[PER], rb[PERBC], rc[PERBC];
#pragma unroll
        for (int i = 0; i < PER; ++i) {
            const int e4 = tid + i * NTHREADS;
            const int r = e4 / (TCHUNK / 4), c4 = e4 % (TCHUNK / 4);
            ru[i] = rd[i] = rz[i] = make_float4(0.f, 0.f, 0.f, 0.f);
            if (e4 < TILE4 && r < nch) {
                const idx_t idx = row0 + (idx_t)r * seqlen + t0 + 4 * c4;
                ru[i] = *reinterpret_cast<const float4*>(u + idx);
                rd[i] = *reinterpret_cast<const float4*>(delta + idx);
#if HAS_Z && MODE == 0
                rz[i] = *reinterpret_cast<const float4*>(z + idx);
#endif
            }
        }
#pragma unroll
        for (int i = 0; i < PERBC; ++i) {
            const int e4 = tid + i * NTHREADS;
            const int r = e4 / (TCHUNK / 4), c4 = e4 % (TCHUNK / 4);
            if (e4 < BC4) {
                const idx_t idx = bc0 + (idx_t)r * seqlen + t0 + 4 * c4;
                rb[i] = *reinterpret_cast<const float4*>(Bm + idx);
#if MODE == 0
                rc[i] = *reinterpret_cast<const float4*>(Cm + idx);
#endif
            }
        }
        // all loads are in flight; now derive and store
#pragma unroll
        for (int i = 0; i < PER; ++i) {
            const int e4 = tid + i * NTHREADS;
            const int r = e4 / (TCHUNK / 4), c = 4 * (e4 % (TCHUNK / 4));
            if (e4 < TILE4) {
                const bool ok = r < nch;
                const float bias = rbias[i];
                float4 dt, du, g;
                dt.x = step_size(rd[i].x + bias);
                dt.y = step_size(rd[i].y + bias);
                dt.z = step_size(rd[i].z + bias);
                dt.w = step_size(rd[i].w + bias);
                if (!ok) dt = make_float4(0.f, 0.f, 0.f, 0.f);   // a padding channel: never stored
                du = make_float4(dt.x * ru[i].x, dt.y * ru[i].y, dt.z * ru[i].z, dt.w * ru[i].w);
                *reinterpret_cast<float4*>(&s.dt[r][c]) = dt;
                *reinterpret_cast<float4*>(&s.du[r][c]) = du;
                *reinterpret_cast<float4*>(&s.u[r][c]) = ru[i];
#if HAS_Z && MODE == 0
                g = make_float4(silu(rz[i].x), silu(rz[i].y), silu(rz[i].z), silu(rz[i].w));
                *reinterpret_cast<float4*>(&s.g[r][c]) = g;
#else
                (void)g;
#endif
            }
        }
#pragma unroll
        for (int i = 0; i < PERBC; ++i) {
            const int e4 = tid + i * NTHREADS;
            const int r = e4 / (TCHUNK / 4), c = 4 * (e4 % (TCHUNK / 4));
            if (e4 < BC4) {
                *reinterpret_cast<float4*>(&s.B[r][c]) = rb[i];
#if MODE == 0
                *reinterpret_cast<float4*>(&s.C[r][c]) = rc[i];
#endif
            }
        }
    } else {
        // scalar path: partial chunks and rows that are not float4-aligned
        for (int e = tid; e < CH_PER_BLOCK * TCHUNK; e += NTHREADS) {
            const int r = e / TCHUNK, c = e % TCHUNK;
            const bool ok = r < nch && c < tn;
            float vu = 0.f, vd = 0.f, vz = 0.f;
            if (ok) {
                const idx_t idx = row0 + (idx_t)r * seqlen + t0 + c;
                vu = u[idx];
                vd = delta[idx];
#if HAS_Z && MODE == 0
                vz = z[idx];
#endif
            }
            const float bias = (delta_bias && r < nch) ? delta_bias[d0 + r] : 0.f;
            put(s, r, c, ok, vu, vd, vz, bias);
        }
        for (int e = tid; e < DSTATE * TCHUNK; e += NTHREADS) {
            const int r = e / TCHUNK, c = e % TCHUNK;
            float vb = 0.f, vc = 0.f;
            if (c < tn) {
                const idx_t idx = bc0 + (idx_t)r * seqlen + t0 + c;
                vb = Bm[idx];
#if MODE == 0
                vc = Cm[idx];
#endif
            }
            s.B[r][c] = vb;
#if MODE == 0
            s.C[r][c] = vc;
#else
            (void)vc;
#endif
        }
    }
}

// TCHUNK steps of the recurrence for this lane's channel, four steps per float4 read.
__device__ __forceinline__ void run_chunk(Tiles& s, int ch, int part, const float (&a2)[STATE_PER_THREAD],
                                          float (&h)[STATE_PER_THREAD], float skip, float& dsum)
{
#pragma unroll 1
    for (int c0 = 0; c0 < TCHUNK; c0 += 4) {
        const float4 dt4 = *reinterpret_cast<const float4*>(&s.dt[ch][c0]);
        const float4 du4 = *reinterpret_cast<const float4*>(&s.du[ch][c0]);
        const float dts[4] = {dt4.x, dt4.y, dt4.z, dt4.w};
        const float dus[4] = {du4.x, du4.y, du4.z, du4.w};
#if MODE == 0
        const float4 u4 = *reinterpret_cast<const float4*>(&s.u[ch][c0]);
        const float us[4] = {u4.x, u4.y, u4.z, u4.w};
#if HAS_Z
        const float4 g4 = *reinterpret_cast<const float4*>(&s.g[ch][c0]);
        const float gs[4] = {g4.x, g4.y, g4.z, g4.w};
#endif
        float o[4];
#endif
        float y[4] = {0.f, 0.f, 0.f, 0.f};
        // state-major: one float4 of B (and of C) per state serves four steps
#pragma unroll
        for (int k = 0; k < STATE_PER_THREAD; ++k) {
            const int n = part * STATE_PER_THREAD + k;
            const float4 b4 = *reinterpret_cast<const float4*>(&s.B[n][c0]);
            const float bs[4] = {b4.x, b4.y, b4.z, b4.w};
#if MODE == 0
            const float4 c4 = *reinterpret_cast<const float4*>(&s.C[n][c0]);
            const float cs[4] = {c4.x, c4.y, c4.z, c4.w};
#endif
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                h[k] = fmaf(exp2f(dts[j] * a2[k]), h[k], dus[j] * bs[j]);
#if MODE == 0
                y[j] = fmaf(cs[j], h[k], y[j]);
#endif
            }
        }
#pragma unroll
        for (int j = 0; j < 4; ++j) {
#if MODE == 0
#pragma unroll
            for (int off = SPLIT / 2; off > 0; off >>= 1)
                y[j] += __shfl_xor_sync(0xffffffffu, y[j], off);
            o[j] = fmaf(skip, us[j], y[j]);
#if HAS_Z
            o[j] *= gs[j];
#endif
#else
            dsum += dts[j];
            (void)y;
#endif
        }
#if MODE == 0
        if (part == 0)   // the du row of this channel is only read by its own lanes
            *reinterpret_cast<float4*>(&s.du[ch][c0]) = make_float4(o[0], o[1], o[2], o[3]);
#endif
    }
}

// The block index read again (volatile, so not reused from the kernel's start): the final
// stores recompute their offsets instead of keeping 64-bit values live across the time loop,
// which would cost registers or a spill.
__device__ __forceinline__ unsigned fresh_block_id()
{
    unsigned x;
    asm volatile("mov.u32 %0, %%ctaid.x;" : "=r"(x));
    return x;
}

__device__ __forceinline__ int opaque(int x)     // a copy the compiler cannot trace back to x
{
    int y;
    asm volatile("mov.b32 %0, %1;" : "=r"(y) : "r"(x));
    return y;
}

extern "C" __global__ void __launch_bounds__(NTHREADS, 1)
selective_scan_fwd(const float* __restrict__ u,
                   const float* __restrict__ delta,
                   const float* __restrict__ A,
                   const float* __restrict__ Bm,
                   const float* __restrict__ Cm,
                   const float* __restrict__ Dv,
                   const float* __restrict__ z,
                   const float* __restrict__ delta_bias,
                   float* __restrict__ out,
                   float* __restrict__ last_state,
                   const float* __restrict__ h0,
                   float* __restrict__ hend,
                   float* __restrict__ dsum_out,
                   int dim, int seqlen, int ngroups, int nseg, int seg_len)
{
    __shared__ __align__(16) Tiles s;

    const int dim_per_group = dim / ngroups;
    const int nchb = (dim_per_group + CH_PER_BLOCK - 1) / CH_PER_BLOCK;
    unsigned bid = blockIdx.x;                                       // < 2^31: 32-bit arithmetic
    const int chb = (int)(bid % (unsigned)nchb);  bid /= (unsigned)nchb;
    const int seg = (int)(bid % (unsigned)nseg);  bid /= (unsigned)nseg;
    const int g = (int)(bid % (unsigned)ngroups);
    const int b = (int)(bid / (unsigned)ngroups);

    const int first_local = chb * CH_PER_BLOCK;                      // first channel, within the group
    const int nch = min(CH_PER_BLOCK, dim_per_group - first_local);  // channels this block owns
    const int d0 = g * dim_per_group + first_local;                  // first channel, global
    const int tb = seg * seg_len;                                    // this segment's time steps
    const int te = min(seqlen, tb + seg_len);

    const int tid = threadIdx.x;
    const int ch = tid / SPLIT;          // channel within the block
    const int part = tid % SPLIT;        // which slice of the state this lane holds
    const bool active = ch < nch;
    const int d = d0 + (active ? ch : 0);

    float a2[STATE_PER_THREAD];          // A * log2(e), so that exp(dt*A) = exp2(dt*a2)
    float h[STATE_PER_THREAD];
#pragma unroll
    for (int k = 0; k < STATE_PER_THREAD; ++k) {
        const int n = part * STATE_PER_THREAD + k;
        a2[k] = n < DSTATE ? A[(idx_t)d * DSTATE + n] * LOG2E_F : 0.f;
        h[k] = (h0 && n < DSTATE) ? h0[(((idx_t)b * nseg + seg) * dim + d) * DSTATE + n] : 0.f;
    }
#if DSTATE_PAD > DSTATE
    // the padding rows of the B and C tiles stay zero (chunk loads write rows < DSTATE only)
    for (int e = tid; e < (DSTATE_PAD - DSTATE) * TCHUNK; e += NTHREADS) {
        s.B[DSTATE + e / TCHUNK][e % TCHUNK] = 0.f;
#if MODE == 0
        s.C[DSTATE + e / TCHUNK][e % TCHUNK] = 0.f;
#endif
    }
#endif
    const float skip = Dv ? Dv[d] : 0.f;
    float dsum = 0.f;
    // the delta_bias of the rows this thread stages (the same rows in every chunk)
    float rbias[PER];
#pragma unroll
    for (int i = 0; i < PER; ++i) {
        const int r = (tid + i * NTHREADS) / (TCHUNK / 4);
        rbias[i] = (delta_bias && r < nch) ? delta_bias[d0 + r] : 0.f;
    }

    const idx_t row0 = ((idx_t)b * dim + d0) * (idx_t)seqlen;                       // u[b, d0, 0]
    const idx_t bc0 = ((idx_t)b * ngroups + g) * (idx_t)DSTATE * (idx_t)seqlen;       // B[b, g, 0, 0]

    int t0 = tb;
    for (; t0 + TCHUNK <= te; t0 += TCHUNK) {          // full chunks: the steady state
        load_chunk<true>(s, rbias, u, delta, z, Bm, Cm, delta_bias, row0, bc0, d0, nch, seqlen, t0, TCHUNK);
        __syncthreads();
        run_chunk(s, ch, part, a2, h, skip, dsum);
        __syncthreads();
#if MODE == 0
        if (VEC4) {
#pragma unroll
            for (int i = 0; i < (TILE4 + NTHREADS - 1) / NTHREADS; ++i) {
                const int e4 = tid + i * NTHREADS;
                const int r = e4 / (TCHUNK / 4), c = 4 * (e4 % (TCHUNK / 4));
                if (e4 < TILE4 && r < nch)
                    *reinterpret_cast<float4*>(out + row0 + (idx_t)r * seqlen + t0 + c) =
                        *reinterpret_cast<const float4*>(&s.du[r][c]);
            }
        } else {
            for (int e = tid; e < CH_PER_BLOCK * TCHUNK; e += NTHREADS) {
                const int r = e / TCHUNK, c = e % TCHUNK;
                if (r < nch) out[row0 + (idx_t)r * seqlen + t0 + c] = s.du[r][c];
            }
        }
        __syncthreads();   // the next chunk overwrites the tiles
#endif
    }
    if (t0 < te) {                                      // the segment's partial last chunk
        const int tn = te - t0;
        load_chunk<false>(s, rbias, u, delta, z, Bm, Cm, delta_bias, row0, bc0, d0, nch, seqlen, t0, tn);
        __syncthreads();
        run_chunk(s, ch, part, a2, h, skip, dsum);
        __syncthreads();
#if MODE == 0
        for (int e = tid; e < CH_PER_BLOCK * TCHUNK; e += NTHREADS) {
            const int r = e / TCHUNK, c = e % TCHUNK;
            if (r < nch && c < tn) out[row0 + (idx_t)r * seqlen + t0 + c] = s.du[r][c];
        }
#endif
    }

    if (!active) return;
    {
        // recompute (b, seg, d) from a fresh read of the block index
        unsigned id = fresh_block_id();
        const int ng2 = opaque(ngroups);
        const int per_group2 = opaque(dim) / ng2;
        const int nchb2 = (per_group2 + CH_PER_BLOCK - 1) / CH_PER_BLOCK;
        const int chb2 = (int)(id % (unsigned)nchb2);  id /= (unsigned)nchb2;
        const int seg2 = (int)(id % (unsigned)nseg);  id /= (unsigned)nseg;
        const int g2 = (int)(id % (unsigned)ng2);
        const int b2 = (int)(id / (unsigned)ng2);
        const int dd = g2 * per_group2 + chb2 * CH_PER_BLOCK + (int)threadIdx.x / SPLIT;
        const int k0 = ((int)threadIdx.x % SPLIT) * STATE_PER_THREAD;
#if MODE == 0
        if (last_state && seg2 == nseg - 1) {
            float* dst = last_state + ((idx_t)b2 * dim + dd) * DSTATE + k0;
#pragma unroll
            for (int k = 0; k < STATE_PER_THREAD; ++k)
                if (k0 + k < DSTATE) dst[k] = h[k];
        }
#else
        const idx_t base = ((idx_t)b2 * nseg + seg2) * dim + dd;
#pragma unroll
        for (int k = 0; k < STATE_PER_THREAD; ++k)
            if (k0 + k < DSTATE) hend[base * DSTATE + k0 + k] = h[k];
        if (k0 == 0) dsum_out[base] = dsum;
#endif
    }
}

// The carry between segments: one thread per (b, d, k), sequential over the nseg segments.
//   h0[b, 0, d, k] = 0 ;  h0[b, s, d, k] = exp(A[d, k] * S[b, s-1, d]) * h0[b, s-1, d, k] + hend[b, s-1, d, k]
// Writes the state after the last segment to last_state (if not null).
extern "C" __global__ void __launch_bounds__(256)
selective_scan_carry(const float* __restrict__ A, const float* __restrict__ hend,
                     const float* __restrict__ dsum, float* __restrict__ h0, float* __restrict__ last_state,
                     int batch, int dim, int dstate, int nseg)
{
    const idx_t i = (idx_t)blockIdx.x * blockDim.x + threadIdx.x;     // (b, d, k) flattened
    if (i >= (idx_t)batch * dim * dstate) return;
    const int k = (int)(i % dstate);
    const int d = (int)((i / dstate) % dim);
    const int b = (int)(i / ((idx_t)dstate * dim));
    const float a2 = A[(idx_t)d * dstate + k] * LOG2E_F;
    float H = 0.f;
    for (int sg = 0; sg < nseg; ++sg) {
        const idx_t base = ((idx_t)b * nseg + sg) * dim + d;
        h0[base * dstate + k] = H;
        H = fmaf(exp2f(a2 * dsum[base]), H, hend[base * dstate + k]);
    }
    if (last_state) last_state[((idx_t)b * dim + d) * dstate + k] = H;
}
