//! `kiln verify --reference`: a reference document (the one format and parser of
//! [`kiln_provenance::reference`]), an image folder (its predicted sim measurement) or an image
//! recipe (the image it builds, then as a folder).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use kiln_image::image::ImagePaths;
use kiln_image::recipe::{Recipe, DEFAULT_TOOLCHAIN};
use kiln_provenance::reference::{ReferenceDocument, ReferencePlatform};

use super::{
    build_into, cache_key, default_builder_id, find_static_enclave, image_err, image_paths, io_err,
    sim_measurement, GuestImageError, DEFAULT_MEMORY_MIB, DEFAULT_VCPUS,
};

/// Expected measurements from a reference: the primary register and the others by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reference {
    /// The primary register.
    pub primary: Option<Vec<u8>>,
    /// Further registers by claim name.
    pub others: BTreeMap<String, Vec<u8>>,
    /// The builder id the reference names (`builder.id`), if any.
    pub builder_id: Option<String>,
}

/// Parses a reference document (the one parser, [`ReferenceDocument::parse`]) into the
/// primary register of its platform and the others by name.
pub fn parse_reference(path: &Path, bytes: &[u8]) -> Result<Reference, GuestImageError> {
    let doc = ReferenceDocument::parse(bytes).map_err(|e| GuestImageError::Reference {
        path: path.to_path_buf(),
        reason: e.0,
    })?;
    Ok(reference_of(doc))
}

/// A reference document as expectations: its platform's primary register and the others.
fn reference_of(doc: ReferenceDocument) -> Reference {
    let primary_name = match doc.platform {
        ReferencePlatform::Sim => "measurement",
        ReferencePlatform::Tee(p) => p.primary_measurement(),
    };
    let mut others = doc.measurements;
    Reference {
        primary: others.remove(primary_name),
        others,
        builder_id: doc.builder_id,
    }
}

/// A signed reference (`kiln image sign`) verified with the producer's public key (PEM file
/// `key`), as expectations for evidence of `platform` (its document, else a `sim` one).
pub fn load_signed_reference(
    path: &Path,
    bytes: &[u8],
    key: &Path,
    platform: kiln_provenance::Platform,
) -> Result<(Reference, String), GuestImageError> {
    let pem = fs::read_to_string(key).map_err(io_err(format!("read {}", key.display())))?;
    let refused = |reason: String| GuestImageError::Reference {
        path: path.to_path_buf(),
        reason,
    };
    let signed = kiln_verifier::image_reference::verify_signed(bytes, &pem)
        .map_err(|e| refused(format!("{e} (key {})", key.display())))?;
    let doc = signed.document_for(platform).cloned().ok_or_else(|| {
        refused(format!(
            "the signed reference has no {platform} (or sim) document"
        ))
    })?;
    Ok((reference_of(doc), signed.key_id().to_owned()))
}

/// Loads `--reference`: a reference file, an image folder (its sim measurement with the
/// default vCPUs and memory), or a recipe file (the image of its default toolchain,
/// [`DEFAULT_TOOLCHAIN`], then as a folder; for another toolchain's image, give its folder or
/// its `kiln image measure --json` document).
pub fn load_reference(path: &Path, state_dir: Option<&Path>) -> Result<Reference, GuestImageError> {
    let sim = |dir: &Path| -> Result<Reference, GuestImageError> {
        let p = image_paths(dir)?;
        let m = sim_measurement(&p, DEFAULT_VCPUS, DEFAULT_MEMORY_MIB)?;
        Ok(Reference {
            primary: Some(m.to_vec()),
            others: BTreeMap::new(),
            builder_id: Some(default_builder_id(ReferencePlatform::Sim).to_owned()),
        })
    };
    if path.is_dir() {
        return sim(path);
    }
    let text = fs::read_to_string(path).map_err(io_err(format!("read {}", path.display())))?;
    if path.extension().is_some_and(|e| e == "toml") {
        let recipe =
            Recipe::parse(&text).map_err(image_err(format!("parse {}", path.display())))?;
        let state = state_dir.ok_or_else(|| {
            GuestImageError::Usage("a recipe reference needs a state folder to build in".into())
        })?;
        let enclave = find_static_enclave()?;
        let dir = state.join("images").join(format!(
            "recipe-{}",
            cache_key(&text, DEFAULT_TOOLCHAIN, &enclave)?
        ));
        if !ImagePaths::in_dir(&dir).manifest.is_file() {
            build_into(&recipe, DEFAULT_TOOLCHAIN, &dir, false)?;
        }
        return sim(&dir);
    }
    parse_reference(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use kiln_provenance::reference::REFERENCE_KIND;
    use serde_json::json;

    #[test]
    fn references_map_primary_and_further_registers() {
        let h = "ab".repeat(48);
        let doc = json!({"kind": REFERENCE_KIND, "platform": "nitro",
            "measurements": {"pcr0": h, "PCR1": h}});
        let r = parse_reference(Path::new("r.json"), doc.to_string().as_bytes()).unwrap();
        assert_eq!(r.primary, Some(vec![0xab; 48]));
        assert_eq!(r.others.keys().collect::<Vec<_>>(), vec!["pcr1"]);
        for bad in [
            json!({"platform": "sim"}),
            json!({"platform": "x", "measurements": {"measurement": h}}),
            json!({"platform": "sim", "measurements": {"measurement": "00"}}),
            json!({"platform": "sim", "measurements": {}}),
            json!({"kind": "other", "platform": "sim", "measurements": {"measurement": h}}),
        ] {
            let err = parse_reference(Path::new("r.json"), bad.to_string().as_bytes()).unwrap_err();
            assert!(err.to_string().contains("r.json"), "{err}");
        }
    }
}
