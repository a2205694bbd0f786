// Copies global rows y0 .. y0 + n_rows of every plane from one row-band buffer to another.
// Each buffer holds [planes, rows, width] 4-byte words for the global rows row0 .. row0 + rows
// (f32 values, or pairs of f16 channels: copied as bits either way). Used to fill halo rows from
// neighbouring bands, to gather bands into one buffer and to split one into bands.

struct Params {
    planes: u32,
    width: u32,
    src_row0: u32,
    src_rows: u32,
    dst_row0: u32,
    dst_rows: u32,
    y0: u32,
    n_rows: u32,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    let c = gid.z;
    if (i >= p.n_rows * p.width || c >= p.planes) {
        return;
    }
    let y = p.y0 + i / p.width;
    let x = i % p.width;
    dst[(c * p.dst_rows + y - p.dst_row0) * p.width + x] = src[(c * p.src_rows + y - p.src_row0) * p.width + x];
}
