// Writes a block of a convolution's input row band into the rgba32float texture array that
// `conv2d_texture.wgsl` reads: texel (s + 1, t + 1, layer q) holds input channels 4q .. 4q + 3 at
// band-local row row_lo + t (t < rows), column col_lo + s (s < cols), normalised on the way (GroupNorm, then SiLU if
// asked). Everything else in the written area — the border column on each side, the row above
// and below, channels past `cin`, the slack columns on the right — is zero, which is the
// convolution's zero padding at the image's edges (rows past the packed ones are never read
// elsewhere).

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
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> input: array<f32>;        // [cin, in_rows, in_w]
@group(0) @binding(1) var<storage, read> affine: array<vec4<f32>>; // [cin]: GroupNorm (mean, a, beta, 0) (unused unless norm)
@group(0) @binding(2) var dst: texture_storage_2d_array<rgba32float, write>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let tx = gid.x;
    let ty = gid.y;
    let q = gid.z;
    if (tx >= p.tex_w || ty >= p.rows + 2u) {
        return;
    }
    var v = vec4<f32>(0.0);
    // Packed row ty − 1, column tx − 1 (both unsigned: the border wraps to huge values).
    let t = ty - 1u;
    let sy = p.row_lo + t;
    let s = tx - 1u;
    let sx = p.col_lo + s;
    if (t < p.rows && s < p.cols) {
        for (var c = 0u; c < 4u; c++) {
            let ci = q * 4u + c;
            if (ci < p.cin) {
                var x = input[(ci * p.in_rows + sy) * p.in_w + sx];
                if (p.norm != 0u) {
                    let ab = affine[ci];
                    x = (x - ab.x) * ab.y + ab.z;
                    if (p.norm == 2u) {
                        x = x / (1.0 + exp(-x));
                    }
                }
                v[c] = x;
            }
        }
    }
    textureStore(dst, vec2<u32>(tx, ty), q, v);
}
