// GroupNorm statistics, second stage: one workgroup per group merges the group's partial
// statistics (count, mean, M2) from group_norm_stats.wgsl with Chan et al.'s pairwise formula and
// writes the mean and 1/sqrt(var + eps), var being the biased variance as PyTorch's GroupNorm uses.

struct Params {
    groups: u32,
    slots: u32,
    eps: f32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> partials: array<vec4<f32>>;    // [groups, slots]
@group(0) @binding(1) var<storage, read_write> stats: array<vec2<f32>>; // [groups]: (mean, rstd)
@group(0) @binding(2) var<uniform> p: Params;

const WG: u32 = 64u;
var<workgroup> cnt: array<f32, WG>;
var<workgroup> mean: array<f32, WG>;
var<workgroup> m2: array<f32, WG>;

// (count, mean, M2) of the union of two disjoint sets.
fn merge(na: f32, ma: f32, qa: f32, nb: f32, mb: f32, qb: f32) -> vec3<f32> {
    let n = na + nb;
    if (nb == 0.0) {
        return vec3<f32>(na, ma, qa);
    }
    let d = mb - ma;
    let f = nb / n;
    return vec3<f32>(n, ma + d * f, qa + qb + d * d * na * f);
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let g = wid.x;
    let t = lid.x;
    var acc = vec3<f32>(0.0, 0.0, 0.0);
    for (var i = t; i < p.slots; i += WG) {
        let s = partials[g * p.slots + i];
        acc = merge(acc.x, acc.y, acc.z, f32(bitcast<u32>(s.x)), s.y, s.z);
    }
    cnt[t] = acc.x;
    mean[t] = acc.y;
    m2[t] = acc.z;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (t < s) {
            let r = merge(cnt[t], mean[t], m2[t], cnt[t + s], mean[t + s], m2[t + s]);
            cnt[t] = r.x;
            mean[t] = r.y;
            m2[t] = r.z;
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        stats[g] = vec2<f32>(mean[0], inverseSqrt(m2[0] / cnt[0] + p.eps));
    }
}
