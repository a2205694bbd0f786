//! Convolution weights on the GPU: the weight texture that `conv2d.wgsl` reads, made once at
//! load time, and the bias.

use crate::gpu::Weight;

/// Conv weights on the GPU: a texture ([`weight_texture`]) and the bias, padded to a multiple
/// of 4.
pub struct ConvWeights {
    pub texture: WeightTexture,
    pub bias: Weight,
    pub cin: u32,
    pub cout: u32,
    pub k: u32,
}

/// Convolution weights as a launch reads them: [`ConvWeights`] of the model, or weights made on
/// the GPU for one call (attention's keys and values).
#[derive(Clone, Copy)]
pub struct ConvRef<'a> {
    pub texture: &'a wgpu::TextureView,
    /// Whether `texture` holds f16 values.
    pub texture_f16: bool,
    /// Padded to a multiple of 4.
    pub bias: &'a Weight,
    pub cin: u32,
    pub cout: u32,
    pub k: u32,
}

impl ConvWeights {
    pub fn as_ref(&self) -> ConvRef<'_> {
        ConvRef {
            texture: &self.texture.view,
            texture_f16: self.texture.f16,
            bias: &self.bias,
            cin: self.cin,
            cout: self.cout,
            k: self.k,
        }
    }
}

/// A convolution's weights as the texture `conv2d.wgsl` reads ([`weight_texture`]).
pub struct WeightTexture {
    pub(crate) texture: wgpu::Texture,
    pub view: wgpu::TextureView,
    /// Whether it holds f16 values (rgba32uint, 8 a texel) rather than f32.
    pub f16: bool,
    pub bytes: u64,
}

/// PyTorch weights `w` (`[cout, cin, k, k]`) as the texture array that `conv2d.wgsl` reads:
/// texel `(c·2·k·k + tap·2 + h, q, block)` holds output channels `8·block + 4h .. +3` of input
/// channel `4q + c` at `tap` (zero past `cout` and `cin`; an even number of rows q). If `f16`
/// and every weight is within f16's range, its f16 layout instead: texel `(c·k·k + tap, q,
/// block)` of a rgba32uint texture holds output channels `8·block .. +7` of input channel
/// `8q + c`.
pub fn weight_texture(
    gpu: &crate::gpu::Gpu,
    w: &[f32],
    cout: u32,
    cin: u32,
    k: u32,
    f16: bool,
) -> WeightTexture {
    weight_layout(w, cout, cin, k, f16).upload(gpu)
}

/// A convolution's weights laid out for [`weight_texture`], not yet on the GPU: the CPU half of
/// the work, which loading times apart from the upload.
pub struct WeightLayout {
    size: [u32; 3],
    texels: Texels,
}

enum Texels {
    F32(Vec<f32>),
    F16(Vec<half::f16>),
}

/// See [`weight_texture`].
pub fn weight_layout(w: &[f32], cout: u32, cin: u32, k: u32, f16: bool) -> WeightLayout {
    let f16 = f16 && w.iter().all(|v| v.abs() <= half::f16::MAX.to_f32());
    let (size, data) = scatter(w, cout, cin, k, f16);
    let texels = match f16 {
        true => Texels::F16(data.iter().map(|v| half::f16::from_f32(*v)).collect()),
        false => Texels::F32(data),
    };
    WeightLayout { size, texels }
}

/// The f16 layout of [`weight_texture`] from weights given as f16 bits, with no conversion;
/// `None` if any is infinite or NaN (which the f16 layout does not take).
pub fn weight_layout_f16(bits: &[u16], cout: u32, cin: u32, k: u32) -> Option<WeightLayout> {
    if bits.iter().any(|b| b & 0x7c00 == 0x7c00) {
        return None;
    }
    let (size, data) = scatter(bits, cout, cin, k, true);
    let texels = Texels::F16(data.into_iter().map(half::f16::from_bits).collect());
    Some(WeightLayout { size, texels })
}

