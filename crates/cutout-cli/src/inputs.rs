//! Inputs as given on the command line: local files, http(s) URLs, folders and glob patterns,
//! expanded into the list of images to process and the name each one's outputs get.
//!
//! An explicit file must be an image (by its header); in a folder or a glob's matches, files
//! that are not images are counted and skipped. A folder is walked recursively in sorted order
//! without following symbolic links to folders, and without descending into the output folder,
//! hidden files and folders (names starting with `.`, counted in the note) or the tool's own
//! `.cutout*` files (temporary files, journal). FIFOs, sockets and devices are counted and never
//! opened.

use std::path::{Component, Path, PathBuf};

use cutout::runtime::validate::display_url;
use cutout::runtime::{Error, ImageSource};

use crate::failure::Failure;
use crate::output::RESULT_EXTENSIONS;

/// One input image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A local file.
    Path(PathBuf),
    /// An http(s) URL the provider fetches (or the client downloads first).
    Url(String),
}

impl Input {
    /// `http://…` and `https://…` are URLs; anything else is a path.
    pub fn parse(text: &str) -> Self {
        let lower = text.trim_start().to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            Input::Url(text.trim().to_owned())
        } else {
            Input::Path(PathBuf::from(text))
        }
    }

    /// How the input is shown (progress lines, `--json`): the path as given, or the URL without
    /// its query (which may hold a token) and its `user:password@`.
    pub fn display(&self) -> String {
        match self {
            Input::Path(path) => path.display().to_string(),
            Input::Url(url) => display_url(url),
        }
    }

    /// The name outputs are derived from: the file's stem, or the stem of the URL's last path
    /// segment (`image` when there is none).
    pub fn stem(&self) -> String {
        let stem = match self {
            Input::Path(path) => path
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned()),
            Input::Url(url) => display_url(url)
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split_once('/'))
                .and_then(|(_, path)| path.rsplit('/').next())
                .filter(|name| !name.is_empty())
                .map(|name| match Path::new(name).file_stem() {
                    Some(stem) => stem.to_string_lossy().into_owned(),
                    None => name.to_owned(),
                }),
        };
        let stem = stem.unwrap_or_default();
        let safe: String = stem
            .chars()
            .map(|c| {
                if c.is_control()
                    || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
                {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        if safe.is_empty() || safe == "." || safe == ".." {
            "image".to_owned()
        } else {
            safe
        }
    }

    /// Checks a local input before anything is sent: it exists, is a file, and its header is an
    /// image. URLs are not checked here (the provider or the client fetches them).
    pub fn check_local(&self, field: &str) -> Result<(), Error> {
        let Input::Path(path) = self else {
            return Ok(());
        };
        if !path.exists() {
            return Err(Error::invalid(
                field,
                format!(
                    "`{}` does not exist: check the path (relative paths start from the current \
                     directory)",
                    path.display()
                ),
            ));
        }
        if !path.is_file() {
            return Err(Error::invalid(
                field,
                format!("`{}` is not a file: pass an image file", path.display()),
            ));
        }
        if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
            return Err(Error::invalid(
                field,
                format!(
                    "`{}` is empty (0 bytes): was it still being copied or downloaded? pass a \
                     complete image file",
                    path.display()
                ),
            ));
        }
        ImageSource::path(path).probe(field).map(|_| ())
    }

    /// The input as the runtime's image source.
    pub fn source(&self) -> ImageSource {
        match self {
            Input::Path(path) => ImageSource::Path(path.clone()),
            Input::Url(url) => ImageSource::Url(url.clone()),
        }
    }
}

/// One image to process: the input, and where its outputs go under `-o` (a relative path
/// without extension: `a/b` for `photos/a/b.jpg` given `photos`; the stem for a file or URL
/// given by itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The image.
    pub input: Input,
    /// Its outputs' name under `-o`, without suffix and extension.
    pub relative: PathBuf,
}

impl Entry {
    /// The relative name as shown in messages (`/` separated on every system).
    pub fn name(&self) -> String {
        relative_name(&self.relative)
    }
}

