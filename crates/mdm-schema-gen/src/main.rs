//! Generates Rootstock's typed commands, profile payloads, declarations and status items from
//! Apple's device-management schema.
//!
//! ```text
//! cargo run -p mdm-schema-gen              # regenerate the checked-in code
//! cargo run -p mdm-schema-gen -- --check   # exit 1, with a summary, if it differs
//! ```
//!
//! Reads `schema/apple-device-management` (Apple's YAML, with its `SOURCE.md` naming the
//! release and `LICENSE.txt`) into one model of the schema format (`model`), plans Rust types
//! from it (`plan`), and writes one output per kind of schema file: the commands
//! (`crates/mdm-commands/src/generated/`, the example results in
//! `crates/mdm-commands/src/examples.rs`, and the test samples in
//! `crates/mdm-commands/tests/samples/`), the profile payloads
//! (`crates/mdm-profiles/src/generated/`, `crates/mdm-profiles/tests/samples/`), and the
//! declarations and status items (`crates/mdm-ddm/src/generated/`,
//! `crates/mdm-ddm/tests/samples/`). Every Rust file
//! goes through `rustfmt`, so the output is what `cargo fmt` keeps, and is the same bytes for the
//! same YAML.

mod commands;
mod declarations;
mod docs;
mod model;
mod naming;
mod output;
mod plan;
mod profiles;
mod samples;
mod yaml;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The schema release the output is generated from, and Apple's copyright line.
pub struct Release {
    /// `iOS 18.1 / macOS 15.1`.
    pub name: String,
    /// `Copyright © 2022-2024 Apple Inc.`
    pub copyright: String,
}

/// Where the schema lives in the repository.
pub const SCHEMA_DIR: &str = "schema/apple-device-management";
/// Where the command modules go.
pub const COMMANDS_DIR: &str = "crates/mdm-commands/src/generated";
/// Where the command test samples go.
pub const SAMPLES_DIR: &str = "crates/mdm-commands/tests/samples";
/// The example results of every command (`AnyResponse::example`).
pub const EXAMPLES_FILE: &str = "crates/mdm-commands/src/examples.rs";
/// Where the profile payload modules go.
pub const PROFILES_DIR: &str = "crates/mdm-profiles/src/generated";
/// Where the profile payload test samples go.
pub const PROFILE_SAMPLES_DIR: &str = "crates/mdm-profiles/tests/samples";
/// Where `mdm-ddm`'s generated modules go.
pub const DDM_DIR: &str = "crates/mdm-ddm/src/generated";
/// Where the declaration type modules go.
pub const DECLARATIONS_DIR: &str = "crates/mdm-ddm/src/generated/declarations";
/// Where the status item modules go.
pub const STATUS_ITEMS_DIR: &str = "crates/mdm-ddm/src/generated/status_items";
/// Where the declaration test samples go.
pub const DECLARATION_SAMPLES_DIR: &str = "crates/mdm-ddm/tests/samples/declarations";
/// The test sample of every status item, as a status report's `StatusItems`.
pub const STATUS_ITEMS_SAMPLE: &str = "crates/mdm-ddm/tests/samples/status-items.json";

fn main() -> ExitCode {
    let mut check = false;
    let mut workspace = workspace_root();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--workspace" => match args.next() {
                Some(dir) => workspace = PathBuf::from(dir),
                None => return usage("--workspace needs a directory"),
            },
            "-h" | "--help" => {
                println!(
                    "usage: mdm-schema-gen [--check] [--workspace DIR]\n\n\
                     Regenerates {COMMANDS_DIR}, {EXAMPLES_FILE}, {SAMPLES_DIR}, {PROFILES_DIR},\n\
                     {PROFILE_SAMPLES_DIR}, {DDM_DIR} and {DECLARATION_SAMPLES_DIR}\n\
                     from {SCHEMA_DIR};\n\
                     with --check, writes nothing and exits 1 when the checked-in files differ."
                );
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let files = match generate(&workspace) {
        Ok(files) => files,
        Err(error) => {
            eprintln!("mdm-schema-gen: {error}");
            return ExitCode::from(2);
        }
    };
    let result = if check {
        output::check(&workspace, &files).map(|report| {
            if report.is_clean() {
                println!(
                    "mdm-schema-gen: {} generated files are current",
                    files.len()
                );
                true
            } else {
                eprintln!("{report}");
                false
            }
        })
    } else {
        output::write(&workspace, &files).map(|written| {
            println!(
                "mdm-schema-gen: {} files generated, {written} changed",
                files.len()
            );
            true
        })
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("mdm-schema-gen: {error}");
            ExitCode::from(2)
        }
    }
}

