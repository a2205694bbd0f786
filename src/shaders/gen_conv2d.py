"""Writes the convolution kernels with their register tile unrolled:

    python3 src/shaders/gen_conv2d.py storage > src/shaders/conv2d.wgsl
    python3 src/shaders/gen_conv2d.py uniform > src/shaders/conv2d_uniform.wgsl
    python3 src/shaders/gen_conv2d.py texture > src/shaders/conv2d_texture.wgsl
    python3 src/shaders/gen_conv2d.py oct > src/shaders/conv2d_texture_oct.wgsl
    python3 src/shaders/gen_conv2d.py texture_sg > src/shaders/conv2d_texture_sg.wgsl
    python3 src/shaders/gen_conv2d.py oct_sg > src/shaders/conv2d_texture_oct_sg.wgsl
    python3 src/shaders/gen_conv2d.py texture_wg > src/shaders/conv2d_texture_wg.wgsl
    python3 src/shaders/gen_conv2d.py oct_wg > src/shaders/conv2d_texture_oct_wg.wgsl

Both read weights laid out per block of 8 output channels (see `relayout` in
src/kernels/conv2d.rs). `storage` binds all weights as one storage buffer and covers every block
in one dispatch (workgroup z = block). `uniform` binds a 64 KiB window of one block's weights as
a uniform buffer and runs one dispatch per (block, chunk of input channels), accumulating into
the output: on CPU drivers (lavapipe) a uniform load is a scalar load, many times cheaper than a
storage load, which is a per-lane gather. `texture` reads its input from an rgba32float texture
array written by `pack_input.wgsl` (4 input channels a texel, already normalised, with a zero
border) and its weights from a texture made at load time, every block in one dispatch: on lavapipe
a texel fetch costs about what one storage load costs but brings 4 values, and needs no bounds or
padding logic (3.5–4× the uniform variant on 64² layers; weights from uniform windows instead of a
texture measured 0.88×, with 40× the dispatches).

P (pixels per invocation) and the workgroup shape must match `PIXELS` and `WORKGROUP` (`TEXTURE_`
for `texture`) in src/kernels/conv2d.rs. Measured on lavapipe (2 cores) with `cargo bench --bench
kernels`: storage/uniform: P=16 with 16×4 workgroups beat P=8 and other shapes. texture: P=8 with
8×4 beat P=16 (0.6×, register spills), 4×8 (0.35×), 16×2 and 8×8 (0.7–0.8×); workgroups spread
over blocks of output channels, where lanes fetch from different texture layers, run 8× slower.
texture_wg / oct_wg (weights in workgroup memory), on an H100 at 1024²: P=16 decoded in the same
time as P=8 in f32 and took 1.26× as long in f16 (0.471 s against 0.373), so they keep P=8.
"""
import re
import sys

VARIANT = sys.argv[1] if len(sys.argv) > 1 else "storage"
assert VARIANT in ("storage", "uniform", "texture", "texture_sg", "texture_wg", "oct", "oct_sg", "oct_wg"), VARIANT
P, WGX, WGY = (16, 16, 4) if VARIANT in ("storage", "uniform") else (8, 8, 4)
WINDOW = 4096  # vec4 in a uniform window: 64 KiB, WebGPU's default maxUniformBufferBindingSize

PARAMS = """struct Params {
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
    in_row0: u32,      // global input row held first in `input` (row bands: see copy_rows.wgsl)
    in_rows: u32,      // input rows held per channel
    out_row0: u32,     // global output row held first in `output` and `residual`
    out_rows: u32,     // output rows held per channel
    y0: u32,           // global output rows y0 .. y1 are computed by this dispatch
    y1: u32,
    norm: u32,         // 0: input as is; 1: (x − mean)·a + beta per input channel (GroupNorm); 2: then SiLU
    wblock: u32,       // vec4 of weights per block of 8 output channels (storage variant)
    oc8_base: u32,     // first block of 8 output channels of this dispatch
    ci0: u32,          // input channels ci0 .. ci1 are summed by this dispatch
    ci1: u32,
    accumulate: u32,   // 1: add to the output's values (a later chunk of input channels) instead of the bias
    x_begin: u32,      // first output column of this dispatch (texture variant; a multiple of 8)
    col0: u32,         // global input column held at texel column 1 (texture variant)
    x_end: u32,        // output columns x_end.. are another dispatch's: not stored
    _pad1: u32,
}

"""

if VARIANT == "storage":
    WEIGHT_DECL = "@group(0) @binding(1) var<storage, read> weight: array<vec4<f32>>; // [blocks][cin][k·k][2]: 8 output channels as two vec4"
    HEAD = "one dispatch covers every block of 8 output channels (workgroup z)"
else:
    WEIGHT_DECL = f"@group(0) @binding(1) var<uniform> weight: array<vec4<f32>, {WINDOW}>; // one block's [ci0..ci1][k·k][2] window"
    HEAD = "one dispatch per block of 8 output channels and chunk of input channels, weights in a uniform window"

