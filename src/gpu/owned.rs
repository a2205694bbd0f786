//! GPU objects with one owner: a model's weights (each a [`Weight`]), freed together with the
//! model or with a load that never finished.

/// GPU objects that one owner frees together when it drops — a model's weights, by its
/// [`crate::Vae`] or, for a load that never finished, by its loader. WebGPU otherwise keeps their
/// memory until the handles are garbage-collected. Only the last owner of work recorded with
/// them may hold this: destroyed objects fail a later submission.
#[derive(Default)]
pub struct Owned {
    buffers: Vec<wgpu::Buffer>,
    textures: Vec<wgpu::Texture>,
}

impl Owned {
    pub fn buffer(&mut self, buffer: &wgpu::Buffer) {
        self.buffers.push(buffer.clone());
    }

    pub fn texture(&mut self, texture: &wgpu::Texture) {
        self.textures.push(texture.clone());
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.buffers.iter().for_each(wgpu::Buffer::destroy);
        self.textures.iter().for_each(wgpu::Texture::destroy);
    }
}

/// A weight tensor on the GPU (f32, in the layout its kernel expects).
pub struct Weight {
    pub(crate) buf: wgpu::Buffer,
    /// Number of f32 values.
    pub len: usize,
}

impl Weight {
    pub fn upload(device: &wgpu::Device, queue: &wgpu::Queue, label: &str, data: &[f32]) -> Weight {
        let size = (4 * data.len() as u64).max(16).next_multiple_of(16);
        let buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        queue.write_buffer(&buf, 0, bytemuck::cast_slice(data));
        Weight {
            buf,
            len: data.len(),
        }
    }
}
