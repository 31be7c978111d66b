//! `bilet contract`: writes the OpenAPI document the mobile apps build against, or checks
//! that the committed one is current and shows what differs.

use std::path::Path;

use similar::TextDiff;

use crate::api;

/// Default location of the document, relative to the repository root.
pub const DEFAULT_PATH: &str = "mobile-contract/openapi.json";

/// Lines of diff shown at most when the committed document is stale.
const MAX_DIFF_LINES: usize = 200;

/// Writes the current document to `path`.
pub fn write(path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, api::contract())
}

/// `Ok` when `path` holds exactly the current document, else a unified diff (committed
/// → generated) explaining what differs.
pub fn check(path: &Path) -> Result<(), String> {
    let generated = api::contract();
    let committed = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => return Err(format!("cannot read {}: {err}", path.display())),
    };
    if committed == generated {
        return Ok(());
    }
    let diff = TextDiff::from_lines(&committed, &generated)
        .unified_diff()
        .context_radius(2)
        .header(
            &format!("{} (committed)", path.display()),
            "generated from the code",
        )
        .to_string();
    let total = diff.lines().count();
    let mut shown: String = diff
        .lines()
        .take(MAX_DIFF_LINES)
        .map(|line| format!("{line}\n"))
        .collect();
    if total > MAX_DIFF_LINES {
        shown.push_str(&format!("… {} more diff lines\n", total - MAX_DIFF_LINES));
    }
    Err(shown)
}