/// `w` (`[cout, cin, k, k]`) in the texel order of [`weight_texture`]'s f16 or f32 layout, zero
/// (the default) where padded; and the texture's size.
fn scatter<T: Copy + Default>(
    w: &[T],
    cout: u32,
    cin: u32,
    k: u32,
    f16: bool,
) -> ([u32; 3], Vec<T>) {
    let (kk, blocks, octs) = (
        (k * k) as usize,
        cout.div_ceil(8) as usize,
        cin.div_ceil(8) as usize,
    );
    let (cout, cin, width) = (cout as usize, cin as usize, 8 * kk);
    // Texel rows a block: octs of 8 input channels (f16) or twice as many quads of 4 (f32).
    let rows = if f16 { octs } else { 2 * octs };
    // Either way 8 values a row and texel column per output channel block: the same count.
    let mut data = vec![T::default(); 8 * width * octs * blocks];
    for b in 0..blocks {
        for ci in 0..cin {
            for t in 0..kk {
                // The first of the 8 values of output channels 8·b .. +7 at (ci, t).
                let at = match f16 {
                    true => 8 * ((b * rows + ci / 8) * width + (ci % 8) * kk + t),
                    false => 4 * ((b * rows + ci / 4) * width + (ci % 4) * 2 * kk + 2 * t),
                };
                for j in 0..8.min(cout - 8 * b) {
                    data[at + j] = w[((8 * b + j) * cin + ci) * kk + t];
                }
            }
        }
    }
    ([width as u32, rows as u32, blocks as u32], data)
}

impl WeightLayout {
    pub fn upload(self, gpu: &crate::gpu::Gpu) -> WeightTexture {
        let usage = wgpu::TextureUsages::TEXTURE_BINDING
            | wgpu::TextureUsages::STORAGE_BINDING
            | wgpu::TextureUsages::COPY_DST;
        let f16 = matches!(self.texels, Texels::F16(_));
        let (texture, view) =
            crate::gpu::float_array(gpu.device(), "conv weights", self.size, f16, usage);
        match &self.texels {
            Texels::F16(h) => write_texture(gpu, &texture, bytemuck::cast_slice(h)),
            Texels::F32(v) => write_texture(gpu, &texture, bytemuck::cast_slice(v)),
        }
        WeightTexture {
            texture,
            view,
            f16,
            bytes: crate::gpu::texture_bytes(self.size),
        }
    }
}

/// Writes all of `texture` (16-byte texels) from `data`.
fn write_texture(gpu: &crate::gpu::Gpu, texture: &wgpu::Texture, data: &[u8]) {
    let size = texture.size();
    gpu.queue().write_texture(
        texture.as_image_copy(),
        data,
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(16 * size.width),
            rows_per_image: Some(size.height),
        },
        size,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From f16 bits, the same texels as from their f32 values; none with an infinity.
    #[test]
    fn f16_bits_lay_out_as_their_values() {
        let mut x = 12345u32;
        let mut bits: Vec<u16> = (0..13 * 11 * 9)
            .map(|_| {
                x = x.wrapping_mul(1664525).wrapping_add(1013904223);
                (x >> 16) as u16
            })
            .filter(|b| b & 0x7c00 != 0x7c00)
            .collect();
        bits.truncate(13 * 11 * 9 - 40);
        bits.extend(
            [0, 0x8000, 1, 0x83ff, 0x7bff, 0xfbff]
                .iter()
                .cycle()
                .take(40),
        );
        let values: Vec<f32> = bits
            .iter()
            .map(|b| half::f16::from_bits(*b).to_f32())
            .collect();
        let (a, b) = (
            weight_layout(&values, 13, 11, 3, true),
            weight_layout_f16(&bits, 13, 11, 3).unwrap(),
        );
        assert_eq!(a.size, b.size);
        let texels = |t: &Texels| match t {
            Texels::F16(h) => h.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            Texels::F32(_) => panic!("f32 texels"),
        };
        assert_eq!(texels(&a.texels), texels(&b.texels));
        bits[5] = 0x7c00;
        assert!(weight_layout_f16(&bits, 13, 11, 3).is_none());
    }
}
