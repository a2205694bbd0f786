//! Faults forced on the engine: aborted loads, calls too large for the device, a lost device,
//! and models sharing a device. After each, what is alive on the device is counted (wgpu's own
//! counters, not the engine's bookkeeping) and compared with before.

use crate::support;

use sdxl_vae::weights::synthetic::{synthetic_safetensors, SynthDtype};
use sdxl_vae::weights::{Layout, VaeConfig};
use sdxl_vae::{
    Error, Gpu, GpuOptions, Image, Latent, LimitsChoice, LoadOptions, Precision, Resources, Vae,
};

fn small_file() -> Vec<u8> {
    let cfg = VaeConfig {
        block_out_channels: vec![32, 32, 64, 64],
        ..VaeConfig::sdxl()
    };
    synthetic_safetensors(&cfg, Layout::Diffusers, SynthDtype::F16, "")
}

fn load(gpu: &Gpu, file: &[u8], precision: Precision) -> Vae {
    let opts = LoadOptions {
        precision,
        ..Default::default()
    };
    let mut loader = Vae::loader(gpu, opts);
    for chunk in file.chunks(1 << 16) {
        loader.push(chunk).unwrap();
    }
    loader.finish().unwrap()
}

fn image(width: u32, height: u32, seed: u32) -> Image {
    let rgba = (0..width * height * 4)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect();
    Image {
        width,
        height,
        rgba,
    }
}

fn total(r: &Resources) -> isize {
    r.buffer_bytes + r.texture_bytes
}

#[test]
fn aborted_loads_and_freed_models_leave_nothing_on_the_device() {
    let gpu = support::gpu();
    let file = small_file();
    let before = gpu.resources();
    for precision in [Precision::F32, Precision::F16] {
        for fraction in [0.10, 0.50, 0.99] {
            let cut = (file.len() as f64 * fraction) as usize;
            let mut loader = Vae::loader(
                &gpu,
                LoadOptions {
                    precision,
                    ..Default::default()
                },
            );
            for chunk in file[..cut].chunks(1 << 16) {
                loader.push(chunk).unwrap();
            }
            let during = gpu.resources();
            drop(loader);
            let after = gpu.resources();
            println!(
                "{precision:?} load cut at {:.0} %: {during} while loading; {after} after",
                100.0 * fraction
            );
            assert!(
                total(&during) > total(&before) + (fraction * 0.5 * cut as f64) as isize,
                "the cut load should have uploaded weights: {during}"
            );
            assert_eq!(
                after, before,
                "a load cut at {fraction} left objects behind"
            );
        }
        // The next load works; its model, once used and dropped, leaves nothing either.
        let vae = load(&gpu, &file, precision);
        let latent = pollster::block_on(vae.encode(&image(64, 48, 1))).unwrap();
        pollster::block_on(vae.decode(&latent)).unwrap();
        let used = gpu.resources();
        drop(vae);
        let after = gpu.resources();
        println!("{precision:?} model after a call: {used}; dropped: {after}");
        assert_eq!(
            after, before,
            "a dropped {precision:?} model left objects behind"
        );
    }
}

#[test]
fn calls_too_large_for_the_device_leave_the_model_as_it_was() {
    let opts = GpuOptions {
        limits: LimitsChoice::WebGpuDefault,
        ..Default::default()
    };
    let gpu = pollster::block_on(Gpu::new(&opts)).expect("a wgpu adapter");
    let vae = load(&gpu, &small_file(), Precision::F32);
    let small = image(40, 24, 2);
    let first = pollster::block_on(vae.encode(&small)).unwrap();
    let decoded = pollster::block_on(vae.decode(&first)).unwrap();
    let before = gpu.resources();
    // One row band of this image's conv_in output exceeds 128 MiB (see api_errors.rs).
    let wide = image(139_264, 8, 3);
    let err = pollster::block_on(vae.encode(&wide)).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert_eq!(gpu.resources(), before, "the refused encode left objects");
    // A latent so wide that a band of one latent row exceeds the binding limit: at the finest
    // scale 32 channels × 10 rows (8 + 2 halo) × 8 × 14000 columns × 4 bytes = 143 MB > 128 MiB.
    let latent = Latent::new(4, 14000, 2, vec![0.0; 4 * 14000 * 2]).unwrap();
    let err = pollster::block_on(vae.decode(&latent)).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    println!("refused: {err}");
    assert_eq!(gpu.resources(), before, "the refused decode left objects");
    // The model is as it was.
    let again = pollster::block_on(vae.encode(&small)).unwrap();
    assert_eq!(again.data, first.data);
    assert_eq!(pollster::block_on(vae.decode(&again)).unwrap(), decoded);
    assert_eq!(gpu.resources(), before);
}

