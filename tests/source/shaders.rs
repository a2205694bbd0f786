//! Every shader parses and validates with naga — no GPU needed.

use sdxl_vae::kernels::{ConvForm, Halves, PipelineKey, Staging, SOURCES, STORES_F16};

fn validate(name: &str, src: &str) -> naga::Module {
    let module = naga::front::wgsl::parse_str(src)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        // pack2x16float and unpack2x16float (WebGPU core); subgroups (where the device has them).
        naga::valid::Capabilities::SHADER_FLOAT16_IN_FLOAT32 | naga::valid::Capabilities::SUBGROUP,
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{name} does not validate: {e:?}"));
    module
}

/// Every form of every pipeline the engine can make: each kernel of `SOURCES` (the pack
/// kernels also with f16 textures, those of `STORES_F16` also reading f16 pairs, and both) and
/// each member of the convolution family.
fn every_pipeline() -> Vec<PipelineKey> {
    let mut keys = Vec::new();
    for (name, _) in SOURCES {
        for textures in [false, true] {
            for store in [false, true] {
                let forms = (!textures || name.starts_with("pack_"))
                    && (!store || STORES_F16.contains(name));
                if forms {
                    keys.push(PipelineKey::Named(name, Halves { textures, store }));
                }
            }
        }
    }
    keys.extend(conv_forms().into_iter().map(PipelineKey::Conv));
    keys
}

/// Every operand format pair in every staging (subgroups only for equal formats, as `choose`).
fn conv_forms() -> Vec<ConvForm> {
    let mut forms = Vec::new();
    for (input_f16, weights_f16) in [(false, false), (true, true), (false, true), (true, false)] {
        for staging in [Staging::Plain, Staging::Subgroup, Staging::Workgroup] {
            if staging == Staging::Subgroup && input_f16 != weights_f16 {
                continue;
            }
            let workgroup = [8, 4];
            for output_f16 in [false, true] {
                forms.push(ConvForm {
                    input_f16,
                    weights_f16,
                    output_f16,
                    staging,
                    workgroup,
                });
            }
        }
    }
    forms
}

#[test]
fn every_pipeline_validates_with_naga() {
    for key in every_pipeline() {
        validate(&format!("{key:?}"), &key.source());
    }
    assert_eq!(SOURCES.len(), 12);
    assert_eq!(conv_forms().len(), 20);
    // The f16-pair forms of pack_input (3), group_norm_stats and rms_norm, and the convolutions.
    assert_eq!(every_pipeline().len(), SOURCES.len() + 6 + 20);
}

/// Each convolution form binds its operands as its formats say (f16: u32 texels, f32: f32
/// ones; read-only storage textures in the subgroup forms, sampled ones elsewhere) and shares
/// weights as its staging says — so `choose` picking a form means what it says.
#[test]
fn conv_forms_bind_their_formats_and_stage_as_keyed() {
    for form in conv_forms() {
        let src = code(&PipelineKey::Conv(form).source());
        let module = validate(&format!("{form:?}"), &src);
        let kind = |binding: u32| {
            let (_, var) = module
                .global_variables
                .iter()
                .find(|(_, v)| v.binding.as_ref().map(|b| b.binding) == Some(binding))
                .unwrap();
            match module.types[var.ty].inner {
                naga::TypeInner::Image {
                    class: naga::ImageClass::Sampled { kind, .. },
                    ..
                } => (kind, false),
                naga::TypeInner::Image {
                    class: naga::ImageClass::Storage { format, .. },
                    ..
                } => match format {
                    naga::StorageFormat::Rgba32Uint => (naga::ScalarKind::Uint, true),
                    naga::StorageFormat::Rgba32Float => (naga::ScalarKind::Float, true),
                    other => panic!("{form:?} binding {binding}: {other:?}"),
                },
                ref other => panic!("{form:?} binding {binding}: {other:?}"),
            }
        };
        let want = |f16| {
            let scalar = if f16 {
                naga::ScalarKind::Uint
            } else {
                naga::ScalarKind::Float
            };
            (scalar, form.staging == Staging::Subgroup)
        };
        assert_eq!(kind(0), want(form.input_f16), "input of {form:?}");
        assert_eq!(kind(1), want(form.weights_f16), "weights of {form:?}");
        let sg = src.contains("subgroupBroadcast");
        let wg = src.contains("var<workgroup>") && src.contains("workgroupBarrier");
        assert_eq!(sg, form.staging == Staging::Subgroup, "{form:?}");
        assert_eq!(wg, form.staging == Staging::Workgroup, "{form:?}");
        // Every one of the 8 pixels × 2 vec4 of output channels is stored, by a loop over them.
        let sums: Vec<String> = (0..8)
            .flat_map(|j| [format!("lo{j}"), format!("hi{j}")])
            .collect();
        let stored = format!("sums = array<vec4<f32>, 16>({});", sums.join(", "));
        assert_eq!(src.matches(&stored).count(), 1, "{form:?}");
        let lines: Vec<&str> = src.lines().map(str::trim).collect();
        let loops = lines.windows(2).filter(|w| {
            w == &[
                "for (var i = 0u; i < 16u; i++) {",
                "store(oc8 * 2u + (i & 1u), oy, ox0 + i / 2u, sums[i]);",
            ]
        });
        assert_eq!(loops.count(), 1, "{form:?}");
    }
}

