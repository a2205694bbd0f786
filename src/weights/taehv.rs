//! TAEHV, madebyollin's tiny autoencoder for video models, on one image: TAEW2.1 is the fast
//! twin of Wan 2.1's VAE and so of Qwen-Image's. Its layers are `taehv.py`'s `nn.Sequential`s,
//! and its tensors keep that file's names (`encoder.{k}…`, `decoder.{k}…`, no diffusers class
//! exists).
//!
//! A video model's blocks see frames: a `MemBlock` reads the previous frame's input beside its
//! own, a `TPool` joins consecutive frames, a `TGrow` makes several. One image runs as
//! `taehv.py` runs it:
//! - **encode** (`encode_video` of one frame): the frame repeated to the encoder's time stride
//!   (4), through every block; the pools join them into one latent.
//! - **decode** (`decode_video` of one latent): the `TGrow`s make four frames of it, of which
//!   taehv.py keeps the last.
//!
//! `weights::frames` plans both: frames that are the same tensor are made once, and what the
//! kept frame does not need is not made, so the encoder runs only the blocks between its two
//! pools twice, and the decoder two frames at half size and one at full size.
//!
//! The latent is the one a diffusion model sees (taehv.py applies no mean or std).
//!
//! Upstream: madebyollin/taehv `taehv.py` (MIT).

use super::tiny::{self, Layer, TinyConfig, Video};
use super::WeightsError;
use std::collections::HashMap;

/// The encoder's `nn.Sequential`, by index.
pub fn encoder_layers(latent: usize, v: &Video) -> Vec<Layer> {
    let e = v.encoder;
    let mut l = vec![Layer::Conv(3, e, true, false), Layer::Relu];
    for &stride in &v.pool {
        l.extend([Layer::Pool(e, stride), Layer::Conv(e, e, false, true)]);
        l.extend([Layer::Mem(e); 3]);
    }
    l.push(Layer::Conv(e, latent, true, false));
    l
}

/// The decoder's `nn.Sequential`, by index (index 0 is the clamp).
pub fn decoder_layers(latent: usize, v: &Video) -> Vec<Layer> {
    let n = v.decoder;
    let mut l = vec![
        Layer::Clamp,
        Layer::Conv(latent, n[0], true, false),
        Layer::Relu,
    ];
    for (i, (&stored, run)) in v.grow.iter().zip(v.runs()).enumerate() {
        l.extend([Layer::Mem(n[i]); 3]);
        l.extend([Layer::Upsample, Layer::Grow(n[i], stored, run)]);
        l.push(Layer::Conv(n[i], n[i + 1], false, false));
    }
    l.extend([Layer::Relu, Layer::Conv(n[3], 3, true, false)]);
    l
}

/// Every tensor of the halves asked for: name and shape, in `state_dict()` order.
pub fn expected(
    latent: usize,
    v: &Video,
    encoder: bool,
    decoder: bool,
) -> Vec<(String, Vec<usize>)> {
    let mut t = Vec::new();
    let mut part = |name: &str, layers: Vec<Layer>| {
        for (k, layer) in layers.into_iter().enumerate() {
            let p = format!("{name}.{k}");
            let mut conv = |p: String, shape: Vec<usize>, bias: bool| {
                let c = shape[0];
                t.push((format!("{p}.weight"), shape));
                if bias {
                    t.push((format!("{p}.bias"), vec![c]));
                }
            };
            match layer {
                Layer::Conv(cin, cout, bias, _) => conv(p, vec![cout, cin, 3, 3], bias),
                Layer::Mem(c) => {
                    conv(format!("{p}.conv.0"), vec![c, 2 * c, 3, 3], true);
                    conv(format!("{p}.conv.2"), vec![c, c, 3, 3], true);
                    conv(format!("{p}.conv.4"), vec![c, c, 3, 3], true);
                }
                Layer::Pool(c, s) => conv(format!("{p}.conv"), vec![c, s * c, 1, 1], false),
                Layer::Grow(c, s, _) => conv(format!("{p}.conv"), vec![s * c, c, 1, 1], false),
                Layer::Block(_) | Layer::Relu | Layer::Upsample | Layer::Clamp => {}
            }
        }
    };
    if encoder {
        part("encoder", encoder_layers(latent, v));
    }
    if decoder {
        part("decoder", decoder_layers(latent, v));
    }
    t
}

/// A tiny autoencoder's layers and tensors: TAESD's (`weights::tiny`) or TAEHV's.
impl TinyConfig {
    /// The encoder's layers, as this model's family lists them.
    pub fn encoder_layers(&self) -> Vec<Layer> {
        match &self.video {
            Some(v) => encoder_layers(self.latent_channels, v),
            None => tiny::encoder_layers(self.latent_channels, self.pools),
        }
    }