acc_decl = "\n".join(f"    var lo{j} = init(oc8 * 2u, oy, ox0 + {j}u, b0);\n    var hi{j} = init(oc8 * 2u + 1u, oy, ox0 + {j}u, b1);" for j in range(P))
rows = "\n".join(f"                let r{i} = tap(base, sy, x0 + {i}, lw, ab);" for i in range(P + 2))
wts = "\n".join(f"                let w{kx}a = weight[wrow + {2 * kx}u];\n                let w{kx}b = weight[wrow + {2 * kx + 1}u];" for kx in range(3))
fm = "\n".join(f"                lo{j} += w0a * r{j} + w1a * r{j+1} + w2a * r{j+2};\n                hi{j} += w0b * r{j} + w1b * r{j+1} + w2b * r{j+2};" for j in range(P))
taps = "\n".join(f"                    let x{j} = tap(base, sy, ix + {j} * step, lw, ab);\n                    lo{j} += w0 * x{j};\n                    hi{j} += w1 * x{j};" for j in range(P))
stores = "\n".join(f"    store(oc8 * 2u, oy, ox0 + {j}u, lo{j});\n    store(oc8 * 2u + 1u, oy, ox0 + {j}u, hi{j});" for j in range(P))

HELPERS = """fn out_index(oc: u32, oy: u32, ox: u32) -> u32 {
    return (oc * p.out_rows + oy - p.out_row0) * p.out_w + ox;
}

// The starting sums of 4 output channels at one pixel: the bias, or what earlier chunks of input
// channels left in the output, or the bias plus the residual held in the output (in place).
fn init(oc4: u32, oy: u32, ox: u32, b: vec4<f32>) -> vec4<f32> {
    if (p.accumulate == 0u && p.has_residual != 2u) {
        return b;
    }
    var v = vec4<f32>(0.0);
    if (ox < p.out_w) {
        for (var j = 0u; j < 4u; j++) {
            let oc = oc4 * 4u + j;
            if (oc < p.cout) {
                v[j] = output[out_index(oc, oy, ox)];
            }
        }
    }
    if (p.accumulate == 0u) {
        v += b;
    }
    return v;
}

fn store(oc4: u32, oy: u32, ox: u32, v: vec4<f32>) {
    if (ox >= p.x_end || oc4 >= p.cout4) {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        let oc = oc4 * 4u + j;
        if (oc < p.cout) {
            let o = out_index(oc, oy, ox);
            var r = v[j];
            if (p.has_residual == 1u) {
                r += residual[o];
            }
            output[o] = r;
        }
    }
}

"""


def sg_frame(sg, stores, offsets):
    """The entry point, the guard and the stores of a texture kernel; with `sg`, for sharing
    weight fetches across subgroups of 8: every invocation runs the loops (subgroup operations
    need all of them) and only those inside the output store, and `wo0..wo2` are the texel
    offsets (`offsets`, of `lane_j`) of the three weight texels each invocation fetches a step."""
    if not sg:
        entry = "@compute @workgroup_size(WGX, WGY, 1)\nfn main(@builtin(global_invocation_id) gid: vec3<u32>) {"
        guard = """    if (oy >= p.y1 || ox0 >= p.out_w) {
        return;
    }"""
        return entry, guard, stores
    # A one-dimensional workgroup (naga takes subgroup_invocation_id only in those), laid out
    # as WGX × WGY.
    entry = """@compute @workgroup_size(WGX * WGY, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
    let gid = vec3<u32>(wid.x * WGX + li % WGX, wid.y * WGY + li / WGX, wid.z);"""
    guard = f"""    // Past the output: computes on (whatever its texels hold) but stores nothing.
    let in_output = oy < p.y1 && ox0 < p.out_w;
    // This invocation fetches a step's weight texels j = lane, lane + 8, lane + 16.
    let lane_j = vec3<i32>(i32(lane)) + vec3<i32>(0, 8, 16);
    let wo = {offsets};
    let wo0 = wo.x;
    let wo1 = wo.y;
    let wo2 = wo.z;"""
    return entry, guard, guarded(stores)


def guarded(stores):
    """`stores` made only by invocations inside the output (`in_output`)."""
    return "    if (in_output) {\n" + "\n".join("    " + l for l in stores.split("\n")) + "\n    }"


SG_HEAD = """// Subgroup form, for adapters with subgroups of 8 invocations (lavapipe): in the 3×3 stride-1
// paths, the 24 weight texels of a step — the same for every invocation of a workgroup — are
// fetched 3 per invocation and broadcast across the subgroup, rather than fetched 24 times by
// every invocation (in the 1×1 path, a quad's 8 texels one per invocation). (No `enable subgroups;`: wgpu's WGSL takes subgroup built-ins without it,
// where the device has the feature.) Both textures are bound as read-only storage textures: on
// lavapipe (Mesa 22.3) a sampled texture's `textureLoad` is a call that looks up the mip level's
// strides lane by lane (about 100 instructions for 8 lanes), an image load about 45 inline
// (1.3× on a 256-channel 64² convolution).
//
"""

# `textureLoad(t, coords, layer, 0)` of a sampled texture array: `coords` has no nested
# parentheses, `layer` none at all.
SAMPLED_LOAD = re.compile(r"textureLoad\((src|wt), (vec2<i32>\([^()]*\)), ([^(),]*), 0\)")


