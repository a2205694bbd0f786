// Writes a block of a convolution's input row band into the texture array that `conv2d.wgsl`
// reads (rgba32float, 4 channels a texel) or, with F16 defined, the f16 one (rgba32uint, 8
// channels a texel as f16 pairs).
// Texel (s + 1, t + 1, layer q) holds input channels 4q .. 4q + 3 (8q .. 8q + 7) at band-local row
// row_lo + t (t < rows), column col_lo + s (s < cols), normalised on the way (GroupNorm, then
// SiLU if asked). Everything else in the written area — the border column on each side, the row
// above and below, channels past `cin`, the slack columns on the right — is zero, which is the
// convolution's zero padding at the image's edges (rows past the packed ones are never read
// elsewhere). With STORE_F16 defined, the input is held as f16 pairs of channels (`Tensor`'s
// layout: plane j's words hold channels 2j, 2j + 1).

struct Params {
    cin: u32,
    in_h: u32,
    in_w: u32,
    in_row0: u32,  // global input row held first in `input`
    in_rows: u32,  // input rows held per channel
    tex_w: u32,    // texels written per row (≥ cols + 2)
    norm: u32,     // 0: as is; 1: (x − mean)·a + beta per channel (GroupNorm); 2: then SiLU
    row_lo: u32,   // band-local first row packed (texture row 1)
    rows: u32,     // rows packed
    col_lo: u32,   // first column packed (texel column 1)
    cols: u32,     // columns packed
    aligned: u32,  // 1: in_w and col_lo are multiples of 4, so `input4` is read
}

#if STORE_F16
@group(0) @binding(0) var<storage, read> input: array<u32>;        // [ceil(cin / 2), in_rows, in_w]
#else
@group(0) @binding(0) var<storage, read> input: array<f32>;        // [cin, in_rows, in_w]
#endif
@group(0) @binding(1) var<storage, read> affine: array<vec4<f32>>; // [cin]: GroupNorm (mean, a, beta, 0) (unused unless norm)
#if F16
@group(0) @binding(2) var dst: texture_storage_2d_array<rgba32uint, write>;
#else
@group(0) @binding(2) var dst: texture_storage_2d_array<rgba32float, write>;
#endif
@group(0) @binding(3) var<storage, read_write> overflow: atomic<u32>; // bit 0 set where a value exceeds f16 (F16 only)
// `input` again, 4 columns a value, where `aligned` (else a stand-in): on lavapipe a storage load
// is a loop over lanes with a stack round trip per value, and a vec4 load does the four at once.
#if STORE_F16
@group(0) @binding(4) var<storage, read> input4: array<vec4<u32>>;
#else
@group(0) @binding(4) var<storage, read> input4: array<vec4<f32>>;
#endif
@group(0) @binding(5) var<uniform> p: Params;

// The f16 form (F16 defined) reports values beyond f16's range in `overflow`.
#if F16
const F16: bool = true;
#else
const F16: bool = false;
#endif
const F16_MAX: f32 = 65504.0;

// Packed columns per invocation: texels 4k + 1 .. 4k + 4 of invocation k (and texel 0 of the
// first), read as one vec4 per channel where `aligned`.
const PX: u32 = 4u;

