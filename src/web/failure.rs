//! Failures as JS sees them: every rejection is an `Error` whose `message` is the engine's and
//! whose `code` is its stable [`ErrorCode`] (`sdxl_vae.d.ts`'s `VaeError`), so programs decide
//! on the code and people read the message.

use js_sys::Reflect;
use wasm_bindgen::prelude::*;

use crate::error::Error;
use crate::error_code::ErrorCode;
use crate::weights::WeightsError;

/// What went wrong, with its code.
#[derive(Debug)]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
    /// Whether reading results back failed (which is how a lost device shows first).
    pub readback: bool,
    /// For a call over the memory budget: the least budget that would do (`error.neededBytes`).
    pub needed: Option<u64>,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            readback: false,
            needed: None,
        }
    }

    pub fn bad_argument(message: impl Into<String>) -> Failure {
        Failure::new(ErrorCode::BadArgument, message)
    }

    pub fn aborted() -> Failure {
        Failure::new(ErrorCode::Aborted, "loading the weights was aborted")
    }

    /// A JS `Error` with this message and `code`.
    pub fn to_js(&self) -> JsValue {
        let e: JsValue = JsError::new(&self.message).into();
        // Setting a data property on a fresh Error cannot fail.
        let _ = Reflect::set(&e, &"code".into(), &self.code.as_str().into());
        if let Some(n) = self.needed {
            let _ = Reflect::set(&e, &"neededBytes".into(), &(n as f64).into());
        }
        e
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure {
            code: e.code(),
            readback: matches!(e, Error::Readback(_)),
            needed: match e {
                Error::OverBudget { needed, .. } => Some(needed),
                _ => None,
            },
            message: e.to_string(),
        }
    }
}

impl From<WeightsError> for Failure {
    fn from(e: WeightsError) -> Failure {
        Failure::new(e.code(), e.to_string())
    }
}

impl From<Failure> for JsValue {
    fn from(f: Failure) -> JsValue {
        f.to_js()
    }
}
