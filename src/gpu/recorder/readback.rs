//! Submission and readback: the end of a recording, and the error scopes it pops.

use super::Recorder;
use crate::error::{Error, Result};
use crate::gpu::{unpack_f16, Gpu, Tensor};

impl Recorder<'_> {
    /// Submits everything recorded, then reads `t` (held whole) back as f32 values `[c, h, w]`.
    pub async fn finish_f32(self, t: &Tensor) -> Result<Vec<f32>> {
        let bytes = self.finish_bytes(t.buffer(), t.bytes()).await?;
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes);
        Ok(match t.f16 {
            true => unpack_f16(&words, t.c as usize, t.h as usize * t.w as usize),
            false => words.into_iter().map(f32::from_bits).collect(),
        })
    }

    /// Submits everything recorded, then reads the first `bytes` of `buf` back; at f16,
    /// [`Error::F16Overflow`] instead where a value exceeded f16's range.
    pub async fn finish_bytes(mut self, buf: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        let device = self.gpu.device.clone();
        let padded = bytes.next_multiple_of(4);
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: padded + 4,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.transient.buffer(&staging);
        self.encoder
            .copy_buffer_to_buffer(buf, 0, &staging, 0, Some(padded));
        if let Some(flag) = &self.guard {
            self.encoder
                .copy_buffer_to_buffer(flag, 0, &staging, padded, Some(4));
        }
        self.gpu.queue.submit([self.encoder.finish()]);
        pop_scopes(self.gpu, &mut self.scopes).await?;
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| self.gpu.lost_or(Error::Readback(e.to_string())))?;
        match rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.gpu.lost_or(Error::Readback(e.to_string()))),
            Err(_) => return Err(Error::Readback("the map callback was dropped".into())),
        }
        let data = {
            let view = staging
                .slice(..)
                .get_mapped_range()
                .map_err(|e| self.gpu.lost_or(Error::Readback(e.to_string())))?;
            let flag = &view[padded as usize..padded as usize + 4];
            let flag = u32::from_le_bytes([flag[0], flag[1], flag[2], flag[3]]);
            match self.guard.is_some() && flag != 0 {
                true => Err(flag),
                false => Ok(view[..bytes as usize].to_vec()),
            }
        };
        staging.unmap();
        self.gpu.check_lost()?;
        // Bit 1: a store of an f16 activation (bit 0: a packed input, which may follow from it).
        data.map_err(|flag| Error::F16Overflow {
            activation: flag & 2 != 0,
        })
    }
}

/// Pops every error scope, in reverse order, and reports the first error.
pub(super) async fn pop_scopes(gpu: &Gpu, scopes: &mut Scopes) -> Result<()> {
    // Every scope is popped before the first await: recording, submission and the pops
    // form one synchronous stretch, so calls overlapping on the web cannot interleave their
    // scopes.
    let pops: Vec<_> = std::iter::from_fn(|| scopes.0.pop())
        .map(|s| s.pop())
        .collect();
    let mut first = None;
    for p in pops {
        if let Some(e) = p.await {
            first.get_or_insert(e);
        }
    }
    match first {
        None => Ok(()),
        Some(e) => Err(gpu.lost_or(match e {
            wgpu::Error::OutOfMemory { .. } => Error::OutOfMemory(
                "the GPU could not allocate this call's buffers; use a smaller image, `f16` \
                 precision, or free other models"
                    .into(),
            ),
            e => Error::Gpu {
                op: "encode/decode".into(),
                message: e.to_string(),
            },
        })),
    }
}

/// Error scopes pushed for one recording. wgpu requires popping in reverse order, also when a
/// recording is abandoned after an error (dropped without `finish`).
pub(super) struct Scopes(pub(super) Vec<wgpu::ErrorScopeGuard>);

impl Scopes {
    /// Out-of-memory and validation scopes, pushed in the order they are popped back.
    pub(super) fn push(device: &wgpu::Device) -> Scopes {
        Scopes(vec![
            device.push_error_scope(wgpu::ErrorFilter::OutOfMemory),
            device.push_error_scope(wgpu::ErrorFilter::Validation),
        ])
    }
}

impl Drop for Scopes {
    fn drop(&mut self) {
        while let Some(s) = self.0.pop() {
            drop(s);
        }
    }
}
