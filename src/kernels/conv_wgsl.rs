//! The convolution family's source: `conv2d.wgsl` specialised for a [`ConvForm`], with the rest
//! of its `main` written here — each step's loops over 8 pixels, taps and input channels
//! unrolled, so that every sum and operand stays in a register. What each part computes is said
//! in `conv2d.wgsl`; which form runs where, in docs/kernels.md.

use super::conv_form::{ConvForm, Staging, PIXELS};
use super::preprocess::preprocess;

mod steps;

const TEMPLATE: &str = include_str!("../shaders/conv2d.wgsl");
pub(super) const P: usize = PIXELS as usize;

/// The WGSL of `form` (its workgroup shape is set by pipeline constants, not here).
pub fn source(form: &ConvForm) -> String {
    let g = Gen {
        quad: form.quad(),
        sg: form.staging == Staging::Subgroup,
        wg: form.staging == Staging::Workgroup,
    };
    let mut defines = Vec::new();
    for (on, name) in [
        (g.quad, "QUAD"),
        (form.input_f16, "IN_F16"),
        (form.weights_f16, "W_F16"),
        (form.output_f16, "OUT_F16"),
        (g.sg, "SG"),
        (g.wg, "WG"),
    ] {
        if on {
            defines.push(name);
        }
    }
    // Read-only storage textures in the subgroup form (see `conv2d.wgsl`): no mip level.
    let (tex_f32, tex_u32) = match g.sg {
        true => (
            "texture_storage_2d_array<rgba32float, read>",
            "texture_storage_2d_array<rgba32uint, read>",
        ),
        false => ("texture_2d_array<f32>", "texture_2d_array<u32>"),
    };
    // The texel offset of step weight j of each lane's three (`lane_j`): QUAD j = c·6 + kx·2 + h
    // at wx + j + 12·c; Oct j = c·3 + kx at tap0 + j + 6·c.
    let wo = match g.quad {
        true => "lane_j + 12 * (lane_j / vec3<i32>(6))",
        false => "lane_j + 6 * (lane_j / vec3<i32>(3))",
    };
    let body = g.body();
    let slots = [
        ("TEX_F32", tex_f32),
        ("TEX_U32", tex_u32),
        ("LEVEL", g.level()),
        ("WO", wo),
        ("BODY", body.as_str()),
    ];
    preprocess(TEMPLATE, &defines, &slots)
}

/// Which form the body is written for.
pub(super) struct Gen {
    /// 4 input channels a step from one rgba32float texel (else 8, an `Oct`).
    pub quad: bool,
    /// Weight texels broadcast across subgroups of 8.
    pub sg: bool,
    /// Weight texels read from workgroup memory.
    pub wg: bool,
}

/// The two products of one input value `v` (a scalar) with weights `wa` (output channels 0..3)
/// and `wb` (4..7) into pixel `j`'s sums, at `ind` spaces.
pub(super) fn fma(ind: usize, j: usize, wa: &str, wb: &str, v: &str) -> String {
    let s = " ".repeat(ind);
    format!(
        "{s}lo{j} = fma({wa}, vec4<f32>({v}), lo{j});\n{s}hi{j} = fma({wb}, vec4<f32>({v}), hi{j});"
    )
}