/// What the command line expands to.
#[derive(Debug, Default)]
pub struct Expansion {
    /// The images, in the order given (each folder and glob in sorted order).
    pub entries: Vec<Entry>,
    /// Files found in folders or by globs that are not images.
    pub skipped: Vec<PathBuf>,
    /// Results of an earlier run found in the output folder itself (not inputs).
    pub earlier_results: usize,
    /// Hidden files and folders (names starting with `.`) left out of folder walks.
    pub hidden: usize,
    /// FIFOs, sockets and devices found in folder walks (never opened).
    pub special: usize,
}

impl Expansion {
    /// The note about skipped files, if any were.
    pub fn skip_note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.skipped.is_empty() {
            let examples: Vec<String> = self
                .skipped
                .iter()
                .take(3)
                .map(|path| path.display().to_string())
                .collect();
            let count = self.skipped.len();
            parts.push(format!(
                "skipped {count} file{} that {} (e.g. {})",
                if count == 1 { "" } else { "s" },
                if count == 1 {
                    "is not an image"
                } else {
                    "are not images"
                },
                examples.join(", ")
            ));
        }
        if self.hidden > 0 {
            let count = self.hidden;
            parts.push(format!(
                "left out {count} hidden file{} or folder{} (names starting with `.`; name \
                 them explicitly to take them)",
                if count == 1 { "" } else { "s" },
                if count == 1 { "" } else { "s" },
            ));
        }
        if self.special > 0 {
            let count = self.special;
            parts.push(format!(
                "skipped {count} special file{} (FIFOs, sockets, devices)",
                if count == 1 { "" } else { "s" }
            ));
        }
        if self.earlier_results > 0 {
            let count = self.earlier_results;
            parts.push(format!(
                "left out {count} result{} of earlier runs in the output folder",
                if count == 1 { "" } else { "s" }
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// `a/b` with `/` whatever the system's separator.
pub fn relative_name(relative: &Path) -> String {
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Expands the command line's arguments into images. `field` names them in errors (`input`,
/// `image`); `out_folder` is the folder results go to (never scanned for inputs).
pub fn expand(
    arguments: &[String],
    field: &str,
    out_folder: Option<&Path>,
) -> Result<Expansion, Failure> {
    let out = out_folder.and_then(|folder| folder.canonicalize().ok());
    let mut expansion = Expansion::default();
    for argument in arguments {
        let input = Input::parse(argument);
        let path = match &input {
            Input::Url(_) => {
                let relative = PathBuf::from(input.stem());
                expansion.entries.push(Entry { input, relative });
                continue;
            }
            Input::Path(path) => path.clone(),
        };
        if path.is_dir() {
            let skipped_before = expansion.skipped.len();
            let found = walk(&path, &path, out.as_deref(), &mut expansion)?;
            if found == 0 {
                let others = expansion.skipped.len() - skipped_before;
                return Err(Failure::Usage(format!(
                    "the folder `{}` holds no images (JPEG, PNG, WebP, TIFF, GIF or BMP, found \
                     by their content; {others} other file{} skipped): check the path",
                    path.display(),
                    if others == 1 { " was" } else { "s were" }
                )));
            }
        } else if path.exists() {
            input.check_local(field).map_err(usage)?;
            let relative = PathBuf::from(input.stem());
            expansion.entries.push(Entry { input, relative });
        } else if has_glob_characters(argument) {
            expand_glob(argument, out.as_deref(), &mut expansion)?;
        } else {
            // The runtime's "does not exist" message.
            input.check_local(field).map_err(usage)?;
        }
    }
    Ok(expansion)
}

fn usage(error: Error) -> Failure {
    Failure::Usage(error.to_string())
}

fn has_glob_characters(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// Where `path` sits relative to the output folder, for a scan rooted at `root`.
enum OutRelation {
    /// The output folder is a subfolder of the scan: never descend into it.
    Inside(PathBuf),
    /// The scan is in the output folder (e.g. no `-o`, scanning `.`): skip earlier results.
    Around,
    /// Unrelated.
    Apart,
}

fn relation(root: &Path, out: Option<&Path>) -> OutRelation {
    let (Some(out), Ok(root)) = (out, root.canonicalize()) else {
        return OutRelation::Apart;
    };
    if root.starts_with(out) {
        OutRelation::Around
    } else if out.starts_with(&root) {
        OutRelation::Inside(out.to_path_buf())
    } else {
        OutRelation::Apart
    }
}

/// The tool's own files: temporary `.cutout-*.part` files, a journal, a `.cutout` folder.
fn is_own(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with(".cutout")
}

/// Names starting with `.`: hidden files and folders, left out of folder walks.
fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with('.')
}

/// `x.cutout.png`, `x.mask.jpg`, `x.mask-2.webp`: what the commands write.
fn looks_like_result(name: &str) -> bool {
    let Some((rest, extension)) = name.rsplit_once('.') else {
        return false;
    };
    if !RESULT_EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str()) {
        return false;
    }
    let Some((_, suffix)) = rest.rsplit_once('.') else {
        return false;
    };
    let kind = match suffix.split_once('-') {
        Some((kind, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => kind,
        Some(_) => return false,
        None => suffix,
    };
    matches!(kind, "cutout" | "mask")
}

/// Walks `folder`, adding its images named relative to `base`; returns how many were found.
fn walk(
    folder: &Path,
    base: &Path,
    out: Option<&Path>,
    expansion: &mut Expansion,
) -> Result<usize, Failure> {
    let relation = relation(folder, out);
    let hidden = std::cell::Cell::new(0usize);
    let walker = walkdir::WalkDir::new(folder)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            if entry.depth() == 0 {
                return true;
            }
            if is_own(entry.file_name()) {
                return false;
            }
            // Hidden files and folders (`.git`, `.DS_Store`, `.thumbnails`) are not inputs:
            // counted, never paid for.
            if is_hidden(entry.file_name()) {
                hidden.set(hidden.get() + 1);
                return false;
            }
            match &relation {
                OutRelation::Inside(out) if entry.file_type().is_dir() => entry
                    .path()
                    .canonicalize()
                    .map_or(true, |path| path != *out),
                _ => true,
            }
        });
    let mut found = 0;
    for item in walker {
        let entry = item.map_err(|e| {
            let path = e.path().unwrap_or(folder).display().to_string();
            Failure::Usage(format!(
                "cannot read `{path}`: {}: check its permissions",
                e.io_error()
                    .map_or_else(|| e.to_string(), ToString::to_string)
            ))
        })?;
        if entry.file_type().is_dir() {
            continue;
        }
        // A symbolic link to a file counts as that file; one to a folder is not followed.
        if entry.path_is_symlink() && !entry.path().is_file() {
            continue;
        }
        // FIFOs, sockets and devices are not images, and opening a FIFO would block forever.
        if !entry.file_type().is_file() && !entry.path().is_file() {
            expansion.special += 1;
            continue;
        }
        if let OutRelation::Around = relation
            && looks_like_result(&entry.file_name().to_string_lossy())
        {
            expansion.earlier_results += 1;
            continue;
        }
        if add_if_image(entry.path(), base, expansion)? {
            found += 1;
        }
    }
    expansion.hidden += hidden.get();
    Ok(found)
}

/// Adds `path` if its header says it is an image, else counts it as skipped.
fn add_if_image(path: &Path, base: &Path, expansion: &mut Expansion) -> Result<bool, Failure> {
    match cutout::runtime::probe::probe_file(path) {
        Ok(Some(_)) => {
            let under = path.strip_prefix(base).unwrap_or(path);
            let relative = clean(&under.with_extension(""));
            expansion.entries.push(Entry {
                input: Input::Path(path.to_path_buf()),
                relative,
            });
            Ok(true)
        }
        Ok(None) => {
            expansion.skipped.push(path.to_path_buf());
            Ok(false)
        }
        Err(error) => Err(usage(error)),
    }
}

/// Only the normal components (`./a/../b` cannot come out of a walk, but a glob base may
/// leave a `.`).
fn clean(relative: &Path) -> PathBuf {
    relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part),
            _ => None,
        })
        .collect()
}

/// The folder a pattern's matches are named relative to: its components before the first one
/// with a glob character (`photos/**/*.jpg` → `photos`).
fn glob_base(pattern: &str) -> PathBuf {
    let mut base = PathBuf::new();
    for component in Path::new(pattern).components() {
        if has_glob_characters(&component.as_os_str().to_string_lossy()) {
            break;
        }
        base.push(component);
    }
    if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    }
}

