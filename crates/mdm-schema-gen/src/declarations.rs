//! The declarations output: one Rust module per declaration type of `declarative/declarations`
//! (activations, assets, configurations, management) and one per status item of
//! `declarative/status`, the modules that tie them together (`AnyDeclaration`, `StatusItem`),
//! for `crates/mdm-ddm/src/generated/`, and samples of both for `crates/mdm-ddm/tests/samples/`.
//!
//! Decisions beyond the commands':
//!
//! * The keys every declaration shares (`declarationbase.yaml`: `Type`, `Identifier`,
//!   `ServerToken`, `Payload`) are the runtime's; a declaration type's struct is its `Payload`.
//! * A declaration is written by an operator, so it is planned like a command request: closed
//!   enums, required keys required. Its keys are read leniently all the same (a newer OS adds
//!   keys; the device, not the server, is the judge of those).
//! * A status item is reported by a device, so its value is planned like a command response:
//!   open enums, every key optional. Its type is a newtype over the value's type, named for the
//!   item (`device.operating-system.version` → `DeviceOperatingSystemVersion(String)`).
//! * Names: a declaration type less `com.apple.` (`com.apple.configuration.passcode.settings` →
//!   `ConfigurationPasscodeSettings`), so that the four kinds never collide.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::Release;
use crate::commands::{
    RESERVED, Uses, availability_const, availability_imports, codec_imports, derives, header,
    rust_type, write_types,
};
use crate::docs::comment;
use crate::model::KeyType;
use crate::model::{KeyId, Schema, SchemaFile};
use crate::naming::{Names, field_name, type_name};
use crate::plan::{Plan, Side, Ty, is_placeholder};
use crate::samples::{self, Fill, Sample};

/// Where the declarations are in the schema.
pub const DECLARATIONS: &str = "declarative/declarations";
/// Where the status items are in the schema.
pub const STATUS: &str = "declarative/status";

/// Names the generated types must not take: what `mdm-ddm` exports beside them.
const CRATE_ROOT: &[&str] = &[
    "AnyDeclaration",
    "AssetReference",
    "DeclarationPayload",
    "PayloadError",
    "StatusItem",
    "StatusItemError",
    "StatusItemType",
];

/// A declaration type or a status item, and its planned types.
pub struct Item<'s> {
    pub file: &'s SchemaFile,
    /// `com.apple.configuration.passcode.settings`, `device.operating-system.version`.
    pub name: String,
    /// The module's name (`configuration_passcode_settings`).
    pub module: String,
    /// The type's Rust name (`ConfigurationPasscodeSettings`).
    pub type_name: String,
    /// A status item's value (a declaration's type is the plan's first).
    pub value: Option<Ty>,
    /// What the schema says of a status item's value.
    pub value_doc: String,
    /// A declaration's keys that name assets: their paths (`*` for every item of an array or
    /// every value of a map) and the asset types they may name.
    pub asset_references: Vec<(Vec<String>, Vec<String>)>,
    pub plan: Plan,
}

fn reserved(name: &str) -> Vec<&str> {
    let mut reserved: Vec<&str> = RESERVED.to_vec();
    reserved.extend(CRATE_ROOT);
    reserved.push(name);
    reserved
}

