//! The tiny autoencoders (TAESD, TAESDXL, TAESD3, TAEF1; diffusers `AutoencoderTiny`): their
//! shape, the tensors they need, and their names — diffusers' `encoder.layers.{k}` /
//! `decoder.layers.{k}`, and the original `nn.Sequential` indices of `taesd.py`, either behind
//! `encoder.` / `decoder.` (a whole `TAESD` module) or bare in the split files
//! `taesdxl_encoder.safetensors` / `taesdxl_decoder.safetensors`, where the decoder's index 0 is
//! the parameterless clamp (so original decoder index k is diffusers' k − 1).
//!
//! Upstream: diffusers `models/autoencoders/vae.py` (`EncoderTiny`, `DecoderTiny`),
//! `unets/unet_2d_blocks.py` (`AutoencoderTinyBlock`); madebyollin/taesd `taesd.py`.

/// Channels of every layer inside a tiny autoencoder.
pub const TINY_CHANNELS: usize = 64;
/// Blocks after each of the encoder's four convolutions (the first at full size, then three
/// stride-2 ones).
pub const ENCODER_BLOCKS: [usize; 4] = [1, 3, 3, 3];
/// Blocks before each of the decoder's upsamplings (none after the last group).
pub const DECODER_BLOCKS: [usize; 4] = [3, 3, 3, 1];

/// A tiny autoencoder: its latent channels, which halves a file holds, and whether the blocks
/// at the latent's resolution carry a pool (TAEF2's `use_midblock_gn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TinyConfig {
    pub latent_channels: usize,
    pub encoder: bool,
    pub decoder: bool,
    pub pools: bool,
    /// A TAEHV (video) tiny autoencoder's widths and time strides; None for the TAESD family.
    pub video: Option<Video>,
}

/// A TAEHV's widths and time strides, read off its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Video {
    /// The encoder's width.
    pub encoder: usize,
    /// The decoder's widths, coarsest first.
    pub decoder: [usize; 4],
    /// Each encoder `TPool`'s stride: frames joined into one.
    pub pool: [usize; 3],
    /// Each decoder `TGrow`'s stride as its weight is stored (1 or 2; [`Video::runs`] says what
    /// runs).
    pub grow: [usize; 3],
}

/// taehv.py's `decoder_time_upscale` default, (False, True, True), as strides: the most each
/// `TGrow` runs, whatever its weight stores (taehv.py keeps a longer weight's last rows).
pub const DECODER_TIME_UPSCALE: [usize; 3] = [1, 2, 2];

impl Video {
    /// TAEW2.1 as published (`taew2_1.pth`): 11,315,539 values with `TGrow` strides 1, 2, 2.
    pub const TAEW2_1: Video = Video {
        encoder: 64,
        decoder: [256, 128, 64, 64],
        pool: [2, 2, 1],
        grow: [1, 2, 2],
    };

    /// Frames one image is repeated to before the encoder: the pools' strides multiplied.
    pub fn frames(&self) -> usize {
        self.pool.iter().product()
    }

    /// Each `TGrow`'s stride as it runs: taehv.py's default where the weight holds it.
    pub fn runs(&self) -> [usize; 3] {
        std::array::from_fn(|i| self.grow[i].min(DECODER_TIME_UPSCALE[i]))
    }
}

/// Channels inside a block's pool: `conv1x1(64 → 256)`, `GroupNorm(4, 256)`, ReLU,
/// `conv1x1(256 → 64)`, added to the block's input.
pub const POOL_CHANNELS: usize = 4 * TINY_CHANNELS;
/// The pool's GroupNorm groups and epsilon (PyTorch's default).
pub const POOL_GROUPS: usize = 4;
pub const POOL_EPS: f32 = 1e-5;

