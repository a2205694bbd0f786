//! The options a user chooses, in one table that every surface follows: the command line's
//! global flags (`--{cli}`), `Vae.load`'s options, their TypeScript type ([`LOAD_OPTIONS_TS`])
//! and the page's URL parameters (named `{js}`). Each entry carries its own setter, which parses
//! the value by the option's kind and stores it; [`Choices::set`] only finds the entry. The worker
//! forwards whatever it is given. `tests/api/options.rs` checks the CLI's help and the TypeScript
//! types against the table.

use super::{FeaturesChoice, GpuOptions, LimitsChoice, LoadOptions, Precision};
use crate::weights::family::{Family, FAMILY_CHOICES};
use crate::weights::DiffusersConfig;

/// How an option's value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionKind {
    /// A positive number.
    Number,
    /// A positive whole number of bytes; as text, with an optional K, M or G (powers of 1024).
    Bytes,
    /// Any finite number (zero and negatives too).
    Real,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// A JSON document: on the command line the path of a file holding it; in JS an object or
    /// its JSON text.
    Json,
    /// `true` or `false`.
    Bool,
}

/// One user option.
#[derive(Clone, Copy, Debug)]
pub struct UserOption {
    /// Its name in `Vae.load`'s options and as the page's URL parameter.
    pub js: &'static str,
    /// Its global flag on the command line, without the `--`.
    pub cli: &'static str,
    pub kind: OptionKind,
    /// What it does (the CLI's help; the TypeScript type says the same).
    pub doc: &'static str,
    /// A tuning knob for tests and benchmarks: out of the CLI's help and the page's list.
    pub hidden: bool,
    /// Parses `value` by [`kind`](Self::kind) and stores it; the error names the option and what
    /// it takes.
    pub set: fn(&mut Choices, &UserOption, OptionValue) -> Result<(), String>,
}

/// What `onProgress`'s third argument holds (made in `web::source`).
pub const WEIGHTS_FILE_TS: &str = "export interface WeightsFile {
  /** `safetensors`, `PyTorch checkpoint (zip)` or `PyTorch checkpoint (legacy)`. */
  format: string;
  kind: string;
  family: string;
  parameters: number;
  /** Tensors outside the VAE and their bytes: read past, never kept. */
  ignoredTensors: number;
  ignoredBytes: number;
}
";

/// `OPTIONS` and `LOAD_OPTIONS_TS` from one list: each option's JS name, flag, kind, TypeScript
/// type, doc and setter (`|choices, value| …`, given the value its kind parsed).
macro_rules! user_options {
    ($({
        $js:literal, $cli:literal, $kind:expr, $ts:literal, $doc:literal,
        $(hidden: $hidden:literal,)?
        |$c:ident, $v:ident| $set:expr
    }),* $(,)?) => {
        /// Every user option. Defaults are what an absent option means.
        pub const OPTIONS: &[UserOption] = &[$(UserOption {
            js: $js,
            cli: $cli,
            kind: $kind,
            doc: $doc,
            hidden: false $(|| $hidden)?,
            set: |$c, opt, value| {
                let $v = opt.parse(value)?;
                $set;
                Ok(())
            },
        }),*];

        /// `Vae.load`'s options as the module's TypeScript declares them: the load's own hooks
        /// and every user option.
        pub const LOAD_OPTIONS_TS: &str = concat!(
            "export interface LoadOptions {\n",
            "  /** Called after each chunk: bytes pushed so far, the file size once known, and, once ",
            "its header (a checkpoint's pickle) has arrived, what the file holds and what of it is ",
            "read past (a full model's UNet and text encoders). */\n",
            "  onProgress?: (loaded: number, total: number | undefined, file: WeightsFile | undefined) => void;\n",
            "  /** Aborts the download and the load; the promise rejects. */\n",
            "  signal?: AbortSignal;\n",
            $("  /** ", $doc, " */\n  ", $js, "?: ", $ts, ";\n",)*
            "}\n"
        );
    };
}

