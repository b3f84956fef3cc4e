// Fused selective scan (Mamba's recurrence), forward pass, float32.
//
//   h_t = exp(dt_t * A) * h_{t-1} + dt_t * B_t * u_t        (DSTATE numbers per channel)
//   y_t = <C_t, h_t> + D * u_t ;  out_t = y_t * silu(z_t)
//   dt_t = softplus(delta_t + delta_bias)  (softplus optional)
//
// The discretisation happens on the fly in registers: no (batch, dim, seqlen, dstate)
// array is ever written.  Each input element is read once and each output element
// written once, so the kernel is limited by memory bandwidth (and by the exp units).
//
// Work split
//   grid  = (ceil(dim_per_group / CH_PER_BLOCK), ngroups, batch)
//   block = CH_PER_BLOCK * SPLIT threads; SPLIT consecutive lanes share one channel and
//           each holds DSTATE / SPLIT of its state values; <C, h> is summed with shuffles.
//   Time advances in chunks of TCHUNK steps.  Per chunk the block copies its tiles of
//   u, delta, z (CH_PER_BLOCK x TCHUNK) and of B, C (DSTATE x TCHUNK) into shared
//   memory with coalesced loads, runs the recurrence from shared memory, and writes
//   the output tile back with coalesced stores.
//
// Layouts (all contiguous, row-major):
//   u, delta, z, out : (batch, dim, seqlen)      A : (dim, DSTATE)
//   Bm, Cm           : (batch, ngroups, DSTATE, seqlen)
//   Dv, delta_bias   : (dim)   (may be null)     last_state : (batch, dim, DSTATE) (may be null)
//
// Compile-time parameters (override with -D...): DSTATE, SPLIT, CH_PER_BLOCK, TCHUNK.

#ifndef DSTATE
#define DSTATE 16
#endif
#ifndef SPLIT
#define SPLIT 4
#endif
#ifndef CH_PER_BLOCK
#define CH_PER_BLOCK 32
#endif
#ifndef TCHUNK
#define TCHUNK 16
#endif

typedef unsigned long long idx_t;

#define NTHREADS (CH_PER_BLOCK * SPLIT)
#define STATE_PER_THREAD (DSTATE / SPLIT)

#if (DSTATE % SPLIT) != 0
#error "DSTATE must be a multiple of SPLIT"
#endif
#if (SPLIT != 1) && (SPLIT != 2) && (SPLIT != 4) && (SPLIT != 8) && (SPLIT != 16) && (SPLIT != 32)
#error "SPLIT must be a power of two no larger than 32"
#endif