def emit(sg, text):
    """Prints a kernel; in the subgroup form, with its textures bound as read-only storage
    textures (no mip level argument)."""
    if sg:
        loads = text.count("textureLoad(")
        text, n = SAMPLED_LOAD.subn(r"textureLoad(\1, \2, \3)", text)
        assert n == loads, (n, loads)
        for kind, fmt in (("f32", "rgba32float"), ("u32", "rgba32uint")):
            text = text.replace(f": texture_2d_array<{kind}>;", f": texture_storage_2d_array<{fmt}, read>;")
        assert "texture_2d_array" not in text
    print(text)


def stride2_branch(steps, weight_offset, loads, products):
    """The subgroup kernels' stride-2 3×3 branch: `steps` groups of input channels, each row
    `ky`'s weights at `weight_offset`, then its `loads` and `products`."""
    return f"""    }} else if (p.k == 3u && p.stride == 2u && p.upsample == 0u) {{
        let x0 = i32(ox0) * 2 - i32(p.pad) + 1 - i32(p.col0);
        for (var q = 0; q < {steps}; q++) {{
            for (var ky = 0; ky < 3; ky++) {{
                let ty = i32(oy) * 2 + ky - i32(p.pad) + ty0;
                {weight_offset}
{loads}
{products}
            }}
        }}
"""


WS = 288  # weight texels staged at a time by the workgroup forms: 4 groups of a 3×3 convolution

WG_HEAD = """// Workgroup form, for GPUs: the weight texels of a few groups of input channels (the same for
// every invocation of a workgroup) are staged in workgroup memory once per workgroup and read
// there, a broadcast read, instead of being fetched by every invocation through the texture
// unit, which is left the input texels alone (the plain form makes 2.4 weight fetches per
// input fetch; on an H100 it is bound by texel fetches).
//
"""


def wg_frame(elem, load, stores):
    """The workgroup forms' weight stage in workgroup memory (`elem` texels, each loaded as
    `load` of texel `t` of group `q`), and their entry point, guard and `stores`: every
    invocation reaches the barriers, only those inside the output store."""
    decl = f"""const WS: i32 = {WS};
var<workgroup> wsh: array<{elem}, WS>;

// Stages the weight texels of groups qb .. qb + qr − 1 of `groups` (n texels each) in `wsh`.
fn stage(qb: i32, n: i32, qr: i32, groups: i32, blk: i32, li: u32) {{
    workgroupBarrier();
    for (var i = i32(li); i < qr * n; i += i32(WGX * WGY)) {{
        let q = qb + i / n;
        let t = i % n;
        if (q < groups) {{
            wsh[i] = {load};
        }}
    }}
    workgroupBarrier();
}}

"""
    entry = """@compute @workgroup_size(WGX, WGY, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) li: u32) {"""
    guard = """    // Past the output: stages weights and computes on, but stores nothing.
    let in_output = oy < p.y1 && ox0 < p.out_w;"""
    return decl, entry, guard, guarded(stores)


def wg_loop(wg, groups, n):
    """The loop over groups of input channels `q` (with `wg`, in stages of WS / n groups, the
    stage's texel of group q at `wq`), and what closes it beyond the loop's own brace."""
    if not wg:
        return f"for (var q = 0; q < {groups}; q++) {{", ""
    return (f"""let n = {n};
        let qr = WS / n;
        for (var qb = 0; qb < {groups}; qb += qr) {{
            stage(qb, n, qr, {groups}, blk, li);
            for (var q = qb; q < min(qb + qr, {groups}); q++) {{
            let wq = (q - qb) * n;""", "\n        }")