user_options! {
    {
        "family", "family", OptionKind::Choice(&FAMILY_CHOICES),
        "\"auto\" | \"sdxl\" | \"sd1\" | \"sd3\" | \"flux\" | \"flux2\" | \"qwen-image\" | \"taesdxl\" | \"taesd\" | \"taesd3\" | \"taef1\" | \"taef2\" | \"taew2.1\"",
        "The model the VAE belongs to, which sets the latent factors: a file's shapes cannot tell \
         SD 1.x from SDXL, nor SD3 from FLUX.1 [default: auto: from config.json, else sdxl for \
         4 channels, flux or sd3 for 16 (flux for LDM names without a prefix), flux2 for 32, \
         qwen-image for Qwen-Image's VAE, taew2.1 for TAEHV]",
        |c, v| c.load.family.family = Family::parse(v.word())
    },
    {
        "scalingFactor", "scaling-factor", OptionKind::Number, "number",
        "Latent scaling factor [default: the family's: sdxl 0.13025, sd1 0.18215, sd3 1.5305, \
         flux 0.3611]",
        |c, v| c.load.family.scaling_factor = Some(v.number() as f32)
    },
    {
        "shiftFactor", "shift-factor", OptionKind::Real, "number",
        "Latent shift factor: a diffusion model sees (latent − shift) × scale [default: the \
         family's: 0 for SD 1.x/SDXL, sd3 0.0609, flux 0.1159]",
        |c, v| c.load.family.shift_factor = Some(v.number() as f32)
    },
    {
        "config", "config", OptionKind::Json, "object | string",
        "A diffusers config.json for the VAE (its factors and latent channels); on the command \
         line a file path [default: the config.json beside the weights, where there is one]",
        |c, v| c.load.family.config = Some(DiffusersConfig::parse(v.word()).map_err(|e| e.to_string())?)
    },
    {
        "precision", "precision", OptionKind::Choice(&["f32", "f16"]), "\"f32\" | \"f16\"",
        "f32 (exact, the default) or f16: weights, convolution inputs and activations held as \
         f16, accumulated in f32, about half the GPU memory; a call whose values exceed f16's \
         range runs again with them in f32",
        |c, v| c.load.precision = match v.word() {
            "f16" => Precision::F16,
            _ => Precision::F32,
        }
    },
    {
        "limits", "limits", OptionKind::Choice(&["adapter", "webgpu-default"]),
        "\"adapter\" | \"webgpu-default\"",
        "Device limits to request: everything the adapter offers (the default) or WebGPU's \
         default limits, as a browser grants on a modest adapter",
        |c, v| c.gpu.limits = match v.word() {
            "webgpu-default" => LimitsChoice::WebGpuDefault,
            _ => LimitsChoice::Adapter,
        }
    },
    {
        "features", "features", OptionKind::Choice(&["adapter", "none"]),
        "\"adapter\" | \"none\"",
        "Optional device features to request: those the engine uses where the adapter has them \
         (the default: subgroups) or none, as an adapter without them (Safari's) would give; \
         the results are the same",
        |c, v| c.gpu.features = match v.word() {
            "none" => FeaturesChoice::None,
            _ => FeaturesChoice::Adapter,
        }
    },
    {
        "maxBufferBytes", "max-buffer", OptionKind::Bytes, "number | string",
        "Most bytes of any one activation buffer, e.g. 64M [default: the device's binding \
         limit]; larger activations are split into row bands, with the same results",
        |c, v| c.load.max_band_bytes = Some(v.number() as u64)
    },
    {
        "memoryBudget", "memory-budget", OptionKind::Bytes, "number | string",
        "The most GPU memory the model may hold at once, weights and activations together, \
         e.g. 1G or 512M [default: no budget]; what does not fit waits in host memory and \
         streams through each layer in row bands, with the same results",
        |c, v| c.load.memory_budget = Some(v.number() as u64)
    },
    {
        "sharedWeights", "shared-weights", OptionKind::Bool, "boolean",
        "Tuning, for tests: whether the convolutions stage their weights in workgroup memory \
         (default: on GPUs, not on fallback/CPU adapters, where it is slower); `Vae.convStaging` \
         names the form in use",
        hidden: true,
        |c, v| c.load.shared_weights = Some(v.word() == "true")
    },
}

/// A value its option's kind has checked: a number, or a word (a choice, `true`/`false`, or a
/// JSON text).
enum Parsed<'a> {
    Number(f64),
    Word(&'a str),
}

impl<'a> Parsed<'a> {
    fn number(&self) -> f64 {
        match self {
            Parsed::Number(v) => *v,
            Parsed::Word(_) => f64::NAN,
        }
    }

    fn word(&self) -> &'a str {
        match self {
            Parsed::Word(w) => w,
            Parsed::Number(_) => "",
        }
    }
}

impl UserOption {
    /// `value` checked against this option's kind.
    fn parse<'a>(&self, value: OptionValue<'a>) -> Result<Parsed<'a>, String> {
        let number = match value {
            OptionValue::Number(v) => Some(v),
            OptionValue::Text(t) => parse_number(t, self.kind),
        };
        let must = |what: &str| Err(format!("{} must be {what}, got {value}", self.js));
        match (self.kind, value) {
            (OptionKind::Real, _) => match number.filter(|v| v.is_finite()) {
                Some(v) => Ok(Parsed::Number(v)),
                None => must("a number"),
            },
            (OptionKind::Number | OptionKind::Bytes, _) => {
                let v = number.filter(|v| v.is_finite() && *v > 0.0);
                match v.filter(|v| self.kind != OptionKind::Bytes || *v >= 1.0) {
                    Some(v) => Ok(Parsed::Number(v)),
                    None => must("a positive number"),
                }
            }
            (OptionKind::Json, OptionValue::Text(text)) => Ok(Parsed::Word(text)),
            (OptionKind::Json, _) => must("a JSON object"),
            (OptionKind::Bool, OptionValue::Text(t @ ("true" | "false"))) => Ok(Parsed::Word(t)),
            (OptionKind::Bool, _) => must("true or false"),
            (OptionKind::Choice(words), OptionValue::Text(t)) if words.contains(&t) => {
                Ok(Parsed::Word(t))
            }
            (OptionKind::Choice(words), _) => {
                let words: Vec<String> = words.iter().map(|w| format!("{w:?}")).collect();
                must(&words.join(" or "))
            }
        }
    }
}

