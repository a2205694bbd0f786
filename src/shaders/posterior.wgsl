// Diagonal-Gaussian posterior of the encoder's moments [2C, h, w]: mean = first C channels,
// logvar = last C clamped to [−30, 20]. Writes the mean, or a sample mean + exp(0.5·logvar)·ε with
// ε ~ N(0, 1) from a counter-based generator (PCG hash of seed and index, Box–Muller).

struct Params {
    channels: u32, // C (latent channels)
    pixels: u32,   // h·w
    sample: u32,   // 0: mean, 1: sample
    seed_lo: u32,
    seed_hi: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<storage, read> moments: array<f32>;       // [2C, pixels]
@group(0) @binding(1) var<storage, read_write> output: array<f32>;  // [C, pixels]
@group(0) @binding(2) var<uniform> p: Params;

fn pcg(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// Uniform in (0, 1]: 24 random bits.
fn unit_uniform(x: u32) -> f32 {
    return f32((x >> 8u) + 1u) / 16777216.0;
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    let total = p.channels * p.pixels;
    if (i >= total) {
        return;
    }
    let mean = moments[i];
    if (p.sample == 0u) {
        output[i] = mean;
        return;
    }
    let logvar = clamp(moments[total + i], -30.0, 20.0);
    let h = pcg(pcg(i ^ pcg(p.seed_lo)) ^ p.seed_hi);
    let u1 = unit_uniform(pcg(h));
    let u2 = unit_uniform(pcg(h ^ 0x9e3779b9u));
    let eps = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
    output[i] = mean + exp(0.5 * logvar) * eps;
}
