//! The products of one step of `conv2d.wgsl`'s loops, written out: for 8 pixels, each tap and
//! each input channel of the step, two `fma`s into the pixel's sums of output channels 0..3
//! (`lo`) and 4..7 (`hi`), by path (3×3, 1×1, any other) and form.

use super::{fma, Gen, P};

const XYZW: [char; 4] = ['x', 'y', 'z', 'w'];

impl Gen {
    /// The products of a 3×3 step's row: input `r(j, kx)` of pixel j at tap kx.
    pub(super) fn fmas3(&self, r: &dyn Fn(usize, usize) -> String) -> String {
        if self.quad {
            self.quad_fmas3(r)
        } else {
            self.oct_fmas(r, 3, "tap0", "9")
        }
    }

    fn quad_fmas3(&self, r: &dyn Fn(usize, usize) -> String) -> String {
        // Weight texel i of the step (c·18 + kx·2 + h: input channel c, tap kx, half h).
        let w = |i: usize| {
            if self.sg {
                // Step weight j = c·6 + kx·2 + h was fetched by lane j % 8 into wl{j / 8}.
                let j = i / 18 * 6 + i % 18;
                format!("subgroupBroadcast(wl{}, {}u)", j / 8, j % 8)
            } else if self.wg {
                format!("wsh[wq + wx + {i}]")
            } else {
                self.load("wt", &format!("wx + {i}, q"), "blk")
            }
        };
        let weights = |kx: usize, c: usize| {
            let comp = XYZW[c];
            format!(
                "                let wa{kx}{comp} = {};\n                let wb{kx}{comp} = {};",
                w(c * 18 + kx * 2),
                w(c * 18 + kx * 2 + 1)
            )
        };
        let product = |j: usize, kx: usize, c: usize| {
            let comp = XYZW[c];
            let v = format!("{}.{comp}", r(j, kx));
            fma(
                16,
                j,
                &format!("wa{kx}{comp}"),
                &format!("wb{kx}{comp}"),
                &v,
            )
        };
        let mut out = Vec::new();
        if self.sg {
            // Pixel by pixel: one pixel's 8 sums stay in registers through its 12 products.
            for kx in 0..3 {
                out.extend((0..4).map(|c| weights(kx, c)));
            }
            for j in 0..P {
                for kx in 0..3 {
                    out.extend((0..4).map(|c| product(j, kx, c)));
                }
            }
        } else {
            for kx in 0..3 {
                for c in 0..4 {
                    out.push(weights(kx, c));
                    out.extend((0..P).map(|j| product(j, kx, c)));
                }
            }
        }
        out.join("\n")
    }

    /// The products of `taps` taps (weights from tap `tap0` of `kk` a channel) over one Oct of
    /// input channels: input `r(j, kx)` of pixel j at tap kx.
    fn oct_fmas(
        &self,
        r: &dyn Fn(usize, usize) -> String,
        taps: usize,
        tap0: &str,
        kk: &str,
    ) -> String {
        let product = |j: usize, kx: usize, c: usize| {
            let v = format!("chan({}, {c})", r(j, kx));
            fma(16, j, &format!("w{kx}_{c}.a"), &format!("w{kx}_{c}.b"), &v)
        };
        let mut out = Vec::new();
        if self.sg {
            // 1×1: lane c fetches input channel c's texel. Then pixel by pixel.
            if taps == 1 {
                let w = self.load("wt", "lane_j.x, q", "blk");
                out.push(format!("                let wl = {w};"));
            }
            for kx in 0..taps {
                for c in 0..8 {
                    // 3×3: step weight j = c·3 + kx was fetched by lane j % 8 into wl{j / 8}.
                    let (j, src) = match taps {
                        3 => (c * 3 + kx, format!("wl{}", (c * 3 + kx) / 8)),
                        _ => (c, "wl".to_string()),
                    };
                    out.push(format!(
                        "                let w{kx}_{c} = unpack8(subgroupBroadcast({src}, {}u));",
                        j % 8
                    ));
                }
            }
            for j in 0..P {
                for kx in 0..taps {
                    out.extend((0..8).map(|c| product(j, kx, c)));
                }
            }
            return out.join("\n");
        }
        for kx in 0..taps {
            for c in 0..8 {
                let w = match self.wg {
                    true => format!("wsh[wq + {c} * {kk} + {tap0} + {kx}]"),
                    false => format!("fetch_w({c}, {tap0} + {kx}, {kk}, q, blk)"),
                };
                out.push(format!("                let w{kx}_{c} = {w};"));
                out.extend((0..P).map(|j| product(j, kx, c)));
            }
        }
        out.join("\n")
    }

