// Single-head self-attention over N = H·W tokens of C channels (the VAE mid block), one workgroup
// per query token: scores for a chunk of 256 keys, a max-subtracted online softmax in f32, and the
// weighted sum of values accumulated per channel. The N×N score matrix is never stored.

struct Params {
    channels: u32,
    tokens: u32,
    scale: f32, // 1/sqrt(channels)
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;            // [C, N]
@group(0) @binding(1) var<storage, read> k: array<f32>;            // [C, N]
@group(0) @binding(2) var<storage, read> v: array<f32>;            // [C, N]
@group(0) @binding(3) var<storage, read_write> output: array<f32>; // [C, N]
@group(0) @binding(4) var<uniform> p: Params;

const WG: u32 = 256u;
const MAX_C: u32 = 1024u;          // channels supported: up to MAX_C
const PER_THREAD: u32 = MAX_C / WG;

var<workgroup> qs: array<f32, MAX_C>; // the query, pre-scaled
var<workgroup> probs: array<f32, WG>; // exp(score − running max) of the current chunk
var<workgroup> red: array<f32, WG>;

fn reduce_max(t: u32, x: f32) -> f32 {
    red[t] = x;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (t < s) {
            red[t] = max(red[t], red[t + s]);
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

fn reduce_sum(t: u32, x: f32) -> f32 {
    red[t] = x;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (t < s) {
            red[t] += red[t + s];
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = lid.x;
    let n = wid.x + wid.y * nwg.x; // the query token (uniform across the workgroup)
    let valid = n < p.tokens;
    let nq = min(n, p.tokens - 1u);
    let C = p.channels;
    let N = p.tokens;
    for (var c = t; c < C; c += WG) {
        qs[c] = q[c * N + nq] * p.scale;
    }
    workgroupBarrier();
    var acc: array<f32, PER_THREAD>;
    var m = -3.0e38;
    var l = 0.0;
    for (var j0 = 0u; j0 < N; j0 += WG) {
        let j = j0 + t;
        var s = -3.0e38;
        if (j < N) {
            s = 0.0;
            for (var c = 0u; c < C; c++) {
                s += qs[c] * k[c * N + j];
            }
        }
        let m_new = max(m, reduce_max(t, s));
        var e = 0.0;
        if (j < N) {
            e = exp(s - m_new);
        }
        probs[t] = e;
        let alpha = exp(m - m_new);
        l = l * alpha + reduce_sum(t, e); // reduce_sum's barriers also publish probs
        m = m_new;
        let len = min(WG, N - j0);
        for (var r = 0u; r < PER_THREAD; r++) {
            let c = t + r * WG;
            if (c < C) {
                var a = acc[r] * alpha;
                let row = c * N + j0;
                for (var jj = 0u; jj < len; jj++) {
                    a += probs[jj] * v[row + jj];
                }
                acc[r] = a;
            }
        }
        workgroupBarrier();
    }
    if (valid) {
        for (var r = 0u; r < PER_THREAD; r++) {
            let c = t + r * WG;
            if (c < C) {
                output[c * N + n] = acc[r] / l;
            }
        }
    }
}
