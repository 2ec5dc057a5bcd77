//! The profiles output: one Rust module per payload type of `mdm/profiles`, the module that ties
//! them together (`AnyPayload`), for `crates/mdm-profiles/src/generated/`, and a sample of every
//! payload type for `crates/mdm-profiles/tests/samples/`.
//!
//! Decisions beyond the commands':
//!
//! * The keys every payload shares (`CommonPayloadKeys.yaml`: `PayloadIdentifier`, `PayloadUUID`
//!   …) and the top-level `Configuration` dictionary (`TopLevel.yaml`) are the runtime's
//!   (`mdm_profiles::Payload`, `mdm_profiles::Profile`), written by hand because they wrap the
//!   generated types; a payload type's struct holds its own keys only.
//! * Several files may define one payload type (`com.apple.MCX` is split by topic into six):
//!   those become one struct with the keys of all of them, since a payload is told apart only by
//!   its `PayloadType`. Availability is the first file's.
//! * Payload values are written by an operator, so they are planned like command requests:
//!   closed enums, required keys required.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::Release;
use crate::commands::{
    Uses, availability_const, availability_imports, codec_imports, header, write_types,
};
use crate::docs::comment;
use crate::model::{KeyId, Schema, SchemaFile};
use crate::naming::{Names, field_name, type_name};
use crate::plan::{Plan, Side, Ty};
use crate::samples::{self, Fill, Sample};

/// The files of `mdm/profiles` that are not payload types.
const NOT_PAYLOADS: &[&str] = &["CommonPayloadKeys", "TopLevel"];

/// The keys every payload has, read by the runtime's `Payload` rather than the payload types.
pub const COMMON_KEYS: &[&str] = &[
    "PayloadIdentifier",
    "PayloadUUID",
    "PayloadType",
    "PayloadVersion",
    "PayloadDescription",
    "PayloadDisplayName",
    "PayloadOrganization",
];

/// Names the payload types must not take at the crate root: the runtime's own.
const CRATE_ROOT: &[&str] = &[
    "AnyPayload",
    "Availability",
    "Error",
    "Other",
    "Payload",
    "PayloadScope",
    "Profile",
    "ProfilePayload",
    "ProfileSigner",
    "SignedProfile",
];

/// A payload type of the schema and its planned types.
pub struct PayloadDef<'s> {
    /// The files that define it (one, except for split types such as `com.apple.MCX`).
    pub files: Vec<&'s SchemaFile>,
    pub payload_type: String,
    /// The module's name (`security_scep`).
    pub module: String,
    /// The payload struct's name (`SecurityScep`).
    pub name: String,
    pub plan: Plan,
}

/// Plans every payload type of `mdm/profiles`, sorted by module name.
pub fn plan(schema: &Schema) -> Result<Vec<PayloadDef<'_>>, String> {
    let mut by_type: BTreeMap<String, Vec<&SchemaFile>> = BTreeMap::new();
    for file in schema.files_in("mdm/profiles") {
        let payload_type = file
            .payload
            .payload_type
            .clone()
            .ok_or_else(|| format!("{}: no payloadtype", file.path))?;
        if NOT_PAYLOADS.contains(&payload_type.as_str()) {
            continue;
        }
        by_type.entry(payload_type).or_default().push(file);
    }
    let mut names = Names::with_reserved(CRATE_ROOT);
    let mut payloads = Vec::new();
    for (payload_type, files) in by_type {
        // `com.apple.security.scep` → `SecurityScep`; a second type with the same short name
        // (`loginwindow` beside `com.apple.loginwindow`) takes its title's.
        let short = payload_type
            .strip_prefix("com.apple.")
            .unwrap_or(&payload_type);
        let name = names.claim(&[
            type_name(short),
            type_name(&files[0].title),
            type_name(&payload_type),
        ]);
        let module = field_name(&name);
        let keys: Vec<KeyId> = files
            .iter()
            .flat_map(|f| f.payload_keys.iter().copied())
            .filter(|&k| !COMMON_KEYS.contains(&schema.key(k).key.as_str()))
            .collect();
        let mut reserved: Vec<&str> = crate::commands::RESERVED.to_vec();
        reserved.extend(["ProfilePayload", "UnknownKeys"]);
        reserved.push(&name);
        let mut plan = Plan::new(&reserved);
        let doc = payload_doc(&files, &payload_type);
        plan.root_struct(schema, &name, doc, &keys, Side::Request);
        payloads.push(PayloadDef {
            files,
            payload_type,
            module,
            name,
            plan,
        });
    }
    payloads.sort_by(|a, b| a.module.cmp(&b.module));
    Ok(payloads)
}

fn payload_doc(files: &[&SchemaFile], payload_type: &str) -> String {
    let titles: Vec<&str> = files
        .iter()
        .map(|f| f.title.trim().trim_end_matches('.'))
        .collect();
    let mut doc = format!("{} (`{payload_type}`).", titles.join(", "));
    for file in files {
        if let Some(description) = &file.description {
            doc.push_str("\n\n");
            doc.push_str(description.trim());
        }
    }
    if files.len() > 1 {
        doc.push_str(
            "\n\nThe schema splits this payload type over several files; this type has the \
             keys of all of them.",
        );
    }
    doc
}

