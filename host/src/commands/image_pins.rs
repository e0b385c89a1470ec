//! `kiln image fetch` and `kiln image lock`: the image recipe's Debian pins, fetched from apt or
//! the snapshot archive, checked, and re-resolved (see `kiln_image::debian`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use kiln_image::debian::fetch::FetchSources;
use kiln_image::debian::lock::{self, Availability, LockMode, PinCheck};
use kiln_image::debian::packages::AptIndices;
use kiln_image::inputs::prepare;
use kiln_image::recipe::{Recipe, RecipeInForce};
use kiln_image::ImageError;
use serde_json::json;

use crate::cli::{ImageFetchConfig, ImageLockArgs};
use crate::error::{HostError, EXIT_FAILED, EXIT_OK};
use crate::guest_image::{announce_recipe, GuestImageError};

fn image_err(what: impl Into<String>) -> impl FnOnce(ImageError) -> HostError {
    let what = what.into();
    move |source| HostError::Image(GuestImageError::Image { what, source })
}

fn stderr_line(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// `kiln image fetch`: prints `kernel=DIR` and `toolchain.NAME=DIR` per toolchain.
pub fn run_fetch(cfg: &ImageFetchConfig) -> Result<String, HostError> {
    let r = RecipeInForce::resolve(cfg.recipe.as_deref()).map_err(image_err("read the recipe"))?;
    announce_recipe(&r);
    let inputs = prepare(
        &r.recipe,
        &cfg.cache,
        &cfg.sources,
        cfg.toolchain.clone(),
        &mut |line| {
            let _ = writeln!(std::io::stderr().lock(), "kiln: {line}");
        },
    )
    .map_err(image_err("fetch the image recipe's packages"))?;
    let mut out = format!("kernel={}\n", inputs.kernel_dir.display());
    for (name, root) in &inputs.toolchain_roots {
        out.push_str(&format!("toolchain.{name}={}\n", root.display()));
    }
    Ok(out)
}

fn check_json(c: &PinCheck) -> serde_json::Value {
    let (state, detail) = match &c.availability {
        Availability::Served(by) => ("served", by.clone()),
        Availability::Unavailable(why) => ("unavailable", why.clone()),
    };
    json!({
        "role": c.role,
        "package": c.pin.package,
        "version": c.pin.version,
        "suite": c.pin.suite,
        "state": state,
        "detail": detail,
        "newer": c.newer,
    })
}

fn check_text(checks: &[PinCheck]) -> String {
    let mut out = String::new();
    for c in checks {
        let name = format!("{}={}", c.pin.package, c.pin.version);
        match &c.availability {
            Availability::Served(by) => {
                out.push_str(&format!(
                    "{:<9} {name}  served: {}\n",
                    c.role,
                    by.join(", ")
                ));
            }
            Availability::Unavailable(why) => {
                out.push_str(&format!("{:<9} {name}  UNAVAILABLE\n", c.role));
                for w in why {
                    out.push_str(&format!("          - {w}\n"));
                }
            }
        }
    }
    for c in checks {
        if let Some(n) = &c.newer {
            out.push_str(&format!(
                "warning: {}={} is stale: suite {} serves {n} (`kiln image lock` updates it)\n",
                c.pin.package, c.pin.version, c.pin.suite
            ));
        }
    }
    let unavailable = checks.iter().filter(|c| c.is_unavailable()).count();
    let stale = checks.iter().filter(|c| c.newer.is_some()).count();
    out.push_str(&format!(
        "{} pins: {} served, {unavailable} unavailable, {stale} stale\n",
        checks.len(),
        checks.len() - unavailable
    ));
    out
}

fn write_atomic(path: &Path, text: &str) -> Result<(), HostError> {
    let io = |op: String| move |source| HostError::Image(GuestImageError::Io { op, source });
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .map_err(io(format!("create a file in {}", dir.display())))?;
    tmp.write_all(text.as_bytes())
        .map_err(io(format!("write {}", path.display())))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .map_err(io(format!("replace {}", path.display())))?;
    Ok(())
}

/// `kiln image lock`: the report (stdout) and the exit code.
pub fn run_lock(args: ImageLockArgs) -> Result<(String, u8), HostError> {
    let text = fs::read_to_string(&args.recipe).map_err(|source| {
        HostError::Image(GuestImageError::Io {
            op: format!(
                "read the recipe {} (give --recipe FILE)",
                args.recipe.display()
            ),
            source,
        })
    })?;
    let recipe = Recipe::parse(&text).map_err(image_err(format!(
        "parse the recipe {}",
        args.recipe.display()
    )))?;
    let indices = AptIndices::load(&lock::wanted_packages(&recipe))
        .map_err(|e| image_err("read apt's package indices")(ImageError::Archive(e)))?;
    let sources = FetchSources::new(true, !args.no_snapshot);
    let checks = lock::check(&recipe, &indices, &sources);
    if args.check {
        let unavailable = checks.iter().any(PinCheck::is_unavailable);
        let code = if unavailable { EXIT_FAILED } else { EXIT_OK };
        let out = if args.json {
            let doc = json!({
                "recipe": args.recipe.display().to_string(),
                "ok": !unavailable,
                "pins": checks.iter().map(check_json).collect::<Vec<_>>(),
            });
            format!(
                "{}\n",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            )
        } else {
            check_text(&checks)
        };
        return Ok((out, code));
    }
    let mode = if args.unavailable_only {
        LockMode::Unavailable
    } else {
        LockMode::All
    };
    let locked = lock::lock(&text, &recipe, &indices, &checks, mode, SystemTime::now())
        .map_err(|e| image_err("lock the recipe")(ImageError::Archive(e)))?;
    let target = args.output.clone().unwrap_or_else(|| args.recipe.clone());
    if !locked.changes.is_empty() || args.output.is_some() {
        write_atomic(&target, &locked.text)?;
    }
    if mode == LockMode::Unavailable && !locked.changes.is_empty() {
        let bar = "!".repeat(78);
        stderr_line(&bar);
        stderr_line(&format!(
            "NOTICE: no reachable source serves {} pinned package(s) of {} any more.",
            locked.changes.len(),
            args.recipe.display()
        ));
        stderr_line(&format!(
            "They were re-resolved to what the archive serves now, in {}:",
            target.display()
        ));
        for c in &locked.changes {
            stderr_line(&format!("  {c}"));
        }
        stderr_line(
            "An image built with these pins differs from the committed recipe's (its measurement \
             too). Run `kiln image lock` and commit the recipe to update the pins for everyone.",
        );
        stderr_line(&bar);
    }
    if args.json {
        let doc = json!({
            "recipe": target.display().to_string(),
            "changes": locked.changes.iter().map(|c| json!({
                "role": c.role,
                "old": {"package": c.old.package, "version": c.old.version, "sha256": c.old.sha256},
                "new": {"package": c.new.package, "version": c.new.version, "sha256": c.new.sha256,
                        "path": c.new.path, "snapshot": c.new.snapshot},
            })).collect::<Vec<_>>(),
        });
        return Ok((
            format!(
                "{}\n",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            ),
            EXIT_OK,
        ));
    }
    let mut out = String::new();
    if locked.changes.is_empty() {
        out.push_str(&format!(
            "{}: every pin is current; nothing to change\n",
            args.recipe.display()
        ));
    } else {
        for c in &locked.changes {
            out.push_str(&format!("{c}\n"));
        }
        out.push_str(&format!(
            "locked {} pin(s) into {}\n",
            locked.changes.len(),
            target.display()
        ));
    }
    Ok((out, EXIT_OK))
}
