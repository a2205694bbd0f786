// GroupNorm statistics: one workgroup per group computes the mean and 1/sqrt(var + eps) of the
// group's channels × pixels in two passes (mean, then squared deviations), each thread summing
// with Kahan compensation before a tree reduction, all in f32.

struct Params {
    channels: u32,
    pixels: u32,      // H·W
    groups: u32,
    eps: f32,
}

@group(0) @binding(0) var<storage, read> input: array<f32>;            // [channels, pixels]
@group(0) @binding(1) var<storage, read_write> stats: array<vec2<f32>>; // [groups]: (mean, rstd)
@group(0) @binding(2) var<uniform> p: Params;

const WG: u32 = 256u;
var<workgroup> partial: array<f32, WG>;

fn reduce(t: u32, v: f32) -> f32 {
    partial[t] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (t < s) {
            partial[t] += partial[t + s];
        }
        workgroupBarrier();
    }
    let r = partial[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let g = wid.x;
    let t = lid.x;
    let per_group = p.channels / p.groups;
    let count = per_group * p.pixels;
    let base = g * count;
    var sum = 0.0;
    var comp = 0.0;
    for (var i = t; i < count; i += WG) {
        let y = input[base + i] - comp;
        let s = sum + y;
        comp = (s - sum) - y;
        sum = s;
    }
    let mean = reduce(t, sum) / f32(count);
    sum = 0.0;
    comp = 0.0;
    for (var i = t; i < count; i += WG) {
        let d = input[base + i] - mean;
        let y = d * d - comp;
        let s = sum + y;
        comp = (s - sum) - y;
        sum = s;
    }
    let var_ = reduce(t, sum) / f32(count);
    if (t == 0u) {
        stats[g] = vec2<f32>(mean, inverseSqrt(var_ + p.eps));
    }
}
