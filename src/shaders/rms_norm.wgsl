// The channel RMS norm of Qwen-Image's (and Wan's) VAE, diffusers `QwenImageRMS_norm`:
// y[c] = x[c] / max(‖x‖, 1e-12) · √C · gamma[c] at every pixel (`F.normalize` over channels), then
// an optional fused SiLU. One invocation a pixel of the band's buffer (halo rows too), which reads
// its C values twice. With STORE_F16 defined, input and output are f16 pairs of channels
// (`Tensor`'s layout: plane j holds channel 2j in its low half and 2j + 1 in its high half).

struct Params {
    channels: u32,
    pixels: u32,  // of the band's buffer
    silu: u32,
    _pad: u32,
}

@group(0) @binding(1) var<storage, read> gamma: array<f32>;   // [channels]
@group(0) @binding(3) var<uniform> p: Params;
#if STORE_F16
@group(0) @binding(0) var<storage, read> input: array<u32>;              // [ceil(channels / 2), pixels]
@group(0) @binding(2) var<storage, read_write> output: array<u32>;
#else
@group(0) @binding(0) var<storage, read> input: array<f32>;              // [channels, pixels]
@group(0) @binding(2) var<storage, read_write> output: array<f32>;
#endif

fn act(y: f32) -> f32 {
    if (p.silu == 1u) {
        return y / (1.0 + exp(-y));
    }
    return y;
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= p.pixels) {
        return;
    }
    var ss = 0.0;
#if STORE_F16
    let planes = (p.channels + 1u) / 2u;
    for (var j = 0u; j < planes; j++) {
        let v = unpack2x16float(input[j * p.pixels + i]);
        // An odd channel count leaves the last plane's high half unused.
        ss += v.x * v.x + select(0.0, v.y * v.y, 2u * j + 1u < p.channels);
    }
    let s = sqrt(f32(p.channels)) / max(sqrt(ss), 1e-12);
    for (var j = 0u; j < planes; j++) {
        let v = unpack2x16float(input[j * p.pixels + i]);
        let hi = min(2u * j + 1u, p.channels - 1u);
        let y = vec2<f32>(act(v.x * s * gamma[2u * j]), act(v.y * s * gamma[hi]));
        output[j * p.pixels + i] = pack2x16float(vec2<f32>(y.x, select(0.0, y.y, 2u * j + 1u < p.channels)));
    }
#else
    for (var c = 0u; c < p.channels; c++) {
        let v = input[c * p.pixels + i];
        ss += v * v;
    }
    let s = sqrt(f32(p.channels)) / max(sqrt(ss), 1e-12);
    for (var c = 0u; c < p.channels; c++) {
        output[c * p.pixels + i] = act(input[c * p.pixels + i] * s * gamma[c]);
    }
#endif
}