/// Writes one payload type's module.
pub fn module(payload: &PayloadDef<'_>, release: &Release) -> String {
    let plan = &payload.plan;
    let mut uses = Uses::default();
    let mut body = String::new();
    let first = payload.files[0];
    availability_const(
        &mut body,
        &payload.payload_type,
        &first.payload.supported_os,
    );
    install_const(&mut body, payload);
    let root_impl = format!(
        "impl ProfilePayload for {} {{\n    const PAYLOAD_TYPE: &'static str = {:?};\n    \
         const AVAILABILITY: Availability = AVAILABILITY;\n    \
         const INSTALL: &'static [Install] = INSTALL;\n}}\n\n",
        payload.name, payload.payload_type
    );
    write_types(&mut body, plan, &root_impl, &mut uses);
    let sources: Vec<String> = payload
        .files
        .iter()
        .map(|f| format!("schema/apple-device-management/{}", f.path))
        .collect();
    let mut out = header(release, &sources.join(",\n// "));
    out.push_str(&comment(
        &payload_doc(&payload.files, &payload.payload_type),
        "//!",
        0,
    ));
    out.push('\n');
    out.push_str(&codec_imports(&uses, "mdm_commands::codec"));
    let availability = availability_imports(&first.payload.supported_os);
    let _ = writeln!(out, "use mdm_commands::{{{}}};\n", availability.join(", "));
    out.push_str("use crate::{Install, ProfilePayload};\n\n");
    out.push_str(&body);
    out
}

/// The `INSTALL` constant: per OS, `multiple` and `allowmanualinstall`.
fn install_const(out: &mut String, payload: &PayloadDef<'_>) {
    let _ = writeln!(
        out,
        "/// How `{}` installs, by OS:\n\
         /// several in one profile or not, by hand or by MDM only.\n\
         pub const INSTALL: &[Install] = &[",
        payload.payload_type
    );
    for (os, support) in &payload.files[0].payload.supported_os.0 {
        let Some(os) = crate::commands::os_variant(os) else {
            continue;
        };
        let _ = writeln!(
            out,
            "Install {{ os: {os}, multiple: {}, manual_install: {} }},",
            support.multiple.unwrap_or(false),
            support.allow_manual_install.unwrap_or(false)
        );
    }
    out.push_str("];\n\n");
}

