//! Every shader parses and validates with naga — no GPU needed.

#[test]
fn all_shaders_validate_with_naga() {
    for (name, src) in sdxl_vae::kernels::SOURCES {
        let module = naga::front::wgsl::parse_str(src)
            .unwrap_or_else(|e| panic!("{name}.wgsl: {}", e.emit_to_string(src)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::empty(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}.wgsl does not validate: {e:?}"));
    }
    assert_eq!(sdxl_vae::kernels::SOURCES.len(), 14);
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