impl Gen {
    fn level(&self) -> &'static str {
        if self.sg {
            ""
        } else {
            ", 0"
        }
    }

    pub(super) fn load(&self, tex: &str, coords: &str, layer: &str) -> String {
        format!(
            "textureLoad({tex}, vec2<i32>({coords}), {layer}{})",
            self.level()
        )
    }

    /// The input texel(s) at column `x` of row `ty`, step `q`.
    pub(super) fn fetch(&self, x: &str) -> String {
        match self.quad {
            true => self.load("src", &format!("{x}, ty"), "q"),
            false => format!("fetch_in({x}, ty, q)"),
        }
    }

    /// The loop over steps `q` of `groups` (staged `n` texels a step where `wg`, step q's first
    /// texel at `wq`), and what closes it beyond its own brace.
    fn steps(&self, groups: &str, n: &str) -> (String, &'static str) {
        if !self.wg {
            return (format!("for (var q = 0; q < {groups}; q++) {{"), "");
        }
        let open = format!(
            "let n = {n};
        let qr = WS / n;
        for (var qb = 0; qb < {groups}; qb += qr) {{
            stage(qb, n, qr, {groups}, blk, li);
            for (var q = qb; q < min(qb + qr, {groups}); q++) {{
            let wq = (q - qb) * n;"
        );
        (open, "\n        }")
    }

    /// The three weight texels each lane fetches per 3×3 step (`sg` only), texel `base` + its offsets.
    fn sg_fetch(&self, base: &str) -> String {
        if !self.sg {
            return String::new();
        }
        let mut s = String::new();
        for k in 0..3 {
            let w = self.load("wt", &format!("{base} + wo{k}, q"), "blk");
            s += &format!("                let wl{k} = {w};\n");
        }
        s
    }

    /// A row of the input texels a 3×3 step reads: `name{t}` at column `x` + t for t < `n`.
    fn rows(&self, name: &str, x: &str, n: usize) -> String {
        let lines: Vec<String> = (0..n)
            .map(|t| {
                format!(
                    "                let {name}{t} = {};",
                    self.fetch(&format!("{x} + {t}"))
                )
            })
            .collect();
        lines.join("\n")
    }

    /// The rest of `main`: the sums, the paths by kernel size and stride, the stores.
    fn body(&self) -> String {
        // Per form: the steps (groups of input channels), a 3×3 step row's weight offset, the
        // generic path's weights per input channel and its tap's offset, and staged texels a step.
        let (groups, count, step_w, kk, tap, n3, ng) = match self.quad {
            true => (
                "quads",
                "let quads = i32((p.cin + 3u) / 4u);",
                "let wx = ky * 6;",
                "let kk2 = i32(p.k * p.k * 2u);",
                "let wx = (ky * i32(p.k) + kx) * 2;",
                "72",
                "4 * kk2",
            ),
            false => (
                "octs",
                "let octs = i32((p.cin + 7u) / 8u);",
                "let tap0 = ky * 3;",
                "let kk = i32(p.k * p.k);",
                "let tap = ky * i32(p.k) + kx;",
                "72",
                "8 * kk",
            ),
        };
        let fetch_base = if self.quad { "wx" } else { "tap0" };
        let sg_fetch = self.sg_fetch(fetch_base);
        let (q3, c3) = self.steps(groups, n3);
        let (q1, c1) = self.steps(groups, "8");
        let (qg, cg) = self.steps(groups, ng);
        // The sums: lo{j} and hi{j} are output channels 8·oc8 .. +3 and +4 .. +7 at pixel
        // ox0 + j, sums[2j] and sums[2j + 1] where started and stored. Those two are loops, not
        // written out: a browser's shader compiler (SwiftShader's) then takes 0.6 s less for each
        // form, and the loops run once per invocation.
        let names: Vec<String> = (0..P)
            .flat_map(|j| [format!("lo{j}"), format!("hi{j}")])
            .collect();
        let mut acc = format!(
            "    var sums: array<vec4<f32>, {n}>;
    for (var i = 0u; i < {n}u; i++) {{
        sums[i] = init(oc8 * 2u + (i & 1u), oy, ox0 + i / 2u, select(b0, b1, (i & 1u) == 1u));
    }}",
            n = 2 * P
        );
        for (i, name) in names.iter().enumerate() {
            acc += &format!("\n    var {name} = sums[{i}];");
        }
        let same_rows = self.rows("r", "x0", P + 2);
        let same = self.fmas3(&|j, kx| format!("r{}", j + kx));
        // Upsampled: logical columns ox0 − 1 + t read source column (ox0 − 1 + t) >> 1 (ox0 is even).
        let up_rows = self.rows("s", "sx0", P / 2 + 2);
        let up = self.fmas3(&|j, kx| format!("s{}", (j + kx).div_ceil(2)));
        let one = self.one();
        let generic = self.generic();
        // Stride 2 (subgroup forms): pixel j's tap kx reads texel x0 + 2j + kx, 2P + 1 a step.
        let down = match self.sg {
            true => {
                let rows = self.rows("d", "x0", 2 * P + 1);
                let products = self.fmas3(&|j, kx| format!("d{}", 2 * j + kx));
                format!(
                    "    }} else if (p.k == 3u && p.stride == 2u && p.upsample == 0u) {{
        let x0 = i32(ox0) * 2 - i32(p.pad) + 1 - i32(p.col0);
        for (var q = 0; q < {groups}; q++) {{
            for (var ky = 0; ky < 3; ky++) {{
                let ty = i32(oy) * 2 + ky - i32(p.pad) + ty0;
                {step_w}
{sg_fetch}{rows}
{products}
            }}
        }}
"
                )
            }
            false => String::new(),
        };
        let mut stores = format!(
            "    sums = array<vec4<f32>, {n}>({names});
    for (var i = 0u; i < {n}u; i++) {{
        store(oc8 * 2u + (i & 1u), oy, ox0 + i / 2u, sums[i]);
    }}",
            n = 2 * P,
            names = names.join(", ")
        );
        if self.sg || self.wg {
            let inner: Vec<String> = stores.lines().map(|l| format!("    {l}")).collect();
            stores = format!("    if (in_output) {{\n{}\n    }}", inner.join("\n"));
        }
        format!(
            "{acc}
    {count}
    if (p.k == 3u && p.stride == 1u && p.upsample == 0u) {{
        let x0 = i32(ox0) - i32(p.col0);
        {q3}
            for (var ky = 0; ky < 3; ky++) {{
                let ty = i32(oy) + ky - 1 + ty0;
                {step_w}
{sg_fetch}{same_rows}
{same}
            }}
        }}{c3}
    }} else if (p.k == 3u && p.stride == 1u) {{
        let sx0 = i32(ox0 / 2u) - i32(p.col0);
        {q3}
            for (var ky = 0; ky < 3; ky++) {{
                let ty = ((i32(oy) + ky - 1) >> 1u) + ty0;
                {step_w}
{sg_fetch}{up_rows}
{up}
            }}
        }}{c3}
    }} else if (p.k == 1u && p.stride == 1u && p.upsample == 0u) {{
        let x0 = i32(ox0) + 1 - i32(p.col0);
        let ty = i32(oy) + ty0;
        {q1}
{one}
        }}{c1}
{down}    }} else {{
        let step = i32(p.stride);
        let pad = i32(p.pad);
        {kk}
        {qg}
            for (var ky = 0; ky < i32(p.k); ky++) {{
                let ty = i32(oy) * step + ky - pad + ty0;
                for (var kx = 0; kx < i32(p.k); kx++) {{
                    let tx = i32(ox0) * step + kx - pad + 1 - i32(p.col0);
                    {tap}
{generic}
                }}
            }}
        }}{cg}
    }}
{stores}"
        )
    }
}