/// The module that declares every payload module and `AnyPayload`.
pub fn root_module(payloads: &[PayloadDef<'_>], release: &Release) -> String {
    let mut out = header(release, "schema/apple-device-management/mdm/profiles");
    out.push_str(
        "//! One module per payload type, and the enum over all of them.\n\n\
         use mdm_commands::codec::{self, UnknownKeys};\n\
         use mdm_commands::{Availability, DecodeError};\n\n\
         use crate::{Install, ProfilePayload};\n\n",
    );
    for p in payloads {
        let title = format!(
            "{} (`{}`).",
            p.files[0].title.trim().trim_end_matches('.'),
            p.payload_type
        );
        let _ = writeln!(out, "{}pub mod {};", comment(&title, "///", 0), p.module);
    }
    out.push('\n');
    for p in payloads {
        let _ = writeln!(out, "pub use {}::{};", p.module, p.name);
    }
    out.push('\n');

    out.push_str(
        "/// The keys of any payload, less the common ones ([`crate::Payload`] has those): one\n\
         /// variant per `PayloadType` of the schema, and [`AnyPayload::Other`] for the rest.\n\
         // Unboxed, unlike `AnyCommand`'s responses: a profile holds a handful of payloads, and\n\
         // matching on a variant should give the payload itself.\n\
         #[allow(clippy::large_enum_variant)]\n\
         #[derive(Clone, Debug, PartialEq)]\npub enum AnyPayload {\n",
    );
    for p in payloads {
        let _ = writeln!(out, "/// `{}`.\n{}({}),", p.payload_type, p.name, p.name);
    }
    out.push_str(
        "/// A payload type the schema does not define (a newer OS's, a third party's), its keys\n\
         /// as written.\nOther {\n/// Its `PayloadType`.\npayload_type: String,\n\
         /// Its keys, less the common ones.\nkeys: plist::Dictionary,\n},\n}\n\n",
    );

    let mut types: Vec<String> = payloads
        .iter()
        .map(|p| format!("{:?}", p.payload_type))
        .collect();
    types.sort_unstable();
    let _ = writeln!(
        out,
        "impl AnyPayload {{\n/// Every `PayloadType` of the schema, sorted.\n\
         pub const PAYLOAD_TYPES: &'static [&'static str] = &[{}];\n",
        types.join(", ")
    );
    out.push_str(
        "/// The payload's `PayloadType`.\npub fn payload_type(&self) -> &str {\nmatch self {\n",
    );
    for p in payloads {
        let _ = writeln!(out, "Self::{}(_) => {}::PAYLOAD_TYPE,", p.name, p.name);
    }
    out.push_str("Self::Other { payload_type, .. } => payload_type,\n}\n}\n\n");

    out.push_str(
        "/// Where the payload type is available; `None` for one the schema does not define.\n\
         pub fn availability(&self) -> Option<&'static Availability> {\n\
         Self::availability_of(self.payload_type())\n}\n\n\
         /// Where the payload type `payload_type` is available; `None` for one the schema does\n\
         /// not define.\n\
         pub fn availability_of(payload_type: &str) -> Option<&'static Availability> {\n\
         Some(match payload_type {\n",
    );
    for p in payloads {
        let _ = writeln!(out, "{:?} => &{}::AVAILABILITY,", p.payload_type, p.module);
    }
    out.push_str("_ => return None,\n})\n}\n\n");

    out.push_str(
        "/// How the payload type `payload_type` installs, by OS; `None` for one the schema does\n\
         /// not define.\n\
         pub fn install_of(payload_type: &str) -> Option<&'static [Install]> {\n\
         Some(match payload_type {\n",
    );
    for p in payloads {
        let _ = writeln!(out, "{:?} => {}::INSTALL,", p.payload_type, p.module);
    }
    out.push_str("_ => return None,\n})\n}\n\n");

    out.push_str(
        "/// The payload's own keys as a property-list value (a dictionary).\n\
         pub fn to_value(&self) -> plist::Value {\nmatch self {\n",
    );
    for p in payloads {
        let _ = writeln!(
            out,
            "Self::{}(payload) => codec::Encode::encode(payload),",
            p.name
        );
    }
    out.push_str("Self::Other { keys, .. } => plist::Value::Dictionary(keys.clone()),\n}\n}\n\n");

    out.push_str(
        "/// Reads the keys of a payload of type `payload_type` (the common keys removed); a type\n\
         /// the schema does not define becomes [`AnyPayload::Other`].\n\
         pub fn from_value(payload_type: &str, keys: &plist::Value, unknown_keys: UnknownKeys) -> Result<Self, DecodeError> {\n\
         Ok(match payload_type {\n",
    );
    for p in payloads {
        let _ = writeln!(
            out,
            "{:?} => Self::{}(codec::from_value(keys, unknown_keys)?),",
            p.payload_type, p.name
        );
    }
    out.push_str(
        "_ => Self::Other {\npayload_type: payload_type.to_owned(),\n\
         keys: keys.as_dictionary().cloned().unwrap_or_default(),\n},\n})\n}\n}\n\n",
    );
    for p in payloads {
        let _ = writeln!(
            out,
            "impl From<{n}> for AnyPayload {{\nfn from(payload: {n}) -> Self {{\nSelf::{n}(payload)\n}}\n}}\n",
            n = p.name
        );
    }
    out
}

/// The sample files of one payload type: every key (`<module>.plist`) and the required keys
/// only (`<module>.minimal.plist`), each a payload dictionary with its `PayloadType` first.
pub fn sample_files(payload: &PayloadDef<'_>) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for (suffix, fill) in [("", Fill::Full), (".minimal", Fill::Minimal)] {
        let Sample::Dictionary(mut keys) =
            samples::value(&payload.plan, &Ty::Named(0), fill, &mut Vec::new())
        else {
            continue;
        };
        keys.insert(
            0,
            (
                "PayloadType".into(),
                Sample::String(payload.payload_type.clone()),
            ),
        );
        files.push((
            format!("{}{suffix}.plist", payload.module),
            samples::to_plist(&Sample::Dictionary(keys)),
        ));
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::TypeDef;

    #[test]
    fn every_payload_type_is_planned_once() {
        let dir = crate::workspace_root().join(crate::SCHEMA_DIR);
        let mut schema = Schema::default();
        schema.load_dir(&dir, "mdm/profiles").unwrap();
        let payloads = plan(&schema).unwrap();
        // 128 files less the two that are not payloads, less the five extra MCX files and the
        // second extensible-SSO file.
        assert_eq!(payloads.len(), 128 - 2 - 5 - 1);
        let mcx = payloads
            .iter()
            .find(|p| p.payload_type == "com.apple.MCX")
            .unwrap();
        assert_eq!(mcx.files.len(), 6);
        let mdm = payloads
            .iter()
            .find(|p| p.payload_type == "com.apple.mdm")
            .unwrap();
        assert_eq!((mdm.name.as_str(), mdm.module.as_str()), ("Mdm", "mdm"));
        let TypeDef::Struct(s) = &mdm.plan.types[0] else {
            panic!()
        };
        assert!(
            s.fields
                .iter()
                .all(|f| !COMMON_KEYS.contains(&f.key.as_str()))
        );
        assert!(s.fields.iter().any(|f| f.key == "ServerURL" && f.required));
    }
}
