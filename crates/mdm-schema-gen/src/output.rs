//! Formatting, writing and checking the generated files.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{
    COMMANDS_DIR, DDM_DIR, DECLARATION_SAMPLES_DIR, DECLARATIONS_DIR, PROFILE_SAMPLES_DIR,
    PROFILES_DIR, SAMPLES_DIR, STATUS_ITEMS_DIR,
};

/// `source` as `rustfmt` formats it, with the workspace's configuration.
pub fn rustfmt(workspace: &Path, source: &str) -> Result<String, String> {
    let rustfmt = std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into());
    let mut child = Command::new(&rustfmt)
        .args(["--edition", "2024", "--emit", "stdout"])
        .current_dir(workspace)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!("cannot run rustfmt ({e}); install it with `rustup component add rustfmt`")
        })?;
    let mut stdin = child.stdin.take().ok_or("rustfmt has no stdin")?;
    let input = source.to_owned();
    // Written from a thread: rustfmt may fill its stdout before it has read all of its input.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    writer
        .join()
        .map_err(|_| "the rustfmt writer panicked".to_owned())?
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "rustfmt failed on generated code: {}\n--- code ---\n{}",
            String::from_utf8_lossy(&output.stderr),
            numbered(source)
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| e.to_string())
}

fn numbered(source: &str) -> String {
    source
        .lines()
        .enumerate()
        .map(|(i, l)| format!("{:5} {l}\n", i + 1))
        .collect()
}

/// Writes the files that changed, and removes generated files that are no longer generated.
/// Returns how many files it wrote or removed.
pub fn write(workspace: &Path, files: &[(PathBuf, String)]) -> Result<usize, String> {
    let mut changed = 0;
    for (path, contents) in files {
        let full = workspace.join(path);
        if std::fs::read_to_string(&full).ok().as_deref() == Some(contents.as_str()) {
            continue;
        }
        if let Some(dir) = full.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&full, contents).map_err(|e| format!("{}: {e}", full.display()))?;
        changed += 1;
    }
    for stale in stale(workspace, files)? {
        std::fs::remove_file(workspace.join(&stale))
            .map_err(|e| format!("{}: {e}", stale.display()))?;
        changed += 1;
    }
    Ok(changed)
}

/// Files in the output directories that the generator does not write.
fn stale(workspace: &Path, files: &[(PathBuf, String)]) -> Result<Vec<PathBuf>, String> {
    let expected: BTreeSet<&Path> = files.iter().map(|(p, _)| p.as_path()).collect();
    let mut stale = Vec::new();
    for dir in [
        COMMANDS_DIR,
        SAMPLES_DIR,
        PROFILES_DIR,
        PROFILE_SAMPLES_DIR,
        DDM_DIR,
        DECLARATIONS_DIR,
        STATUS_ITEMS_DIR,
        DECLARATION_SAMPLES_DIR,
    ] {
        let Ok(entries) = std::fs::read_dir(workspace.join(dir)) else {
            continue;
        };
        for entry in entries {
            let entry = entry.map_err(|e| e.to_string())?;
            let path = Path::new(dir).join(entry.file_name());
            if entry.path().is_file() && !expected.contains(path.as_path()) {
                stale.push(path);
            }
        }
    }
    stale.sort();
    Ok(stale)
}

/// How the checked-in files differ from the generator's.
#[derive(Debug, Default)]
pub struct Report {
    /// Files whose contents differ, with the first differing line.
    pub differ: Vec<(PathBuf, String)>,
    pub missing: Vec<PathBuf>,
    pub stale: Vec<PathBuf>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.differ.is_empty() && self.missing.is_empty() && self.stale.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "generated code differs from the generator: {} changed, {} missing, {} stale",
            self.differ.len(),
            self.missing.len(),
            self.stale.len()
        )?;
        for (path, first) in &self.differ {
            writeln!(f, "  changed  {}: {first}", path.display())?;
        }
        for path in &self.missing {
            writeln!(f, "  missing  {}", path.display())?;
        }
        for path in &self.stale {
            writeln!(f, "  stale    {}", path.display())?;
        }
        Ok(())
    }
}

/// Compares the files on disk with `files`, writing nothing.
pub fn check(workspace: &Path, files: &[(PathBuf, String)]) -> Result<Report, String> {
    let mut report = Report::default();
    for (path, contents) in files {
        match std::fs::read_to_string(workspace.join(path)) {
            Err(_) => report.missing.push(path.clone()),
            Ok(existing) if existing == *contents => {}
            Ok(existing) => report
                .differ
                .push((path.clone(), first_difference(&existing, contents))),
        }
    }
    report.stale = stale(workspace, files)?;
    Ok(report)
}

/// Where two texts first differ: `line N: - old / + new`.
fn first_difference(old: &str, new: &str) -> String {
    let mut old_lines = old.lines();
    let mut new_lines = new.lines();
    let mut n = 1;
    loop {
        match (old_lines.next(), new_lines.next()) {
            (Some(a), Some(b)) if a == b => n += 1,
            (None, None) => return "line endings differ".into(),
            (a, b) => {
                return format!(
                    "line {n}: - {:?} / + {:?}",
                    a.unwrap_or("(end)"),
                    b.unwrap_or("(end)")
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustfmt_formats() {
        let dir = std::env::temp_dir();
        assert_eq!(
            rustfmt(&dir, "fn  main( ){let x=1;}").unwrap(),
            "fn main() {\n    let x = 1;\n}\n"
        );
        assert!(rustfmt(&dir, "fn main( {").is_err());
    }

    #[test]
    fn differences_are_located() {
        assert_eq!(
            first_difference("a\nb\n", "a\nc\n"),
            "line 2: - \"b\" / + \"c\""
        );
        assert_eq!(
            first_difference("a\n", "a\nb\n"),
            "line 2: - \"(end)\" / + \"b\""
        );
    }

    #[test]
    fn check_reports_changed_missing_and_stale_files() {
        let workspace =
            std::env::temp_dir().join(format!("schema-gen-check-{}", std::process::id()));
        let dir = workspace.join(COMMANDS_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.rs"), "old\n").unwrap();
        std::fs::write(dir.join("stale.rs"), "x\n").unwrap();
        let files = vec![
            (Path::new(COMMANDS_DIR).join("a.rs"), "new\n".to_owned()),
            (Path::new(COMMANDS_DIR).join("b.rs"), "b\n".to_owned()),
        ];
        let report = check(&workspace, &files).unwrap();
        assert_eq!(report.differ.len(), 1);
        assert_eq!(report.missing, [Path::new(COMMANDS_DIR).join("b.rs")]);
        assert_eq!(report.stale, [Path::new(COMMANDS_DIR).join("stale.rs")]);
        assert_eq!(write(&workspace, &files).unwrap(), 3);
        assert!(check(&workspace, &files).unwrap().is_clean());
        std::fs::remove_dir_all(&workspace).unwrap();
    }
}