    /// The 1×1 stride-1 step: P input texels, then their products.
    pub(super) fn one(&self) -> String {
        let mut out: Vec<String> = (0..P)
            .map(|j| {
                format!(
                    "                let v{j} = {};",
                    self.fetch(&format!("x0 + {j}"))
                )
            })
            .collect();
        if !self.quad {
            out.push(self.oct_fmas(&|j, kx| format!("v{}", j + kx), 1, "0", "1"));
            return out.join("\n");
        }
        let product = |j: usize, c: usize| {
            let comp = XYZW[c];
            fma(
                16,
                j,
                &format!("wa{comp}"),
                &format!("wb{comp}"),
                &format!("v{j}.{comp}"),
            )
        };
        let weights = |c: usize, wa: String, wb: String| {
            let comp = XYZW[c];
            format!("                let wa{comp} = {wa};\n                let wb{comp} = {wb};")
        };
        if self.sg {
            // The 8 weight texels of a step, one per lane, broadcast; then pixel by pixel.
            let w = self.load("wt", "lane_j.x, q", "blk");
            out.push(format!("                let wl = {w};"));
            for c in 0..4 {
                let b = |h: usize| format!("subgroupBroadcast(wl, {}u)", 2 * c + h);
                out.push(weights(c, b(0), b(1)));
            }
            for j in 0..P {
                out.extend((0..4).map(|c| product(j, c)));
            }
            return out.join("\n");
        }
        for c in 0..4 {
            let w = |h: usize| match self.wg {
                true => format!("wsh[wq + {}]", 2 * c + h),
                false => self.load("wt", &format!("{}, q", 2 * c + h), "blk"),
            };
            out.push(weights(c, w(0), w(1)));
            out.extend((0..P).map(|j| product(j, c)));
        }
        out.join("\n")
    }

    /// Any other k and stride, tap by tap.
    pub(super) fn generic(&self) -> String {
        let mut out = Vec::new();
        if self.quad {
            for (c, comp) in XYZW.iter().enumerate() {
                let w = |h: usize| match self.wg {
                    true => format!("wsh[wq + wx + {c} * kk2 + {h}]"),
                    false => self.load("wt", &format!("wx + {c} * kk2 + {h}, q"), "blk"),
                };
                out.push(format!(
                    "                    let wa{comp} = {};\n                    let wb{comp} = {};",
                    w(0),
                    w(1)
                ));
            }
        }
        for j in 0..P {
            let v = self.fetch(&format!("tx + {j} * step"));
            out.push(format!("                    let v{j} = {v};"));
            if self.quad {
                for comp in XYZW {
                    let (wa, wb) = (format!("wa{comp}"), format!("wb{comp}"));
                    out.push(fma(20, j, &wa, &wb, &format!("v{j}.{comp}")));
                }
            }
        }
        if !self.quad {
            for c in 0..8 {
                let w = match self.wg {
                    true => format!("wsh[wq + {c} * kk + tap]"),
                    false => format!("fetch_w({c}, tap, kk, q, blk)"),
                };
                out.push(format!("                    let w{c} = {w};"));
                for j in 0..P {
                    let (wa, wb) = (format!("w{c}.a"), format!("w{c}.b"));
                    out.push(fma(20, j, &wa, &wb, &format!("chan(v{j}, {c})")));
                }
            }
        }
        out.join("\n")
    }
}
