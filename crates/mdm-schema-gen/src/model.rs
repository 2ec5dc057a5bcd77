//! One model of Apple's schema format (`docs/schema.md`), for every kind of file it describes:
//! MDM commands and check-ins, profile payloads, declarations, status items and protocol
//! documents. Outputs (commands today; profiles and declarations later) read this model.
//!
//! Attributes the model does not know are ignored, so a newer schema release loads unchanged.

// The model describes the whole format; the commands output reads only part of it so far.
#![allow(dead_code)]

use std::path::Path;

use crate::yaml::{Node, NodeId, Yaml};

/// Every file of a schema folder that was loaded, and the keys they define.
#[derive(Debug, Default)]
pub struct Schema {
    /// The files, sorted by path.
    pub files: Vec<SchemaFile>,
    /// Every key of every file; [`KeyId`]s index here. A key shared through a YAML alias is one
    /// entry, so a key can (recursively) be its own descendant.
    pub keys: Vec<Key>,
}

/// The index of a [`Key`] in [`Schema::keys`].
pub type KeyId = usize;

/// One YAML file: a command, a profile payload, a declaration …
#[derive(Debug)]
pub struct SchemaFile {
    /// Path inside the schema folder, with `/` separators (`mdm/commands/profile.list.yaml`).
    pub path: String,
    pub title: String,
    pub description: Option<String>,
    pub payload: Payload,
    pub payload_keys: Vec<KeyId>,
    pub response_keys: Vec<KeyId>,
    /// Status reason codes (declarative status items).
    pub reasons: Vec<Text>,
    pub notes: Vec<Text>,
}

/// A titled text (`notes`, `reasons`).
#[derive(Debug, Default)]
pub struct Text {
    pub title: Option<String>,
    pub content: Option<String>,
}

/// The `payload` object.
#[derive(Debug, Default)]
pub struct Payload {
    pub request_type: Option<String>,
    pub payload_type: Option<String>,
    pub declaration_type: Option<String>,
    pub status_item_type: Option<String>,
    pub credential_type: Option<String>,
    pub supported_os: SupportedOs,
    pub apply: Option<String>,
    pub beta: Option<bool>,
    pub content: Option<String>,
}

/// `supportedOS`: per OS, in the schema's order.
#[derive(Debug, Default, Clone)]
pub struct SupportedOs(pub Vec<(String, OsSupport)>);

impl SupportedOs {
    pub fn get(&self, os: &str) -> Option<&OsSupport> {
        self.0.iter().find(|(name, _)| name == os).map(|(_, s)| s)
    }
}

/// What `supportedOS` says of one OS.
#[derive(Debug, Default, Clone)]
pub struct OsSupport {
    pub introduced: Option<String>,
    pub deprecated: Option<String>,
    pub removed: Option<String>,
    pub access_rights: Option<String>,
    pub multiple: Option<bool>,
    pub device_channel: Option<bool>,
    pub user_channel: Option<bool>,
    pub supervised: Option<bool>,
    pub requires_dep: Option<bool>,
    pub user_approved_mdm: Option<bool>,
    pub allow_manual_install: Option<bool>,
    pub shared_ipad: Option<SharedIpad>,
    pub user_enrollment: Option<UserEnrollment>,
    pub allowed_enrollments: Vec<String>,
    pub allowed_scopes: Vec<String>,
    pub always_skippable: Option<bool>,
    pub beta: Option<bool>,
}

#[derive(Debug, Default, Clone)]
pub struct SharedIpad {
    pub mode: Option<String>,
    pub device_channel: Option<bool>,
    pub user_channel: Option<bool>,
    /// Declarative files' scopes; `Some(empty)` says not on a Shared iPad.
    pub allowed_scopes: Option<Vec<String>>,
}

#[derive(Debug, Default, Clone)]
pub struct UserEnrollment {
    pub mode: Option<String>,
    pub behavior: Option<String>,
}

/// A key's `type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyType {
    String,
    Integer,
    Real,
    Boolean,
    Date,
    Data,
    Dictionary,
    Array,
    Any,
    /// A type the format does not define, as written.
    Unknown(String),
}

