// Writes 1×1 convolution weights made from an activation `src` ([rows, tokens]) into the texture
// layout that `conv2d.wgsl` reads — texel (c·2 + h, q, block) holds output channels
// 8·block + 4h .. +3 of input channel 4q + c — or, with F16 defined (as `pack_input.wgsl`), its
// f16 layout: texel (c, q, block) holds output channels
// 8·block .. +7 of input channel 8q + c. Weight (out o, in i) is
//   transpose = 1: src[i, t0 + o] · scale   (attention's keys: out = key, in = channel)
//   transpose = 0: src[o, t0 + i] · scale   (attention's values: out = channel, in = key)
// and zero past `cout` or `cin`.

struct Params {
    cin: u32,
    cout: u32,
    tokens: u32,   // row length of `src`
    t0: u32,       // first token (key) of the chunk
    transpose: u32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
#if F16
@group(0) @binding(1) var dst: texture_storage_2d_array<rgba32uint, write>;
#else
@group(0) @binding(1) var dst: texture_storage_2d_array<rgba32float, write>;
#endif
@group(0) @binding(2) var<storage, read_write> overflow: atomic<u32>; // bit 0 set where a value exceeds f16 (F16 only)
@group(0) @binding(3) var<uniform> p: Params;

#if F16
const F16: bool = true;
#else
const F16: bool = false;
#endif
const F16_MAX: f32 = 65504.0;

// Weight (out o, in i); zero outside.
fn weight(o: u32, i: u32) -> f32 {
    if (o >= p.cout || i >= p.cin) {
        return 0.0;
    }
    var idx: u32;
    if (p.transpose == 1u) {
        idx = i * p.tokens + p.t0 + o;
    } else {
        idx = o * p.tokens + p.t0 + i;
    }
    return src[idx] * p.scale;
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x; // c·2 + h (f16: c)
    let q = gid.y;
    let block = gid.z;
    let per = select(4u, 8u, F16); // input channels a row of texels
    if (x >= 8u || q >= (p.cin + per - 1u) / per || block >= (p.cout + 7u) / 8u) {
        return;
    }
    let i = select(4u * q + x / 2u, 8u * q + x, F16);
    let o0 = 8u * block + select(4u * (x % 2u), 0u, F16);
    var v = vec4<f32>(0.0);
    var v1 = vec4<f32>(0.0);
    for (var e = 0u; e < 4u; e++) {
        v[e] = weight(o0 + e, i);
        if (F16) {
            v1[e] = weight(o0 + 4u + e, i);
        }
    }
    if (F16 && !(all(abs(v) <= vec4<f32>(F16_MAX)) && all(abs(v1) <= vec4<f32>(F16_MAX)))) {
        atomicOr(&overflow, 1u);
    }
    #if !F16
    textureStore(dst, vec2<u32>(x, q), block, v);
    #else
    textureStore(dst, vec2<u32>(x, q), block, vec4<u32>(pack2x16float(v.xy), pack2x16float(v.zw), pack2x16float(v1.xy), pack2x16float(v1.zw)));
    #endif
}
