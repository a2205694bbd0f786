// 2-D convolution over one image, K×K with K = 1 or 3: stride 1 with "same" padding, or stride 2
// with diffusers' Downsample2D (0,1,0,1) zero pad or with padding 1 (AutoencoderTiny); optional
// nearest-2× upsampled input (Upsample2D); bias, residual add and ReLU in the epilogue. Both operands are texture arrays, so every
// load is a texel fetch that brings 4 or 8 values and needs no bounds logic:
// - the input, written by `pack_input.wgsl` for each chunk of rows: texel (x + 1, row − in_row0
//   + 1, layer) holds a group of input channels at (row, x), already normalised (GroupNorm, SiLU),
//   with a zero border for the padding;
// - the weights, made at load time (`conv_weights::weight_texture`).
// One dispatch covers every block of 8 output channels (workgroup z); each invocation computes 8
// output channels × 8 horizontally adjacent pixels, in loops that `conv_wgsl.rs` writes
// out unrolled as the rest of `main`.
//
// The family (one key, `ConvForm`; defines set by `conv_wgsl::source`; where each is chosen and
// what it wins: docs/kernels.md):
// - QUAD (f32 input and weights): rgba32float texels of 4 channels; the input texel
//   (x, row, layer q) holds channels 4q .. 4q + 3, weight texel (c·2·k·k + tap·2 + h, q, block)
//   output channels 8·block + 4h .. +3 of input channel 4q + c at tap ky·k + kx.
// - otherwise 8 input channels a step, each operand read through `fetch_in` / `fetch_w` as an
//   `Oct` of 8 values: IN_F16 / W_F16 make that operand f16 (one rgba32uint texel holds 8 f16
//   values, `pack2x16float`: half the bytes and fetches), else two rgba32float texels of the
//   QUAD layouts.
// - SG: a step's weight texels fetched once per subgroup of 8 and broadcast (CPU adapters with
//   such subgroups: lavapipe); textures bound as read-only storage textures, whose loads lavapipe
//   inlines (a sampled `textureLoad` there is a per-lane mip lookup).
// - WG: a few steps' weight texels staged in workgroup memory by the workgroup and read there
//   (GPUs, whose plain form is bound by texel fetches).
// - OUT_F16: the output (and the residual) held as f16 pairs of channels (`Tensor`'s layout: plane
//   j's words hold channels 2j, 2j + 1), with values beyond f16's range reported in `overflow`.