#if STORE_F16
// Channels ci, ci + 1 (ci even) at band-local row sy, packed columns s0 .. s0 + 3, normalised;
// zero past `cin` and past the packed columns.
fn pair(ci: u32, sy: u32, s0: u32) -> array<vec4<f32>, 2> {
    var x: array<vec4<f32>, 2>;
    if (ci >= p.cin) {
        return x;
    }
    let base = (ci / 2u * p.in_rows + sy) * p.in_w + p.col_lo + s0;
    var words = vec4<u32>(0u);
    if (p.aligned != 0u) {
        words = input4[base / 4u];
    } else {
        for (var i = 0u; i < PX; i++) {
            if (s0 + i < p.cols) {
                words[i] = input[base + i];
            }
        }
    }
    let a = unpack2x16float(words.x);
    let b = unpack2x16float(words.y);
    let c = unpack2x16float(words.z);
    let d = unpack2x16float(words.w);
    x[0] = normed(ci, vec4<f32>(a.x, b.x, c.x, d.x), s0);
    x[1] = normed(ci + 1u, vec4<f32>(a.y, b.y, c.y, d.y), s0);
    return x;
}
#else
// Channel ci at band-local row sy, packed columns s0 .. s0 + 3, normalised; zero past `cin` and
// past the packed columns.
fn columns(ci: u32, sy: u32, s0: u32) -> vec4<f32> {
    if (ci >= p.cin) {
        return vec4<f32>(0.0);
    }
    let base = (ci * p.in_rows + sy) * p.in_w + p.col_lo + s0;
    var x = vec4<f32>(0.0);
    if (p.aligned != 0u) {
        x = input4[base / 4u];
    } else {
        for (var i = 0u; i < PX; i++) {
            if (s0 + i < p.cols) {
                x[i] = input[base + i];
            }
        }
    }
    return normed(ci, x, s0);
}
#endif

// Channel ci's values `raw` at packed columns s0 .. s0 + 3, normalised; zero past `cin` and past
// the packed columns.
fn normed(ci: u32, raw: vec4<f32>, s0: u32) -> vec4<f32> {
    if (ci >= p.cin) {
        return vec4<f32>(0.0);
    }
    var x = raw;
    if (p.norm != 0u) {
        let ab = affine[ci];
        x = (x - ab.x) * ab.y + ab.z;
        if (p.norm == 2u) {
            x = x / (1.0 + exp(-x));
        }
    }
    return select(vec4<f32>(0.0), x, vec4<u32>(s0) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.cols));
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let k = gid.x;
    let ty = gid.y;
    let q = gid.z;
    let tx0 = k * PX + 1u;
    if (tx0 >= p.tex_w || ty >= p.rows + 2u) {
        return;
    }
    // a[c]: channel 4q + c (f16: 8q + c) at the 4 columns; f16: b[c], channel 8q + 4 + c.
    var a: array<vec4<f32>, 4>;
    var b: array<vec4<f32>, 4>;
    // Packed row ty − 1 (unsigned: the border wraps to a huge value).
    let t = ty - 1u;
    if (t < p.rows) {
        let sy = p.row_lo + t;
        let c0 = q * select(4u, 8u, F16);
#if STORE_F16
        for (var c = 0u; c < 4u; c += 2u) {
            let pa = pair(c0 + c, sy, k * PX);
            a[c] = pa[0];
            a[c + 1u] = pa[1];
            if (F16) {
                let pb = pair(c0 + 4u + c, sy, k * PX);
                b[c] = pb[0];
                b[c + 1u] = pb[1];
            }
        }
#else
        for (var c = 0u; c < 4u; c++) {
            a[c] = columns(c0 + c, sy, k * PX);
            if (F16) {
                b[c] = columns(c0 + 4u + c, sy, k * PX);
            }
        }
#endif
    }
    if (k == 0u) {
        #if !F16
        textureStore(dst, vec2<u32>(0u, ty), q, vec4<f32>(0.0));
        #else
        textureStore(dst, vec2<u32>(0u, ty), q, vec4<u32>(0u));
        #endif
    }
    for (var i = 0u; i < PX; i++) {
        let tx = tx0 + i;
        if (tx < p.tex_w) {
            let v = vec4<f32>(a[0][i], a[1][i], a[2][i], a[3][i]);
            let v1 = vec4<f32>(b[0][i], b[1][i], b[2][i], b[3][i]);
            // Negated: NaN compares false, so it is reported too (where the driver keeps NaN).
            if (F16 && !(all(abs(v) <= vec4<f32>(F16_MAX)) && all(abs(v1) <= vec4<f32>(F16_MAX)))) {
                atomicOr(&overflow, 1u);
            }
            #if !F16
            textureStore(dst, vec2<u32>(tx, ty), q, v);
            #else
            textureStore(dst, vec2<u32>(tx, ty), q, vec4<u32>(pack2x16float(v.xy), pack2x16float(v.zw), pack2x16float(v1.xy), pack2x16float(v1.zw)));
            #endif
        }
    }
}