impl KeyType {
    fn parse(text: &str) -> Self {
        match text {
            "<string>" => KeyType::String,
            "<integer>" => KeyType::Integer,
            "<real>" => KeyType::Real,
            "<boolean>" => KeyType::Boolean,
            "<date>" => KeyType::Date,
            "<data>" => KeyType::Data,
            "<dictionary>" => KeyType::Dictionary,
            "<array>" => KeyType::Array,
            "<any>" => KeyType::Any,
            other => KeyType::Unknown(other.to_owned()),
        }
    }
}

/// A scalar value of the schema (`rangelist` items, `default`, `range` bounds): its text, and
/// whether it was written plain (an unquoted `1` is a number, `'1'` a string).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scalar {
    pub text: String,
    pub plain: bool,
}

/// `range` or `repetition`.
#[derive(Clone, Debug, Default)]
pub struct Bounds {
    pub min: Option<Scalar>,
    pub max: Option<Scalar>,
}

/// A payload or response key.
#[derive(Debug, Clone)]
pub struct Key {
    pub key: String,
    pub title: Option<String>,
    pub supported_os: Option<SupportedOs>,
    pub ty: KeyType,
    pub subtype: Option<String>,
    pub value_type: Option<String>,
    pub asset_types: Vec<String>,
    /// `presence`: true for `required`; absent counts as optional.
    pub required: bool,
    pub rangelist: Vec<Scalar>,
    pub range: Option<Bounds>,
    pub default: Option<Scalar>,
    pub format: Option<String>,
    pub repetition: Option<Bounds>,
    pub combine_type: Option<String>,
    pub content: Option<String>,
    pub subkey_type: Option<String>,
    pub subkeys: Vec<KeyId>,
}

impl Key {
    fn placeholder() -> Self {
        Key {
            key: String::new(),
            title: None,
            supported_os: None,
            ty: KeyType::Any,
            subtype: None,
            value_type: None,
            asset_types: Vec::new(),
            required: false,
            rangelist: Vec::new(),
            range: None,
            default: None,
            format: None,
            repetition: None,
            combine_type: None,
            content: None,
            subkey_type: None,
            subkeys: Vec::new(),
        }
    }
}

impl Schema {
    /// Loads every `.yaml` file under `root/subdir` (recursively), in path order.
    pub fn load_dir(&mut self, root: &Path, subdir: &str) -> Result<(), String> {
        let mut paths = Vec::new();
        collect_yaml(&root.join(subdir), &mut paths)?;
        paths.sort();
        for path in paths {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            self.load_file(&relative, &text)
                .map_err(|e| format!("{relative}: {e}"))?;
        }
        Ok(())
    }

    /// Loads one file's text, named `path`.
    pub fn load_file(&mut self, path: &str, text: &str) -> Result<(), String> {
        let yaml = Yaml::parse(text)?;
        let mut loader = Loader {
            yaml: &yaml,
            keys: &mut self.keys,
            loaded: std::collections::HashMap::new(),
        };
        let file = loader.file(path)?;
        self.files.push(file);
        self.files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(())
    }

    /// The files under `dir` (`mdm/commands`).
    pub fn files_in<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = &'a SchemaFile> + 'a {
        self.files.iter().filter(move |f| {
            f.path
                .strip_prefix(dir)
                .is_some_and(|rest| rest.starts_with('/'))
        })
    }

    pub fn key(&self, id: KeyId) -> &Key {
        &self.keys[id]
    }
}

