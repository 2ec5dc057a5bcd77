//! Rust types planned from the schema model, independently of what they are written for: a
//! module's structs, enums and unions, with their fields' types. Commands use it today; profile
//! payloads and declarations use the same decisions.
//!
//! The decisions, per key type:
//!
//! * `<string>` with a `rangelist`: an enum. In a request the list is closed (a value outside it
//!   is an error); in a response it is open (an `Other(String)` variant), because a newer OS may
//!   report a value this schema does not list.
//! * `<string>` whose `subkeys` name its possible values (`DeviceInformation` queries): an open
//!   enum, since Apple adds values every year.
//! * `<integer>` with a `rangelist`: `i64`; a request checks the value against the list.
//! * `<dictionary>` with keys: a struct (named by `subkeytype`, else by the key); a dictionary
//!   whose only key is a placeholder (`ANY app identifier`, `Category Name`): a map; without
//!   keys, or with `<any>` values: an untyped dictionary.
//! * `<array>` with one item type: a `Vec`; with several dictionaries told apart by a string key
//!   that has one value in each (`Settings` items and their `Item`): a union enum; anything else
//!   untyped.
//! * A request key is required if the schema says `presence: required`. Response keys are all
//!   optional: the schema calls required keys that devices leave out (present "only for App
//!   Store apps", "only when `ProfileRestrictions` is true in the command", keys introduced by a
//!   later OS), and a report must not fail to decode for a key its device did not send.

use std::collections::HashMap;

use crate::model::{Key, KeyId, KeyType, Scalar, Schema};
use crate::naming::{Names, field_name, type_name};

/// Whether a type is read from a request (sent by a server) or a response (sent by a device).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Request,
    Response,
}

/// A field's or item's type.
#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    String,
    Integer,
    Real,
    Boolean,
    Date,
    Data,
    /// `<any>`: any property-list value.
    Any,
    /// A dictionary without a schema.
    Dictionary,
    /// A type of the module (`Plan::types`).
    Named(usize),
    Array(Box<Ty>),
    /// A dictionary keyed by names (`BTreeMap<String, _>`).
    Map(Box<Ty>),
    /// A type that contains itself.
    Boxed(Box<Ty>),
}

#[derive(Debug)]
pub enum TypeDef {
    Struct(StructDef),
    Enum(EnumDef),
    Union(UnionDef),
}

impl TypeDef {
    pub fn name(&self) -> &str {
        match self {
            TypeDef::Struct(s) => &s.name,
            TypeDef::Enum(e) => &e.name,
            TypeDef::Union(u) => &u.name,
        }
    }
}

#[derive(Debug)]
pub struct StructDef {
    pub name: String,
    pub doc: String,
    pub fields: Vec<FieldDef>,
}

#[derive(Debug)]
pub struct FieldDef {
    /// Apple's key.
    pub key: String,
    /// The Rust field name.
    pub name: String,
    pub ty: Ty,
    pub required: bool,
    pub doc: String,
    pub default: Option<Scalar>,
    /// The integers a request's value must be one of.
    pub allowed: Option<Vec<i64>>,
}

#[derive(Debug)]
pub struct EnumDef {
    pub name: String,
    pub doc: String,
    pub variants: Vec<VariantDef>,
    /// Whether values outside the list are kept (in the `other` variant).
    pub open: bool,
    /// The name of the variant for other values.
    pub other: String,
}

#[derive(Debug)]
pub struct VariantDef {
    pub value: String,
    pub name: String,
    pub doc: String,
}

#[derive(Debug)]
pub struct UnionDef {
    pub name: String,
    /// The array key whose items it is.
    pub key: String,
    pub doc: String,
    pub tag_key: String,
    pub variants: Vec<UnionVariant>,
}

#[derive(Debug)]
pub struct UnionVariant {
    pub tag: String,
    pub name: String,
    /// The variant's struct.
    pub ty: usize,
    pub doc: String,
}

/// The types of one module.
#[derive(Debug)]
pub struct Plan {
    pub types: Vec<TypeDef>,
    names: Names,
    structs: HashMap<(Vec<KeyId>, Side, Option<String>), usize>,
    /// Structs by name and shape: two keys that define the same dictionary under the same name
    /// (each `alert` of a content cache's parents and peers) share one type.
    shapes: HashMap<(String, String, Side, Option<String>), usize>,
    enums: HashMap<(KeyId, Side), usize>,
    /// Enums by name and values, likewise.
    enum_shapes: HashMap<(String, Vec<String>, bool), usize>,
    unions: HashMap<(KeyId, Side), usize>,
    /// Structs whose fields are being planned (a reference back to one is boxed).
    planning: Vec<usize>,
    /// What could not be typed, and why.
    pub notes: Vec<String>,
}

