//! A call's options in JS, `{ signal?: AbortSignal, onProgress?: (done, total) => void }`, as the
//! engine's [`CallControl`]: the signal is read and progress reported between the submissions a
//! call is split into.

use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;

use super::failure::Failure;
use crate::gpu::CallControl;

#[wasm_bindgen(typescript_custom_section)]
const TS_CALL_OPTIONS: &'static str = r#"
/** What `encode`, `encodeSample`, `decode` and `decodeRaw` take besides their input. */
export interface CallOptions {
  /** Aborts the call between its steps (it rejects with code `aborted`; what it made is freed).
   *  A call still queued behind another rejects as soon as its turn comes. */
  signal?: AbortSignal;
  /** Called as the call goes: `done` of `total` steps, ending with `done === total`. */
  onProgress?: (done: number, total: number) => void;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// A call's options argument, which may be left out.
    #[wasm_bindgen(typescript_type = "CallOptions")]
    pub type CallOptionsArg;
}

/// A call's signal and progress callback.
#[derive(Default)]
pub struct CallOptions {
    signal: Option<web_sys::AbortSignal>,
    on_progress: Option<Function>,
}

impl CallOptions {
    /// Reads `{signal, onProgress}`; anything else there is an error that names it.
    pub fn from_js(v: Option<CallOptionsArg>) -> Result<CallOptions, Failure> {
        let Some(v) = v
            .map(JsValue::from)
            .filter(|v| !v.is_undefined() && !v.is_null())
        else {
            return Ok(CallOptions::default());
        };
        let get = |k: &str| Reflect::get(&v, &k.into()).unwrap_or(JsValue::UNDEFINED);
        let signal =
            match get("signal") {
                s if s.is_undefined() || s.is_null() => None,
                s => Some(s.dyn_into::<web_sys::AbortSignal>().map_err(|_| {
                    Failure::bad_argument("a call's `signal` must be an AbortSignal")
                })?),
            };
        let on_progress =
            match get("onProgress") {
                f if f.is_undefined() || f.is_null() => None,
                f => Some(f.dyn_into::<Function>().map_err(|_| {
                    Failure::bad_argument("a call's `onProgress` must be a function")
                })?),
            };
        Ok(CallOptions {
            signal,
            on_progress,
        })
    }

    pub fn report(&self, done: u32, total: u32) {
        if let Some(f) = &self.on_progress {
            // A throwing callback does not stop the call.
            let _ = f.call2(&JsValue::NULL, &done.into(), &total.into());
        }
    }

    pub fn aborted(&self) -> bool {
        self.signal
            .as_ref()
            .is_some_and(web_sys::AbortSignal::aborted)
    }

    /// A [`CallControl`] over these options, through `report` and `aborted` (see [`controlled`]).
    pub fn control<'a>(
        &self,
        report: &'a dyn Fn(u32, u32),
        aborted: &'a dyn Fn() -> bool,
    ) -> CallControl<'a> {
        CallControl {
            progress: self.on_progress.as_ref().map(|_| report),
            cancelled: self.signal.as_ref().map(|_| aborted),
        }
    }
}

/// `controlled!(opts, |ctl| body)`: `body` with `ctl` the [`CallControl`] of `opts`.
macro_rules! controlled {
    ($opts:expr, |$ctl:ident| $body:expr) => {{
        let o = &$opts;
        let report = |d, t| o.report(d, t);
        let aborted = || o.aborted();
        let $ctl = o.control(&report, &aborted);
        $body
    }};
}
pub(super) use controlled;
