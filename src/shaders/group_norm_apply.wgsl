// GroupNorm normalisation with the per-group statistics from group_norm_stats, the per-channel
// affine (gamma, beta) and an optional fused SiLU: y = (x − mean)·rstd·gamma + beta.

struct Params {
    channels: u32,
    pixels: u32,
    groups: u32,
    silu: u32,
}

@group(0) @binding(0) var<storage, read> input: array<f32>;       // [channels, pixels]
@group(0) @binding(1) var<storage, read> stats: array<vec2<f32>>; // [groups]: (mean, rstd)
@group(0) @binding(2) var<storage, read> gamma: array<f32>;       // [channels]
@group(0) @binding(3) var<storage, read> beta: array<f32>;        // [channels]
@group(0) @binding(4) var<storage, read_write> output: array<f32>; // [channels, pixels]
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    let c = gid.z;
    if (i >= p.pixels || c >= p.channels) {
        return;
    }
    let s = stats[c / (p.channels / p.groups)];
    let o = c * p.pixels + i;
    var y = (input[o] - s.x) * s.y * gamma[c] + beta[c];
    if (p.silu == 1u) {
        y = y / (1.0 + exp(-y));
    }
    output[o] = y;
}
