//! Many inputs on one model: `encode` and `decode` given several files or a folder write one
//! output a file into the `-o` folder. The model loads once; a file that fails is reported and
//! the others go on; a summary ends the run, which fails where any file did. `--skip-existing`
//! resumes a run: outputs are written under a temporary name and renamed when complete, so an
//! interrupted run leaves no partial output behind to be skipped.

use std::path::{Path, PathBuf};
use std::time::Instant;

use pollster::block_on;

use crate::commands::{DecodeArgs, EncodeArgs, Globals, Model};
use crate::error::{invalid, CliError, CliResult, Context};
use crate::imageio::{load_image, save_image, IMAGE_EXTENSIONS};
use crate::progress::BatchProgress;
use crate::tensorio::{read_latent, write_latent};

/// One input and the output it is written to.
pub struct Job {
    pub input: PathBuf,
    pub output: PathBuf,
}

/// Whether the command runs as a batch: more than one input, a folder among them, or an
/// existing folder as the output.
pub fn is_batch(inputs: &[PathBuf], output: &Path) -> bool {
    inputs.len() > 1 || inputs.iter().any(|p| p.is_dir()) || output.is_dir()
}

/// The jobs of `inputs` (files as given; a folder's files whose extension is one of `exts`,
/// sorted by name, others skipped with a warning), each writing `<stem>.<ext>` into `out_dir`
/// (created where missing). Two inputs of one stem would write one output: refused.
pub fn jobs(inputs: &[PathBuf], exts: &[&str], out_dir: &Path, ext: &str) -> CliResult<Vec<Job>> {
    let mut files = Vec::new();
    for input in inputs {
        match input.is_dir() {
            true => files.extend(list(input, exts)?),
            false => files.push(input.clone()),
        }
    }
    std::fs::create_dir_all(out_dir).context(format!(
        "cannot make the output folder {}",
        out_dir.display()
    ))?;
    let mut jobs: Vec<Job> = Vec::new();
    for input in files {
        let stem = input.file_stem().unwrap_or_default().to_string_lossy();
        let output = out_dir.join(format!("{stem}.{ext}"));
        if let Some(other) = jobs.iter().find(|j| j.output == output) {
            return Err(invalid(format!(
                "{} and {} would both be written to {}",
                other.input.display(),
                input.display(),
                output.display()
            )));
        }
        jobs.push(Job { input, output });
    }
    match jobs.is_empty() {
        true => Err(invalid("no input files")),
        false => Ok(jobs),
    }
}

/// The files of `dir` whose extension is one of `exts` (compared lower-case), sorted by name;
/// others are reported on stderr and skipped.
pub fn list(dir: &Path, exts: &[&str]) -> CliResult<Vec<PathBuf>> {
    let shown = dir.display();
    let entries = std::fs::read_dir(dir).context(format!("cannot read folder {shown}"))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.context(format!("cannot read folder {shown}"))?.path();
        if !path.is_file() {
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match exts.contains(&ext.to_ascii_lowercase().as_str()) {
            true => files.push(path),
            false => eprintln!("warning: skipping {} (not one of {exts:?})", path.display()),
        }
    }
    files.sort();
    Ok(files)
}

/// Where `output` is written until it is complete: beside it, with its extension kept (which
/// names the format).
fn partial(output: &Path) -> PathBuf {
    let name = output.file_name().unwrap_or_default().to_string_lossy();
    output.with_file_name(format!(".partial-{name}"))
}