/// One layer of `EncoderTiny.layers` / `DecoderTiny.layers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// `nn.Conv2d` 3×3: (cin, cout, with bias, stride 2).
    Conv(usize, usize, bool, bool),
    /// `AutoencoderTinyBlock` 64 → 64; with `true`, TAEF2's pooled block: `x + pool(x)` first.
    Block(bool),
    Relu,
    /// Nearest ×2.
    Upsample,
    /// TAEHV's `MemBlock(c, c)`: a block whose first conv reads `cat(x, past)`, the past being
    /// the previous frame's input to the block (zeros for the first frame).
    Mem(usize),
    /// TAEHV's `TPool(c, stride)`: each `stride` consecutive frames, channels joined, through a
    /// 1×1 conv without bias to one frame.
    Pool(usize, usize),
    /// TAEHV's `TGrow(c, stored, run)`: a 1×1 conv without bias to `run` frames, its weight
    /// stored for `stored` (whose last `run` frames' rows run).
    Grow(usize, usize, usize),
    /// TAEHV decoder's `Clamp` (`tanh(x / 3) · 3`), applied on the host before upload, as the
    /// TAESD family's.
    Clamp,
}

/// `EncoderTiny.layers`, in order; with `pools`, the last group's blocks pooled.
pub fn encoder_layers(latent: usize, pools: bool) -> Vec<Layer> {
    let c = TINY_CHANNELS;
    let mut v = Vec::new();
    for (i, &n) in ENCODER_BLOCKS.iter().enumerate() {
        v.push(match i {
            0 => Layer::Conv(3, c, true, false),
            _ => Layer::Conv(c, c, false, true),
        });
        let pooled = pools && i + 1 == ENCODER_BLOCKS.len();
        v.extend(std::iter::repeat_n(Layer::Block(pooled), n));
    }
    v.push(Layer::Conv(c, latent, true, false));
    v
}

/// `DecoderTiny.layers`, in order (the clamp before them is not a layer); with `pools`, the
/// first group's blocks pooled.
pub fn decoder_layers(latent: usize, pools: bool) -> Vec<Layer> {
    let c = TINY_CHANNELS;
    let mut v = vec![Layer::Conv(latent, c, true, false), Layer::Relu];
    for (i, &n) in DECODER_BLOCKS.iter().enumerate() {
        v.extend(std::iter::repeat_n(Layer::Block(pools && i == 0), n));
        if i + 1 < DECODER_BLOCKS.len() {
            v.push(Layer::Upsample);
            v.push(Layer::Conv(c, c, false, false));
        } else {
            v.push(Layer::Conv(c, 3, true, false));
        }
    }
    v
}

/// Every tensor of `cfg`'s halves: diffusers name and shape, in `state_dict()` order.
pub fn expected_tiny(cfg: &TinyConfig) -> Vec<(String, Vec<usize>)> {
    let mut t = Vec::new();
    let mut part = |name: &str, layers: Vec<Layer>| {
        for (k, layer) in layers.into_iter().enumerate() {
            let p = format!("{name}.layers.{k}");
            let mut conv = |p: String, cin: usize, cout: usize, bias: bool| {
                t.push((format!("{p}.weight"), vec![cout, cin, 3, 3]));
                if bias {
                    t.push((format!("{p}.bias"), vec![cout]));
                }
            };
            match layer {
                Layer::Conv(cin, cout, bias, _) => conv(p, cin, cout, bias),
                Layer::Block(pooled) => {
                    for j in [0, 2, 4] {
                        let c = TINY_CHANNELS;
                        conv(format!("{p}.conv.{j}"), c, c, true);
                    }
                    if pooled {
                        let (c, g) = (TINY_CHANNELS, POOL_CHANNELS);
                        t.push((format!("{p}.pool.0.weight"), vec![g, c, 1, 1]));
                        t.push((format!("{p}.pool.1.weight"), vec![g]));
                        t.push((format!("{p}.pool.1.bias"), vec![g]));
                        t.push((format!("{p}.pool.3.weight"), vec![c, g, 1, 1]));
                    }
                }
                _ => {}
            }
        }
    };
    if cfg.encoder {
        part("encoder", encoder_layers(cfg.latent_channels, cfg.pools));
    }
    if cfg.decoder {
        part("decoder", decoder_layers(cfg.latent_channels, cfg.pools));
    }
    t
}

