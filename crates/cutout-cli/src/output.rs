//! Where results are written, and the no-overwrite rule.
//!
//! `-o` is a folder (an existing one, or any path ending in `/`, created if missing) or, with a
//! single input, a file. Without `-o` results go to the current directory. Inside a folder a
//! result is named `<relative>.<suffix>.<ext>` (`photo.cutout.png`, `a/b.mask.png` for the
//! image `a/b.jpg` of a folder given as input: the folder's structure is mirrored), the extension
//! being that of the format the provider actually returned.
//!
//! An existing file is never replaced unless `--force`: it is checked before anything is sent
//! (so no credits are spent on a result that could not be saved), and again at the write, which
//! goes through a temporary file and a no-clobber rename (`cutout_runtime::write_atomically`).

use std::collections::HashMap;
use std::path::{MAIN_SEPARATOR, Path, PathBuf};

use crate::failure::Failure;
use crate::inputs::Entry;

/// The `-o` of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutSpec {
    /// No `-o`: the current directory.
    Cwd,
    /// A folder.
    Dir(PathBuf),
    /// One file (single input only).
    File(PathBuf),
}

impl OutSpec {
    /// Reads `-o` for a command with `inputs` inputs.
    pub fn new(output: Option<&Path>, inputs: usize) -> Result<Self, Failure> {
        let Some(output) = output else {
            return Ok(OutSpec::Cwd);
        };
        let text = output.to_string_lossy();
        if text.ends_with('/') || text.ends_with(MAIN_SEPARATOR) || output.is_dir() {
            return Ok(OutSpec::Dir(output.to_path_buf()));
        }
        if inputs > 1 {
            return Err(Failure::Usage(format!(
                "-o `{}` is a file, but there are {inputs} inputs: pass a folder (end it with `/` \
                 to have it created)",
                output.display()
            )));
        }
        Ok(OutSpec::File(output.to_path_buf()))
    }

    /// Creates the folder (or the file's parent folder) if it is missing.
    pub fn prepare(&self) -> Result<(), Failure> {
        let folder = match self {
            OutSpec::Cwd => return Ok(()),
            OutSpec::Dir(dir) => dir.as_path(),
            OutSpec::File(file) => match file.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => return Ok(()),
            },
        };
        std::fs::create_dir_all(folder).map_err(|e| {
            Failure::Setup(format!(
                "cannot create the output folder `{}`: {e}",
                folder.display()
            ))
        })
    }

    /// The folder that holds the results, when `-o` is not a file: the one never scanned for
    /// inputs. Known from the flag alone, before the inputs are counted.
    pub fn folder_of(output: Option<&Path>) -> Option<PathBuf> {
        match output {
            None => Some(PathBuf::from(".")),
            Some(output) => {
                let text = output.to_string_lossy();
                (text.ends_with('/') || text.ends_with(MAIN_SEPARATOR) || output.is_dir())
                    .then(|| output.to_path_buf())
            }
        }
    }

    /// The path of the result of the input whose outputs are named `relative` (`photo`, `a/b`).
    pub fn path(&self, relative: &Path, suffix: &str, extension: &str) -> PathBuf {
        let mut name = relative.as_os_str().to_owned();
        name.push(format!(".{suffix}.{extension}"));
        match self {
            OutSpec::Cwd => PathBuf::from(name),
            OutSpec::Dir(dir) => dir.join(name),
            OutSpec::File(file) => file.clone(),
        }
    }

    /// Where the batch runner writes the results of the input named `relative`: a stem (the
    /// extension comes from the result) in a folder, the exact file for `-o FILE`.
    pub fn output_name(&self, relative: &Path, suffix: &str) -> cutout::batch::OutputName {
        let mut name = relative.as_os_str().to_owned();
        name.push(format!(".{suffix}"));
        match self {
            OutSpec::Cwd => cutout::batch::OutputName::Stem(PathBuf::from(name)),
            OutSpec::Dir(dir) => cutout::batch::OutputName::Stem(dir.join(name)),
            OutSpec::File(file) => cutout::batch::OutputName::Exact(file.clone()),
        }
    }

    /// Whether the file name is chosen by the user (then the extension is theirs too).
    pub fn is_file(&self) -> bool {
        matches!(self, OutSpec::File(_))
    }
}

/// Two inputs with the same relative name would write the same files: refused before starting,
/// naming both (a same file given twice included).
pub fn check_collisions(spec: &OutSpec, entries: &[Entry], suffix: &str) -> Result<(), Failure> {
    if spec.is_file() {
        return Ok(());
    }
    let mut seen: HashMap<&Path, &Entry> = HashMap::new();
    for entry in entries {
        if let Some(first) = seen.insert(&entry.relative, entry) {
            return Err(Failure::Usage(format!(
                "`{}` and `{}` would both be written as {}.{suffix}.*: rename one of them or run \
                 them separately with different -o folders",
                first.input.display(),
                entry.input.display(),
                entry.name()
            )));
        }
    }
    Ok(())
}

/// The message of a result that would replace an existing file.
pub fn exists_message(path: &Path) -> String {
    format!(
        "`{}` already exists: pass --force to replace it, or choose another -o",
        path.display()
    )
}