extern "C" __global__ void __launch_bounds__(NTHREADS)
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
                   int dim, int seqlen, int ngroups, int delta_softplus)
{
    const float LOG2E = 1.4426950408889634f;
    const int dim_per_group = dim / ngroups;
    const int g = blockIdx.y;
    const int b = blockIdx.z;
    const int first_local = blockIdx.x * CH_PER_BLOCK;               // first channel, within the group
    const int nch = min(CH_PER_BLOCK, dim_per_group - first_local);  // channels this block owns
    const int d0 = g * dim_per_group + first_local;                  // first channel, global

    const int tid = threadIdx.x;
    const int ch = tid / SPLIT;          // channel within the block
    const int part = tid % SPLIT;        // which slice of the state this lane holds
    const bool active = ch < nch;
    const int d = d0 + (active ? ch : 0);

    // +1 column of padding keeps the per-channel row reads free of bank conflicts
    __shared__ float s_u[CH_PER_BLOCK][TCHUNK + 1];
    __shared__ float s_dt[CH_PER_BLOCK][TCHUNK + 1];
    __shared__ float s_z[CH_PER_BLOCK][TCHUNK + 1];
    __shared__ float s_out[CH_PER_BLOCK][TCHUNK + 1];
    __shared__ float s_B[DSTATE][TCHUNK + 1];
    __shared__ float s_C[DSTATE][TCHUNK + 1];

    float a2[STATE_PER_THREAD];          // A * log2(e), so that exp(dt*A) = exp2(dt*a2)
    float h[STATE_PER_THREAD];
#pragma unroll
    for (int k = 0; k < STATE_PER_THREAD; ++k) {
        a2[k] = A[(idx_t)d * DSTATE + part * STATE_PER_THREAD + k] * LOG2E;
        h[k] = 0.f;
    }
    const float bias = delta_bias ? delta_bias[d] : 0.f;
    const float skip = Dv ? Dv[d] : 0.f;

    const idx_t row0 = ((idx_t)b * dim + d0) * (idx_t)seqlen;               // u[b, d0, 0]
    const idx_t bc0 = ((idx_t)b * ngroups + g) * (idx_t)DSTATE * (idx_t)seqlen;  // B[b, g, 0, 0]

    for (int t0 = 0; t0 < seqlen; t0 += TCHUNK) {
        const int tn = min(TCHUNK, seqlen - t0);

        // coalesced tile loads: consecutive threads read consecutive time steps of a row
        for (int e = tid; e < CH_PER_BLOCK * TCHUNK; e += NTHREADS) {
            const int r = e / TCHUNK, c = e % TCHUNK;
            float vu = 0.f, vd = 0.f, vz = 0.f;
            if (r < nch && c < tn) {
                const idx_t idx = row0 + (idx_t)r * seqlen + t0 + c;
                vu = u[idx];
                vd = delta[idx];
                if (z) vz = z[idx];
            }
            s_u[r][c] = vu;
            s_dt[r][c] = vd;
            s_z[r][c] = vz;
        }
        for (int e = tid; e < DSTATE * TCHUNK; e += NTHREADS) {
            const int r = e / TCHUNK, c = e % TCHUNK;
            float vb = 0.f, vc = 0.f;
            if (c < tn) {
                const idx_t idx = bc0 + (idx_t)r * seqlen + t0 + c;
                vb = Bm[idx];
                vc = Cm[idx];
            }
            s_B[r][c] = vb;
            s_C[r][c] = vc;
        }
        __syncthreads();

        // the recurrence: every lane runs all tn steps (inactive lanes on zeros), so that
        // the shuffles below always see the full warp
        for (int c = 0; c < tn; ++c) {
            float dt = s_dt[ch][c] + bias;
            if (delta_softplus) dt = (dt <= 20.f) ? log1pf(__expf(dt)) : dt;
            const float uu = s_u[ch][c];
            const float du = dt * uu;
            float y = 0.f;
#pragma unroll
            for (int k = 0; k < STATE_PER_THREAD; ++k) {
                const int n = part * STATE_PER_THREAD + k;
                h[k] = exp2f(dt * a2[k]) * h[k] + du * s_B[n][c];
                y += s_C[n][c] * h[k];
            }
#pragma unroll
            for (int off = SPLIT / 2; off > 0; off >>= 1)
                y += __shfl_xor_sync(0xffffffffu, y, off);
            if (part == 0) {
                float o = y + skip * uu;
                if (z) {
                    const float zz = s_z[ch][c];
                    o *= zz / (1.f + __expf(-zz));
                }
                s_out[ch][c] = o;
            }
        }
        __syncthreads();

        for (int e = tid; e < CH_PER_BLOCK * TCHUNK; e += NTHREADS) {
            const int r = e / TCHUNK, c = e % TCHUNK;
            if (r < nch && c < tn) out[row0 + (idx_t)r * seqlen + t0 + c] = s_out[r][c];
        }
        __syncthreads();   // the next chunk overwrites the tiles
    }

    if (last_state && active) {
#pragma unroll
        for (int k = 0; k < STATE_PER_THREAD; ++k)
            last_state[((idx_t)b * dim + d) * DSTATE + part * STATE_PER_THREAD + k] = h[k];
    }
}