/// How a file names a tiny autoencoder's tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TinyNames {
    /// `encoder.layers.{k}…` (diffusers `AutoencoderTiny`).
    Diffusers,
    /// `encoder.{k}…`, `decoder.{k}…` (a whole `TAESD` module of taesd.py).
    Original,
    /// Bare `{k}…`: one half's split file, told apart by its first layer.
    Split,
    /// `encoder.{k}…`, `decoder.{k}…` of `taehv.py`'s TAEHV, kept as they are.
    Taehv,
}

impl TinyNames {
    /// Whether a (prefix-stripped) name is a tensor's in this naming (TAEHV's look like
    /// taesd.py's whole-module names).
    pub fn holds(self, name: &str) -> bool {
        match (self, looks_tiny(name)) {
            (TinyNames::Taehv, Some(TinyNames::Original)) => true,
            (naming, looks) => looks == Some(naming),
        }
    }
}

/// True when a (prefix-stripped) name is a tiny autoencoder's in some naming.
pub fn looks_tiny(name: &str) -> Option<TinyNames> {
    let segs: Vec<&str> = name.split('.').collect();
    let num = |s: &&str| s.parse::<usize>().is_ok();
    match segs.as_slice() {
        ["encoder" | "decoder", "layers", k, ..] if num(k) => Some(TinyNames::Diffusers),
        ["encoder" | "decoder", k, ..] if num(k) => Some(TinyNames::Original),
        [k, _, ..] if num(k) => Some(TinyNames::Split),
        _ => None,
    }
}

/// The half a split file holds: the encoder's first conv takes the 3 image channels (index 0);
/// the decoder's has index 1 (after the clamp).
pub fn split_part<'a>(shapes: impl IntoIterator<Item = (&'a str, &'a [usize])>) -> &'static str {
    let encoder = shapes
        .into_iter()
        .any(|(n, s)| n == "0.weight" && s.get(1) == Some(&3));
    if encoder {
        "encoder"
    } else {
        "decoder"
    }
}

/// The diffusers name of a tiny autoencoder's tensor; `split` is the half of a split file.
pub fn tiny_canonical(name: &str, names: TinyNames, split: &str) -> Option<String> {
    let (part, rest) = match names {
        TinyNames::Diffusers | TinyNames::Taehv => return Some(name.to_string()),
        TinyNames::Original => name.split_once('.')?,
        TinyNames::Split => (split, name),
    };
    let (k, tail) = rest.split_once('.')?;
    let k: usize = k.parse().ok()?;
    let k = match part {
        "decoder" => k.checked_sub(1)?,
        _ => k,
    };
    Some(format!("{part}.layers.{k}.{tail}"))
}

/// The name of diffusers tensor `canonical` in files named `names` (split: without the half).
pub fn tiny_file_name(canonical: &str, names: TinyNames) -> String {
    let segs: Vec<&str> = canonical.splitn(4, '.').collect();
    let [part, "layers", k, tail] = segs.as_slice() else {
        return canonical.to_string();
    };
    let k: usize = k.parse().unwrap_or(0) + usize::from(*part == "decoder");
    match names {
        TinyNames::Diffusers | TinyNames::Taehv => canonical.to_string(),
        TinyNames::Original => format!("{part}.{k}.{tail}"),
        TinyNames::Split => format!("{k}.{tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_every_naming() {
        let cfg = TinyConfig {
            latent_channels: 4,
            encoder: true,
            decoder: true,
            pools: false,
            video: None,
        };
        let all = expected_tiny(&cfg);
        assert_eq!(all.len(), 134);
        for names in [TinyNames::Diffusers, TinyNames::Original, TinyNames::Split] {
            for (canonical, _) in &all {
                let file = tiny_file_name(canonical, names);
                assert_eq!(looks_tiny(&file), Some(names), "{file}");
                let part = canonical.split('.').next().unwrap();
                assert_eq!(tiny_canonical(&file, names, part).as_ref(), Some(canonical));
            }
        }
        assert_eq!(
            tiny_file_name("decoder.layers.0.weight", TinyNames::Split),
            "1.weight"
        );
        assert_eq!(looks_tiny("encoder.down.0.block.0.conv1.weight"), None);
        assert_eq!(looks_tiny("quant_conv.weight"), None);
    }
}
