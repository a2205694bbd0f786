// GroupNorm normalisation with the per-channel (mean, a = rstd·gamma, beta) from group_norm_merge,
// y = (x − mean)·a + beta, and an optional fused activation: 1 SiLU, 2 ReLU.

struct Params {
    channels: u32,
    pixels: u32,
    act: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> input: array<f32>;         // [channels, pixels]
@group(0) @binding(1) var<storage, read> affine: array<vec4<f32>>;  // [channels]: (mean, a, beta, 0)
@group(0) @binding(2) var<storage, read_write> output: array<f32>;  // [channels, pixels]
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    let c = gid.z;
    if (i >= p.pixels || c >= p.channels) {
        return;
    }
    let ab = affine[c];
    let o = c * p.pixels + i;
    var y = (input[o] - ab.x) * ab.y + ab.z;
    if (p.act == 1u) {
        y = y / (1.0 + exp(-y));
    } else if (p.act == 2u) {
        y = max(y, 0.0);
    }
    output[o] = y;
}