/// Whether a key is a placeholder for names (`ANY app identifier`, `Category Name`).
pub fn is_placeholder(key: &Key) -> bool {
    key.key.starts_with("ANY") || key.key.contains(char::is_whitespace)
}

impl Plan {
    /// A module where `reserved` names are taken (imports, the prelude, the module's own
    /// top-level types).
    pub fn new(reserved: &[&str]) -> Self {
        Self {
            types: Vec::new(),
            names: Names::with_reserved(reserved),
            structs: HashMap::new(),
            shapes: HashMap::new(),
            enums: HashMap::new(),
            enum_shapes: HashMap::new(),
            unions: HashMap::new(),
            planning: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A top-level struct with a fixed (reserved) name.
    pub fn root_struct(
        &mut self,
        schema: &Schema,
        name: &str,
        doc: String,
        keys: &[KeyId],
        side: Side,
    ) -> usize {
        let id = self.types.len();
        self.types.push(TypeDef::Struct(StructDef {
            name: name.to_owned(),
            doc,
            fields: Vec::new(),
        }));
        self.structs.insert((keys.to_vec(), side, None), id);
        self.plan_fields(schema, id, keys, side, None);
        id
    }

    /// The type of one key's value (a status item's), a type it defines taking the first free
    /// of `names`.
    pub fn value_of(&mut self, schema: &Schema, key: KeyId, side: Side, names: Vec<String>) -> Ty {
        let parent = names.first().cloned().unwrap_or_default();
        self.key_ty(schema, key, side, &parent, Some(names))
    }

    fn claim(&mut self, candidates: Vec<String>) -> String {
        self.names.claim(&candidates)
    }

    /// A struct of `keys` (less `tag`), named by the first free candidate.
    fn struct_of(
        &mut self,
        schema: &Schema,
        keys: &[KeyId],
        side: Side,
        tag: Option<&str>,
        candidates: Vec<String>,
        doc: String,
    ) -> Ty {
        let memo = (keys.to_vec(), side, tag.map(str::to_owned));
        if let Some(&id) = self.structs.get(&memo) {
            return if self.planning.contains(&id) {
                Ty::Boxed(Box::new(Ty::Named(id)))
            } else {
                Ty::Named(id)
            };
        }
        let shape = (
            candidates.first().cloned().unwrap_or_default(),
            shape(schema, keys, &mut Vec::new()),
            side,
            tag.map(str::to_owned),
        );
        if let Some(&id) = self.shapes.get(&shape) {
            self.structs.insert(memo, id);
            return Ty::Named(id);
        }
        let id = self.types.len();
        let name = self.claim(candidates);
        self.types.push(TypeDef::Struct(StructDef {
            name,
            doc,
            fields: Vec::new(),
        }));
        self.structs.insert(memo, id);
        self.shapes.insert(shape, id);
        self.plan_fields(schema, id, keys, side, tag);
        Ty::Named(id)
    }

    fn plan_fields(
        &mut self,
        schema: &Schema,
        id: usize,
        keys: &[KeyId],
        side: Side,
        tag: Option<&str>,
    ) {
        self.planning.push(id);
        let parent = self.types[id].name().to_owned();
        let mut names = Names::default();
        let mut fields = Vec::new();
        for &key_id in keys {
            let key = schema.key(key_id);
            if Some(key.key.as_str()) == tag {
                continue;
            }
            // A name with spaces beside named keys is a real key (the SCEP payload's
            // `Key Type`, the energy saver's `Wake on LAN`); only `ANY…` stands for names there.
            if key.key.starts_with("ANY") {
                self.notes.push(format!(
                    "{parent}: placeholder key {:?} beside named keys is not typed",
                    key.key
                ));
                continue;
            }
            if fields.iter().any(|f: &FieldDef| f.key == key.key) {
                continue;
            }
            let ty = self.key_ty(schema, key_id, side, &parent, None);
            let allowed = match (&ty, side) {
                (Ty::Integer, Side::Request) if !key.rangelist.is_empty() => key
                    .rangelist
                    .iter()
                    .map(|v| v.text.parse::<i64>().ok())
                    .collect::<Option<Vec<_>>>(),
                _ => None,
            };
            fields.push(FieldDef {
                key: key.key.clone(),
                name: names.claim(&[field_name(&key.key)]),
                ty,
                required: key.required && side == Side::Request,
                doc: key_doc(key),
                default: key.default.clone(),
                allowed,
            });
        }
        self.planning.pop();
        if let TypeDef::Struct(s) = &mut self.types[id] {
            s.fields = fields;
        }
    }

    /// The type of key `key_id`; `name` overrides the name candidates of a type it defines.
    fn key_ty(
        &mut self,
        schema: &Schema,
        key_id: KeyId,
        side: Side,
        parent: &str,
        name: Option<Vec<String>>,
    ) -> Ty {
        let key = schema.key(key_id);
        let candidates = name.unwrap_or_else(|| {
            let own = type_name(key.subkey_type.as_deref().unwrap_or(&key.key));
            nested_names(parent, &own, key)
        });
        match &key.ty {
            KeyType::String if !key.rangelist.is_empty() => {
                let values: Vec<(String, String)> = key
                    .rangelist
                    .iter()
                    .map(|v| (v.text.clone(), value_doc(key, &v.text)))
                    .collect();
                self.enum_of(
                    key_id,
                    side,
                    side == Side::Response,
                    values,
                    candidates,
                    key,
                )
            }
            KeyType::String if !key.subkeys.is_empty() => {
                let values = key
                    .subkeys
                    .iter()
                    .map(|&v| {
                        let value = schema.key(v);
                        (value.key.clone(), key_doc(value))
                    })
                    .collect();
                self.enum_of(key_id, side, true, values, candidates, key)
            }
            KeyType::String => Ty::String,
            KeyType::Integer => Ty::Integer,
            KeyType::Real => Ty::Real,
            KeyType::Boolean => Ty::Boolean,
            KeyType::Date => Ty::Date,
            KeyType::Data => Ty::Data,
            KeyType::Any => Ty::Any,
            KeyType::Dictionary => {
                let subkeys = &key.subkeys;
                match subkeys.as_slice() {
                    [] => Ty::Dictionary,
                    [only] if is_placeholder(schema.key(*only)) => {
                        let value = schema.key(*only);
                        if value.ty == KeyType::Any {
                            return Ty::Dictionary;
                        }
                        let own = type_name(&key.key);
                        let names = match &value.subkey_type {
                            Some(t) => vec![type_name(t), format!("{own}{}", type_name(t))],
                            None => vec![format!("{own}Value"), format!("{parent}{own}Value")],
                        };
                        Ty::Map(Box::new(self.key_ty(
                            schema,
                            *only,
                            side,
                            parent,
                            Some(names),
                        )))
                    }
                    _ => self.struct_of(schema, subkeys, side, None, candidates, key_doc(key)),
                }
            }
            KeyType::Array => match key.subkeys.as_slice() {
                [] => Ty::Array(Box::new(Ty::Any)),
                [item] => {
                    let item_key = schema.key(*item);
                    let own = type_name(item_key.subkey_type.as_deref().unwrap_or(&item_key.key));
                    let names = nested_names(parent, &own, item_key);
                    let mut item_ty = self.key_ty(schema, *item, side, parent, Some(names));
                    if let Ty::Boxed(inner) = item_ty {
                        // A Vec already breaks the cycle.
                        item_ty = *inner;
                    }
                    Ty::Array(Box::new(item_ty))
                }
                items => match self.union_of(schema, key_id, items, side, parent) {
                    Some(ty) => Ty::Array(Box::new(ty)),
                    None => {
                        self.notes.push(format!(
                            "{parent}.{}: an array of several kinds without a tag is untyped",
                            key.key
                        ));
                        Ty::Array(Box::new(Ty::Any))
                    }
                },
            },
            KeyType::Unknown(ty) => {
                self.notes.push(format!(
                    "{parent}.{}: unknown type {ty:?} is untyped",
                    key.key
                ));
                Ty::Any
            }
        }
    }

    fn enum_of(
        &mut self,
        key_id: KeyId,
        side: Side,
        open: bool,
        values: Vec<(String, String)>,
        candidates: Vec<String>,
        key: &Key,
    ) -> Ty {
        if let Some(&id) = self.enums.get(&(key_id, side)) {
            return Ty::Named(id);
        }
        let mut names = Names::default();
        let mut variants: Vec<VariantDef> = Vec::new();
        for (value, doc) in values {
            if variants.iter().any(|v| v.value == value) {
                continue;
            }
            variants.push(VariantDef {
                name: names.claim(&[type_name(&value)]),
                value,
                doc,
            });
        }
        let other = names.claim(&["Other".into(), "Unlisted".into()]);
        let shape = (
            candidates.first().cloned().unwrap_or_default(),
            variants.iter().map(|v| v.value.clone()).collect(),
            open,
        );
        if let Some(&id) = self.enum_shapes.get(&shape) {
            self.enums.insert((key_id, side), id);
            return Ty::Named(id);
        }
        self.enum_shapes.insert(shape, self.types.len());
        let id = self.types.len();
        let name = self.claim(candidates);
        self.types.push(TypeDef::Enum(EnumDef {
            name,
            doc: key_doc(key),
            variants,
            open,
            other,
        }));
        self.enums.insert((key_id, side), id);
        Ty::Named(id)
    }

    /// An array of several kinds of dictionary, told apart by a string key with one value in
    /// each.
    fn union_of(
        &mut self,
        schema: &Schema,
        key_id: KeyId,
        items: &[KeyId],
        side: Side,
        parent: &str,
    ) -> Option<Ty> {
        if let Some(&id) = self.unions.get(&(key_id, side)) {
            return Some(Ty::Named(id));
        }
        let alternatives: Vec<&Key> = items.iter().map(|&i| schema.key(i)).collect();
        if alternatives
            .iter()
            .any(|a| a.ty != KeyType::Dictionary || a.subkeys.is_empty())
        {
            return None;
        }
        // The tag of each alternative under a key name: a string with one allowed value.
        let tag_of = |alternative: &Key, name: &str| {
            alternative.subkeys.iter().find_map(|&k| {
                let k = schema.key(k);
                (k.key == name && k.ty == KeyType::String && k.rangelist.len() == 1)
                    .then(|| k.rangelist[0].text.clone())
            })
        };
        let (tag_key, tags) = alternatives[0].subkeys.iter().find_map(|&k| {
            let name = &schema.key(k).key;
            let tags: Option<Vec<String>> = alternatives.iter().map(|a| tag_of(a, name)).collect();
            let tags = tags?;
            let distinct = tags.iter().enumerate().all(|(i, t)| !tags[..i].contains(t));
            distinct.then(|| (name.clone(), tags))
        })?;
        let key = schema.key(key_id);
        let union_name = self.claim(vec![
            format!("{}Item", type_name(&key.key)),
            format!("{parent}{}Item", type_name(&key.key)),
        ]);
        let id = self.types.len();
        self.types.push(TypeDef::Union(UnionDef {
            name: union_name.clone(),
            key: key.key.clone(),
            doc: key_doc(key),
            tag_key: tag_key.clone(),
            variants: Vec::new(),
        }));
        self.unions.insert((key_id, side), id);
        let mut variant_names = Names::default();
        let mut variants = Vec::new();
        for (alternative, tag) in alternatives.iter().zip(tags) {
            let own = type_name(&alternative.key);
            let ty = match self.struct_of(
                schema,
                &alternative.subkeys,
                side,
                Some(&tag_key),
                vec![own.clone(), format!("{union_name}{own}")],
                key_doc(alternative),
            ) {
                Ty::Named(ty) => ty,
                _ => return None,
            };
            variants.push(UnionVariant {
                name: variant_names.claim(&[type_name(&tag)]),
                tag,
                ty,
                doc: key_doc(alternative),
            });
        }
        if let TypeDef::Union(u) = &mut self.types[id] {
            u.variants = variants;
        }
        Some(Ty::Named(id))
    }
}

/// What makes two lists of keys the same dictionary: names, types, presence, allowed values
/// and subkeys, recursively (a key met again inside itself stands for itself).
fn shape(schema: &Schema, keys: &[KeyId], open: &mut Vec<KeyId>) -> String {
    let mut out = String::from("{");
    for &id in keys {
        let key = schema.key(id);
        let values: Vec<&str> = key.rangelist.iter().map(|v| v.text.as_str()).collect();
        out.push_str(&format!(
            "{:?}:{:?}:{}:{:?}:{:?}",
            key.key, key.ty, key.required, values, key.subkey_type
        ));
        if open.contains(&id) {
            out.push_str("@self");
        } else {
            open.push(id);
            out.push_str(&shape(schema, &key.subkeys, open));
            open.pop();
        }
        out.push(',');
    }
    out.push('}');
    out
}

/// The names a type defined under `parent` may take: its own, then (when another type has it)
/// its own qualified by the parent's (`PeersItemAlert`) — or, when that would repeat the name
/// (the `SecurityInfo` dictionary of `SecurityInfoResponse`), its own with `Dictionary`.
fn nested_names(parent: &str, own: &str, key: &Key) -> Vec<String> {
    let qualified = format!("{parent}{own}");
    if key.ty == KeyType::Dictionary && parent.starts_with(own) {
        vec![own.to_owned(), format!("{own}Dictionary"), qualified]
    } else {
        vec![own.to_owned(), qualified]
    }
}

/// A key's documentation: its title, then its content.
pub fn key_doc(key: &Key) -> String {
    let mut doc = String::new();
    if let Some(title) = &key.title {
        doc.push_str(title.trim());
        if !title.trim_end().ends_with('.') {
            doc.push('.');
        }
    }
    if let Some(content) = &key.content {
        if !doc.is_empty() {
            doc.push_str("\n\n");
        }
        doc.push_str(content.trim());
    }
    doc
}

/// What a key's content says of one of its values, from a bullet `* 'value': what`.
pub fn value_doc(key: &Key, value: &str) -> String {
    let content = key.content.as_deref().unwrap_or_default();
    for line in content.lines() {
        let line = line
            .trim_start()
            .trim_start_matches(['*', '-'])
            .trim_start();
        for quote in ['\'', '`'] {
            let prefix = format!("{quote}{value}{quote}");
            if let Some(rest) = line.strip_prefix(&prefix) {
                let rest = rest.trim_start();
                let rest = rest.strip_prefix(':').unwrap_or(rest).trim();
                if !rest.is_empty() {
                    return rest.to_owned();
                }
            }
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(yaml: &str, side: Side) -> (Schema, Plan) {
        let mut schema = Schema::default();
        schema.load_file("mdm/commands/x.yaml", yaml).unwrap();
        let keys = if side == Side::Request {
            schema.files[0].payload_keys.clone()
        } else {
            schema.files[0].response_keys.clone()
        };
        let mut plan = Plan::new(&["Example", "Option"]);
        plan.root_struct(&schema, "Example", String::new(), &keys, side);
        (schema, plan)
    }

    fn root(plan: &Plan) -> &StructDef {
        match &plan.types[0] {
            TypeDef::Struct(s) => s,
            _ => panic!(),
        }
    }

    const KEYS: &str = r#"
title: X
payload:
  requesttype: X
payloadkeys: &keys
- key: Behavior
  type: <string>
  presence: required
  rangelist: [Default, Other, Always]
  content: |-
    How:
    * 'Default': the usual.
    * 'Always': every time.
- key: Flags
  type: <integer>
  rangelist: [1, 4, 5]
- key: Option
  type: <dictionary>
  subkeys:
  - key: type
    type: <string>
  - key: Type
    type: <boolean>
- key: Apps
  type: <dictionary>
  subkeys:
  - key: ANY app identifier
    type: <dictionary>
    subkeytype: AppItem
    subkeys:
    - key: Status
      type: <string>
      presence: required
- key: Extra
  type: <dictionary>
  subkeys:
  - key: ANY
    type: <any>
- key: Queries
  type: <array>
  subkeys:
  - key: QueriesItem
    type: <string>
    subkeys:
    - key: UDID
      type: <string>
    - key: OSVersion
      type: <string>
- key: Settings
  type: <array>
  subkeys:
  - key: Name
    type: <dictionary>
    subkeys:
    - key: Item
      type: <string>
      presence: required
      rangelist: [DeviceName]
    - key: DeviceName
      type: <string>
      presence: required
  - key: Wallpaper
    type: <dictionary>
    subkeys:
    - key: Item
      type: <string>
      presence: required
      rangelist: [Wallpaper]
    - key: Image
      type: <data>
      presence: required
responsekeys:
- key: Behavior
  type: <string>
  presence: required
  rangelist: [Default, Always]
- key: Later
  type: <string>
  presence: required
  supportedOS:
    iOS:
      introduced: '17.0'
"#;

    #[test]
    fn a_request_rangelist_is_a_closed_enum_with_documented_values() {
        let (_, plan) = plan(KEYS, Side::Request);
        let field = &root(&plan).fields[0];
        assert!(field.required);
        let Ty::Named(id) = field.ty else { panic!() };
        let TypeDef::Enum(e) = &plan.types[id] else {
            panic!()
        };
        assert_eq!(e.name, "Behavior");
        assert!(!e.open);
        let names: Vec<_> = e.variants.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["Default", "Other", "Always"]);
        assert_eq!(e.other, "Unlisted", "a value named Other keeps its name");
        assert_eq!(e.variants[0].doc, "the usual.");
        assert_eq!(e.variants[1].doc, "");
    }

    #[test]
    fn a_response_rangelist_is_open_and_response_keys_are_optional() {
        let (_, plan) = plan(KEYS, Side::Response);
        let fields = &root(&plan).fields;
        let Ty::Named(id) = fields[0].ty else {
            panic!()
        };
        let TypeDef::Enum(e) = &plan.types[id] else {
            panic!()
        };
        assert!(e.open);
        assert_eq!(e.other, "Other");
        assert!(
            !fields[0].required,
            "required in the schema, optional in a report"
        );
        assert!(!fields[1].required);
    }

    #[test]
    fn integer_lists_are_checked_in_requests() {
        let (_, plan) = plan(KEYS, Side::Request);
        let flags = &root(&plan).fields[1];
        assert_eq!(flags.ty, Ty::Integer);
        assert_eq!(flags.allowed, Some(vec![1, 4, 5]));
    }

    #[test]
    fn colliding_names_are_made_unique() {
        let (_, plan) = plan(KEYS, Side::Request);
        let option = &root(&plan).fields[2];
        assert_eq!(option.name, "option");
        let Ty::Named(id) = option.ty else { panic!() };
        let TypeDef::Struct(s) = &plan.types[id] else {
            panic!()
        };
        assert_eq!(s.name, "ExampleOption", "Option is reserved");
        let names: Vec<_> = s.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["r#type", "type2"]);
    }

    #[test]
    fn placeholder_keys_make_maps() {
        let (_, plan) = plan(KEYS, Side::Request);
        let apps = &root(&plan).fields[3];
        let Ty::Map(value) = &apps.ty else {
            panic!("{:?}", apps.ty)
        };
        let Ty::Named(id) = **value else { panic!() };
        assert_eq!(plan.types[id].name(), "AppItem");
        assert_eq!(root(&plan).fields[4].ty, Ty::Dictionary);
    }

    #[test]
    fn scalar_items_with_subkeys_are_open_enums() {
        let (_, plan) = plan(KEYS, Side::Request);
        let queries = &root(&plan).fields[5];
        let Ty::Array(item) = &queries.ty else {
            panic!()
        };
        let Ty::Named(id) = **item else { panic!() };
        let TypeDef::Enum(e) = &plan.types[id] else {
            panic!()
        };
        assert_eq!(e.name, "QueriesItem");
        assert!(e.open);
        let names: Vec<_> = e.variants.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["Udid", "OsVersion"]);
    }

    #[test]
    fn tagged_dictionaries_make_a_union() {
        let (_, plan) = plan(KEYS, Side::Request);
        let settings = &root(&plan).fields[6];
        let Ty::Array(item) = &settings.ty else {
            panic!()
        };
        let Ty::Named(id) = **item else { panic!() };
        let TypeDef::Union(u) = &plan.types[id] else {
            panic!()
        };
        assert_eq!(u.name, "SettingsItem");
        assert_eq!(u.tag_key, "Item");
        let tags: Vec<_> = u.variants.iter().map(|v| v.tag.as_str()).collect();
        assert_eq!(tags, ["DeviceName", "Wallpaper"]);
        let TypeDef::Struct(name) = &plan.types[u.variants[0].ty] else {
            panic!()
        };
        assert_eq!(name.fields.len(), 1, "the tag is the union's");
        assert_eq!(name.fields[0].key, "DeviceName");
    }

    #[test]
    fn recursive_keys_are_boxed_or_held_by_a_vec() {
        let yaml = r#"
title: X
payload:
  requesttype: X
payloadkeys:
- key: Icon
  type: <dictionary>
  subkeys: &icon
  - key: Folder
    type: <dictionary>
    subkeys: *icon
  - key: Pages
    type: <array>
    subkeys:
    - key: Page
      type: <dictionary>
      subkeys: *icon
"#;
        let (_, plan) = plan(yaml, Side::Request);
        let Ty::Named(icon) = root(&plan).fields[0].ty else {
            panic!()
        };
        let TypeDef::Struct(s) = &plan.types[icon] else {
            panic!()
        };
        assert_eq!(s.fields[0].ty, Ty::Boxed(Box::new(Ty::Named(icon))));
        assert_eq!(s.fields[1].ty, Ty::Array(Box::new(Ty::Named(icon))));
    }
}