#[test]
fn a_lost_device_fails_calls_clearly_and_a_new_device_works() {
    let file = small_file();
    let big = image(512, 384, 4);
    let reference = {
        let gpu = support::gpu();
        pollster::block_on(load(&gpu, &file, Precision::F32).encode(&big)).unwrap()
    };
    let gpu = support::gpu();
    let vae = load(&gpu, &file, Precision::F32);
    // The device is destroyed from another thread while the encode runs (it takes seconds here).
    let killer = gpu.clone();
    let started = std::time::Instant::now();
    let destroyer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        killer.device().destroy();
    });
    let in_flight = pollster::block_on(vae.encode(&big));
    let took = started.elapsed();
    destroyer.join().unwrap();
    match &in_flight {
        Err(e @ Error::DeviceLost(_)) => println!("in flight after {took:?}: {e}"),
        Err(e) => panic!("the call in flight failed otherwise: {e}"),
        Ok(_) => panic!("the encode finished in {took:?}, before the device was lost"),
    }
    // Later calls fail at once with the same error.
    let started = std::time::Instant::now();
    for result in [
        pollster::block_on(vae.encode(&image(16, 16, 5))).map(|_| ()),
        pollster::block_on(vae.decode(&reference)).map(|_| ()),
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, Error::DeviceLost(_)), "{err}");
    }
    println!("later calls refused in {:?}", started.elapsed());
    assert!(started.elapsed().as_secs_f32() < 1.0);
    // Loading onto the lost device fails clearly too.
    let mut loader = Vae::loader(&gpu, LoadOptions::default());
    let err = loader.push(&file).unwrap_err();
    assert!(matches!(err, Error::DeviceLost(_)), "{err}");
    drop(vae);
    // A new device loads and gives the same latent as before the loss.
    let gpu = support::gpu();
    let latent = pollster::block_on(load(&gpu, &file, Precision::F32).encode(&big)).unwrap();
    assert_eq!(latent.data, reference.data);
}

fn round_trip(vae: &Vae, image: &Image) -> (Latent, Image) {
    let latent = pollster::block_on(vae.encode(image)).unwrap();
    let out = pollster::block_on(vae.decode(&latent)).unwrap();
    (latent, out)
}

#[test]
fn models_sharing_a_device_give_what_they_give_alone() {
    let gpu = support::gpu();
    let file = small_file();
    let models = [
        load(&gpu, &file, Precision::F32),
        load(&gpu, &file, Precision::F16),
    ];
    let images: Vec<Image> = (0..3).map(|i| image(40 + 8 * i, 24, i)).collect();
    // Alone, one after the other.
    let alone: Vec<Vec<(Latent, Image)>> = models
        .iter()
        .map(|vae| images.iter().map(|im| round_trip(vae, im)).collect())
        .collect();
    // Two threads, one model each, then both threads on one model: calls interleave.
    for shared in [false, true] {
        let got: Vec<Vec<(Latent, Image)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|t| {
                    let vae = &models[if shared { 0 } else { t }];
                    let images = &images;
                    s.spawn(move || {
                        (0..2)
                            .flat_map(|_| images.iter())
                            .map(|im| round_trip(vae, im))
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (t, runs) in got.iter().enumerate() {
            let want = &alone[if shared { 0 } else { t }];
            for (i, (lat, out)) in runs.iter().enumerate() {
                let (want_lat, want_out) = &want[i % images.len()];
                assert_eq!(
                    lat.data, want_lat.data,
                    "thread {t} call {i} (shared: {shared})"
                );
                assert_eq!(out, want_out, "thread {t} call {i} (shared: {shared})");
            }
        }
    }
}

#[test]
fn a_load_says_where_its_time_went() {
    let gpu = support::gpu();
    let file = small_file();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.safetensors");
    std::fs::write(&path, &file).unwrap();
    let started = std::time::Instant::now();
    let vae = Vae::load_file(&gpu, &path, LoadOptions::default()).unwrap();
    let wall_ms = started.elapsed().as_secs_f64() * 1e3;
    let t = vae.load_times();
    println!("{t}");
    assert_eq!(t.bytes, file.len() as u64);
    let parts = [t.wait_ms, t.convert_ms, t.upload_ms, t.pipelines_ms];
    assert!(parts.iter().all(|&p| p > 0.0), "{t:?}");
    // Pipelines compile on their own thread, beside the rest.
    assert!(parts[..3].iter().sum::<f64>() <= t.total_ms + 1e-6, "{t:?}");
    assert!(t.pipelines_ms <= t.total_ms + 1e-6, "{t:?}");
    assert!(t.total_ms <= wall_ms, "{t:?} over {wall_ms} ms");
}

/// The pipelines a load makes while the bytes stream are those its calls need: an encode and a
/// decode after it make none of their own, at either precision, so they never wait for a
/// compile (what the browser's GPU process would otherwise do in the first call).
#[test]
fn a_load_makes_the_pipelines_its_calls_need() {
    let gpu = support::gpu();
    let file = small_file();
    for precision in [Precision::F32, Precision::F16] {
        let vae = load(&gpu, &file, precision);
        let made = gpu.compute_pipelines();
        for (w, h) in [(64, 48), (8, 8)] {
            let latent = pollster::block_on(vae.encode(&image(w, h, 1))).unwrap();
            pollster::block_on(vae.decode(&latent)).unwrap();
        }
        assert_eq!(
            gpu.compute_pipelines(),
            made,
            "{precision:?}: calls made pipelines of their own"
        );
    }
}
