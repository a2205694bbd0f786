// Writes 1×1 convolution weights made from an activation `src` ([rows, tokens]) into the texture
// layout that `conv2d_texture.wgsl` reads: texel (c·2 + h, q, block) holds output channels
// 8·block + 4h .. +3 of input channel 4q + c. Weight (out o, in i) is
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
@group(0) @binding(1) var dst: texture_storage_2d_array<rgba32float, write>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x; // c·2 + h
    let q = gid.y;
    let block = gid.z;
    if (x >= 8u || q >= (p.cin + 3u) / 4u || block >= (p.cout + 7u) / 8u) {
        return;
    }
    let i = 4u * q + x / 2u;
    var v = vec4<f32>(0.0);
    if (i < p.cin) {
        for (var e = 0u; e < 4u; e++) {
            let o = 8u * block + 4u * (x % 2u) + e;
            if (o < p.cout) {
                var idx: u32;
                if (p.transpose == 1u) {
                    idx = i * p.tokens + p.t0 + o;
                } else {
                    idx = o * p.tokens + p.t0 + i;
                }
                v[e] = src[idx] * p.scale;
            }
        }
    }
    textureStore(dst, vec2<u32>(x, q), block, v);
}
