//! The command-line tool's error: the engine's, I/O and image-codec errors, each with the file or
//! step it concerns, printed by `main` as a single `error[code]: …` line. The code is the
//! engine's ([`sdxl_vae::ErrorCode`]) where one applies; the CLI adds `usage` (arguments, a
//! check of its own) and `io` (a file other than the weights that cannot be read or written).

use sdxl_vae::ErrorCode;
use std::fmt::Display;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{context}: {source}")]
    Engine {
        context: String,
        source: sdxl_vae::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Image {
        context: String,
        source: image::ImageError,
    },
    #[error("{context}: {source}")]
    Tensors {
        context: String,
        source: safetensors::SafeTensorError,
    },
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
}

impl CliError {
    /// The stable code of the error line.
    pub fn code(&self) -> &'static str {
        match self {
            CliError::Engine { source, .. } => source.code().as_str(),
            CliError::Io { .. } => "io",
            CliError::Image { .. } => ErrorCode::BadImage.as_str(),
            CliError::Tensors { .. } => ErrorCode::BadLatent.as_str(),
            CliError::Invalid { code, .. } => code,
        }
    }
}

pub type CliResult<T> = Result<T, CliError>;

/// Attaches the file or step an error belongs to.
pub trait Context<T> {
    fn context(self, context: impl Display) -> CliResult<T>;
}

macro_rules! impl_context {
    ($err:ty, $variant:ident) => {
        impl<T> Context<T> for Result<T, $err> {
            fn context(self, context: impl Display) -> CliResult<T> {
                self.map_err(|source| CliError::$variant {
                    context: context.to_string(),
                    source,
                })
            }
        }
    };
}

impl_context!(sdxl_vae::Error, Engine);
impl_context!(std::io::Error, Io);
impl_context!(image::ImageError, Image);
impl_context!(safetensors::SafeTensorError, Tensors);

/// An error that is only a message: bad arguments, or a check of the CLI's own.
pub fn invalid(message: impl Into<String>) -> CliError {
    CliError::Invalid {
        code: "usage",
        message: message.into(),
    }
}

/// An error of one of the engine's kinds, found by the CLI itself.
pub fn coded(code: ErrorCode, message: impl Into<String>) -> CliError {
    CliError::Invalid {
        code: code.as_str(),
        message: message.into(),
    }
}

/// An image file the CLI will not decode.
pub fn bad_image(message: impl Into<String>) -> CliError {
    coded(ErrorCode::BadImage, message)
}

/// Collapses a message onto one line: wgpu validation errors and some codec errors span several.
pub fn one_line(message: &str) -> String {
    let mut out = String::new();
    for line in message.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push_str(if out.ends_with(':') { " " } else { "; " });
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_messages_become_one() {
        assert_eq!(
            one_line("Validation Error\n\nCaused by:\n    bad\n"),
            "Validation Error; Caused by: bad"
        );
    }
}
