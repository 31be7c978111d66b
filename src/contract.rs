//! `bilet contract`: writes what the mobile apps build against — the OpenAPI document and,
//! beside it in `push/`, a JSON Schema per kind of push payload — or checks that the
//! committed files are current and shows what differs.

use std::path::{Path, PathBuf};

use similar::TextDiff;

use crate::api;
use crate::notify::policy::{POLICIES, push_schemas};

/// Default location of the OpenAPI document, relative to the repository root.
pub const DEFAULT_PATH: &str = "mobile-contract/openapi.json";

/// Lines of diff shown at most when a committed file is stale.
const MAX_DIFF_LINES: usize = 200;

/// Every file of the contract: its path and its current text.
fn files(openapi: &Path) -> Vec<(PathBuf, String)> {
    let mut files = vec![(openapi.to_path_buf(), api::contract())];
    let push_dir = openapi.parent().unwrap_or(Path::new(".")).join("push");
    for policy in POLICIES.iter().filter(|p| p.inbox) {
        let (apns, android) = push_schemas(policy);
        for (suffix, schema) in [("apns", apns), ("android", android)] {
            let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
            text.push('\n');
            files.push((
                push_dir.join(format!("{}.{suffix}.schema.json", policy.kind)),
                text,
            ));
        }
    }
    files
}

/// Writes the current contract, the OpenAPI document at `path`.
pub fn write(path: &Path) -> std::io::Result<()> {
    for (file, text) in files(path) {
        if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(file, text)?;
    }
    Ok(())
}

/// `Ok` when every committed file is exactly current, else a unified diff (committed →
/// generated) of each that is not.
pub fn check(path: &Path) -> Result<(), String> {
    let mut report = String::new();
    for (file, generated) in files(path) {
        let committed = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(err) => {
                report.push_str(&format!("cannot read {}: {err}\n", file.display()));
                continue;
            }
        };
        if committed == generated {
            continue;
        }
        let diff = TextDiff::from_lines(&committed, &generated)
            .unified_diff()
            .context_radius(2)
            .header(
                &format!("{} (committed)", file.display()),
                "generated from the code",
            )
            .to_string();
        let total = diff.lines().count();
        for line in diff.lines().take(MAX_DIFF_LINES) {
            report.push_str(line);
            report.push('\n');
        }
        if total > MAX_DIFF_LINES {
            report.push_str(&format!("… {} more diff lines\n", total - MAX_DIFF_LINES));
        }
    }
    if report.is_empty() {
        Ok(())
    } else {
        Err(report)
    }
}