/// The scalar kind of the elements of the storage array at `binding`, and how many bindings the
/// module has.
fn array_kind(module: &naga::Module, binding: u32) -> (naga::ScalarKind, usize) {
    let vars: Vec<_> = (module.global_variables.iter())
        .filter(|(_, v)| v.binding.is_some())
        .collect();
    let (_, var) = (vars.iter())
        .find(|(_, v)| v.binding.as_ref().map(|b| b.binding) == Some(binding))
        .unwrap_or_else(|| panic!("no binding {binding}"));
    let naga::TypeInner::Array { base, .. } = module.types[var.ty].inner else {
        panic!("binding {binding} is not an array");
    };
    let kind = match module.types[base].inner {
        naga::TypeInner::Scalar(s) | naga::TypeInner::Vector { scalar: s, .. } => s.kind,
        ref other => panic!("binding {binding}: {other:?}"),
    };
    (kind, vars.len())
}

/// The f16-pair forms hold activations as u32 words, the others as f32: the input of the
/// `STORE_F16` kernels; the convolution's residual and output, whose f16 form also binds the
/// overflow flag before its parameters.
#[test]
fn f16_pair_forms_bind_words() {
    use naga::ScalarKind::{Float, Uint};
    for name in STORES_F16 {
        for store in [false, true] {
            let key = PipelineKey::Named(
                name,
                Halves {
                    textures: false,
                    store,
                },
            );
            let module = validate(name, &key.source());
            let want = if store { Uint } else { Float };
            assert_eq!(array_kind(&module, 0).0, want, "{key:?}");
        }
    }
    for form in conv_forms() {
        let module = validate("conv", &PipelineKey::Conv(form).source());
        let (want, bindings) = match form.output_f16 {
            true => (Uint, 7),
            false => (Float, 6),
        };
        assert_eq!(array_kind(&module, 3), (want, bindings), "{form:?}");
        assert_eq!(array_kind(&module, 4).0, want, "{form:?}");
    }
}

/// `src` without its comments.
fn code(src: &str) -> String {
    let lines: Vec<&str> = src
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect();
    lines.join("\n")
}

/// The f16 forms of the pack kernels write rgba32uint texels packed from f16 pairs; the f32
/// forms rgba32float ones, with no packing.
#[test]
fn pack_kernels_have_f16_forms() {
    for name in ["pack_input", "pack_weights"] {
        let f16 = Halves {
            textures: true,
            store: false,
        };
        let f16 = code(&PipelineKey::Named(name, f16).source());
        let f32 = code(&PipelineKey::Named(name, Halves::default()).source());
        assert!(
            f16.contains("rgba32uint") && !f16.contains("rgba32float"),
            "{name}"
        );
        assert!(
            f32.contains("rgba32float") && !f32.contains("rgba32uint"),
            "{name}"
        );
        assert_eq!(
            f16.matches("pack2x16float").count(),
            4,
            "{name}: the f16 store"
        );
        assert_eq!(f32.matches("pack2x16float").count(), 0, "{name}");
        assert!(f16.contains("const F16: bool = true;"), "{name}");
        assert!(f32.contains("const F16: bool = false;"), "{name}");
    }
}

/// Each WGSL `Params` struct is mirrored by a `#[repr(C)]` Rust type of the same size.
#[test]
fn params_structs_match_wgsl_sizes() {
    use sdxl_vae::kernels::*;
    use std::mem::size_of;
    let rust: &[(&str, usize)] = &[
        ("conv2d", size_of::<conv2d::ConvParams>()),
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
        ("rms_norm", size_of::<rms_norm::Params>()),
    ];
    for key in every_pipeline() {
        let name = match key {
            PipelineKey::Named(name, _) => name,
            PipelineKey::Conv(_) => "conv2d",
        };
        let module = naga::front::wgsl::parse_str(&key.source()).unwrap();
        let params = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some("Params"));
        let size = params
            .map(|(h, _)| module.types[h].inner.size(module.to_ctx()))
            .unwrap();
        let want = rust.iter().find(|(n, _)| *n == name).map(|(_, s)| *s);
        assert_eq!(
            Some(size as usize),
            want,
            "{key:?}: WGSL Params is {size} bytes"
        );
    }
}
