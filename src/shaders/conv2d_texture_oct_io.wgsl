// f32 operands for `conv2d_texture_oct.wgsl`: each section replaces the f16 section of the same
// name there (between `// io: <name>` and the next `// io:` marker).

// io: in
// Input: layers 2·q8 and 2·q8 + 1 of the rgba32float texture that `pack_input.wgsl` writes
// (4 channels a texel; an even number of layers).
@group(0) @binding(0) var src: texture_2d_array<f32>;
alias In = Oct;

fn fetch_in(x: i32, y: i32, q8: i32) -> In {
    return Oct(textureLoad(src, vec2<i32>(x, y), 2 * q8, 0),
               textureLoad(src, vec2<i32>(x, y), 2 * q8 + 1, 0));
}

fn chan(v: In, c: i32) -> f32 {
    if (c < 4) {
        return v.a[c];
    }
    return v.b[c - 4];
}

// io: weights
// Weights: the rgba32float layout of `conv2d_texture.wgsl` (texel (c·2·k·k + tap·2 + h, q, block)
// holds output channels 8·block + 4h .. +3 of input channel 4q + c; an even number of rows).
@group(0) @binding(1) var wt: texture_2d_array<f32>;

fn fetch_w(c: i32, tap: i32, kk: i32, q8: i32, blk: i32) -> Oct {
    let x = (c % 4) * 2 * kk + tap * 2;
    let q = 2 * q8 + c / 4;
    return Oct(textureLoad(wt, vec2<i32>(x, q), blk, 0), textureLoad(wt, vec2<i32>(x + 1, q), blk, 0));
}

// io: end