def texture_kernel(sg=False, wg=False):
    """The `texture` variant: input from the texture written by `pack_input.wgsl`, weights from the
    texture made at load time (`weight_texture` in src/kernels/pack_input.rs). With `sg`
    (`texture_sg`), the 3×3 stride-1 paths fetch each of a step's 24 weight texels once per
    subgroup of 8 and broadcast them, instead of once per invocation."""
    def W(i):
        if sg:
            # Texel j = c·6 + kx·2 + h of the step (x = wx + j + 12·c) was fetched by lane j % 8
            # into wl{j / 8}.
            c, rem = divmod(i, 18)
            j = c * 6 + rem
            return f"subgroupBroadcast(wl{j // 8}, {j % 8}u)"
        if wg:
            return f"wsh[wq + wx + {i}]"
        return f"textureLoad(wt, vec2<i32>(wx + {i}, q), blk, 0)"

    # The three weight texels each lane fetches per 3×3 step (sg only).
    sg_fetch = "\n".join(f"                let wl{k} = textureLoad(wt, vec2<i32>(wx + wo{k}, q), blk, 0);" for k in range(3)) + "\n" if sg else ""

    def Wg(c, h):
        if wg:
            return f"wsh[wq + wx + {c} * kk2 + {h}]"
        return f"textureLoad(wt, vec2<i32>(wx + {c} * kk2 + {h}, q), blk, 0)"

    def fmas(r):
        # 8 output channels (two vec4) × P pixels × 3 taps × 4 input channels of one texel.
        out = []
        if sg:
            # Pixel by pixel: one pixel's 8 sums stay in registers through its 12 products
            # (on lavapipe, 1.4× over tap by tap, which keeps every sum on the stack).
            for kx in range(3):
                for c, comp in enumerate("xyzw"):
                    out.append(f"                let wa{kx}{comp} = {W(c * 18 + kx * 2)};\n"
                               f"                let wb{kx}{comp} = {W(c * 18 + kx * 2 + 1)};")
            for j in range(P):
                for kx in range(3):
                    for comp in "xyzw":
                        out.append(f"                lo{j} = fma(wa{kx}{comp}, vec4<f32>({r(j, kx)}.{comp}), lo{j});\n"
                                   f"                hi{j} = fma(wb{kx}{comp}, vec4<f32>({r(j, kx)}.{comp}), hi{j});")
            return "\n".join(out)
        for kx in range(3):
            for c, comp in enumerate("xyzw"):
                out.append(f"                let wa{kx}{comp} = {W(c * 18 + kx * 2)};\n"
                           f"                let wb{kx}{comp} = {W(c * 18 + kx * 2 + 1)};")
                for j in range(P):
                    out.append(f"                lo{j} = fma(wa{kx}{comp}, vec4<f32>({r(j, kx)}.{comp}), lo{j});\n"
                               f"                hi{j} = fma(wb{kx}{comp}, vec4<f32>({r(j, kx)}.{comp}), hi{j});")
        return "\n".join(out)

    same_rows = "\n".join(f"                let r{t} = textureLoad(src, vec2<i32>(x0 + {t}, ty), q, 0);" for t in range(P + 2))
    # Upsampled: logical columns ox0 − 1 + t read source column (ox0 − 1 + t) >> 1 (ox0 is even).
    up_rows = "\n".join(f"                let s{u} = textureLoad(src, vec2<i32>(sx0 + {u}, ty), q, 0);" for u in range(P // 2 + 2))
    # Stride 2 (sg only): pixel j's tap kx reads texel x0 + 2j + kx, so 2P + 1 texels a step.
    down_rows = "\n".join(f"                let d{t} = textureLoad(src, vec2<i32>(x0 + {t}, ty), q, 0);" for t in range(2 * P + 1))
    down = stride2_branch("quads", "let wx = ky * 6;", sg_fetch + down_rows, fmas(lambda j, kx: f"d{2 * j + kx}")) if sg else ""
    generic = []
    for c, comp in enumerate("xyzw"):
        generic.append(f"                    let wa{comp} = {Wg(c, 0)};\n"
                       f"                    let wb{comp} = {Wg(c, 1)};")
    for j in range(P):
        generic.append(f"                    let v{j} = textureLoad(src, vec2<i32>(tx + {j} * step, ty), q, 0);")
        for comp in "xyzw":
            generic.append(f"                    lo{j} = fma(wa{comp}, vec4<f32>(v{j}.{comp}), lo{j});\n"
                           f"                    hi{j} = fma(wb{comp}, vec4<f32>(v{j}.{comp}), hi{j});")
    # 1×1, stride 1: P input texels and 8 weight texels per quad of input channels.
    one = []
    for j in range(P):
        one.append(f"                let v{j} = textureLoad(src, vec2<i32>(x0 + {j}, ty), q, 0);")
    if sg:
        # The 8 weight texels of a quad, one per lane, broadcast; then pixel by pixel, so that
        # one pixel's 8 sums stay in registers (on lavapipe: 1.4× over tap by tap on 3×3).
        one.append("                let wl = textureLoad(wt, vec2<i32>(lane_j.x, q), blk, 0);")
        for c, comp in enumerate("xyzw"):
            one.append(f"                let wa{comp} = subgroupBroadcast(wl, {2 * c}u);\n"
                       f"                let wb{comp} = subgroupBroadcast(wl, {2 * c + 1}u);")
        for j in range(P):
            for comp in "xyzw":
                one.append(f"                lo{j} = fma(wa{comp}, vec4<f32>(v{j}.{comp}), lo{j});\n"
                           f"                hi{j} = fma(wb{comp}, vec4<f32>(v{j}.{comp}), hi{j});")
    for c, comp in enumerate("xyzw"):
        if sg:
            break
        if wg:
            one.append(f"                let wa{comp} = wsh[wq + {2 * c}];\n"
                       f"                let wb{comp} = wsh[wq + {2 * c + 1}];")
        else:
            one.append(f"                let wa{comp} = textureLoad(wt, vec2<i32>({2 * c}, q), blk, 0);\n"
                       f"                let wb{comp} = textureLoad(wt, vec2<i32>({2 * c + 1}, q), blk, 0);")
        for j in range(P):
            one.append(f"                lo{j} = fma(wa{comp}, vec4<f32>(v{j}.{comp}), lo{j});\n"
                       f"                hi{j} = fma(wb{comp}, vec4<f32>(v{j}.{comp}), hi{j});")
    acc_decl = "\n".join(f"    var lo{j} = init(oc8 * 2u, oy, ox0 + {j}u, b0);\n    var hi{j} = init(oc8 * 2u + 1u, oy, ox0 + {j}u, b1);" for j in range(P))
    stores = "\n".join(f"    store(oc8 * 2u, oy, ox0 + {j}u, lo{j});\n    store(oc8 * 2u + 1u, oy, ox0 + {j}u, hi{j});" for j in range(P))
    # Texel of step weight j = c·6 + kx·2 + h: wx + j + 12·c.
    entry, guard, stores = sg_frame(sg, stores, "lane_j + 12 * (lane_j / vec3<i32>(6))")
    head = SG_HEAD if sg else ""
    decl = ""
    if wg:
        head = WG_HEAD
        decl, entry, guard, stores = wg_frame("vec4<f32>", "textureLoad(wt, vec2<i32>(t, q), blk, 0)", stores)
    (q3, c3), (q1, c1), (qg, cg) = (wg_loop(wg, "quads", n) for n in ("72", "8", "4 * kk2"))
    emit(sg, f"""{head}// 2-D convolution over one image, K×K with K = 1 or 3: stride 1 with "same" padding, or stride 2
// with diffusers' Downsample2D (0,1,0,1) zero pad; optional nearest-2× upsampled input (Upsample2D);
// bias and residual add in the epilogue. Variant "texture": both operands are rgba32float texture
// arrays, so that every load is a texel fetch that brings 4 values and needs no bounds logic:
// - the input, written by `pack_input.wgsl`: texel (x + 1, row − in_row0 + 1, layer ci/4) holds
//   input channels ci..ci+3 at (row, x), already normalised (GroupNorm, SiLU), with a zero border
//   for the padding;
// - the weights, made at load time: texel (c·2·k·k + tap·2 + h, q, block) holds output channels
//   8·block + 4h .. +3 of input channel 4q + c at tap ky·k + kx.
// One dispatch covers every block of 8 output channels (workgroup z). On lavapipe a texel fetch
// costs about what one storage load costs (a per-lane loop) but brings 4 values.
//
// Each invocation computes 8 output channels × {P} horizontally adjacent pixels.
// This file is generated by `src/shaders/gen_conv2d.py`.

{PARAMS}@group(0) @binding(0) var src: texture_2d_array<f32>;
@group(0) @binding(1) var wt: texture_2d_array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<vec4<f32>>;   // [cout4]
@group(0) @binding(3) var<storage, read> residual: array<f32>;     // [cout, out_rows, out_w] (unused unless has_residual)
@group(0) @binding(4) var<storage, read_write> output: array<f32>; // [cout, out_rows, out_w]
@group(0) @binding(5) var<uniform> p: Params;

{HELPERS}// Workgroup shape, set per adapter by the launcher (`Kernels::texture_workgroup`).
override WGX: u32 = {WGX}u;
override WGY: u32 = {WGY}u;

{decl}{entry}
    let ox0 = p.x_begin + gid.x * {P}u;
    let oy = p.y0 + gid.y;
    let oc8 = gid.z; // output channels 8·oc8 .. 8·oc8 + 7, as two vec4
    let blk = i32(oc8);
{guard}
    let b0 = bias[oc8 * 2u];
    let b1 = bias[min(oc8 * 2u + 1u, p.cout4 - 1u)];
{acc_decl}
    // Texture row of global input row r: r + ty0.
    let ty0 = 1 - i32(p.in_row0);
    let quads = i32((p.cin + 3u) / 4u);
    if (p.k == 3u && p.stride == 1u && p.upsample == 0u) {{
        let x0 = i32(ox0) - i32(p.col0);
        {q3}
            for (var ky = 0; ky < 3; ky++) {{
                let ty = i32(oy) + ky - 1 + ty0;
                let wx = ky * 6;
{sg_fetch}{same_rows}
{fmas(lambda j, kx: f"r{j + kx}")}
            }}
        }}{c3}
    }} else if (p.k == 3u && p.stride == 1u) {{
        let sx0 = i32(ox0 / 2u) - i32(p.col0);
        {q3}
            for (var ky = 0; ky < 3; ky++) {{
                let ty = ((i32(oy) + ky - 1) >> 1u) + ty0;
                let wx = ky * 6;
{sg_fetch}{up_rows}
{fmas(lambda j, kx: f"s{(j + kx + 1) // 2}")}
            }}
        }}{c3}
    }} else if (p.k == 1u && p.stride == 1u && p.upsample == 0u) {{
        let x0 = i32(ox0) + 1 - i32(p.col0);
        let ty = i32(oy) + ty0;
        {q1}
{chr(10).join(one)}
        }}{c1}
{down}    }} else {{
        let step = i32(p.stride);
        let pad = i32(p.pad);
        let kk2 = i32(p.k * p.k * 2u);
        {qg}
            for (var ky = 0; ky < i32(p.k); ky++) {{
                let ty = i32(oy) * step + ky - pad + ty0;
                for (var kx = 0; kx < i32(p.k); kx++) {{
                    let tx = i32(ox0) * step + kx - pad + 1 - i32(p.col0);
                    let wx = (ky * i32(p.k) + kx) * 2;
{chr(10).join(generic)}
                }}
            }}
        }}{cg}
    }}
{stores}
}}""")


def oct_kernel(sg=False, wg=False):
    """The `oct` variant: the texture kernel over 8 input channels at a time, each operand read
    through `fetch_in` / `fetch_w`, which return 8 values (`Oct`). The I/O section defines them for
    f16 operands — one rgba32uint texel holds 8 f16 values (`pack2x16float`) — and the launcher
    swaps in f32 ones (two rgba32float texels, the `texture` variant's layouts) for either operand:
    see `conv2d_texture_oct_io.wgsl`. With `sg` (`oct_sg`, f16 weights only), the 3×3 paths
    share weight fetches across subgroups of 8 as `texture_sg` does."""
    def comp(c):
        return ("a" if c < 4 else "b") + "." + "xyzw"[c % 4]

    def fmas(r, taps, tap0, kk):
        # 8 output channels × P pixels × `taps` taps × 8 input channels of one Oct.
        out = []
        if sg:
            # 1×1: lane c fetches input channel c's texel. Then pixel by pixel, as `texture_sg`.
            if taps == 1:
                out.append("                let wl = textureLoad(wt, vec2<i32>(lane_j.x, q), blk, 0);")
            for kx in range(taps):
                for c in range(8):
                    # 3×3: step weight j = c·3 + kx (texel tap0 + j + 6·c) was fetched by lane j % 8.
                    j = c * 3 + kx if taps == 3 else c
                    src = f"wl{j // 8}" if taps == 3 else "wl"
                    out.append(f"                let w{kx}_{c} = unpack8(subgroupBroadcast({src}, {j % 8}u));")
            for j in range(P):
                for kx in range(taps):
                    for c in range(8):
                        v = f"vec4<f32>(chan({r(j, kx)}, {c}))"
                        out.append(f"                lo{j} = fma(w{kx}_{c}.a, {v}, lo{j});\n"
                                   f"                hi{j} = fma(w{kx}_{c}.b, {v}, hi{j});")
            return "\n".join(out)
        for kx in range(taps):
            for c in range(8):
                w = f"wsh[wq + {c} * {kk} + {tap0} + {kx}]" if wg else f"fetch_w({c}, {tap0} + {kx}, {kk}, q, blk)"
                out.append(f"                let w{kx}_{c} = {w};")
                for j in range(P):
                    v = f"vec4<f32>(chan({r(j, kx)}, {c}))"
                    out.append(f"                lo{j} = fma(w{kx}_{c}.a, {v}, lo{j});\n"
                               f"                hi{j} = fma(w{kx}_{c}.b, {v}, hi{j});")
        return "\n".join(out)

    same_rows = "\n".join(f"                let r{t} = fetch_in(x0 + {t}, ty, q);" for t in range(P + 2))
    up_rows = "\n".join(f"                let s{u} = fetch_in(sx0 + {u}, ty, q);" for u in range(P // 2 + 2))
    one = [f"                let v{j} = fetch_in(x0 + {j}, ty, q);" for j in range(P)]
    one.append(fmas(lambda j, kx: f"v{j + kx}", 1, 0, 1))
    # Stride 2 (sg only): pixel j's tap kx reads texel x0 + 2j + kx, so 2P + 1 texels a step.
    down_rows = "\n".join(f"                let d{t} = fetch_in(x0 + {t}, ty, q);" for t in range(2 * P + 1))
    generic = [f"                    let v{j} = fetch_in(tx + {j} * step, ty, q);" for j in range(P)]
    for c in range(8):
        w = f"wsh[wq + {c} * kk + tap]" if wg else f"fetch_w({c}, tap, kk, q, blk)"
        generic.append(f"                    let w{c} = {w};")
        for j in range(P):
            generic.append(f"                    lo{j} = fma(w{c}.a, vec4<f32>(chan(v{j}, {c})), lo{j});\n"
                           f"                    hi{j} = fma(w{c}.b, vec4<f32>(chan(v{j}, {c})), hi{j});")
    acc_decl = "\n".join(f"    var lo{j} = init(oc8 * 2u, oy, ox0 + {j}u, b0);\n    var hi{j} = init(oc8 * 2u + 1u, oy, ox0 + {j}u, b1);" for j in range(P))
    stores = "\n".join(f"    store(oc8 * 2u, oy, ox0 + {j}u, lo{j});\n    store(oc8 * 2u + 1u, oy, ox0 + {j}u, hi{j});" for j in range(P))
    entry, guard, stores = sg_frame(sg, stores, "lane_j + 6 * (lane_j / vec3<i32>(3))")
    head = SG_HEAD + "// This form reads f16 weights only: its fetches are rgba32uint texels.\n//\n" if sg else ""
    decl = ""
    if wg:
        head = WG_HEAD + "// The stage holds the weights unpacked (`Oct`), of either format.\n//\n"
        decl, entry, guard, stores = wg_frame("Oct", "fetch_w(t / (n / 8), t % (n / 8), n / 8, q, blk)", stores)
    (q3, c3), (q1, c1), (qg, cg) = (wg_loop(wg, "octs", n) for n in ("72", "8", "8 * kk"))
    # The three raw weight texels each lane fetches per 3×3 step (sg only).
    sg_fetch = "\n".join(f"                let wl{k} = textureLoad(wt, vec2<i32>(tap0 + wo{k}, q), blk, 0);" for k in range(3)) + "\n" if sg else ""
    down = stride2_branch("octs", "let tap0 = ky * 3;", sg_fetch + down_rows, fmas(lambda j, kx: f"d{2 * j + kx}", 3, "tap0", 9)) if sg else ""
    emit(sg, f"""{head}// The texture convolution kernel (see `conv2d_texture.wgsl`: modes, padding, epilogue, launch)
// over 8 input channels at a time, each operand read through `fetch_in` / `fetch_w`, which
// return 8 values as an `Oct`:
// - `fetch_in(x, row, q8)`: input channels 8·q8 .. +7 at texel (x, row);
// - `fetch_w(c, tap, k·k, q8, block)`: output channels 8·block .. +7 (a: 0..3, b: 4..7) of input
//   channel 8·q8 + c at tap ky·k + kx.
// Between the `io:` markers they are defined for f16 operands: one rgba32uint texel holds 8 f16
// values (two a u32, `pack2x16float`), half the bytes and half the fetches of f32. The launcher
// swaps in f32 definitions for either operand (`conv2d_texture_oct_io.wgsl`).
//
// Each invocation computes 8 output channels × {P} horizontally adjacent pixels.
// This file is generated by `src/shaders/gen_conv2d.py`.

{PARAMS}// io: begin
struct Oct {{
    a: vec4<f32>,
    b: vec4<f32>,
}}

fn unpack8(t: vec4<u32>) -> Oct {{
    return Oct(vec4<f32>(unpack2x16float(t.x), unpack2x16float(t.y)),
               vec4<f32>(unpack2x16float(t.z), unpack2x16float(t.w)));
}}

// io: in
// Input: texel (x, row, q8) holds channels 8·q8 .. +7, read as `In`, channel c of which is
// `chan(v, c)` (so that values are unpacked where they are used).
@group(0) @binding(0) var src: texture_2d_array<u32>;
alias In = vec4<u32>;

fn fetch_in(x: i32, y: i32, q8: i32) -> In {{
    return textureLoad(src, vec2<i32>(x, y), q8, 0);
}}

fn chan(v: In, c: i32) -> f32 {{
    return unpack2x16float(v[c / 2])[c % 2];
}}

// io: weights
// Weights: texel (c·k·k + tap, q8, block) holds output channels 8·block .. +7 of input channel
// 8·q8 + c at `tap`.
@group(0) @binding(1) var wt: texture_2d_array<u32>;

fn fetch_w(c: i32, tap: i32, kk: i32, q8: i32, blk: i32) -> Oct {{
    return unpack8(textureLoad(wt, vec2<i32>(c * kk + tap, q8), blk, 0));
}}
// io: end

@group(0) @binding(2) var<storage, read> bias: array<vec4<f32>>;   // [cout4]
@group(0) @binding(3) var<storage, read> residual: array<f32>;     // [cout, out_rows, out_w] (unused unless has_residual)
@group(0) @binding(4) var<storage, read_write> output: array<f32>; // [cout, out_rows, out_w]
@group(0) @binding(5) var<uniform> p: Params;

{HELPERS}// Workgroup shape, set per adapter by the launcher (`Kernels::texture_workgroup`).
override WGX: u32 = {WGX}u;
override WGY: u32 = {WGY}u;

{decl}{entry}
    let ox0 = p.x_begin + gid.x * {P}u;
    let oy = p.y0 + gid.y;
    let oc8 = gid.z; // output channels 8·oc8 .. 8·oc8 + 7, as two vec4
    let blk = i32(oc8);
{guard}
    let b0 = bias[oc8 * 2u];
    let b1 = bias[min(oc8 * 2u + 1u, p.cout4 - 1u)];
{acc_decl}
    // Texture row of global input row r: r + ty0.
    let ty0 = 1 - i32(p.in_row0);
    let octs = i32((p.cin + 7u) / 8u);
    if (p.k == 3u && p.stride == 1u && p.upsample == 0u) {{
        let x0 = i32(ox0) - i32(p.col0);
        {q3}
            for (var ky = 0; ky < 3; ky++) {{
                let ty = i32(oy) + ky - 1 + ty0;
                let tap0 = ky * 3;
{sg_fetch}{same_rows}
{fmas(lambda j, kx: f"r{j + kx}", 3, "tap0", 9)}
            }}
        }}{c3}
    }} else if (p.k == 3u && p.stride == 1u) {{
        let sx0 = i32(ox0 / 2u) - i32(p.col0);
        {q3}
            for (var ky = 0; ky < 3; ky++) {{
                let ty = ((i32(oy) + ky - 1) >> 1u) + ty0;
                let tap0 = ky * 3;
{sg_fetch}{up_rows}
{fmas(lambda j, kx: f"s{(j + kx + 1) // 2}", 3, "tap0", 9)}
            }}
        }}{c3}
    }} else if (p.k == 1u && p.stride == 1u && p.upsample == 0u) {{
        let x0 = i32(ox0) + 1 - i32(p.col0);
        let ty = i32(oy) + ty0;
        {q1}
{chr(10).join(one)}
        }}{c1}
{down}    }} else {{
        let step = i32(p.stride);
        let pad = i32(p.pad);
        let kk = i32(p.k * p.k);
        {qg}
            for (var ky = 0; ky < i32(p.k); ky++) {{
                let ty = i32(oy) * step + ky - pad + ty0;
                for (var kx = 0; kx < i32(p.k); kx++) {{
                    let tx = i32(ox0) * step + kx - pad + 1 - i32(p.col0);
                    let tap = ky * i32(p.k) + kx;
{chr(10).join(generic)}
                }}
            }}
        }}{cg}
    }}
{stores}
}}""")


if VARIANT in ("texture", "texture_sg", "texture_wg"):
    texture_kernel(VARIANT == "texture_sg", VARIANT == "texture_wg")
    sys.exit(0)
if VARIANT in ("oct", "oct_sg", "oct_wg"):
    oct_kernel(VARIANT == "oct_sg", VARIANT == "oct_wg")
    sys.exit(0)

print(f'''// 2-D convolution over one image, K×K with K = 1 or 3: stride 1 with "same" padding, or stride 2
// with diffusers' Downsample2D (0,1,0,1) zero pad; optional nearest-2× upsampled input (Upsample2D),
// GroupNorm (+ SiLU) applied to the input as it is loaded, bias and residual add in the epilogue.
// Variant "{VARIANT}": {HEAD}.
//
// Each invocation computes 8 output channels × {P} horizontally adjacent pixels ({P * 8} accumulators).
// Loads, not multiply-adds, bound this kernel on a CPU driver (lavapipe: every storage load is a
// per-lane gather), so the register tile is large and, for 3×3 stride-1 convolutions, the {P} pixels'
// three taps along a row share {P + 2} input loads. This file is generated by `src/shaders/gen_conv2d.py`.

{PARAMS}@group(0) @binding(0) var<storage, read> input: array<f32>;        // [cin, in_rows, in_w]
{WEIGHT_DECL}
@group(0) @binding(2) var<storage, read> bias: array<vec4<f32>>;   // [cout4]
@group(0) @binding(3) var<storage, read> residual: array<f32>;     // [cout, out_rows, out_w] (unused unless has_residual)
@group(0) @binding(4) var<storage, read_write> output: array<f32>; // [cout, out_rows, out_w]
@group(0) @binding(5) var<storage, read> affine: array<vec4<f32>>; // [cin]: GroupNorm (mean, a, beta, 0) (unused unless norm)
@group(0) @binding(6) var<uniform> p: Params;

// Input value at (held row `sy`, logical column `ix`) of the channel at `base`; zero outside the image.
// The input is normalised (GroupNorm, SiLU) on load when `norm` is set; padding stays zero.
fn tap(base: u32, sy: u32, ix: i32, lw: i32, ab: vec4<f32>) -> f32 {{
    var v = (input[base + sy * p.in_w + (u32(clamp(ix, 0, lw - 1)) >> p.upsample)] - ab.x) * ab.y + ab.z;
    if (p.norm == 2u) {{
        v = v / (1.0 + exp(-v));
    }}
    return select(0.0, v, ix >= 0 && ix < lw);
}}

// GroupNorm of input channel `ci`: identity unless `norm`.
fn norm_of(ci: u32) -> vec4<f32> {{
    if (p.norm == 0u) {{
        return vec4<f32>(0.0, 1.0, 0.0, 0.0);
    }}
    return affine[ci];
}}

{HELPERS}@compute @workgroup_size({WGX}, {WGY}, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{
    let ox0 = gid.x * {P}u;
    let oy = p.y0 + gid.y;
    let oc8 = p.oc8_base + gid.z; // output channels 8·oc8 .. 8·oc8 + 7, as two vec4
    if (oy >= p.y1 || ox0 >= p.out_w) {{
        return;
    }}
    let wbase = gid.z * p.wblock;
    let lh = i32(p.in_h << p.upsample);
    let lw = i32(p.in_w << p.upsample);
    let b0 = bias[oc8 * 2u];
    let b1 = bias[min(oc8 * 2u + 1u, p.cout4 - 1u)];
{acc_decl}
    let plane = p.in_rows * p.in_w;
    let pad = i32(p.pad);
    let step = i32(p.stride);
    let x0 = i32(ox0) * step - pad;
    if (p.k == 3u && p.stride == 1u) {{
        for (var ci = p.ci0; ci < p.ci1; ci++) {{
            let base = ci * plane;
            let ab = norm_of(ci);
            for (var ky = 0u; ky < 3u; ky++) {{
                let iy = i32(oy) + i32(ky) - pad;
                if (iy < 0 || iy >= lh) {{
                    continue;
                }}
                let sy = (u32(iy) >> p.upsample) - p.in_row0;
                let wrow = wbase + ((ci - p.ci0) * 9u + ky * 3u) * 2u;
{rows}
{wts}
{fm}
            }}
        }}
    }} else {{
        for (var ci = p.ci0; ci < p.ci1; ci++) {{
            let base = ci * plane;
            let ab = norm_of(ci);
            for (var ky = 0u; ky < p.k; ky++) {{
                let iy = i32(oy) * step + i32(ky) - pad;
                if (iy < 0 || iy >= lh) {{
                    continue;
                }}
                let sy = (u32(iy) >> p.upsample) - p.in_row0;
                let wrow = wbase + ((ci - p.ci0) * p.k * p.k + ky * p.k) * 2u;
                for (var kx = 0u; kx < p.k; kx++) {{
                    let w0 = weight[wrow + kx * 2u];
                    let w1 = weight[wrow + kx * 2u + 1u];
                    let ix = x0 + i32(kx);
{taps}
                }}
            }}
        }}
    }}
{stores}
}}''')
