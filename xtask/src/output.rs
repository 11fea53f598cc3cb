//! Writing generated files atomically, and `--check`ing them against what is on disk.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, io};

/// Writes every file through a temporary file in the same folder and a rename, so a reader (or a
/// failed run) never sees a half-written file. Files whose content is unchanged are not touched.
pub fn write_all(root: &Path, files: &[(PathBuf, String)]) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (relative, content) in files {
        let path = root.join(relative);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(content.as_str()) {
            continue;
        }
        let folder = path.parent().unwrap_or(root);
        std::fs::create_dir_all(folder).map_err(io(folder))?;
        let temporary = folder.join(format!(
            ".{}.tmp-{}",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            std::process::id()
        ));
        let result = (|| {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(content.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temporary, &path)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&temporary);
            return Err(io(&path)(e));
        }
        written.push(relative.clone());
    }
    Ok(written)
}

/// A unified diff for every file whose content on disk differs from `files`.
pub fn diffs(root: &Path, files: &[(PathBuf, String)]) -> Vec<String> {
    files
        .iter()
        .filter_map(|(relative, expected)| {
            let actual = std::fs::read_to_string(root.join(relative)).unwrap_or_default();
            if &actual == expected {
                return None;
            }
            let name = relative.display().to_string();
            Some(
                similar::TextDiff::from_lines(&actual, expected)
                    .unified_diff()
                    .context_radius(3)
                    .header(&format!("{name} (on disk)"), &format!("{name} (generated)"))
                    .to_string(),
            )
        })
        .collect()
}
