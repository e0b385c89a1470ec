//! Guest images as the host handles them, split by job: [`enclave`] finds the static
//! `kiln-enclave` that becomes `/init`; [`store`] builds and caches images (the default image of
//! the recipe in force lives in `<state>/images/<key>/`, `<key>` a digest of the recipe text and
//! of that enclave); [`predict`] and [`predict_tdx`] predict an image's measurements as a
//! reference document; [`mod@reference`] reads what `kiln verify --reference` names. The `kiln
//! image` commands over them are in [`crate::commands::image`] and
//! [`crate::commands::image_pins`].

pub mod enclave;
pub mod predict;
pub mod predict_tdx;
pub mod reference;
pub mod store;

use std::fmt;
use std::path::PathBuf;

use kiln_image::ImageError;

pub use enclave::{find_static_enclave, is_static_elf, BUILD_STATIC_HINT, ENCLAVE_STATIC_ENV};
pub use predict::{default_builder_id, measure, sim_measurement, MeasureOptions};
pub use reference::{load_reference, load_signed_reference, parse_reference, Reference};
pub use store::{
    announce_recipe, build_into, cache_key, check_image_toolchain, default_image, ensure_inputs,
    image_of, image_paths, recipe_in_force,
};
/// vCPUs of a QEMU guest unless told otherwise.
pub const DEFAULT_VCPUS: u32 = 2;
/// Memory of a QEMU guest (MiB) unless told otherwise.
pub const DEFAULT_MEMORY_MIB: u64 = 1024;
/// Why an image could not be built, found or measured.
#[derive(Debug)]
pub enum GuestImageError {
    /// No statically linked kiln-enclave.
    NoStaticEnclave {
        /// Candidates looked at, with why each was refused.
        looked: Vec<String>,
    },
    /// The image library failed.
    Image {
        /// What was being done.
        what: String,
        /// The cause.
        source: ImageError,
    },
    /// An image folder lacks a file.
    NotAnImage {
        /// The folder.
        dir: PathBuf,
        /// The missing file.
        missing: PathBuf,
    },
    /// An image folder carries another toolchain than the recipe names.
    WrongToolchain {
        /// The folder.
        dir: PathBuf,
        /// The toolchain its `image.json` names, if any.
        has: Option<String>,
        /// The toolchain the build recipe names.
        wants: String,
    },
    /// A file operation failed.
    Io {
        /// What was being done.
        op: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A reference file is malformed.
    Reference {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Bad arguments.
    Usage(String),
}

impl fmt::Display for GuestImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoStaticEnclave { looked } => write!(
                f,
                "no statically linked kiln-enclave for the guest image (looked at: {}); build it \
                 with `{BUILD_STATIC_HINT}` or set {ENCLAVE_STATIC_ENV} to its path",
                looked.join("; ")
            ),
            Self::Image { what, .. } => write!(f, "cannot {what}"),
            Self::NotAnImage { dir, missing } => write!(
                f,
                "{} is not a kiln image folder: {} is missing (make one with `kiln image build --out DIR`)",
                dir.display(),
                missing.display()
            ),
            Self::WrongToolchain { dir, has, wants } => write!(
                f,
                "the image {} carries {}, but the build recipe's [toolchain] image is {wants:?} \
                 (build one with `kiln image build --toolchain {wants} --out DIR`, or leave \
                 --image out to use the cached one)",
                dir.display(),
                has.as_deref()
                    .map_or_else(|| "no toolchain".to_owned(), |h| format!("toolchain {h:?}"))
            ),
            Self::Io { op, .. } => write!(f, "cannot {op}"),
            Self::Reference { path, reason } => {
                write!(f, "reference {}: {reason}", path.display())
            }
            Self::Usage(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for GuestImageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Image { source, .. } => Some(source),
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub(crate) fn image_err(what: impl Into<String>) -> impl FnOnce(ImageError) -> GuestImageError {
    let what = what.into();
    move |source| GuestImageError::Image { what, source }
}

pub(crate) fn io_err(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> GuestImageError {
    let op = op.into();
    move |source| GuestImageError::Io { op, source }
}
