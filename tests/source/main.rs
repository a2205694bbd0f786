//! Checks on the project's source itself, no GPU needed: each module reads shaders or code as
//! text (one `mod` line per check).

mod imports;
mod paths;
mod shaders;