fn collect_yaml(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            collect_yaml(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
    Ok(())
}

struct Loader<'y, 'k> {
    yaml: &'y Yaml,
    keys: &'k mut Vec<Key>,
    /// YAML nodes already loaded as keys: an alias gives the same key.
    loaded: std::collections::HashMap<NodeId, KeyId>,
}

impl Loader<'_, '_> {
    fn mapping(&self, id: NodeId, what: &str) -> Result<&[(String, NodeId)], String> {
        match self.yaml.node(id) {
            Node::Mapping(entries) => Ok(entries),
            _ => Err(format!("{what} is not a mapping")),
        }
    }

    fn sequence(&self, id: NodeId, what: &str) -> Result<&[NodeId], String> {
        match self.yaml.node(id) {
            Node::Sequence(items) => Ok(items),
            _ => Err(format!("{what} is not a sequence")),
        }
    }

    fn scalar(&self, id: NodeId, what: &str) -> Result<Scalar, String> {
        match self.yaml.node(id) {
            Node::Scalar { text, plain } => Ok(Scalar {
                text: text.clone(),
                plain: *plain,
            }),
            _ => Err(format!("{what} is not a scalar")),
        }
    }

    fn string(&self, id: NodeId, what: &str) -> Result<String, String> {
        self.scalar(id, what).map(|s| s.text)
    }

    fn boolean(&self, id: NodeId, what: &str) -> Result<bool, String> {
        let s = self.scalar(id, what)?;
        match s.text.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("{what} is not a boolean: {:?}", s.text)),
        }
    }

    fn strings(&self, id: NodeId, what: &str) -> Result<Vec<String>, String> {
        match self.yaml.node(id) {
            Node::Scalar { text, .. } => Ok(vec![text.clone()]),
            Node::Sequence(items) => items.iter().map(|&i| self.string(i, what)).collect(),
            Node::Mapping(_) => Err(format!("{what} is not a list of strings")),
        }
    }

    fn file(&mut self, path: &str) -> Result<SchemaFile, String> {
        let mut file = SchemaFile {
            path: path.to_owned(),
            title: String::new(),
            description: None,
            payload: Payload::default(),
            payload_keys: Vec::new(),
            response_keys: Vec::new(),
            reasons: Vec::new(),
            notes: Vec::new(),
        };
        for (name, value) in self.mapping(self.yaml.root(), "the document")?.to_vec() {
            match name.as_str() {
                "title" => file.title = self.string(value, "title")?,
                "description" => file.description = Some(self.string(value, "description")?),
                "payload" => file.payload = self.payload(value)?,
                "payloadkeys" => file.payload_keys = self.keys(value, "payloadkeys")?,
                "responsekeys" => file.response_keys = self.keys(value, "responsekeys")?,
                "reasons" => file.reasons = self.texts(value, "reasons")?,
                "notes" => file.notes = self.texts(value, "notes")?,
                _ => {}
            }
        }
        Ok(file)
    }

    fn texts(&self, id: NodeId, what: &str) -> Result<Vec<Text>, String> {
        let mut texts = Vec::new();
        for &item in self.sequence(id, what)? {
            let mut text = Text::default();
            if let Node::Mapping(entries) = self.yaml.node(item) {
                for (name, value) in entries {
                    match name.as_str() {
                        "title" => text.title = Some(self.string(*value, what)?),
                        "content" | "description" => {
                            text.content = Some(self.string(*value, what)?);
                        }
                        _ => {}
                    }
                }
            }
            texts.push(text);
        }
        Ok(texts)
    }

    fn payload(&self, id: NodeId) -> Result<Payload, String> {
        let mut payload = Payload::default();
        for (name, value) in self.mapping(id, "payload")? {
            let value = *value;
            match name.as_str() {
                "requesttype" => payload.request_type = Some(self.string(value, name)?),
                "payloadtype" => payload.payload_type = Some(self.string(value, name)?),
                "declarationtype" => payload.declaration_type = Some(self.string(value, name)?),
                "statusitemtype" => payload.status_item_type = Some(self.string(value, name)?),
                "credentialtype" => payload.credential_type = Some(self.string(value, name)?),
                "supportedOS" => payload.supported_os = self.supported_os(value)?,
                "apply" => payload.apply = Some(self.string(value, name)?),
                "beta" => payload.beta = Some(self.boolean(value, name)?),
                "content" => payload.content = Some(self.string(value, name)?),
                _ => {}
            }
        }
        Ok(payload)
    }

    fn supported_os(&self, id: NodeId) -> Result<SupportedOs, String> {
        let mut oses = Vec::new();
        for (os, value) in self.mapping(id, "supportedOS")? {
            let mut s = OsSupport::default();
            // `iOS:` with nothing under it is an empty mapping.
            if let Node::Mapping(entries) = self.yaml.node(*value) {
                for (name, value) in entries {
                    let value = *value;
                    let what = name.as_str();
                    match what {
                        "introduced" => s.introduced = Some(self.string(value, what)?),
                        "deprecated" => s.deprecated = Some(self.string(value, what)?),
                        "removed" => s.removed = Some(self.string(value, what)?),
                        "accessrights" => s.access_rights = Some(self.string(value, what)?),
                        "multiple" => s.multiple = Some(self.boolean(value, what)?),
                        "devicechannel" => s.device_channel = Some(self.boolean(value, what)?),
                        "userchannel" => s.user_channel = Some(self.boolean(value, what)?),
                        "supervised" => s.supervised = Some(self.boolean(value, what)?),
                        "requiresdep" => s.requires_dep = Some(self.boolean(value, what)?),
                        "userapprovedmdm" => {
                            s.user_approved_mdm = Some(self.boolean(value, what)?);
                        }
                        "allowmanualinstall" => {
                            s.allow_manual_install = Some(self.boolean(value, what)?);
                        }
                        "always-skippable" => {
                            s.always_skippable = Some(self.boolean(value, what)?);
                        }
                        "beta" => s.beta = Some(self.boolean(value, what)?),
                        "allowed-enrollments" => {
                            s.allowed_enrollments = self.strings(value, what)?
                        }
                        "allowed-scopes" => s.allowed_scopes = self.strings(value, what)?,
                        "sharedipad" => {
                            let mut shared = SharedIpad::default();
                            for (name, value) in self.mapping(value, what)? {
                                let value = *value;
                                match name.as_str() {
                                    "mode" => shared.mode = Some(self.string(value, name)?),
                                    "devicechannel" => {
                                        shared.device_channel = Some(self.boolean(value, name)?);
                                    }
                                    "userchannel" => {
                                        shared.user_channel = Some(self.boolean(value, name)?);
                                    }
                                    "allowed-scopes" => {
                                        shared.allowed_scopes = Some(self.strings(value, name)?);
                                    }
                                    _ => {}
                                }
                            }
                            s.shared_ipad = Some(shared);
                        }
                        "userenrollment" => {
                            let mut ue = UserEnrollment::default();
                            for (name, value) in self.mapping(value, what)? {
                                match name.as_str() {
                                    "mode" => ue.mode = Some(self.string(*value, name)?),
                                    "behavior" => ue.behavior = Some(self.string(*value, name)?),
                                    _ => {}
                                }
                            }
                            s.user_enrollment = Some(ue);
                        }
                        _ => {}
                    }
                }
            }
            oses.push((os.clone(), s));
        }
        Ok(SupportedOs(oses))
    }

    fn keys(&mut self, id: NodeId, what: &str) -> Result<Vec<KeyId>, String> {
        match self.yaml.node(id) {
            // `subkeys:` with nothing under it.
            Node::Scalar { text, .. } if text.is_empty() || text == "~" || text == "null" => {
                Ok(Vec::new())
            }
            _ => self
                .sequence(id, what)?
                .to_vec()
                .into_iter()
                .map(|item| self.key(item))
                .collect(),
        }
    }

    fn bounds(&self, id: NodeId, what: &str) -> Result<Bounds, String> {
        let mut bounds = Bounds::default();
        for (name, value) in self.mapping(id, what)? {
            match name.as_str() {
                "min" => bounds.min = Some(self.scalar(*value, what)?),
                "max" => bounds.max = Some(self.scalar(*value, what)?),
                _ => {}
            }
        }
        Ok(bounds)
    }

    fn key(&mut self, id: NodeId) -> Result<KeyId, String> {
        if let Some(&key) = self.loaded.get(&id) {
            return Ok(key);
        }
        let key_id = self.keys.len();
        self.keys.push(Key::placeholder());
        self.loaded.insert(id, key_id);
        let mut key = Key::placeholder();
        let mut ty = None;
        for (name, value) in self.mapping(id, "a key")?.to_vec() {
            let what = name.as_str();
            match what {
                "key" => key.key = self.string(value, what)?,
                "title" => key.title = Some(self.string(value, what)?),
                "supportedOS" => key.supported_os = Some(self.supported_os(value)?),
                "type" => ty = Some(KeyType::parse(&self.string(value, what)?)),
                "subtype" => key.subtype = Some(self.string(value, what)?),
                "valuetype" => key.value_type = Some(self.string(value, what)?),
                "assettypes" => key.asset_types = self.strings(value, what)?,
                "presence" => key.required = self.string(value, what)? == "required",
                "rangelist" => {
                    key.rangelist = self
                        .sequence(value, what)?
                        .iter()
                        .map(|&v| self.scalar(v, what))
                        .collect::<Result<_, _>>()?;
                }
                "range" => key.range = Some(self.bounds(value, what)?),
                "repetition" => key.repetition = Some(self.bounds(value, what)?),
                "default" => key.default = self.scalar(value, what).ok(),
                "format" => key.format = Some(self.string(value, what)?),
                "combinetype" => key.combine_type = Some(self.string(value, what)?),
                "content" => key.content = Some(self.string(value, what)?),
                "subkeytype" => key.subkey_type = Some(self.string(value, what)?),
                "subkeys" => key.subkeys = self.keys(value, what)?,
                _ => {}
            }
        }
        key.ty = ty.ok_or_else(|| format!("key {:?} has no type", key.key))?;
        if key.key.is_empty() {
            return Err("a key without a name".into());
        }
        self.keys[key_id] = key;
        Ok(key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMAND: &str = r#"
title: Example Command
description: Does things.
payload:
  requesttype: Example
  supportedOS:
    iOS:
      introduced: '4.0'
      supervised: true
      userenrollment:
        mode: forbidden
    macOS:
      introduced: n/a
  content: Does things.
payloadkeys:
- key: Shared
  type: <dictionary>
  presence: required
  subkeys: &shared
  - key: Inner
    type: <string>
    rangelist:
    - A
    - B
- key: Again
  type: <dictionary>
  subkeys: *shared
- key: Loop
  type: <array>
  subkeys: &loop
  - key: LoopItem
    type: <dictionary>
    subkeys:
    - key: Children
      type: <array>
      subkeys: *loop
responsekeys:
- key: Answer
  type: <integer>
  default: 3
  newattribute: ignored
"#;

    #[test]
    fn a_command_loads_with_shared_and_recursive_keys() {
        let mut schema = Schema::default();
        schema
            .load_file("mdm/commands/example.yaml", COMMAND)
            .unwrap();
        let file = &schema.files[0];
        assert_eq!(file.title, "Example Command");
        assert_eq!(file.payload.request_type.as_deref(), Some("Example"));
        let ios = file.payload.supported_os.get("iOS").unwrap();
        assert_eq!(ios.introduced.as_deref(), Some("4.0"));
        assert_eq!(ios.supervised, Some(true));
        assert_eq!(
            ios.user_enrollment.as_ref().unwrap().mode.as_deref(),
            Some("forbidden")
        );
        let shared = schema.key(file.payload_keys[0]);
        let again = schema.key(file.payload_keys[1]);
        assert!(shared.required && !again.required);
        assert_eq!(shared.subkeys, again.subkeys, "one key through the alias");
        let inner = schema.key(shared.subkeys[0]);
        assert_eq!(inner.rangelist.len(), 2);
        let looped = schema.key(file.payload_keys[2]);
        let item = schema.key(looped.subkeys[0]);
        let children = schema.key(item.subkeys[0]);
        assert_eq!(children.subkeys, looped.subkeys, "recursion stays finite");
        let answer = schema.key(file.response_keys[0]);
        assert_eq!(answer.ty, KeyType::Integer);
        assert_eq!(answer.default.as_ref().unwrap().text, "3");
        assert_eq!(schema.files_in("mdm/commands").count(), 1);
        assert_eq!(schema.files_in("mdm/command").count(), 0);
    }

    #[test]
    fn a_key_without_a_type_is_an_error() {
        let mut schema = Schema::default();
        let error = schema
            .load_file(
                "x.yaml",
                "title: X\npayload:\n  requesttype: X\npayloadkeys:\n- key: A\n",
            )
            .unwrap_err();
        assert!(error.contains("no type"), "{error}");
    }
}