    /// The decoder's layers, as this model's family lists them.
    pub fn decoder_layers(&self) -> Vec<Layer> {
        match &self.video {
            Some(v) => decoder_layers(self.latent_channels, v),
            None => tiny::decoder_layers(self.latent_channels, self.pools),
        }
    }

    /// Every tensor of the halves the file holds: name and shape, in `state_dict()` order.
    pub fn expected(&self) -> Vec<(String, Vec<usize>)> {
        match &self.video {
            Some(v) => expected(self.latent_channels, v, self.encoder, self.decoder),
            None => tiny::expected_tiny(self),
        }
    }
}

/// True for a `TPool`'s or `TGrow`'s weight (`encoder.{k}.conv.weight`), which no other tiny
/// autoencoder has: the mark of a TAEHV file.
pub fn looks_taehv(name: &str) -> bool {
    matches!(OneImage::of(name), Some(OneImage::Pool | OneImage::Grow))
}

/// The latent channels and [`Video`] of a file's tensors (names as [`looks_taehv`] sees them);
/// a half the file lacks keeps TAEW2.1's widths.
pub fn infer(shapes: &HashMap<String, Vec<usize>>) -> Result<(usize, Video), WeightsError> {
    let dim = |name: String, axis: usize| {
        (shapes.get(&name).and_then(|s| s.get(axis).copied())).ok_or_else(|| {
            WeightsError::CannotInferConfig(format!("a TAEHV file with no {name} (axis {axis})"))
        })
    };
    let has = |part: &str| shapes.keys().any(|k| k.starts_with(part));
    let mut v = Video::TAEW2_1;
    let enc = encoder_layers(0, &v);
    let dec = decoder_layers(0, &v);
    let at = |layers: &[Layer], hit: fn(&Layer) -> bool| -> Vec<usize> {
        (layers.iter().enumerate())
            .filter(|(_, l)| hit(l))
            .map(|(k, _)| k)
            .collect()
    };
    let stride = |whole: usize, c: usize, name: &str| match whole % c {
        0 if (1..=2).contains(&(whole / c)) => Ok(whole / c),
        _ => Err(WeightsError::CannotInferConfig(format!(
            "{name}: {whole} channels for a width of {c} (a time stride of 1 or 2)"
        ))),
    };
    let mut latent = None;
    if has("encoder.") {
        v.encoder = dim("encoder.0.weight".into(), 0)?;
        let pools = at(&enc, |l| matches!(l, Layer::Pool(..)));
        for (i, k) in pools.into_iter().enumerate() {
            let name = format!("encoder.{k}.conv.weight");
            v.pool[i] = stride(dim(name.clone(), 1)?, v.encoder, &name)?;
        }
        latent = Some(dim(format!("encoder.{}.weight", enc.len() - 1), 0)?);
    }
    if has("decoder.") {
        let convs = at(&dec, |l| matches!(l, Layer::Conv(..)));
        for (i, k) in convs.iter().take(4).enumerate() {
            v.decoder[i] = dim(format!("decoder.{k}.weight"), 0)?;
        }
        let grows = at(&dec, |l| matches!(l, Layer::Grow(..)));
        for (i, k) in grows.into_iter().enumerate() {
            let name = format!("decoder.{k}.conv.weight");
            v.grow[i] = stride(dim(name.clone(), 0)?, v.decoder[i], &name)?;
        }
        latent = latent.or(Some(dim(format!("decoder.{}.weight", convs[0]), 1)?));
    }
    let latent = latent.ok_or_else(|| {
        WeightsError::CannotInferConfig("a TAEHV file with neither encoder nor decoder".into())
    })?;
    Ok((latent, v))
}

/// A tensor as the store takes it: name, shape, values.
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// How one image uses a TAEHV tensor, where it differs from the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OneImage {
    /// A `MemBlock`'s first conv reads `cat(x, past)`: its input channels are split into the
    /// frame's own half (same name) and the past's (`….conv.0.past.weight`), which the model takes
    /// where a frame has a past (a block that only ever sees one frame leaves it to be freed).
    Memory,
    /// A `TPool`: one `….conv.frame{i}.weight` per joined frame.
    Pool,
    /// A `TGrow`: one `….conv.frame{i}.weight` per frame it grows (rows).
    Grow,
}

impl OneImage {
    /// The rule for tensor `name` (taehv.py's names), if any.
    pub fn of(name: &str) -> Option<OneImage> {
        let segs: Vec<&str> = name.split('.').collect();
        let (part, rest) = match segs.as_slice() {
            [part @ ("encoder" | "decoder"), k, rest @ ..] if k.parse::<usize>().is_ok() => {
                (*part, rest)
            }
            _ => return None,
        };
        match (part, rest) {
            (_, ["conv", "0", "weight"]) => Some(OneImage::Memory),
            ("encoder", ["conv", "weight"]) => Some(OneImage::Pool),
            ("decoder", ["conv", "weight"]) => Some(OneImage::Grow),
            _ => None,
        }
    }
}