/// Plans every declaration type, sorted by module name.
pub fn plan_declarations(schema: &Schema) -> Result<Vec<Item<'_>>, String> {
    let mut names = Names::with_reserved(CRATE_ROOT);
    let mut items = Vec::new();
    for file in schema.files_in(DECLARATIONS) {
        // `declarationbase.yaml` (type `any`) is the envelope; files without a declaration type
        // (the credential formats of `assets/credentials`) describe an asset's data.
        let Some(declaration_type) = file.payload.declaration_type.clone() else {
            continue;
        };
        if declaration_type == "any" {
            continue;
        }
        let short = declaration_type
            .strip_prefix("com.apple.")
            .unwrap_or(&declaration_type);
        let name = names.claim(&[type_name(short), type_name(&declaration_type)]);
        let mut plan = Plan::new(&reserved(&name));
        // A payload of names only (`com.apple.management.properties`: any key, any value) is a
        // newtype over its map, like a status item; any other payload is a struct.
        let (value, value_doc) = match file.payload_keys.as_slice() {
            [only] if is_placeholder(schema.key(*only)) => {
                let key = schema.key(*only);
                let value = match key.ty {
                    KeyType::Any => Ty::Dictionary,
                    _ => Ty::Map(Box::new(plan.value_of(
                        schema,
                        *only,
                        Side::Request,
                        vec![format!("{name}Value")],
                    ))),
                };
                (Some(value), key.content.clone().unwrap_or_default())
            }
            _ => {
                let doc = file_doc(file, &declaration_type);
                plan.root_struct(schema, &name, doc, &file.payload_keys, Side::Request);
                (None, String::new())
            }
        };
        items.push(Item {
            file,
            module: field_name(&name),
            name: declaration_type,
            type_name: name,
            value,
            value_doc,
            asset_references: asset_references(schema, &file.payload_keys),
            plan,
        });
    }
    finish(items)
}

/// Plans every status item, sorted by module name.
pub fn plan_status_items(schema: &Schema) -> Result<Vec<Item<'_>>, String> {
    let mut names = Names::with_reserved(CRATE_ROOT);
    let mut items = Vec::new();
    for file in schema.files_in(STATUS) {
        // `statusreason.yaml` describes the reasons of a status report's errors.
        let Some(item) = file.payload.status_item_type.clone() else {
            continue;
        };
        let name = names.claim(&[type_name(&item)]);
        let [key] = file.payload_keys.as_slice() else {
            return Err(format!("{}: a status item has one value key", file.path));
        };
        let value_key = schema.key(*key);
        let mut candidates = Vec::new();
        if let Some(subkey_type) = &value_key.subkey_type {
            candidates.push(type_name(subkey_type));
        }
        if let Some(last) = item.rsplit('.').next() {
            candidates.push(type_name(last));
        }
        candidates.push(format!("{name}Value"));
        let mut plan = Plan::new(&reserved(&name));
        let value = plan.value_of(schema, *key, Side::Response, candidates);
        items.push(Item {
            file,
            module: field_name(&name),
            name: item,
            type_name: name,
            value: Some(value),
            value_doc: value_key.content.clone().unwrap_or_default(),
            asset_references: Vec::new(),
            plan,
        });
    }
    finish(items)
}

/// The keys under `keys` whose values name assets (`assettypes`), with their paths.
fn asset_references(schema: &Schema, keys: &[KeyId]) -> Vec<(Vec<String>, Vec<String>)> {
    let mut found = Vec::new();
    // Keys to visit, each with its path; a key met again inside itself is not followed.
    let mut stack: Vec<(KeyId, Vec<String>, Vec<KeyId>)> = keys
        .iter()
        .rev()
        .map(|&k| (k, vec![schema.key(k).key.clone()], Vec::new()))
        .collect();
    while let Some((id, mut path, mut open)) = stack.pop() {
        let key = schema.key(id);
        if !key.asset_types.is_empty() {
            if key.ty == KeyType::Array {
                path.push("*".into());
            }
            found.push((path, key.asset_types.clone()));
            continue;
        }
        if open.contains(&id) {
            continue;
        }
        open.push(id);
        for &sub in key.subkeys.iter().rev() {
            let segment = match key.ty {
                KeyType::Dictionary if !is_placeholder(schema.key(sub)) => {
                    schema.key(sub).key.clone()
                }
                KeyType::Dictionary | KeyType::Array => "*".to_owned(),
                _ => continue,
            };
            let mut sub_path = path.clone();
            sub_path.push(segment);
            stack.push((sub, sub_path, open.clone()));
        }
    }
    found
}