/// An option's value as it arrives: a number (from JS) or text (a flag, a URL parameter, or a
/// JS string).
#[derive(Clone, Copy, Debug)]
pub enum OptionValue<'a> {
    Number(f64),
    Text(&'a str),
}

impl std::fmt::Display for OptionValue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionValue::Number(v) => write!(f, "{v}"),
            OptionValue::Text(t) => write!(f, "{t:?}"),
        }
    }
}

/// What a user chose: the model's options and the device's.
#[derive(Clone, Debug, Default)]
pub struct Choices {
    pub load: LoadOptions,
    pub gpu: GpuOptions,
}

impl Choices {
    /// Sets the option named `name` (its `js` or `cli` name) to `value`; the error names the
    /// option and what it takes.
    pub fn set(&mut self, name: &str, value: OptionValue) -> Result<(), String> {
        let opt = OPTIONS
            .iter()
            .find(|o| o.js == name || o.cli == name)
            .ok_or_else(|| format!("unknown option {name:?}"))?;
        (opt.set)(self, opt, value)
    }
}

/// A number written as text; for [`OptionKind::Bytes`] with an optional K, M or G suffix.
fn parse_number(text: &str, kind: OptionKind) -> Option<f64> {
    let (num, mult) = match (kind, text.char_indices().last()) {
        (OptionKind::Bytes, Some((i, 'K' | 'k'))) => (&text[..i], 1u64 << 10),
        (OptionKind::Bytes, Some((i, 'M' | 'm'))) => (&text[..i], 1 << 20),
        (OptionKind::Bytes, Some((i, 'G' | 'g'))) => (&text[..i], 1 << 30),
        _ => (text, 1),
    };
    let v: f64 = num.trim().parse().ok()?;
    Some(v * mult as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_parses_from_text_and_rejects_nonsense() {
        let mut c = Choices::default();
        c.set("scaling-factor", OptionValue::Text("0.18215"))
            .unwrap();
        c.set("maxBufferBytes", OptionValue::Text("64M")).unwrap();
        c.set("precision", OptionValue::Text("f16")).unwrap();
        c.set("limits", OptionValue::Text("webgpu-default"))
            .unwrap();
        c.set("shift-factor", OptionValue::Text("-0.5")).unwrap();
        c.set("family", OptionValue::Text("sd3")).unwrap();
        c.set("config", OptionValue::Text(r#"{"shift_factor": 0.1}"#))
            .unwrap();
        assert_eq!(c.load.family.shift_factor, Some(-0.5));
        assert_eq!(c.load.family.family, Some(Family::Sd3));
        assert_eq!(
            c.load.family.config.as_ref().unwrap().shift_factor,
            Some(0.1)
        );
        assert!(Choices::default()
            .set("config", OptionValue::Text("[1]"))
            .unwrap_err()
            .contains("config.json"));
        assert_eq!(c.load.family.scaling_factor, Some(0.18215));
        assert_eq!(c.load.max_band_bytes, Some(64 << 20));
        assert_eq!(c.load.precision, Precision::F16);
        assert!(matches!(c.gpu.limits, LimitsChoice::WebGpuDefault));
        c.set("maxBufferBytes", OptionValue::Number(4096.0))
            .unwrap();
        assert_eq!(c.load.max_band_bytes, Some(4096));
        c.set("shared-weights", OptionValue::Text("false")).unwrap();
        assert_eq!(c.load.shared_weights, Some(false));
        for (name, bad) in [
            ("scalingFactor", OptionValue::Text("-1")),
            ("scalingFactor", OptionValue::Number(f64::NAN)),
            ("shiftFactor", OptionValue::Text("none")),
            ("family", OptionValue::Text("sd2")),
            ("max-buffer", OptionValue::Text("lots")),
            ("maxBufferBytes", OptionValue::Number(0.5)),
            ("precision", OptionValue::Text("f8")),
            ("limits", OptionValue::Number(1.0)),
            ("sharedWeights", OptionValue::Text("yes")),
        ] {
            let e = Choices::default().set(name, bad).unwrap_err();
            assert!(e.contains("must be"), "{name}: {e}");
        }
        assert!(Choices::default()
            .set("speed", OptionValue::Number(1.0))
            .is_err());
    }
}