fn usage(error: &str) -> ExitCode {
    eprintln!("mdm-schema-gen: {error}\nusage: mdm-schema-gen [--check] [--workspace DIR]");
    ExitCode::from(2)
}

/// The workspace this crate belongs to.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Every generated file, as `(path from the workspace root, contents)`, in path order.
pub fn generate(workspace: &Path) -> Result<Vec<(PathBuf, String)>, String> {
    let schema_dir = workspace.join(SCHEMA_DIR);
    let release = release(&schema_dir)?;
    let mut schema = model::Schema::default();
    schema.load_dir(&schema_dir, "mdm/commands")?;
    schema.load_dir(&schema_dir, "mdm/profiles")?;
    schema.load_dir(&schema_dir, "declarative")?;
    let commands = commands::plan(&schema)?;
    let mut files = Vec::new();
    for command in &commands {
        for note in &command.plan.notes {
            eprintln!("mdm-schema-gen: {}: {note}", command.request_type);
        }
        files.push((
            Path::new(COMMANDS_DIR).join(format!("{}.rs", command.module)),
            output::rustfmt(workspace, &commands::module(command, &release))?,
        ));
        for (name, contents) in samples::files(command) {
            files.push((Path::new(SAMPLES_DIR).join(name), contents));
        }
    }
    files.push((
        Path::new(COMMANDS_DIR).join("mod.rs"),
        output::rustfmt(workspace, &commands::root_module(&commands, &release))?,
    ));
    let header = commands::header(&release, "schema/apple-device-management/mdm/commands");
    files.push((
        PathBuf::from(EXAMPLES_FILE),
        output::rustfmt(workspace, &samples::examples_module(&commands, &header))?,
    ));

    let payloads = profiles::plan(&schema)?;
    for payload in &payloads {
        for note in &payload.plan.notes {
            eprintln!("mdm-schema-gen: {}: {note}", payload.payload_type);
        }
        files.push((
            Path::new(PROFILES_DIR).join(format!("{}.rs", payload.module)),
            output::rustfmt(workspace, &profiles::module(payload, &release))?,
        ));
        for (name, contents) in profiles::sample_files(payload) {
            files.push((Path::new(PROFILE_SAMPLES_DIR).join(name), contents));
        }
    }
    files.push((
        Path::new(PROFILES_DIR).join("mod.rs"),
        output::rustfmt(workspace, &profiles::root_module(&payloads, &release))?,
    ));
    ddm(workspace, &schema, &release, &mut files)?;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// `mdm-ddm`'s declaration types and status items, and their samples.
fn ddm(
    workspace: &Path,
    schema: &model::Schema,
    release: &Release,
    files: &mut Vec<(PathBuf, String)>,
) -> Result<(), String> {
    let declarations = declarations::plan_declarations(schema)?;
    let status_items = declarations::plan_status_items(schema)?;
    for item in declarations.iter().chain(&status_items) {
        for note in &item.plan.notes {
            eprintln!("mdm-schema-gen: {}: {note}", item.name);
        }
    }
    for item in &declarations {
        files.push((
            Path::new(DECLARATIONS_DIR).join(format!("{}.rs", item.module)),
            output::rustfmt(workspace, &declarations::declaration_module(item, release))?,
        ));
        for (name, contents) in declarations::declaration_samples(item) {
            files.push((Path::new(DECLARATION_SAMPLES_DIR).join(name), contents));
        }
    }
    for item in &status_items {
        files.push((
            Path::new(STATUS_ITEMS_DIR).join(format!("{}.rs", item.module)),
            output::rustfmt(workspace, &declarations::status_item_module(item, release))?,
        ));
    }
    files.push((
        Path::new(DDM_DIR).join("mod.rs"),
        output::rustfmt(workspace, &declarations::generated_module(release))?,
    ));
    files.push((
        Path::new(DECLARATIONS_DIR).join("mod.rs"),
        output::rustfmt(
            workspace,
            &declarations::declarations_root(&declarations, release),
        )?,
    ));
    files.push((
        Path::new(STATUS_ITEMS_DIR).join("mod.rs"),
        output::rustfmt(
            workspace,
            &declarations::status_items_root(&status_items, release),
        )?,
    ));
    files.push((
        PathBuf::from(STATUS_ITEMS_SAMPLE),
        declarations::status_items_sample(&status_items)?,
    ));
    Ok(())
}

/// The release `SOURCE.md` names ("… the iOS 18.1 / macOS 15.1 release …") and the copyright
/// line of `LICENSE.txt`.
fn release(schema_dir: &Path) -> Result<Release, String> {
    let read = |name: &str| {
        std::fs::read_to_string(schema_dir.join(name))
            .map_err(|e| format!("{}: {e}", schema_dir.join(name).display()))
    };
    let source = read("SOURCE.md")?;
    let license = read("LICENSE.txt")?;
    let name = source
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .split(" the ")
        .find_map(|part| part.split_once(" release").map(|(name, _)| name.to_owned()))
        .filter(|name| name.len() < 60)
        .ok_or("SOURCE.md does not name the schema release (\"the … release\")")?;
    let copyright = license
        .lines()
        .find(|l| l.trim_start().starts_with("Copyright"))
        .map(|l| l.trim().to_owned())
        .ok_or("LICENSE.txt has no copyright line")?;
    Ok(Release { name, copyright })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_schema_loads_into_one_model() {
        let dir = workspace_root().join(SCHEMA_DIR);
        let mut schema = model::Schema::default();
        for sub in ["mdm", "declarative", "other"] {
            schema.load_dir(&dir, sub).unwrap();
        }
        assert_eq!(schema.files_in("mdm/commands").count(), 66);
        assert_eq!(schema.files_in("mdm/profiles").count(), 128);
        assert_eq!(schema.files_in("declarative/status").count(), 45);
        let declarations = schema
            .files
            .iter()
            .filter(|f| f.payload.declaration_type.is_some())
            .count();
        assert!(declarations >= 38, "{declarations}");
        let status_items = schema
            .files
            .iter()
            .filter(|f| f.payload.status_item_type.is_some())
            .count();
        assert_eq!(status_items, 44);
    }

    #[test]
    fn the_release_is_read_from_source_md() {
        let release = release(&workspace_root().join(SCHEMA_DIR)).unwrap();
        assert_eq!(release.name, "iOS 18.1 / macOS 15.1");
        assert!(release.copyright.contains("Apple Inc."));
    }

    /// The generated files, made once for the tests that only read them.
    fn generated() -> &'static [(PathBuf, String)] {
        static FILES: std::sync::OnceLock<Vec<(PathBuf, String)>> = std::sync::OnceLock::new();
        FILES.get_or_init(|| generate(&workspace_root()).unwrap())
    }

    #[test]
    fn generating_twice_gives_the_same_bytes() {
        let again = generate(&workspace_root()).unwrap();
        assert_eq!(generated(), again.as_slice());
        let modules = again
            .iter()
            .filter(|(p, _)| p.starts_with(COMMANDS_DIR))
            .count();
        assert_eq!(modules, 67, "66 commands and mod.rs");
        let declarations = again
            .iter()
            .filter(|(p, _)| p.starts_with(DECLARATIONS_DIR))
            .count();
        assert_eq!(declarations, 39, "38 declaration types and mod.rs");
        let status_items = again
            .iter()
            .filter(|(p, _)| p.starts_with(STATUS_ITEMS_DIR))
            .count();
        assert_eq!(status_items, 45, "44 status items and mod.rs");
    }

    /// rustfmt leaves code it cannot fit in 100 columns as it was written: a long line of code
    /// is generated code that was never formatted.
    #[test]
    fn every_generated_line_is_formatted() {
        for (path, contents) in generated() {
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            for line in contents.lines() {
                let unbreakable_link = line.trim_start().starts_with("///") && line.contains("://");
                // A header's schema path (`// schema/…/account.subscribed-calendar.yaml.`).
                // … and a re-export of one long path, which rustfmt cannot break either.
                let unbreakable_path = ["// ", "pub use "]
                    .iter()
                    .any(|start| line.strip_prefix(start).is_some_and(|l| !l.contains(' ')));
                assert!(
                    line.len() <= 100 || unbreakable_link || unbreakable_path,
                    "{}: {line}",
                    path.display()
                );
            }
        }
    }

    /// A newer schema release — a new command, attributes and an OS this generator has never
    /// seen — generates without a change to the generator.
    #[test]
    fn a_newer_schema_generates_unchanged() {
        let workspace =
            std::env::temp_dir().join(format!("schema-gen-newer-{}", std::process::id()));
        let schema = workspace.join(SCHEMA_DIR);
        copy_dir(&workspace_root().join(SCHEMA_DIR), &schema);
        std::fs::write(
            schema.join("mdm/commands/device.future.yaml"),
            r#"title: Future Command
description: A command from a later release.
payload:
  requesttype: FutureCommand
  supportedOS:
    iOS:
      introduced: '27.0'
      newattribute: true
    fooOS:
      introduced: '1.0'
  content: Does what a later release does.
payloadkeys:
- key: Mode
  type: <string>
  presence: required
  rangelist: [Fast, Slow]
  newkeyattribute: 3
- key: Shape
  type: <polygon>
  presence: optional
responsekeys:
- key: Result
  type: <dictionary>
  subkeys:
  - key: Done
    type: <boolean>
    presence: required
"#,
        )
        .unwrap();
        let files = generate(&workspace).unwrap();
        let module = files
            .iter()
            .find(|(p, _)| p.ends_with("future_command.rs"))
            .map(|(_, contents)| contents)
            .unwrap();
        assert!(module.contains("pub struct FutureCommand {"));
        assert!(
            module.contains("pub shape: Option<plist::Value>,"),
            "an unknown type is untyped"
        );
        assert!(module.contains("os: Os::Ios,"));
        let root = files.iter().find(|(p, _)| p.ends_with("mod.rs")).unwrap();
        assert!(
            root.1
                .contains("FutureCommand(Box<Response<FutureCommandResponse>>)")
        );
        assert!(
            files
                .iter()
                .any(|(p, _)| p.ends_with("FutureCommand.response.plist"))
        );
        std::fs::remove_dir_all(&workspace).unwrap();
    }

    /// A newer release's declaration type and status item generate without a change to the
    /// generator either.
    #[test]
    fn a_newer_declaration_and_status_item_generate_unchanged() {
        let workspace =
            std::env::temp_dir().join(format!("schema-gen-newer-ddm-{}", std::process::id()));
        let schema = workspace.join(SCHEMA_DIR);
        copy_dir(&workspace_root().join(SCHEMA_DIR), &schema);
        std::fs::write(
            schema.join("declarative/declarations/configurations/future.settings.yaml"),
            r#"title: Future:Settings
description: A declaration from a later release.
payload:
  declarationtype: com.apple.configuration.future.settings
  supportedOS:
    iOS:
      introduced: '27.0'
      allowed-enrollments: [supervised, device]
      allowed-scopes: [system]
    xrOS:
      introduced: '1.0'
payloadkeys:
- key: Level
  type: <string>
  presence: required
  rangelist: [Low, High]
"#,
        )
        .unwrap();
        std::fs::write(
            schema.join("declarative/status/future.item.yaml"),
            r#"title: Status Future Item
description: A status item from a later release.
payload:
  statusitemtype: future.item
  supportedOS:
    iOS:
      introduced: '27.0'
payloadkeys:
- key: future.item
  type: <integer>
  presence: required
"#,
        )
        .unwrap();
        let files = generate(&workspace).unwrap();
        let find = |name: &str| {
            files
                .iter()
                .find(|(p, _)| p.ends_with(name))
                .map(|(_, contents)| contents.as_str())
                .unwrap()
        };
        let module = find("declarations/configuration_future_settings.rs");
        assert!(module.contains("pub struct ConfigurationFutureSettings {"));
        assert!(module.contains("pub level: Level,"));
        let root = find("declarations/mod.rs");
        assert!(root.contains("ConfigurationFutureSettings(ConfigurationFutureSettings)"));
        let item = find("status_items/future_item.rs");
        assert!(item.contains("pub struct FutureItem(pub i64);"));
        assert!(find("status-items.json").contains("\"future\": {"));
        std::fs::remove_dir_all(&workspace).unwrap();
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }

    /// The check CI relies on: the checked-in code is what the generator writes now.
    #[test]
    fn checked_in_code_matches_the_generator() {
        let report = output::check(&workspace_root(), generated()).unwrap();
        assert!(
            report.is_clean(),
            "{report}\nrun `cargo run -p mdm-schema-gen` and commit the result"
        );
    }
}
