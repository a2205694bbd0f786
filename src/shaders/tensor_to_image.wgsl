// [3, H, W] f32 decoder output → RGBA8 image cropped to out_w × out_h: round(clamp((x+1)/2, 0, 1)·255)
// (or round(clamp(x, 0, 1)·255) for `unit`, AutoencoderTiny's range),
// as diffusers' VaeImageProcessor.postprocess (round half to even, like numpy). Converts the global
// rows y0 .. y1 from one row band of the tensor, which holds the rows row0 .. row0 + rows.

struct Params {
    src_w: u32,
    src_h: u32,
    out_w: u32,
    out_h: u32,
    row0: u32,
    rows: u32,
    y0: u32,
    y1: u32,
    unit: u32, // 1: the input is in [0, 1], else in [−1, 1]
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<storage, read> input: array<f32>;        // [3, rows, src_w]
@group(0) @binding(1) var<storage, read_write> output: array<u32>; // [out_h, out_w] packed RGBA8
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x;
    let y = p.y0 + gid.y;
    if (x >= p.out_w || y >= min(p.y1, p.out_h)) {
        return;
    }
    let plane = p.src_w * p.rows;
    var px = 0xff000000u;
    for (var c = 0u; c < 3u; c++) {
        let raw = input[c * plane + (y - p.row0) * p.src_w + x];
        let v = clamp(select(raw / 2.0 + 0.5, raw, p.unit != 0u), 0.0, 1.0);
        px |= u32(round(v * 255.0)) << (8u * c);
    }
    output[y * p.out_w + x] = px;
}
