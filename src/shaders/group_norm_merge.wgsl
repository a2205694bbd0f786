// GroupNorm statistics, second stage: one workgroup per group merges the group's partial
// statistics (count, mean, M2) from group_norm_stats.wgsl with Chan et al.'s pairwise formula and
// writes per channel (mean, a, beta) with a = rstd·gamma, rstd = 1/sqrt(var + eps) (var biased,
// as PyTorch's GroupNorm): GroupNorm(x)[c] = (x − mean)·a + beta. Consumers (group_norm_apply,
// conv2d's input) apply that. Folding the mean into the shift instead would cancel badly when
// rstd is large.

struct Params {
    groups: u32,
    slots: u32,
    eps: f32,
    channels: u32,
}

@group(0) @binding(0) var<storage, read> partials: array<vec4<f32>>;     // [groups, slots]
@group(0) @binding(1) var<storage, read> gamma: array<f32>;              // [channels]
@group(0) @binding(2) var<storage, read> beta: array<f32>;               // [channels]
@group(0) @binding(3) var<storage, read_write> affine: array<vec4<f32>>; // [channels]: (mean, a, beta, 0)
@group(0) @binding(4) var<uniform> p: Params;

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
    let mu = mean[0];
    let rstd = inverseSqrt(m2[0] / cnt[0] + p.eps);
    let per_group = p.channels / p.groups;
    for (var j = t; j < per_group; j += WG) {
        let c = g * per_group + j;
        affine[c] = vec4<f32>(mu, rstd * gamma[c], beta[c], 0.0);
    }
}
