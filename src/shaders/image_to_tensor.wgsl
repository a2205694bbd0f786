// RGBA8 image → [3, H, W] f32 tensor in [−1, 1] (x/127.5 − 1) or, with `unit`, [0, 1] (x/255), edge-replicating the image to the
// padded size (sides rounded up to multiples of 8). Writes the global rows row0 .. row0 + rows
// (one row band of the tensor, halo rows included).

struct Params {
    src_w: u32,
    src_h: u32,
    dst_w: u32,
    dst_h: u32,
    row0: u32,
    rows: u32,
    unit: u32, // 1: [0, 1]
    _p1: u32,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;          // [src_h, src_w] packed RGBA8 (R in the low byte)
@group(0) @binding(1) var<storage, read_write> output: array<f32>; // [3, rows, dst_w]
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x;
    let y = p.row0 + gid.y;
    if (x >= p.dst_w || gid.y >= p.rows || y >= p.dst_h) {
        return;
    }
    let px = src[min(y, p.src_h - 1u) * p.src_w + min(x, p.src_w - 1u)];
    let plane = p.dst_w * p.rows;
    let o = gid.y * p.dst_w + x;
    for (var c = 0u; c < 3u; c++) {
        let v = f32((px >> (8u * c)) & 255u);
        output[c * plane + o] = select(v / 127.5 - 1.0, v / 255.0, p.unit != 0u);
    }
}
