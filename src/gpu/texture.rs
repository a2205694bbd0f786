//! The textures convolutions read their inputs and made weights from: the pool's slots, their
//! format, and their size in bytes.

/// The textures a pool holds, one of each, reused by every kernel that needs one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextureSlot {
    /// The convolutions' input, written by `pack_input.wgsl`: of convolutions with at most
    /// [`DEEP_LAYERS`] texture layers (the wide, high-resolution ones)…
    Input = 0,
    /// Convolution weights made on the GPU from activations (attention's keys and values),
    /// written by `pack_weights.wgsl`.
    Weights = 1,
    /// …and of the deeper ones (low resolution, many channels). One texture serves every
    /// convolution of its slot at the largest width, height and depth any asks for, so the two
    /// kinds kept apart do not make one texture both wide and deep.
    DeepInput = 2,
}

/// Texture slots of a pool.
pub const TEXTURE_SLOTS: usize = 3;

/// The most texture layers of a convolution input in [`TextureSlot::Input`] (256 channels in
/// f32, 512 in f16).
pub const DEEP_LAYERS: u32 = 64;

impl TextureSlot {
    pub const ALL: [TextureSlot; TEXTURE_SLOTS] = [
        TextureSlot::Input,
        TextureSlot::Weights,
        TextureSlot::DeepInput,
    ];

    pub(super) fn label(self) -> &'static str {
        match self {
            TextureSlot::Input => "conv input texture",
            TextureSlot::Weights => "conv weights texture",
            TextureSlot::DeepInput => "conv input texture (deep)",
        }
    }
}

/// The texture format of the convolution operands: rgba32uint (8 f16 values a texel) if `f16`,
/// else rgba32float (4 f32 values).
pub fn texel_format(f16: bool) -> wgpu::TextureFormat {
    if f16 {
        wgpu::TextureFormat::Rgba32Uint
    } else {
        wgpu::TextureFormat::Rgba32Float
    }
}

/// Bytes of a texture of `size` (width, height, layers): 16 a texel in either format.
pub fn texture_bytes(size: [u32; 3]) -> u64 {
    16 * size.iter().map(|&d| d as u64).product::<u64>()
}

/// An rgba32float (or, if `f16`, rgba32uint: see [`texel_format`]) 2-D texture array of
/// `size` (width, height, layers), and its array view.
pub(crate) fn float_array(
    device: &wgpu::Device,
    label: &str,
    size: [u32; 3],
    f16: bool,
    usage: wgpu::TextureUsages,
) -> (wgpu::Texture, wgpu::TextureView) {
    let texture = device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d {
            width: size[0],
            height: size[1],
            depth_or_array_layers: size[2],
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: texel_format(f16),
        usage,
        view_formats: &[],
    });
    let view = texture.create_view(&wgpu::TextureViewDescriptor {
        dimension: Some(wgpu::TextureViewDimension::D2Array),
        ..Default::default()
    });
    (texture, view)
}
