//! Every shader parses and validates with naga — no GPU needed.

fn validate(name: &str, src: &str) -> naga::Module {
    let module = naga::front::wgsl::parse_str(src)
        .unwrap_or_else(|e| panic!("{name}.wgsl: {}", e.emit_to_string(src)));
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        // pack2x16float and unpack2x16float (WebGPU core); subgroups (where the device has them).
        naga::valid::Capabilities::SHADER_FLOAT16_IN_FLOAT32 | naga::valid::Capabilities::SUBGROUP,
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{name}.wgsl does not validate: {e:?}"));
    module
}

#[test]
fn all_shaders_validate_with_naga() {
    for (name, src) in sdxl_vae::kernels::SOURCES {
        validate(name, src);
    }
    assert_eq!(sdxl_vae::kernels::SOURCES.len(), 19);
}

/// The f16 forms of the pack shaders and every operand combination of the oct convolution
/// validate, and each differs from its source where it should: rgba32uint texels, f32 operand
/// sections swapped in.
#[test]
fn f16_and_oct_forms_validate_with_naga() {
    use sdxl_vae::kernels::{f16_source, oct_source, SOURCES};
    for name in ["pack_input", "pack_weights"] {
        let src = SOURCES.iter().find(|(n, _)| *n == name).unwrap().1;
        let f16 = f16_source(src);
        validate(&format!("{name} (f16)"), &f16);
        assert!(
            f16.contains("rgba32uint") && !f16.contains("rgba32float"),
            "{name}"
        );
        assert_eq!(
            f16.matches("pack2x16float").count(),
            4,
            "{name}: the f16 store"
        );
        let marked = |l: &str| l.ends_with("// f32") || l.trim_start().starts_with("// f16: ");
        assert!(!f16.lines().any(marked), "{name}: marked lines left");
    }
    let combos = [(true, true), (false, true), (true, false), (false, false)];
    for (name, (i, w)) in ["conv2d_texture_oct", "conv2d_texture_oct_wg"]
        .into_iter()
        .flat_map(|n| combos.map(|c| (n, c)))
    {
        let src = oct_source(name, i, w);
        let module = validate(&format!("{name} (in f16 {i}, weights f16 {w})"), &src);
        let sampled = |binding: u32| {
            let (_, var) = module
                .global_variables
                .iter()
                .find(|(_, v)| v.binding.as_ref().map(|b| b.binding) == Some(binding))
                .unwrap();
            match module.types[var.ty].inner {
                naga::TypeInner::Image {
                    class: naga::ImageClass::Sampled { kind, .. },
                    ..
                } => kind,
                ref other => panic!("binding {binding}: {other:?}"),
            }
        };
        let kind = |f16| {
            if f16 {
                naga::ScalarKind::Uint
            } else {
                naga::ScalarKind::Float
            }
        };
        assert_eq!(sampled(0), kind(i), "input of ({i}, {w})");
        assert_eq!(sampled(1), kind(w), "weights of ({i}, {w})");
    }
}

/// Each WGSL `Params` struct is mirrored by a `#[repr(C)]` Rust type of the same size.
#[test]
fn params_structs_match_wgsl_sizes() {
    use sdxl_vae::kernels::*;
    use std::mem::size_of;
    let rust: &[(&str, usize)] = &[
        ("conv2d", size_of::<conv2d::ConvParams>()),
        ("conv2d_uniform", size_of::<conv2d::ConvParams>()),
        ("conv2d_texture", size_of::<conv2d::ConvParams>()),
        ("conv2d_texture_sg", size_of::<conv2d::ConvParams>()),
        ("conv2d_texture_oct", size_of::<conv2d::ConvParams>()),
        ("conv2d_texture_oct_sg", size_of::<conv2d::ConvParams>()),
        ("conv2d_texture_wg", size_of::<conv2d::ConvParams>()),
        ("conv2d_texture_oct_wg", size_of::<conv2d::ConvParams>()),
        ("pack_input", size_of::<pack_input::PackParams>()),
        ("pack_weights", size_of::<attention::PackWeightsParams>()),
        ("group_norm_stats", size_of::<group_norm::StatsParams>()),
        ("group_norm_merge", size_of::<group_norm::MergeParams>()),
        ("group_norm_apply", size_of::<group_norm::ApplyParams>()),
        ("attention", size_of::<attention::AttentionParams>()),
        ("attention_softmax", size_of::<attention::SoftmaxParams>()),
        ("image_to_tensor", size_of::<image::ToTensorParams>()),
        ("tensor_to_image", size_of::<image::ToImageParams>()),
        ("posterior", size_of::<posterior::PosteriorParams>()),
        ("copy_rows", size_of::<copy_rows::CopyParams>()),
    ];
    assert_eq!(rust.len(), SOURCES.len());
    for (name, src) in SOURCES {
        let module = naga::front::wgsl::parse_str(src).unwrap();
        let params = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some("Params"));
        let size = params
            .map(|(h, _)| module.types[h].inner.size(module.to_ctx()))
            .unwrap();
        let want = rust.iter().find(|(n, _)| n == name).map(|(_, s)| *s);
        assert_eq!(
            Some(size as usize),
            want,
            "{name}: WGSL Params is {size} bytes"
        );
    }
}

/// The convolution kernels are generated (their register tile unrolled); each must equal the
/// generator's output.
#[test]
fn conv2d_matches_its_generator() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/shaders");
    for (variant, file) in [
        ("storage", "conv2d.wgsl"),
        ("uniform", "conv2d_uniform.wgsl"),
        ("texture", "conv2d_texture.wgsl"),
        ("texture_sg", "conv2d_texture_sg.wgsl"),
        ("oct", "conv2d_texture_oct.wgsl"),
        ("oct_sg", "conv2d_texture_oct_sg.wgsl"),
        ("texture_wg", "conv2d_texture_wg.wgsl"),
        ("oct_wg", "conv2d_texture_oct_wg.wgsl"),
    ] {
        let out = std::process::Command::new("python3")
            .arg(format!("{dir}/gen_conv2d.py"))
            .arg(variant)
            .output()
            .expect("python3 runs the shader generator");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let committed = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).trim_end() == committed.trim_end(),
            "regenerate: python3 src/shaders/gen_conv2d.py {variant} > src/shaders/{file}"
        );
    }
}