/// Refuses an existing destination unless `force`. Anything at the path counts, a dangling
/// symbolic link included: the no-clobber rename would refuse it after the work was paid for.
pub fn precheck(path: &Path, force: bool) -> Result<(), String> {
    cutout::runtime::fs::destination_free(path, force).map_err(|error| {
        let is_file = std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_dir());
        match error {
            cutout::runtime::Error::InvalidInput { .. } if is_file => exists_message(path),
            // A folder in the way, or a path we may not look at: the runtime's words.
            other => other.to_string(),
        }
    })
}

/// The extensions a provider's result may come back with: the name follows the format that
/// actually arrives, so every one of them is checked before anything is sent.
pub const RESULT_EXTENSIONS: [&str; 3] = ["png", "webp", "jpg"];

/// Checks every name the result(s) of the input named `relative` may be written under, before
/// anything is sent: one per possible format, and with `series` (a job that may answer with
/// several results, named `-2`, `-3`…) also any numbered name already in the folder.
pub fn precheck_result(
    spec: &OutSpec,
    relative: &Path,
    suffix: &str,
    series: bool,
    force: bool,
) -> Result<(), String> {
    match spec {
        OutSpec::File(file) => precheck(file, force)?,
        _ => {
            for extension in RESULT_EXTENSIONS {
                precheck(&spec.path(relative, suffix, extension), force)?;
            }
        }
    }
    // A read-only or full output folder is found now, not after the job is paid for. Mirrored
    // subfolders are made at the write: until then their nearest existing parent is checked.
    let first = spec.path(relative, suffix, "png");
    // A file where a folder of the output path must be could not be worked around after the
    // job is paid for (force does not replace a file with a folder): refused now.
    for ancestor in first.ancestors().skip(1) {
        if ancestor.as_os_str().is_empty() {
            break;
        }
        match std::fs::metadata(ancestor) {
            Ok(meta) if meta.is_dir() => break,
            Ok(_) => {
                return Err(format!(
                    "`{}` is a file, but the result `{}` needs a folder there: move the file \
                     away or choose another -o",
                    ancestor.display(),
                    first.display()
                ));
            }
            Err(_) => {}
        }
    }
    let mut folder = first.parent().map(Path::to_path_buf).unwrap_or_default();
    if !spec.is_file() {
        for _ in 1..relative.components().count() {
            if folder.as_os_str().is_empty() || folder.is_dir() {
                break;
            }
            folder = folder.parent().map(Path::to_path_buf).unwrap_or_default();
        }
    }
    cutout::runtime::fs::check_writable(&folder.join("probe"))
        .map_err(|error| error.to_string())?;
    if force || !series {
        return Ok(());
    }
    // The numbered names: `<stem>.<suffix>-<n>.<ext>` in a folder, `<file stem>-<n>.<ext>`
    // beside a named file.
    let (folder, prefix) = match spec {
        OutSpec::File(file) => (
            file.parent().map(Path::to_path_buf).unwrap_or_default(),
            format!(
                "{}-",
                file.file_stem().unwrap_or_default().to_string_lossy()
            ),
        ),
        _ => (
            first.parent().map(Path::to_path_buf).unwrap_or_default(),
            format!(
                "{}.{suffix}-",
                relative.file_name().unwrap_or_default().to_string_lossy()
            ),
        ),
    };
    let folder = if folder.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        folder
    };
    let Ok(entries) = std::fs::read_dir(&folder) else {
        // A folder that does not exist yet holds nothing to clobber.
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let numbered = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split_once('.'))
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if numbered {
            return Err(exists_message(&folder.join(name)));
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file and a rename; without `force` an existing
/// file (even one created meanwhile) is left as it is and the write fails.
pub async fn write(path: &Path, bytes: &[u8], force: bool) -> Result<(), String> {
    precheck(path, force)?;
    // A mirrored subfolder of the output folder.
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        tokio::fs::create_dir_all(parent).await.map_err(|e| {
            format!(
                "cannot create the output folder `{}`: {e}",
                parent.display()
            )
        })?;
    }
    cutout::runtime::write_atomically(path, bytes, force)
        .await
        .map_err(|error| {
            if !force && std::fs::symlink_metadata(path).is_ok() {
                exists_message(path)
            } else {
                error.to_string()
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_folders_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().to_path_buf();
        assert_eq!(
            OutSpec::new(Some(&existing), 3).unwrap(),
            OutSpec::Dir(existing.clone())
        );
        let new_dir = PathBuf::from("out/");
        assert_eq!(
            OutSpec::new(Some(&new_dir), 2).unwrap(),
            OutSpec::Dir(new_dir)
        );
        let file = existing.join("one.png");
        assert_eq!(
            OutSpec::new(Some(&file), 1).unwrap(),
            OutSpec::File(file.clone())
        );
        let err = OutSpec::new(Some(&file), 2).unwrap_err();
        assert_eq!(err.code(), crate::failure::EXIT_USAGE);
        assert_eq!(OutSpec::new(None, 5).unwrap(), OutSpec::Cwd);
    }

    #[test]
    fn names_follow_the_stem_suffix_and_format() {
        let spec = OutSpec::Dir(PathBuf::from("out"));
        assert_eq!(
            spec.path(Path::new("photo"), "cutout", "png"),
            PathBuf::from("out/photo.cutout.png")
        );
        assert_eq!(
            spec.output_name(Path::new("photo"), "mask")
                .path_for(1, "png"),
            PathBuf::from("out/photo.mask-2.png")
        );
        assert_eq!(
            spec.output_name(Path::new("photo"), "cutout")
                .path_for(0, "png"),
            spec.path(Path::new("photo"), "cutout", "png")
        );
        assert_eq!(
            OutSpec::Cwd.path(Path::new("photo"), "mask", "jpg"),
            PathBuf::from("photo.mask.jpg")
        );
        let file = OutSpec::File(PathBuf::from("x/m.webp"));
        assert_eq!(
            file.path(Path::new("photo"), "mask", "png"),
            PathBuf::from("x/m.webp")
        );
        assert_eq!(
            file.output_name(Path::new("photo"), "mask")
                .path_for(2, "png"),
            PathBuf::from("x/m-3.webp")
        );
    }

    #[test]
    fn colliding_stems_are_refused() {
        let entry = |path: &str, relative: &str| Entry {
            input: crate::inputs::Input::parse(path),
            relative: PathBuf::from(relative),
        };
        let inputs = vec![entry("a/x.jpg", "x"), entry("b/x.png", "x")];
        let err = check_collisions(&OutSpec::Cwd, &inputs, "cutout").unwrap_err();
        assert!(err.to_string().contains("a/x.jpg"), "{err}");
    }

    #[test]
    fn a_file_where_a_result_folder_must_be_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sub"), b"x").unwrap();
        let spec = OutSpec::Dir(dir.path().to_path_buf());
        let err =
            precheck_result(&spec, Path::new("sub/deeper/a"), "cutout", false, true).unwrap_err();
        assert!(err.contains("sub` is a file"), "{err}");
        // A folder still to be made under an existing folder is fine.
        precheck_result(&spec, Path::new("new/a"), "cutout", false, false).unwrap();
    }

    #[test]
    fn every_name_a_result_may_get_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let spec = OutSpec::Dir(dir.path().to_path_buf());
        precheck_result(&spec, Path::new("photo"), "mask", true, false).unwrap();
        // The provider may answer WebP although PNG is expected.
        std::fs::write(dir.path().join("photo.mask.webp"), b"x").unwrap();
        let err = precheck_result(&spec, Path::new("photo"), "mask", false, false).unwrap_err();
        assert!(err.contains("photo.mask.webp"), "{err}");
        precheck_result(&spec, Path::new("photo"), "mask", false, true).unwrap();
        precheck_result(&spec, Path::new("other"), "mask", true, false).unwrap();
        // A second mask of a series.
        std::fs::write(dir.path().join("other.mask-3.png"), b"x").unwrap();
        let err = precheck_result(&spec, Path::new("other"), "mask", true, false).unwrap_err();
        assert!(err.contains("other.mask-3.png"), "{err}");
        precheck_result(&spec, Path::new("other"), "mask", false, false).unwrap();
        std::fs::write(dir.path().join("other.mask-x.png"), b"x").unwrap();
        precheck_result(&spec, Path::new("oth"), "mask", true, false).unwrap();
        // Beside a named file.
        let file = OutSpec::File(dir.path().join("m.png"));
        precheck_result(&file, Path::new("ignored"), "mask", true, false).unwrap();
        std::fs::write(dir.path().join("m-2.webp"), b"x").unwrap();
        assert!(precheck_result(&file, Path::new("ignored"), "mask", true, false).is_err());
        // The commands create the folder first: one still missing cannot be written to.
        let missing = OutSpec::Dir(dir.path().join("new"));
        let err = precheck_result(&missing, Path::new("photo"), "mask", true, false).unwrap_err();
        assert!(err.contains("create a temporary file in"), "{err}");
        // A folder where the result would go is refused, even with --force.
        std::fs::create_dir(dir.path().join("photo.cutout.png")).unwrap();
        for force in [false, true] {
            let err =
                precheck_result(&spec, Path::new("photo"), "cutout", false, force).unwrap_err();
            assert!(err.contains("is a folder"), "{err}");
        }
        // The writability probe leaves nothing behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".part")), "{names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_dangling_symlink_is_an_existing_output() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("photo.cutout.png");
        std::os::unix::fs::symlink(dir.path().join("gone"), &path).unwrap();
        let err = precheck(&path, false).unwrap_err();
        assert!(err.contains("already exists: pass --force"), "{err}");
        precheck(&path, true).unwrap();
    }

    #[tokio::test]
    async fn existing_files_are_kept_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.png");
        std::fs::write(&path, b"old").unwrap();
        let err = write(&path, b"new", false).await.unwrap_err();
        assert!(err.contains("--force"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        write(&path, b"new", true).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            // An ordinary file (0666 less the umask), not a private temporary one.
            assert_eq!(mode & 0o644, 0o644);
        }
    }
}