struct Params {
    cin: u32,
    cout: u32,
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    k: u32,
    stride: u32,
    pad: u32,          // zero padding before the first row/column (1 for 3×3 "same", 0 otherwise)
    upsample: u32,     // 1: the input is read as if nearest-upsampled to 2·in_h × 2·in_w
    has_residual: u32, // 1: add `residual` to the result; 2: `output` holds the residual (added in place)
    cout4: u32,        // ceil(cout / 4)
    in_row0: u32,      // global input row at texture row 1
    out_row0: u32,     // global output row held first in `output` and `residual`
    out_rows: u32,     // output rows held per channel
    y0: u32,           // global output rows y0 .. y1 are computed by this dispatch
    y1: u32,
    x_begin: u32,      // first output column of this dispatch (a multiple of 8)
    col0: u32,         // global input column held at texel column 1
    x_end: u32,        // output columns x_end.. are another dispatch's: not stored
    relu: u32,         // 1: max(0, ·) of the result (after bias and residual)
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

#if QUAD
@group(0) @binding(0) var src: {{TEX_F32}};
@group(0) @binding(1) var wt: {{TEX_F32}};
#else
struct Oct {
    a: vec4<f32>,
    b: vec4<f32>,
}

fn unpack8(t: vec4<u32>) -> Oct {
    return Oct(vec4<f32>(unpack2x16float(t.x), unpack2x16float(t.y)),
               vec4<f32>(unpack2x16float(t.z), unpack2x16float(t.w)));
}

// Input: `fetch_in(x, row, q8)` is texel (x, row) of channels 8·q8 .. +7, read as `In`, channel c
// of which is `chan(v, c)` (so that f16 values are unpacked where they are used).
#if IN_F16
@group(0) @binding(0) var src: {{TEX_U32}};
alias In = vec4<u32>;

fn fetch_in(x: i32, y: i32, q8: i32) -> In {
    return textureLoad(src, vec2<i32>(x, y), q8{{LEVEL}});
}

fn chan(v: In, c: i32) -> f32 {
    return unpack2x16float(v[c / 2])[c % 2];
}
#else
@group(0) @binding(0) var src: {{TEX_F32}};
alias In = Oct;

fn fetch_in(x: i32, y: i32, q8: i32) -> In {
    return Oct(textureLoad(src, vec2<i32>(x, y), 2 * q8{{LEVEL}}),
               textureLoad(src, vec2<i32>(x, y), 2 * q8 + 1{{LEVEL}}));
}

fn chan(v: In, c: i32) -> f32 {
    if (c < 4) {
        return v.a[c];
    }
    return v.b[c - 4];
}
#endif

// Weights: `fetch_w(c, tap, k·k, q8, block)` is output channels 8·block .. +7 (a: 0..3, b: 4..7)
// of input channel 8·q8 + c at `tap`.
#if W_F16
// Texel (c·k·k + tap, q8, block).
@group(0) @binding(1) var wt: {{TEX_U32}};

fn fetch_w(c: i32, tap: i32, kk: i32, q8: i32, blk: i32) -> Oct {
    return unpack8(textureLoad(wt, vec2<i32>(c * kk + tap, q8), blk{{LEVEL}}));
}
#else
@group(0) @binding(1) var wt: {{TEX_F32}};

fn fetch_w(c: i32, tap: i32, kk: i32, q8: i32, blk: i32) -> Oct {
    let x = (c % 4) * 2 * kk + tap * 2;
    let q = 2 * q8 + c / 4;
    return Oct(textureLoad(wt, vec2<i32>(x, q), blk{{LEVEL}}), textureLoad(wt, vec2<i32>(x + 1, q), blk{{LEVEL}}));
}
#endif
#endif

@group(0) @binding(2) var<storage, read> bias: array<vec4<f32>>;   // [cout4]
#if OUT_F16
@group(0) @binding(3) var<storage, read> residual: array<u32>;     // [ceil(cout / 2), out_rows, out_w] (unused unless has_residual)
@group(0) @binding(4) var<storage, read_write> output: array<u32>; // [ceil(cout / 2), out_rows, out_w]
@group(0) @binding(5) var<storage, read_write> overflow: atomic<u32>; // bit 1 set where a stored value exceeds f16
@group(0) @binding(6) var<uniform> p: Params;

const F16_MAX: f32 = 65504.0;

// The word of channels oc, oc + 1 (oc even) at (oy, ox).
fn out_index(oc: u32, oy: u32, ox: u32) -> u32 {
    return (oc / 2u * p.out_rows + oy - p.out_row0) * p.out_w + ox;
}
#else
@group(0) @binding(3) var<storage, read> residual: array<f32>;     // [cout, out_rows, out_w] (unused unless has_residual)
@group(0) @binding(4) var<storage, read_write> output: array<f32>; // [cout, out_rows, out_w]
@group(0) @binding(5) var<uniform> p: Params;

fn out_index(oc: u32, oy: u32, ox: u32) -> u32 {
    return (oc * p.out_rows + oy - p.out_row0) * p.out_w + ox;
}
#endif

// The starting sums of 4 output channels at one pixel: the bias, or the bias plus the residual
// held in the output (in place).
fn init(oc4: u32, oy: u32, ox: u32, b: vec4<f32>) -> vec4<f32> {
    if (p.has_residual != 2u) {
        return b;
    }
    var v = vec4<f32>(0.0);
    if (ox < p.out_w) {
#if OUT_F16
        for (var j = 0u; j < 4u; j += 2u) {
            let oc = oc4 * 4u + j;
            if (oc < p.cout) {
                let pair = unpack2x16float(output[out_index(oc, oy, ox)]);
                v[j] = pair.x;
                v[j + 1u] = pair.y;
            }
        }
#else
        for (var j = 0u; j < 4u; j++) {
            let oc = oc4 * 4u + j;
            if (oc < p.cout) {
                v[j] = output[out_index(oc, oy, ox)];
            }
        }
#endif
    }
    return v + b;
}

fn store(oc4: u32, oy: u32, ox: u32, v: vec4<f32>) {
    if (ox >= p.x_end || oc4 >= p.cout4) {
        return;
    }
#if OUT_F16
    for (var j = 0u; j < 4u; j += 2u) {
        let oc = oc4 * 4u + j;
        if (oc < p.cout) {
            let o = out_index(oc, oy, ox);
            var r = vec2<f32>(v[j], v[j + 1u]);
            if (p.has_residual == 1u) {
                r += unpack2x16float(residual[o]);
            }
            if (p.relu != 0u) {
                r = max(r, vec2<f32>(0.0));
            }
            if (oc + 1u >= p.cout) {
                r.y = 0.0;
            }
            // Negated: NaN compares false, so it is reported too (where the driver keeps NaN).
            if (!all(abs(r) <= vec2<f32>(F16_MAX))) {
                atomicOr(&overflow, 2u);
            }
            output[o] = pack2x16float(r);
        }
    }
#else
    for (var j = 0u; j < 4u; j++) {
        let oc = oc4 * 4u + j;
        if (oc < p.cout) {
            let o = out_index(oc, oy, ox);
            var r = v[j];
            if (p.has_residual == 1u) {
                r += residual[o];
            }
            if (p.relu != 0u) {
                r = max(r, 0.0);
            }
            output[o] = r;
        }
    }
#endif
}

// Workgroup shape (x: groups of 8 pixels along a row, y: rows), a pipeline constant.
override WGX: u32 = 8u;
override WGY: u32 = 4u;

#if WG
// Weight texels staged at a time: 4 steps of a 3×3 convolution.
const WS: i32 = 288;
#if QUAD
var<workgroup> wsh: array<vec4<f32>, WS>;
#else
var<workgroup> wsh: array<Oct, WS>;
#endif

// Stages the weight texels of steps qb .. qb + qr − 1 of `groups` (n texels each) in `wsh`.
fn stage(qb: i32, n: i32, qr: i32, groups: i32, blk: i32, li: u32) {
    workgroupBarrier();
    for (var i = i32(li); i < qr * n; i += i32(WGX * WGY)) {
        let q = qb + i / n;
        let t = i % n;
        if (q < groups) {
#if QUAD
            wsh[i] = textureLoad(wt, vec2<i32>(t, q), blk{{LEVEL}});
#else
            wsh[i] = fetch_w(t / (n / 8), t % (n / 8), n / 8, q, blk);
#endif
        }
    }
    workgroupBarrier();
}

@compute @workgroup_size(WGX, WGY, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
#else
#if SG
// One-dimensional (naga takes subgroup_invocation_id only in those), laid out as WGX × WGY. (No
// `enable subgroups;`: wgpu's WGSL takes the built-ins where the device has the feature.)
@compute @workgroup_size(WGX * WGY, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
    let gid = vec3<u32>(wid.x * WGX + li % WGX, wid.y * WGY + li / WGX, wid.z);
#else
@compute @workgroup_size(WGX, WGY, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
#endif
#endif
    let ox0 = p.x_begin + gid.x * 8u;
    let oy = p.y0 + gid.y;
    let oc8 = gid.z; // output channels 8·oc8 .. 8·oc8 + 7, as two vec4
    let blk = i32(oc8);
#if SG
    // Past the output: computes on (subgroup operations need every invocation), stores nothing.
    let in_output = oy < p.y1 && ox0 < p.out_w;
    // This invocation fetches a step's weight texels j = lane, lane + 8, lane + 16.
    let lane_j = vec3<i32>(i32(lane)) + vec3<i32>(0, 8, 16);
    let wo = {{WO}};
    let wo0 = wo.x;
    let wo1 = wo.y;
    let wo2 = wo.z;
#else
#if WG
    // Past the output: stages weights and computes on (barriers need every invocation), but
    // stores nothing.
    let in_output = oy < p.y1 && ox0 < p.out_w;
#else
    if (oy >= p.y1 || ox0 >= p.out_w) {
        return;
    }
#endif
#endif
    let b0 = bias[oc8 * 2u];
    let b1 = bias[min(oc8 * 2u + 1u, p.cout4 - 1u)];
    // Texture row of global input row r: r + ty0.
    let ty0 = 1 - i32(p.in_row0);
{{BODY}}
}
