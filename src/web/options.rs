//! `Vae.load`'s options, read by the table of user options (`crate::api::options::OPTIONS`),
//! and that table for the page, which takes the same names as URL parameters.

use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::source;
use crate::api::options::{Choices, OptionKind, OptionValue, OPTIONS};
use crate::api::LoadOptions;
use crate::gpu::GpuOptions;

/// The parsed options.
pub(super) type Parsed = (source::Feed, LoadOptions, GpuOptions);

pub(super) fn load_options(options: &JsValue) -> Result<Parsed, String> {
    let get = |k: &str| match options.is_object() {
        true => Reflect::get(options, &k.into()).unwrap_or(JsValue::UNDEFINED),
        false => JsValue::UNDEFINED,
    };
    let on_progress = get("onProgress").dyn_into::<Function>().ok();
    let signal = get("signal").dyn_into::<web_sys::AbortSignal>().ok();
    let mut choices = Choices::default();
    for o in OPTIONS {
        let v = get(o.js);
        if v.is_undefined() || v.is_null() {
            continue;
        }
        // A number as such; anything else by its text, which the option then rejects or takes
        // (an object as its JSON).
        let json = || js_sys::JSON::stringify(&v).ok().and_then(|s| s.as_string());
        let text = match (o.kind, v.as_string(), v.as_bool()) {
            (_, Some(s), _) => s,
            (OptionKind::Json, None, _) if v.is_object() => json().unwrap_or_default(),
            (OptionKind::Bool, None, Some(b)) => b.to_string(),
            _ => format!("{v:?}"),
        };
        let value = match v.as_f64() {
            Some(n) => OptionValue::Number(n),
            None => OptionValue::Text(&text),
        };
        choices.set(o.js, value)?;
    }
    let feed = source::Feed {
        on_progress,
        signal,
        loaded: 0,
        total: None,
    };
    Ok((feed, choices.load, choices.gpu))
}

/// The user options `Vae.load` takes, which the page also reads from its URL (all but tuning
/// knobs).
#[wasm_bindgen(js_name = userOptions, unchecked_return_type = "UserOption[]")]
pub fn user_options() -> Array {
    OPTIONS
        .iter()
        .filter(|o| !o.hidden)
        .map(|o| {
            let entry = Object::new();
            let (kind, values) = match o.kind {
                OptionKind::Number => ("number", None),
                OptionKind::Real => ("real", None),
                OptionKind::Bytes => ("bytes", None),
                OptionKind::Json => ("json", None),
                OptionKind::Bool => ("bool", None),
                OptionKind::Choice(words) => ("choice", Some(words)),
            };
            let set = |k: &str, v: JsValue| Reflect::set(&entry, &k.into(), &v).is_ok();
            set("name", o.js.into());
            set("kind", kind.into());
            set("doc", o.doc.into());
            if let Some(words) = values {
                set(
                    "values",
                    words
                        .iter()
                        .map(|w| JsValue::from(*w))
                        .collect::<Array>()
                        .into(),
                );
            }
            JsValue::from(entry)
        })
        .collect()
}
