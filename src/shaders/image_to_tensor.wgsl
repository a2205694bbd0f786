// RGBA8 image → [3, H, W] f32 tensor in [−1, 1] (x/127.5 − 1), edge-replicating the image to the
// padded size (sides rounded up to multiples of 8).

struct Params {
    src_w: u32,
    src_h: u32,
    dst_w: u32,
    dst_h: u32,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;          // [src_h, src_w] packed RGBA8 (R in the low byte)
@group(0) @binding(1) var<storage, read_write> output: array<f32>; // [3, dst_h, dst_w]
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x;
    let y = gid.y;
    if (x >= p.dst_w || y >= p.dst_h) {
        return;
    }
    let px = src[min(y, p.src_h - 1u) * p.src_w + min(x, p.src_w - 1u)];
    let plane = p.dst_w * p.dst_h;
    let o = y * p.dst_w + x;
    for (var c = 0u; c < 3u; c++) {
        output[c * plane + o] = f32((px >> (8u * c)) & 255u) / 127.5 - 1.0;
    }
}