fn finish(mut items: Vec<Item<'_>>) -> Result<Vec<Item<'_>>, String> {
    items.sort_by(|a, b| a.module.cmp(&b.module));
    let mut modules = BTreeSet::new();
    for item in &items {
        if !modules.insert(&item.module) {
            return Err(format!(
                "{}: a second module {}",
                item.file.path, item.module
            ));
        }
    }
    Ok(items)
}

fn file_doc(file: &SchemaFile, name: &str) -> String {
    let mut doc = format!("{} (`{name}`).", file.title.trim().trim_end_matches('.'));
    if let Some(description) = &file.description {
        doc.push_str("\n\n");
        doc.push_str(description.trim());
    }
    doc
}

fn module_start(item: &Item<'_>, release: &Release, uses: &Uses) -> String {
    let mut out = header(
        release,
        &format!("schema/apple-device-management/{}", item.file.path),
    );
    out.push_str(&comment(&file_doc(item.file, &item.name), "//!", 0));
    out.push('\n');
    out.push_str(&codec_imports(uses, "mdm_commands::codec"));
    let availability = availability_imports(&item.file.payload.supported_os);
    let _ = writeln!(out, "use mdm_commands::{{{}}};\n", availability.join(", "));
    out
}

/// Writes one declaration type's module.
pub fn declaration_module(item: &Item<'_>, release: &Release) -> String {
    let mut uses = Uses::default();
    let mut body = format!(
        "/// The declaration type, as a declaration's `Type` names it.\n\
         pub const DECLARATION_TYPE: &str = {:?};\n\n",
        item.name
    );
    availability_const(&mut body, &item.name, &item.file.payload.supported_os);
    body.push_str(
        "/// The payload's keys that name assets (their identifiers), and the asset types they may\n\
         /// name.\npub const ASSET_REFERENCES: &[AssetReference] = &[\n",
    );
    for (path, types) in &item.asset_references {
        let _ = writeln!(
            body,
            "AssetReference {{ path: &{path:?}, asset_types: &{types:?} }},"
        );
    }
    body.push_str("];\n\n");
    let root_impl = format!(
        "impl DeclarationPayload for {name} {{\n    \
         const DECLARATION_TYPE: &'static str = DECLARATION_TYPE;\n    \
         const AVAILABILITY: Availability = AVAILABILITY;\n    \
         const ASSET_REFERENCES: &'static [AssetReference] = ASSET_REFERENCES;\n}}\n\n\
         crate::typed::serde_via_codec!({name});\n\n",
        name = item.type_name
    );
    match &item.value {
        Some(value) => {
            newtype(
                &mut body,
                item,
                value,
                "the declaration's payload",
                &mut uses,
            );
            body.push_str(&root_impl);
            write_types(&mut body, &item.plan, "", &mut uses);
        }
        None => write_types(&mut body, &item.plan, &root_impl, &mut uses),
    }
    let mut out = module_start(item, release, &uses);
    out.push_str("use crate::{AssetReference, DeclarationPayload};\n\n");
    out.push_str(&body);
    out
}

/// Writes one status item's module: its newtype, then the types of its value.
pub fn status_item_module(item: &Item<'_>, release: &Release) -> String {
    let mut uses = Uses::default();
    let plan = &item.plan;
    let value = item.value.clone().unwrap_or(Ty::Any);
    let mut body = format!(
        "/// The status item's name: its path in a status report's `StatusItems`.\n\
         pub const NAME: &str = {:?};\n\n",
        item.name
    );
    availability_const(&mut body, &item.name, &item.file.payload.supported_os);
    let what = format!("what a device reports under `{}`", item.name);
    newtype(&mut body, item, &value, &what, &mut uses);
    let _ = writeln!(
        body,
        "impl StatusItemType for {name} {{\n    const NAME: &'static str = NAME;\n    \
         const AVAILABILITY: Availability = AVAILABILITY;\n}}\n\n\
         crate::typed::serde_via_codec!({name});\n",
        name = item.type_name,
    );
    write_types(&mut body, plan, "", &mut uses);
    let mut out = module_start(item, release, &uses);
    out.push_str("use crate::StatusItemType;\n\n");
    out.push_str(&body);
    out
}

/// A newtype over `value` (a status item's, a payload of names only), documented as `what`,
/// with its codec.
fn newtype(out: &mut String, item: &Item<'_>, value: &Ty, what: &str, uses: &mut Uses) {
    let mut doc = file_doc(item.file, &item.name);
    let _ = write!(doc, "\n\nIts value is {what}");
    match item.value_doc.trim() {
        // A type of the module documents the value itself.
        _ if matches!(value, Ty::Named(_)) => doc.push('.'),
        "" => doc.push('.'),
        value_doc => {
            doc.push_str(": ");
            doc.push_str(value_doc);
        }
    }
    out.push_str(&comment(&doc, "///", 0));
    out.push_str(&derives(&item.plan, value, false));
    let _ = writeln!(
        out,
        "pub struct {name}(pub {ty});\n\n\
         impl Decode for {name} {{\n    fn decode(d: &mut Decoder<'_, '_>) -> codec::Result<Self> {{\n        \
         d.decode().map(Self)\n    }}\n}}\n\n\
         impl Encode for {name} {{\n    fn encode(&self) -> plist::Value {{\n        \
         self.0.encode()\n    }}\n}}\n",
        name = item.type_name,
        ty = rust_type(&item.plan, value, uses),
    );
}

/// The module that declares `declarations` and `status_items`.
pub fn generated_module(release: &Release) -> String {
    let mut out = header(release, "schema/apple-device-management/declarative");
    out.push_str(
        "//! The declaration types and status items of Apple's schema.\n\n\
         pub mod declarations;\npub mod status_items;\n",
    );
    out
}

/// The module of every declaration type, and `AnyDeclaration`.
pub fn declarations_root(items: &[Item<'_>], release: &Release) -> String {
    let mut out = header(
        release,
        "schema/apple-device-management/declarative/declarations",
    );
    out.push_str(
        "//! One module per declaration type, and the enum over all of them.\n\n\
         use mdm_commands::Availability;\nuse mdm_commands::codec::{self, UnknownKeys};\n\n\
         use crate::{AssetReference, DeclarationPayload, PayloadError};\n\n",
    );
    modules(&mut out, items);
    out.push_str(
        "/// The payload of any declaration type of the schema: one variant per `Type`.\n\
         ///\n/// Read one with [`AnyDeclaration::from_json_value`], which checks the payload against \
         its\n/// type's schema.\n\
         // Unboxed: a declaration is one payload, and matching on a variant should give it.\n\
         #[allow(clippy::large_enum_variant)]\n\
         #[derive(Clone, Debug, PartialEq)]\npub enum AnyDeclaration {\n",
    );
    for item in items {
        let _ = writeln!(out, "/// `{}`.\n{n}({n}),", item.name, n = item.type_name);
    }
    out.push_str("}\n\n");
    let _ = writeln!(
        out,
        "impl AnyDeclaration {{\n/// Every declaration type of the schema, sorted.\n\
         pub const DECLARATION_TYPES: &'static [&'static str] = &[{}];\n",
        sorted_names(items)
    );
    out.push_str("/// The declaration's `Type`.\npub fn declaration_type(&self) -> &'static str {\nmatch self {\n");
    for item in items {
        let _ = writeln!(
            out,
            "Self::{n}(_) => {n}::DECLARATION_TYPE,",
            n = item.type_name
        );
    }
    out.push_str("}\n}\n\n");
    out.push_str(
        "/// Where the declaration's type is available.\n\
         pub fn availability(&self) -> &'static Availability {\nmatch self {\n",
    );
    for item in items {
        let _ = writeln!(
            out,
            "Self::{}(_) => &{}::AVAILABILITY,",
            item.type_name, item.module
        );
    }
    out.push_str("}\n}\n\n");
    availability_of(&mut out, items, "declaration_type", "declaration type");
    out.push_str(
        "/// The keys of a `declaration_type` payload that name assets; `None` for a type the\n\
         /// schema does not define.\n\
         pub fn asset_references_of(declaration_type: &str) -> Option<&'static [AssetReference]> {\n\
         Some(match declaration_type {\n",
    );
    for item in items {
        let _ = writeln!(out, "{:?} => {}::ASSET_REFERENCES,", item.name, item.module);
    }
    out.push_str("_ => return None,\n})\n}\n\n");
    out.push_str(
        "/// [`AnyDeclaration::from_json_value`], with keys the schema does not define skipped\n\
         /// or refused, as `unknown_keys` says.\n\
         pub fn from_json_value_with(declaration_type: &str, payload: &serde_json::Value, \
         unknown_keys: UnknownKeys) -> Result<Self, PayloadError> {\n\
         Ok(match declaration_type {\n",
    );
    for item in items {
        let _ = writeln!(
            out,
            "{:?} => Self::{}(crate::typed::payload_from_json(payload, unknown_keys)?),",
            item.name, item.type_name
        );
    }
    out.push_str(
        "_ => return Err(PayloadError::UnknownType(declaration_type.to_owned())),\n})\n}\n\n",
    );
    to_json_and_from(
        &mut out,
        items,
        "AnyDeclaration",
        "The payload as JSON, keys as Apple spells them, in the schema's order.",
        "",
    );
    out
}

/// The module of every status item, and `StatusItem`.
pub fn status_items_root(items: &[Item<'_>], release: &Release) -> String {
    let mut out = header(release, "schema/apple-device-management/declarative/status");
    out.push_str(
        "//! One module per status item, and the enum over all of them.\n\n\
         use mdm_commands::Availability;\nuse mdm_commands::codec;\n\n\
         use crate::{StatusItemError, StatusItemType};\n\n",
    );
    modules(&mut out, items);
    out.push_str(
        "/// A status item of a status report: one variant per item of the schema, and\n\
         /// [`StatusItem::Other`] for the rest.\n\
         #[derive(Clone, Debug, PartialEq)]\npub enum StatusItem {\n",
    );
    for item in items {
        let _ = writeln!(out, "/// `{}`.\n{n}({n}),", item.name, n = item.type_name);
    }
    out.push_str(
        "/// An item the schema does not define (a newer OS's), as reported.\nOther {\n\
         /// Its dotted name.\nname: String,\n/// Its value.\nvalue: serde_json::Value,\n},\n}\n\n",
    );
    let _ = writeln!(
        out,
        "impl StatusItem {{\n/// The name of every status item of the schema, sorted.\n\
         pub const NAMES: &'static [&'static str] = &[{}];\n",
        sorted_names(items)
    );
    out.push_str("/// The item's dotted name.\npub fn name(&self) -> &str {\nmatch self {\n");
    for item in items {
        let _ = writeln!(
            out,
            "Self::{}(_) => {}::NAME,",
            item.type_name, item.type_name
        );
    }
    out.push_str("Self::Other { name, .. } => name,\n}\n}\n\n");
    availability_of(&mut out, items, "name", "status item");
    out.push_str(
        "/// Reads the value of the status item `name` (its value alone, not the nested\n\
         /// `StatusItems`); a name the schema does not define becomes [`StatusItem::Other`].\n\
         /// Keys the schema does not define are skipped, and values outside a list are kept.\n\
         pub fn from_value(name: &str, value: &serde_json::Value) -> Result<Self, StatusItemError> {\n\
         Ok(match name {\n",
    );
    for item in items {
        let _ = writeln!(
            out,
            "{:?} => Self::{}(crate::typed::status_value_from_json(name, value)?),",
            item.name, item.type_name
        );
    }
    out.push_str(
        "_ => Self::Other {\nname: name.to_owned(),\nvalue: value.clone(),\n},\n})\n}\n\n",
    );
    to_json_and_from(
        &mut out,
        items,
        "StatusItem",
        "The item's value as JSON, as a device reports it.",
        "Self::Other { value, .. } => value.clone(),",
    );
    out
}

/// The `to_json_value` method that ends the `impl` of `enum_name`, an enum with a variant of
/// each item's type (`other`: the arm of the variants that are not), and `From` each type.
fn to_json_and_from(out: &mut String, items: &[Item<'_>], enum_name: &str, doc: &str, other: &str) {
    let _ = writeln!(
        out,
        "/// {doc}\npub fn to_json_value(&self) -> serde_json::Value {{\nmatch self {{"
    );
    for item in items {
        let _ = writeln!(
            out,
            "Self::{}(value) => codec::to_json(&codec::Encode::encode(value)),",
            item.type_name
        );
    }
    let _ = writeln!(out, "{other}\n}}\n}}\n}}\n");
    for item in items {
        let _ = writeln!(
            out,
            "impl From<{n}> for {enum_name} {{\nfn from(value: {n}) -> Self {{\nSelf::{n}(value)\n}}\n}}\n",
            n = item.type_name
        );
    }
}

fn modules(out: &mut String, items: &[Item<'_>]) {
    for item in items {
        let title = format!(
            "{} (`{}`).",
            item.file.title.trim().trim_end_matches('.'),
            item.name
        );
        let _ = writeln!(out, "{}pub mod {};", comment(&title, "///", 0), item.module);
    }
    out.push('\n');
    for item in items {
        let _ = writeln!(out, "pub use {}::{};", item.module, item.type_name);
    }
    out.push('\n');
}

fn sorted_names(items: &[Item<'_>]) -> String {
    let mut names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
    names.sort_unstable();
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    quoted.join(", ")
}

fn availability_of(out: &mut String, items: &[Item<'_>], arg: &str, what: &str) {
    let doc = format!(
        "Where the {what} `{arg}` is available; `None` for one the schema does not define."
    );
    let _ = writeln!(
        out,
        "{}pub fn availability_of({arg}: &str) -> Option<&'static Availability> {{\n\
         Some(match {arg} {{",
        comment(&doc, "///", 4)
    );
    for item in items {
        let _ = writeln!(out, "{:?} => &{}::AVAILABILITY,", item.name, item.module);
    }
    out.push_str("_ => return None,\n})\n}\n\n");
}

/// The sample declarations of one type, as `(file name, contents)`: every key
/// (`<type>.json`) and the required keys only (`<type>.minimal.json`), each a whole declaration.
pub fn declaration_samples(item: &Item<'_>) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for (suffix, fill) in [("", Fill::Full), (".minimal", Fill::Minimal)] {
        let root = item.value.clone().unwrap_or(Ty::Named(0));
        let payload = samples::value(&item.plan, &root, fill, &mut Vec::new());
        let declaration = Sample::Dictionary(vec![
            ("Type".into(), Sample::String(item.name.clone())),
            (
                "Identifier".into(),
                Sample::String(format!("{}{suffix}.example", item.module)),
            ),
            (
                "ServerToken".into(),
                Sample::String("6f1c2a7e9b3d4e5f".into()),
            ),
            ("Payload".into(), payload),
        ]);
        files.push((
            format!("{}{suffix}.json", item.name),
            samples::to_json(&declaration),
        ));
    }
    files
}

/// A status report's `StatusItems` with a value of every status item (every key, and an
/// unknown key in every typed dictionary, as a newer OS reports), nested by the items' dotted
/// names.
pub fn status_items_sample(items: &[Item<'_>]) -> Result<String, String> {
    let mut root = Vec::new();
    for item in items {
        let value = item.value.clone().unwrap_or(Ty::Any);
        let sample = samples::value(&item.plan, &value, Fill::Report, &mut Vec::new());
        insert(&mut root, &item.name, sample)?;
    }
    Ok(samples::to_json(&Sample::Dictionary(vec![(
        "StatusItems".into(),
        Sample::Dictionary(root),
    )])))
}

/// Puts `value` at the dotted `path` of `dict`.
fn insert(dict: &mut Vec<(String, Sample)>, path: &str, value: Sample) -> Result<(), String> {
    let (first, rest) = match path.split_once('.') {
        Some((first, rest)) => (first, Some(rest)),
        None => (path, None),
    };
    let Some(rest) = rest else {
        if dict.iter().any(|(k, _)| k == first) {
            return Err(format!(
                "status item {path:?} is also the start of another's name"
            ));
        }
        dict.push((first.to_owned(), value));
        return Ok(());
    };
    let index = match dict.iter().position(|(k, _)| k == first) {
        Some(index) => index,
        None => {
            dict.push((first.to_owned(), Sample::Dictionary(Vec::new())));
            dict.len() - 1
        }
    };
    match &mut dict[index].1 {
        Sample::Dictionary(inner) => insert(inner, rest, value),
        _ => Err(format!(
            "status item {first:?} is also the start of another's name"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        let dir = crate::workspace_root().join(crate::SCHEMA_DIR);
        let mut schema = Schema::default();
        schema.load_dir(&dir, "declarative").unwrap();
        schema
    }

    #[test]
    fn every_declaration_type_is_planned_once() {
        let schema = schema();
        let items = plan_declarations(&schema).unwrap();
        assert_eq!(items.len(), 38);
        let passcode = items
            .iter()
            .find(|i| i.name == "com.apple.configuration.passcode.settings")
            .unwrap();
        assert_eq!(passcode.type_name, "ConfigurationPasscodeSettings");
        assert_eq!(passcode.module, "configuration_passcode_settings");
        assert!(items.iter().all(|i| i.name.starts_with("com.apple.")));
        let watch = items
            .iter()
            .find(|i| i.name == "com.apple.configuration.watch.enrollment")
            .unwrap();
        assert_eq!(
            watch.asset_references,
            [(
                vec![
                    "AnchorCertificateAssetReferences".to_owned(),
                    "*".to_owned()
                ],
                vec!["com.apple.asset.credential.certificate".to_owned()]
            )]
        );
        let tasks = items
            .iter()
            .find(|i| i.name == "com.apple.configuration.services.background-tasks")
            .unwrap();
        let paths: Vec<String> = tasks
            .asset_references
            .iter()
            .map(|(p, _)| p.join("."))
            .collect();
        assert_eq!(
            paths,
            [
                "ExecutableAssetReference",
                "LaunchdConfigurations.*.FileAssetReference"
            ]
        );
    }

    #[test]
    fn status_items_are_newtypes_over_their_values() {
        let schema = schema();
        let items = plan_status_items(&schema).unwrap();
        assert_eq!(items.len(), 44);
        let version = items
            .iter()
            .find(|i| i.name == "device.operating-system.version")
            .unwrap();
        assert_eq!(version.type_name, "DeviceOperatingSystemVersion");
        assert_eq!(version.value, Some(Ty::String));
        let battery = items
            .iter()
            .find(|i| i.name == "device.power.battery-health")
            .unwrap();
        let Some(Ty::Named(id)) = battery.value else {
            panic!("{:?}", battery.value)
        };
        assert_eq!(battery.plan.types[id].name(), "BatteryHealth");
    }

    #[test]
    fn status_item_samples_nest_by_name() {
        let mut dict = Vec::new();
        insert(&mut dict, "a.b.c", Sample::Integer(1)).unwrap();
        insert(&mut dict, "a.b.d", Sample::Integer(2)).unwrap();
        insert(&mut dict, "a.e", Sample::Integer(3)).unwrap();
        assert!(insert(&mut dict, "a.b", Sample::Integer(4)).is_err());
        assert!(insert(&mut dict, "a.e.f", Sample::Integer(5)).is_err());
        let json = samples::to_json(&Sample::Dictionary(dict));
        assert_eq!(
            json.split_whitespace().collect::<String>(),
            r#"{"a":{"b":{"c":1,"d":2},"e":3}}"#
        );
    }
}