/// Runs `work` on each job (`work(job, into, bar)` writes `job`'s output to `into` and says
/// what it did), skipping jobs whose output exists where `skip_existing`; reports each file as
/// it goes (`doing` names the work on the progress line) and a summary at the end (`did`).
/// Fails, with the first failure's code, where any job did.
pub fn run(
    jobs: &[Job],
    skip_existing: bool,
    [doing, did]: [&'static str; 2],
    mut work: impl FnMut(&Job, &Path, &BatchProgress) -> CliResult<String>,
) -> CliResult<()> {
    let start = Instant::now();
    let bar = BatchProgress::new(doing, jobs.len());
    let (mut done, mut skipped) = (0, 0);
    let mut failed: Vec<(&Job, CliError)> = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        if skip_existing && job.output.exists() {
            skipped += 1;
            continue;
        }
        bar.start(i, &job.input);
        let into = partial(&job.output);
        let result = work(job, &into, &bar).and_then(|line| {
            std::fs::rename(&into, &job.output)
                .context(format!("cannot write {}", job.output.display()))?;
            Ok(line)
        });
        match result {
            Ok(line) => {
                done += 1;
                let (from, to) = (job.input.display(), job.output.display());
                bar.line(&format!("{from} → {to}: {line}"));
            }
            Err(e) => {
                let _ = std::fs::remove_file(&into);
                let message = crate::error::one_line(&e.to_string());
                bar.error(&format!("error[{}]: {message}", e.code()));
                failed.push((job, e));
            }
        }
        bar.finished(done + failed.len());
    }
    drop(bar);
    let secs = start.elapsed().as_secs_f64();
    let rate = done as f64 / secs.max(1e-9);
    let mut summary = format!(
        "{did} {done} of {} files in {secs:.1} s ({rate:.2} files/s)",
        jobs.len()
    );
    if skipped > 0 {
        summary += &format!(", {skipped} skipped (output exists)");
    }
    if !failed.is_empty() {
        summary += &format!(", {} failed", failed.len());
    }
    println!("{summary}");
    let Some((_, first)) = failed.first() else {
        return Ok(());
    };
    // Each failure's error line is above; the last line names them all (the first 5).
    let names: Vec<String> = (failed.iter().take(5))
        .map(|(job, _)| job.input.display().to_string())
        .collect();
    let more = if failed.len() > 5 { ", …" } else { "" };
    Err(CliError::Invalid {
        code: first.code(),
        message: format!(
            "{} of {} files failed: {}{more}",
            failed.len(),
            jobs.len(),
            names.join(", ")
        ),
    })
}

/// `encode` of several images or folders into the `-o` folder.
pub fn encode(args: &EncodeArgs, globals: &Globals) -> CliResult<()> {
    let jobs = jobs(&args.images, &IMAGE_EXTENSIONS, &args.output, &args.format)?;
    let model = Model::load(&args.weights, globals)?;
    let seed = args.sample.then_some(args.seed);
    let verbs = ["encoding", "encoded"];
    let result = run(&jobs, args.skip_existing, verbs, |job, into, bar| {
        let image = load_image(&job.input)?;
        let start = Instant::now();
        let encoded = bar.call(|ctl| block_on(model.vae.encode_with(&image, seed, ctl)));
        let mut latent = encoded.context(format!("encoding {}", job.input.display()))?;
        if args.scaled {
            (model.vae.to_diffusion(&mut latent))
                .context(format!("scaling the latent of {}", job.input.display()))?;
        }
        write_latent(into, &latent)?;
        Ok(format!(
            "{}x{} → latent {}x{} in {:.2} s",
            image.width,
            image.height,
            latent.width,
            latent.height,
            start.elapsed().as_secs_f64()
        ))
    });
    model.notes(globals, args.scaled);
    result
}

/// `decode` of several latents or folders into the `-o` folder.
pub fn decode(args: &DecodeArgs, globals: &Globals) -> CliResult<()> {
    if args.raw.is_some() {
        return Err(invalid("--raw takes one latent, not several"));
    }
    let jobs = jobs(
        &args.latents,
        &["npy", "safetensors"],
        &args.output,
        &args.format,
    )?;
    let model = Model::load(&args.weights, globals)?;
    let verbs = ["decoding", "decoded"];
    let result = run(&jobs, args.skip_existing, verbs, |job, into, bar| {
        let mut latent = read_latent(&job.input)?;
        if args.scaled {
            (model.vae.from_diffusion(&mut latent))
                .context(format!("unscaling {}", job.input.display()))?;
        }
        let start = Instant::now();
        let decoded = bar.call(|ctl| block_on(model.vae.decode_with(&latent, ctl)));
        let image = decoded.context(format!("decoding {}", job.input.display()))?;
        save_image(into, &image)?;
        Ok(format!(
            "latent {}x{} → {}x{} in {:.2} s",
            latent.width,
            latent.height,
            image.width,
            image.height,
            start.elapsed().as_secs_f64()
        ))
    });
    model.notes(globals, args.scaled);
    result
}
