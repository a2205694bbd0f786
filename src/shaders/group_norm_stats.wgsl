// GroupNorm statistics, first stage: partial statistics of one row band, spread over many
// workgroups. Workgroup (j, g) covers elements j·CHUNK .. (j+1)·CHUNK of group g's own rows in this
// band (channel-major) and writes their count, mean and sum of squared deviations (M2) to slot
// `slot0 + j` of group g. Sums are taken around the chunk's first value, which keeps them exact
// enough in f32 for groups whose mean is far from zero; group_norm_merge.wgsl combines the slots.
// With STORE_F16 defined, the input is held as f16 pairs of channels (`Tensor`'s layout).

struct Params {
    channels: u32,
    groups: u32,
    width: u32,
    rows: u32,     // rows held per channel in this band's buffer
    own_row: u32,  // first of the band's own rows within the buffer
    own_rows: u32, // number of the band's own rows
    slot0: u32,    // this band's first slot
    slots: u32,    // slots per group, all bands together
    aligned: u32,  // 1: the width is a multiple of 4, so `input4` is read
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(1) var<storage, read_write> partials: array<vec4<f32>>;   // [groups, slots]: (count bits, mean, M2, 0)
@group(0) @binding(3) var<uniform> p: Params;
// `input4` is `input` again, 4 values a vec4, where `aligned` (else a stand-in): on lavapipe a
// storage load is a loop over lanes with a stack round trip per value, and a vec4 load does the
// four at once. `value(c, i)` is channel c's value at index i of the buffer's words.
#if STORE_F16
@group(0) @binding(0) var<storage, read> input: array<u32>;                  // [ceil(channels / 2), rows, width]
@group(0) @binding(2) var<storage, read> input4: array<vec4<u32>>;

fn plane_of(c: u32) -> u32 {
    return c / 2u;
}

fn value(c: u32, i: u32) -> f32 {
    return unpack2x16float(input[i])[c % 2u];
}

fn value4(c: u32, i4: u32) -> vec4<f32> {
    let w = input4[i4];
    let h = c % 2u;
    return vec4<f32>(unpack2x16float(w.x)[h], unpack2x16float(w.y)[h], unpack2x16float(w.z)[h], unpack2x16float(w.w)[h]);
}
#else
@group(0) @binding(0) var<storage, read> input: array<f32>;                  // [channels, rows, width]
@group(0) @binding(2) var<storage, read> input4: array<vec4<f32>>;

fn plane_of(c: u32) -> u32 {
    return c;
}

fn value(c: u32, i: u32) -> f32 {
    return input[i];
}

fn value4(c: u32, i4: u32) -> vec4<f32> {
    return input4[i4];
}
#endif

const WG: u32 = 256u;
const CHUNK: u32 = 4096u;
var<workgroup> s1: array<f32, WG>;
var<workgroup> s2: array<f32, WG>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let g = wid.y;
    let t = lid.x;
    let per_group = p.channels / p.groups;
    let plane = p.own_rows * p.width;
    let n_all = per_group * plane;
    let start = wid.x * CHUNK;
    let n = min(CHUNK, n_all - start);
    let c0 = g * per_group;
    // Element e of the group → its place in the band's buffer.
    let c_first = c0 + start / plane;
    let shift = value(c_first, (plane_of(c_first) * p.rows + p.own_row) * p.width + start % plane);
    var a = 0.0;
    var b = 0.0;
    if (p.aligned != 0u) {
        // The plane, the chunk's start and n are multiples of 4: elements 4j .. 4j + 3 are
        // consecutive values of one channel.
        for (var i = 4u * t; i < n; i += 4u * WG) {
            let e = start + i;
            let c = c0 + e / plane;
            let d = value4(c, ((plane_of(c) * p.rows + p.own_row) * p.width + e % plane) / 4u) - vec4<f32>(shift);
            a += d.x + d.y + d.z + d.w;
            b += dot(d, d);
        }
    } else {
        for (var i = t; i < n; i += WG) {
            let e = start + i;
            let c = c0 + e / plane;
            let d = value(c, (plane_of(c) * p.rows + p.own_row) * p.width + e % plane) - shift;
            a += d;
            b += d * d;
        }
    }
    s1[t] = a;
    s2[t] = b;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (t < s) {
            s1[t] += s1[t + s];
            s2[t] += s2[t + s];
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        let nf = f32(n);
        let m = s1[0] / nf;
        partials[g * p.slots + p.slot0 + wid.x] =
            vec4<f32>(bitcast<f32>(n), shift + m, max(s2[0] - m * s1[0], 0.0), 0.0);
    }
}
