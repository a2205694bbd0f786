"""Times diffusers' AutoencoderKL (SDXL configuration) at the sizes `sdxl-vae bench` uses and
prints the ratio to this engine's figures.

    python3 benches/compare_diffusers.py --size 256 [--reps 3] [--device cpu|cuda]
        [--dtype fp32|fp16] [--weights W.safetensors] [--engine target/release/sdxl-vae]
        [--engine-args "--limits webgpu-default"] [--no-engine]

Needs torch and diffusers (not needed by the crate or its tests). Without --weights the model
has random weights: timings do not depend on the values. TF32 is off for fp32 on CUDA, so fp32
means fp32. The engine is run as `ENGINE bench --weights synthetic|W --size N --reps R` and its
last line (`bench size=… encode_s=… decode_s=…`) is parsed.
"""
import argparse
import shlex
import statistics
import subprocess
import time

import torch
from diffusers import AutoencoderKL


def sdxl_config():
    return dict(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
        block_out_channels=[128, 256, 512, 512], norm_num_groups=32, sample_size=1024,
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        scaling_factor=0.13025,
    )


def time_phase(fn, reps, device):
    fn()  # warm-up
    out = []
    for _ in range(reps):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "fp16"])
    ap.add_argument("--weights")
    ap.add_argument("--engine", default="target/release/sdxl-vae")
    ap.add_argument("--engine-args", default="")
    ap.add_argument("--no-engine", action="store_true")
    a = ap.parse_args()

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dtype = torch.float16 if a.dtype == "fp16" else torch.float32
    if a.weights:
        vae = AutoencoderKL.from_single_file(a.weights) if a.weights.endswith(".safetensors") \
            else AutoencoderKL.from_pretrained(a.weights)
    else:
        torch.manual_seed(0)
        vae = AutoencoderKL(**sdxl_config())
    vae = vae.to(a.device, dtype).eval()
    s = a.size
    x = torch.rand(1, 3, s, s, device=a.device, dtype=dtype) * 2 - 1
    with torch.no_grad():
        z = vae.encode(x).latent_dist.mean
        enc = time_phase(lambda: vae.encode(x).latent_dist.mean, a.reps, a.device)
        dec = time_phase(lambda: vae.decode(z).sample, a.reps, a.device)
    threads = torch.get_num_threads() if a.device == "cpu" else "-"
    print(f"diffusers {a.device} {a.dtype} (torch {torch.__version__}, threads {threads}) {s}x{s}: "
          f"encode {enc:.4f} s, decode {dec:.4f} s")
    print(f"diffusers size={s} device={a.device} dtype={a.dtype} encode_s={enc:.4f} decode_s={dec:.4f}")
    if a.no_engine:
        return
    cmd = [a.engine, "bench", "--weights", a.weights or "synthetic", "--size", str(s),
           "--reps", str(a.reps)] + shlex.split(a.engine_args)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    print(out.rstrip())
    fields = dict(f.split("=", 1) for f in out.strip().splitlines()[-1].split()[1:])
    es, ds = float(fields["encode_s"]), float(fields["decode_s"])
    print(f"ratio sdxl-vae/diffusers size={s} encode={es / enc:.2f} decode={ds / dec:.2f} "
          f"(above 1: sdxl-vae is slower)")


if __name__ == "__main__":
    main()
