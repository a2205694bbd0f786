//! A lost device as the cause of a call's failure. Chromium rejects a readback in flight
//! (`mapAsync`) as soon as the device is destroyed, but resolves `device.lost` only once the
//! GPU has finished the work already submitted (about a second on SwiftShader): a call that
//! fails so waits for the loss to be reported and then names it, not its symptom.

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

use super::failure::Failure;
use crate::gpu::Gpu;

/// How long a failed readback waits for the device to report its loss: longer than the GPU
/// takes to finish one call's submitted work (the slowest seen, SwiftShader, about 1 s).
const LOST_WAIT_MS: i32 = 5_000;
const POLL_MS: i32 = 10;

#[wasm_bindgen]
extern "C" {
    /// The global `setTimeout` (a window's or a worker's).
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(callback: &Function, ms: i32) -> JsValue;
}

async fn sleep(ms: i32) {
    let timer = Promise::new(&mut |resolve, _| {
        set_timeout(&resolve, ms);
    });
    // A timer's promise only resolves.
    let _ = wasm_bindgen_futures::JsFuture::from(timer).await;
}

/// The device-lost error in place of `failure` where the device was lost during the call.
pub async fn lost_or(gpu: &Gpu, failure: Failure) -> Failure {
    if failure.readback {
        let mut waited = 0;
        while gpu.check_lost().is_ok() && waited < LOST_WAIT_MS {
            sleep(POLL_MS).await;
            waited += POLL_MS;
        }
    }
    match gpu.check_lost() {
        Err(lost) => lost.into(),
        Ok(()) => failure,
    }
}