fn expand_glob(
    pattern: &str,
    out: Option<&Path>,
    expansion: &mut Expansion,
) -> Result<(), Failure> {
    // As a shell does: `*` does not match a leading `.` (hidden files are named explicitly).
    let options = glob::MatchOptions {
        require_literal_leading_dot: true,
        ..glob::MatchOptions::new()
    };
    let paths = glob::glob_with(pattern, options).map_err(|e| {
        Failure::Usage(format!(
            "`{pattern}` is not a valid glob pattern ({e}): check it, or quote a file name \
             that holds `*`, `?` or `[`"
        ))
    })?;
    let base = glob_base(pattern);
    let relation = relation(&base, out);
    let before = expansion.entries.len();
    let mut matched = 0;
    for path in paths {
        let path = path.map_err(|e| {
            Failure::Usage(format!(
                "cannot read `{}`: {}: check its permissions",
                e.path().display(),
                e.error()
            ))
        })?;
        if path.components().any(|c| is_own(c.as_os_str())) {
            continue;
        }
        let canonical = path.canonicalize().ok();
        match (&relation, &canonical) {
            (OutRelation::Inside(out), Some(canonical)) if canonical.starts_with(out) => continue,
            (OutRelation::Around, _)
                if path
                    .file_name()
                    .is_some_and(|name| looks_like_result(&name.to_string_lossy())) =>
            {
                expansion.earlier_results += 1;
                continue;
            }
            _ => {}
        }
        matched += 1;
        if path.is_dir() {
            walk(&path, &base, out, expansion)?;
        } else if path.is_file() {
            add_if_image(&path, &base, expansion)?;
        } else {
            // A FIFO, socket or device: never opened (a FIFO would block).
            expansion.special += 1;
        }
    }
    if matched == 0 {
        return Err(Failure::Usage(format!(
            "`{pattern}` matches no files: check the pattern (it is relative to the current \
             directory)"
        )));
    }
    if expansion.entries.len() == before {
        return Err(Failure::Usage(format!(
            "`{pattern}` matches no images (JPEG, PNG, WebP, TIFF, GIF or BMP, found by their \
             content): check the pattern"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_are_told_apart_and_named() {
        let url = Input::parse("https://cdn.example.com/a/b/photo.final.jpg?sig=secret");
        assert!(matches!(url, Input::Url(_)));
        assert_eq!(url.stem(), "photo.final");
        assert_eq!(url.display(), "https://cdn.example.com/a/b/photo.final.jpg");
        let with_userinfo = Input::parse("https://me:hunter2@cdn.example.com/p.jpg?t=1");
        assert_eq!(with_userinfo.display(), "https://cdn.example.com/p.jpg");
        assert_eq!(with_userinfo.stem(), "p");
        assert_eq!(Input::parse("HTTP://example.com/").stem(), "image");
        assert_eq!(Input::parse("https://example.com").stem(), "image");
        let path = Input::parse("dir/holiday photo.png");
        assert_eq!(path, Input::Path(PathBuf::from("dir/holiday photo.png")));
        assert_eq!(path.stem(), "holiday photo");
    }

    #[test]
    fn local_inputs_are_checked_before_sending() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Input::Path(dir.path().join("nope.jpg"));
        assert!(
            missing
                .check_local("input")
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "hello").unwrap();
        let err = Input::Path(text).check_local("input").unwrap_err();
        assert!(err.is_invalid_input(), "{err}");
        assert!(err.to_string().contains("is not a JPEG, PNG"), "{err}");
        let empty = dir.path().join("x.jpg");
        std::fs::write(&empty, "").unwrap();
        let err = Input::Path(empty).check_local("input").unwrap_err();
        assert!(err.is_invalid_input(), "{err}");
        assert!(
            err.to_string().contains("x.jpg` is empty (0 bytes)"),
            "{err}"
        );
        assert!(
            Input::Path(dir.path().to_path_buf())
                .check_local("input")
                .is_err()
        );
    }
}

#[cfg(test)]
mod expansion_tests {
    use super::*;

    fn image(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // The format from the extension; anything else is written as a PNG.
        let format = image::ImageFormat::from_path(path).unwrap_or(image::ImageFormat::Png);
        image::RgbImage::from_pixel(4, 3, image::Rgb([200, 10, 10]))
            .save_with_format(path, format)
            .unwrap();
    }

    fn text(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "not an image").unwrap();
    }

    fn args(paths: &[&Path]) -> Vec<String> {
        paths.iter().map(|p| p.display().to_string()).collect()
    }

    fn names(expansion: &Expansion) -> Vec<String> {
        expansion.entries.iter().map(Entry::name).collect()
    }

    #[test]
    fn a_folder_is_walked_in_order_keeping_images_and_counting_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let photos = dir.path().join("photos");
        image(&photos.join("b.jpg"));
        image(&photos.join("a/z.png"));
        image(&photos.join("a/deep/y.webp"));
        // Named like an image, but it is not one; an image named like text is one.
        text(&photos.join("a/fake.jpg"));
        image(&photos.join("a/real.txt"));
        text(&photos.join("notes.pdf"));
        text(&photos.join(".DS_Store"));
        // Hidden images and hidden folders are left out, and counted.
        image(&photos.join(".hidden.png"));
        image(&photos.join(".thumbs/t.png"));
        // The tool's own files are never inputs, nor counted.
        text(&photos.join(".cutout-journal.sqlite"));
        image(&photos.join(".cutout/cache.png"));
        let expansion = expand(&args(&[&photos]), "input", None).unwrap();
        assert_eq!(names(&expansion), ["a/deep/y", "a/real", "a/z", "b"]);
        assert_eq!(
            expansion.entries[0].input,
            Input::Path(photos.join("a/deep/y.webp"))
        );
        assert_eq!(expansion.skipped.len(), 2, "{:?}", expansion.skipped);
        assert_eq!(expansion.hidden, 3);
        let note = expansion.skip_note().unwrap();
        assert!(
            note.starts_with("skipped 2 files that are not images (e.g. "),
            "{note}"
        );
        assert!(note.contains("fake.jpg"), "{note}");
        assert!(
            note.contains("left out 3 hidden files or folders"),
            "{note}"
        );
        // Named explicitly, a hidden image is taken.
        let explicit = expand(&args(&[&photos.join(".hidden.png")]), "input", None).unwrap();
        assert_eq!(names(&explicit), [".hidden"]);
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_to_folders_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let photos = dir.path().join("photos");
        image(&photos.join("a.png"));
        image(&dir.path().join("elsewhere/b.png"));
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), photos.join("link")).unwrap();
        std::os::unix::fs::symlink(photos.join("a.png"), photos.join("c.png")).unwrap();
        let expansion = expand(&args(&[&photos]), "input", None).unwrap();
        assert_eq!(names(&expansion), ["a", "c"]);
    }

    #[test]
    fn the_output_folder_is_never_scanned() {
        let dir = tempfile::tempdir().unwrap();
        image(&dir.path().join("a.png"));
        image(&dir.path().join("sub/b.png"));
        image(&dir.path().join("out/a.cutout.png"));
        image(&dir.path().join("out/x/b.cutout.png"));
        let out = dir.path().join("out");
        let expansion = expand(&args(&[dir.path()]), "input", Some(&out)).unwrap();
        assert_eq!(names(&expansion), ["a", "sub/b"]);
        // The same through a glob.
        let pattern = format!("{}/**/*.png", dir.path().display());
        let expansion = expand(&[pattern], "input", Some(&out)).unwrap();
        assert_eq!(names(&expansion), ["a", "sub/b"]);
        // Results written beside the inputs (no -o, scanning the current folder) are not
        // inputs of the next run; other images there are.
        image(&dir.path().join("sub/b.mask-2.png"));
        image(&dir.path().join("sub/c.mask.jpg"));
        let expansion = expand(&args(&[dir.path()]), "input", Some(dir.path())).unwrap();
        assert_eq!(names(&expansion), ["a", "sub/b"]);
        assert_eq!(expansion.earlier_results, 4);
        assert_eq!(
            expansion.skip_note().unwrap(),
            "left out 4 results of earlier runs in the output folder"
        );
    }

    #[test]
    fn globs_are_named_relative_to_their_literal_base() {
        let dir = tempfile::tempdir().unwrap();
        let photos = dir.path().join("photos");
        image(&photos.join("a/b.jpg"));
        image(&photos.join("c.jpg"));
        image(&photos.join("c.png"));
        text(&photos.join("d.jpg"));
        let pattern = format!("{}/**/*.jpg", photos.display());
        let expansion = expand(std::slice::from_ref(&pattern), "input", None).unwrap();
        assert_eq!(names(&expansion), ["a/b", "c"]);
        assert_eq!(expansion.skipped, [photos.join("d.jpg")]);
        assert_eq!(glob_base("photos/**/*.jpg"), PathBuf::from("photos"));
        assert_eq!(glob_base("*.jpg"), PathBuf::from("."));
        // Nothing matched, or nothing but non-images: errors naming the pattern.
        let none = format!("{}/*.gif", photos.display());
        let err = expand(std::slice::from_ref(&none), "input", None).unwrap_err();
        assert!(err.to_string().contains("matches no files"), "{err}");
        assert!(err.to_string().contains(&none), "{err}");
        let only_text = format!("{}/d.*", photos.display());
        let err = expand(&[only_text], "input", None).unwrap_err();
        assert!(err.to_string().contains("matches no images"), "{err}");
    }

    #[test]
    fn same_relative_names_collide_and_identical_files_do_not() {
        let dir = tempfile::tempdir().unwrap();
        image(&dir.path().join("a.jpg"));
        image(&dir.path().join("a.png"));
        image(&dir.path().join("copy.jpg"));
        let expansion = expand(&args(&[dir.path()]), "input", None).unwrap();
        let spec = crate::output::OutSpec::Cwd;
        let err = crate::output::check_collisions(&spec, &expansion.entries, "cutout").unwrap_err();
        assert!(err.to_string().contains("a.jpg"), "{err}");
        assert!(err.to_string().contains("a.png"), "{err}");
        let one = dir.path().join("a.jpg");
        let twice = expand(&args(&[&one, &one]), "input", None).unwrap();
        assert!(crate::output::check_collisions(&spec, &twice.entries, "cutout").is_err());
        let different =
            expand(&args(&[&one, &dir.path().join("copy.jpg")]), "input", None).unwrap();
        crate::output::check_collisions(&spec, &different.entries, "cutout").unwrap();
    }

    #[test]
    fn explicit_files_must_be_images_and_folders_must_hold_some() {
        let dir = tempfile::tempdir().unwrap();
        let notes = dir.path().join("notes.txt");
        text(&notes);
        let err = expand(&args(&[&notes]), "input", None).unwrap_err();
        assert_eq!(err.code(), crate::failure::EXIT_USAGE);
        assert!(
            err.to_string().contains("notes.txt` is not a JPEG"),
            "{err}"
        );
        let missing = dir.path().join("missing.jpg");
        let err = expand(&args(&[&missing]), "input", None).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let err = expand(&args(&[&empty]), "input", None).unwrap_err();
        assert!(err.to_string().contains("holds no images"), "{err}");
        let err = expand(&args(&[dir.path()]), "input", None).unwrap_err();
        assert!(
            err.to_string()
                .contains("by their content; 1 other file was skipped"),
            "{err}"
        );
        // URLs pass through, named by their stem.
        let url = expand(
            &["https://example.com/x/y.jpg?t=1".to_owned()],
            "input",
            None,
        )
        .unwrap();
        assert_eq!(names(&url), ["y"]);
    }

    #[test]
    fn results_are_recognised_by_name() {
        for name in [
            "a.cutout.png",
            "a.b.mask.jpg",
            "a.mask-12.webp",
            "x.cutout.PNG",
        ] {
            assert!(looks_like_result(name), "{name}");
        }
        for name in [
            "a.png",
            "cutout.png",
            "a.mask-x.png",
            "a.mask-.png",
            "a.cutout.gif",
        ] {
            assert!(!looks_like_result(name), "{name}");
        }
    }
}
