// The online softmax between attention's two products, one invocation per query token n, for
// the chunked attention of `kernels/attention.rs` (scores S = Kᵀ·Q / √C and outputs O += V·P
// are 1×1 texture convolutions over chunks of keys):
//   mode 0 (first chunk): m = max_j S[j, n]; P = exp(S − m) in place; l = Σ P; state = (m, l).
//   mode 1 (later chunk): m' = max(m, max_j S[j, n]); P = exp(S − m') in place;
//                         l = l·exp(m − m') + Σ P; O[:, n] ·= exp(m − m') (the sum so far,
//                         before this chunk's V·P is added to it).
//   mode 2 (finish):      O[:, n] /= l.
//   mode 3:               mode 0, and O[:, n] = 0 (an output accumulated in place after it).
// Statistics in f32, maxima subtracted before exp, as diffusers' softmax does.

struct Params {
    keys: u32,     // keys in this chunk (rows of `scores`)
    tokens: u32,   // N
    channels: u32, // C (rows of `out`)
    mode: u32,
}

@group(0) @binding(0) var<storage, read_write> scores: array<f32>; // [keys, N]
@group(0) @binding(1) var<storage, read_write> state: array<f32>;  // [2, N]: max, sum
@group(0) @binding(2) var<storage, read_write> out: array<f32>;    // [C, N]
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = gid.x + gid.y * nwg.x * 64u;
    let N = p.tokens;
    if (n >= N) {
        return;
    }
    if (p.mode == 2u) {
        let inv = 1.0 / state[N + n];
        for (var c = 0u; c < p.channels; c++) {
            out[c * N + n] *= inv;
        }
        return;
    }
    // The running maximum so far (mode 1), raised by this chunk's scores.
    var m = -3.0e38;
    if (p.mode == 1u) {
        m = state[n];
    }
    let m_old = m;
    for (var j = 0u; j < p.keys; j++) {
        m = max(m, scores[j * N + n]);
    }
    var l = 0.0;
    for (var j = 0u; j < p.keys; j++) {
        let e = exp(scores[j * N + n] - m);
        scores[j * N + n] = e;
        l += e;
    }
    if (p.mode == 0u || p.mode == 3u) {
        state[n] = m;
        state[N + n] = l;
        if (p.mode == 3u) {
            for (var c = 0u; c < p.channels; c++) {
                out[c * N + n] = 0.0;
            }
        }
        return;
    }
    let alpha = exp(m_old - m);
    state[n] = m;
    state[N + n] = state[N + n] * alpha + l;
    if (alpha != 1.0) {
        for (var c = 0u; c < p.channels; c++) {
            out[c * N + n] *= alpha;
        }
    }
}