/// The tensors one image uses in place of `name` (`[o, i, kh, kw]`, values in that order), or
/// None where it is used as it is.
pub fn one_image(name: &str, shape: &[usize], data: &[f32]) -> Option<Vec<NamedTensor>> {
    let rule = OneImage::of(name)?;
    let &[o, i, kh, kw] = shape else { return None };
    let taps = kh * kw;
    // Input channels `from..from + n` of every output channel.
    let columns = |from: usize, n: usize| -> Vec<f32> {
        (0..o)
            .flat_map(|r| &data[(r * i + from) * taps..(r * i + from + n) * taps])
            .copied()
            .collect()
    };
    let base = name.strip_suffix(".weight")?;
    match rule {
        OneImage::Memory if i != 2 * o => None,
        OneImage::Memory => Some(vec![
            (name.to_string(), vec![o, o, kh, kw], columns(0, o)),
            (
                format!("{base}.past.weight"),
                vec![o, o, kh, kw],
                columns(o, o),
            ),
        ]),
        OneImage::Pool => {
            let frames = i / o.max(1);
            let part = |f: usize| {
                (
                    format!("{base}.frame{f}.weight"),
                    vec![o, o, kh, kw],
                    columns(f * o, o),
                )
            };
            Some((0..frames).map(part).collect())
        }
        OneImage::Grow => {
            let rows = i * i * taps;
            let part = |f: usize| {
                let values = data[f * rows..(f + 1) * rows].to_vec();
                (
                    format!("{base}.frame{f}.weight"),
                    vec![i, i, kh, kw],
                    values,
                )
            };
            Some((0..o / i.max(1)).map(part).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_split_as_one_image_uses_them() {
        // [o=2, i=4, 1, 1]: row r holds 10r + column.
        let data: Vec<f32> = (0..2)
            .flat_map(|r| (0..4).map(move |c| (10 * r + c) as f32))
            .collect();
        let mem = one_image("encoder.4.conv.0.weight", &[2, 4, 1, 1], &data).unwrap();
        assert_eq!(
            mem[0],
            (
                "encoder.4.conv.0.weight".into(),
                vec![2, 2, 1, 1],
                vec![0.0, 1.0, 10.0, 11.0]
            )
        );
        assert_eq!(
            mem[1],
            (
                "encoder.4.conv.0.past.weight".into(),
                vec![2, 2, 1, 1],
                vec![2.0, 3.0, 12.0, 13.0]
            )
        );
        assert_eq!(
            one_image("decoder.3.conv.0.weight", &[2, 4, 1, 1], &data)
                .unwrap()
                .len(),
            2
        );
        let pool = one_image("encoder.2.conv.weight", &[2, 4, 1, 1], &data).unwrap();
        assert_eq!(
            pool[1],
            (
                "encoder.2.conv.frame1.weight".into(),
                vec![2, 2, 1, 1],
                vec![2.0, 3.0, 12.0, 13.0]
            )
        );
        // A TGrow [4, 2]: two rows a frame.
        let grow = one_image("decoder.7.conv.weight", &[4, 2, 1, 1], &data).unwrap();
        assert_eq!(
            grow[1],
            (
                "decoder.7.conv.frame1.weight".into(),
                vec![2, 2, 1, 1],
                vec![10.0, 11.0, 12.0, 13.0]
            )
        );
        assert_eq!(
            one_image("decoder.3.conv.2.weight", &[2, 2, 1, 1], &data[..4]),
            None
        );
    }

    #[test]
    fn the_published_layout_is_described() {
        let t = expected(16, &Video::TAEW2_1, true, true);
        assert_eq!(t.len(), 128);
        assert_eq!(crate::weights::arch::param_count(&t), 11_315_539);
        assert!(t.iter().filter(|(n, _)| looks_taehv(n)).count() == 6);
        let mut shapes: HashMap<String, Vec<usize>> = t.into_iter().collect();
        assert_eq!(infer(&shapes).unwrap(), (16, Video::TAEW2_1));
        // A TGrow stored for two frames (as Hunyuan's file has it) is read as such.
        shapes.insert("decoder.7.conv.weight".into(), vec![512, 256, 1, 1]);
        assert_eq!(infer(&shapes).unwrap().1.grow, [2, 2, 2]);
        // A pool that joins 1.5 frames is no TAEHV: the error names the tensor.
        shapes.insert("encoder.7.conv.weight".into(), vec![64, 96, 1, 1]);
        let e = infer(&shapes).unwrap_err().to_string();
        assert!(e.contains("encoder.7.conv.weight: 96 channels"), "{e}");
    }
}
