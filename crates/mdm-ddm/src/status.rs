//! Reading a device's status report: declaration statuses, errors and flattened values.
//!
//! The result has KMFDDM's shape (its `ddm.ParseStatus`), so a server can store and answer
//! `/v1/declaration-status`, `/v1/status-errors` and `/v1/status-values` as KMFDDM does:
//!
//! * `StatusItems.management.declarations` gives one [`DeclarationStatus`] per entry of its
//!   `activations`, `assets`, `configurations` and `management` lists;
//! * each of those entries that is neither active nor `valid` is also a [`StatusError`] at
//!   path `.StatusItems.management.declarations.<list>`, holding the entry's JSON;
//! * each entry of `Errors` is a [`StatusError`] at path `.Errors`;
//! * every other value under `StatusItems.device` and `StatusItems.management` is flattened to
//!   [`StatusValue`]s: a dotted path with a leading dot
//!   (`.StatusItems.device.operating-system.version`), an array giving one value per element
//!   at the array's own path, `null` giving none;
//! * other status items (`passcode.*`, `softwareupdate.*`, …) and top-level keys are not
//!   flattened; their paths are listed in [`ParsedStatusReport::unhandled_paths`], the raw
//!   report being what a server keeps of them.
//!
//! Reading is bounded: size and nesting depth are checked on the bytes before parsing, and the
//! flattened paths and values together may not exceed a budget (a long key over a long array
//! would otherwise repeat that key once per element).

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::category::DeclarationCategory;
use crate::json::{self, BoundsError};

/// KMFDDM's path of the declaration statuses.
const PATH_DECLARATIONS: &str = ".StatusItems.management.declarations";
/// KMFDDM's path of the report's `Errors`.
const PATH_ERRORS: &str = ".Errors";

/// Limits on a status report, checked while reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusReportLimits {
    /// The longest report, in bytes. Default 4 MiB (a report listing hundreds of managed apps
    /// or certificates stays well under it).
    pub max_bytes: usize,
    /// The deepest nesting of arrays and objects, the report object counting 1. Default 64.
    pub max_depth: usize,
    /// The most bytes the flattened values may take, paths and values together. Default
    /// 16 MiB.
    pub max_flattened_bytes: usize,
}

impl Default for StatusReportLimits {
    fn default() -> Self {
        Self {
            max_bytes: 4 * 1024 * 1024,
            max_depth: 64,
            max_flattened_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Why a status report could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatusReportError {
    /// The report is longer than [`StatusReportLimits::max_bytes`].
    #[error("the status report is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// The report's length.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The report nests deeper than [`StatusReportLimits::max_depth`].
    #[error("the status report nests deeper than {limit} levels (at byte {offset})")]
    TooDeep {
        /// The limit.
        limit: usize,
        /// The byte offset of the bracket that went past it.
        offset: usize,
    },
    /// The flattened values would take more than [`StatusReportLimits::max_flattened_bytes`].
    #[error("the status report's values flatten to more than {limit} bytes")]
    FlattenedTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The report is not JSON.
    #[error("the status report is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// A value the report's structure fixes has another JSON type (the report itself, or
    /// `StatusItems`, `Errors`, `FullReport`, `management.declarations`, one of its lists, one of
    /// their entries or an entry's key).
    #[error("{path} in the status report is not {expected}")]
    WrongValueType {
        /// Where, as a KMFDDM path (`.StatusItems.management.declarations.activations`), with
        /// `[index]` for an array element.
        path: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A declaration status has no `identifier`, or an empty one.
    #[error("{path} in the status report has no identifier")]
    DeclarationWithoutIdentifier {
        /// Where, as in [`WrongValueType`](Self::WrongValueType).
        path: String,
    },
}

/// A status report as read by [`parse_status_report`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedStatusReport {
    /// The declaration statuses of `management.declarations`, in report order. Empty when the
    /// report has none (an incremental report often has none: keep the previous ones).
    pub declarations: Vec<DeclarationStatus>,
    /// The errors: declarations neither active nor valid, then the report's `Errors`.
    pub errors: Vec<StatusError>,
    /// The flattened values of `StatusItems.device` and `StatusItems.management`.
    pub values: Vec<StatusValue>,
    /// The report's `FullReport`, when given.
    pub full_report: Option<bool>,
    /// Paths of what was not read: top-level keys other than `StatusItems`, `Errors` and
    /// `FullReport`, status items other than `device` and `management`, and lists of
    /// `management.declarations` other than the four categories.
    pub unhandled_paths: Vec<String>,
}

/// A declaration's status as a device reported it.
///
/// Serializes to KMFDDM's JSON for it: `identifier`, `active`, `valid`, `server-token`,
/// `ManifestType` (the list it came in: `activations`, …) and `ReasonsJSON` when reasons were
/// given.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeclarationStatus {
    /// The declaration's identifier, never empty.
    #[serde(rename = "identifier")]
    pub identifier: String,
    /// Whether the declaration is active on the device (`false` when not reported).
    #[serde(rename = "active")]
    pub active: bool,
    /// `valid`, `invalid` or `unknown` as reported (empty when not reported); see
    /// [`validity`](Self::validity).
    #[serde(rename = "valid")]
    pub valid: String,
    /// The server token of the declaration the device holds (empty when not reported).
    #[serde(rename = "server-token")]
    pub server_token: String,
    /// The list the status came in.
    #[serde(rename = "ManifestType", serialize_with = "serialize_status_key")]
    pub category: DeclarationCategory,
    /// The reported `reasons`, as JSON.
    #[serde(rename = "ReasonsJSON", skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Value>,
}

fn serialize_status_key<S: Serializer>(
    category: &DeclarationCategory,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(category.status_key())
}

/// The `valid` of a [`DeclarationStatus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclarationValidity {
    /// `valid`: the device checked the declaration and it is valid.
    Valid,
    /// `invalid`: the device checked it and it is not; the reasons say why.
    Invalid,
    /// `unknown`: the device has not checked it yet.
    Unknown,
    /// Absent, or a value Apple's schema does not list.
    Unrecognized,
}

impl DeclarationStatus {
    /// The reported `valid` as an enum.
    pub fn validity(&self) -> DeclarationValidity {
        match self.valid.as_str() {
            "valid" => DeclarationValidity::Valid,
            "invalid" => DeclarationValidity::Invalid,
            "unknown" => DeclarationValidity::Unknown,
            _ => DeclarationValidity::Unrecognized,
        }
    }

    /// Whether KMFDDM counts this status as an error: neither active nor `valid`.
    pub fn is_error(&self) -> bool {
        !self.active && self.valid != "valid"
    }
}

/// An error of a status report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusError {
    /// `.Errors` for an entry of the report's `Errors`;
    /// `.StatusItems.management.declarations.<list>` for a failed declaration.
    pub path: String,
    /// The entry's JSON.
    pub error: Value,
}

/// One flattened status value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusValue {
    /// The dotted path with a leading dot, e.g. `.StatusItems.device.model.family`; an array's
    /// elements share the array's path.
    pub path: String,
    /// Whether the value was an object member or an array element.
    pub container: ValueContainer,
    /// The value.
    pub value: StatusScalar,
}

/// Where a [`StatusValue`] sat: KMFDDM's "container type".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueContainer {
    /// A member of an object.
    Object,
    /// An element of an array.
    Array,
}

impl ValueContainer {
    /// `object` or `array`, as KMFDDM stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Object => "object",
            Self::Array => "array",
        }
    }
}

/// A flattened status value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusScalar {
    /// A string, unquoted.
    String(String),
    /// A number, as JSON text (`serde_json`'s rendering of the number read).
    Number(String),
    /// A boolean.
    Boolean(bool),
}

impl StatusScalar {
    /// `string`, `number` or `boolean`: KMFDDM's "value type".
    pub fn value_type(&self) -> &'static str {
        match self {
            Self::String(_) => "string",
            Self::Number(_) => "number",
            Self::Boolean(_) => "boolean",
        }
    }

    /// The value as KMFDDM stores and answers it: a string's text, a number's JSON text,
    /// `true` or `false`.
    pub fn as_text(&self) -> &str {
        match self {
            Self::String(s) | Self::Number(s) => s,
            Self::Boolean(true) => "true",
            Self::Boolean(false) => "false",
        }
    }
}

/// Reads a status report (the `Data` of a `status` check-in) with the default
/// [`StatusReportLimits`].
pub fn parse_status_report(bytes: &[u8]) -> Result<ParsedStatusReport, StatusReportError> {
    parse_status_report_with(bytes, &StatusReportLimits::default())
}

/// Reads a status report within `limits`. Partial reports are normal: any of `StatusItems`,
/// `Errors` and `management.declarations` may be absent.
pub fn parse_status_report_with(
    bytes: &[u8],
    limits: &StatusReportLimits,
) -> Result<ParsedStatusReport, StatusReportError> {
    json::check_bounds(bytes, limits.max_bytes, limits.max_depth).map_err(|e| match e {
        BoundsError::TooLarge { size, limit } => StatusReportError::TooLarge { size, limit },
        BoundsError::TooDeep { limit, offset } => StatusReportError::TooDeep { limit, offset },
    })?;
    let value: Value = serde_json::from_slice(bytes).map_err(StatusReportError::Json)?;
    let Value::Object(report) = value else {
        return Err(wrong_type("the report", "an object"));
    };
    let mut parsed = ParsedStatusReport::default();
    let mut flattener = Flattener {
        values: Vec::new(),
        budget: limits.max_flattened_bytes,
        limit: limits.max_flattened_bytes,
    };
    let mut report_errors = Vec::new();
    for (key, value) in &report {
        match key.as_str() {
            "StatusItems" => read_status_items(value, &mut parsed, &mut flattener)?,
            "Errors" => {
                let Value::Array(errors) = value else {
                    return Err(wrong_type(PATH_ERRORS, "an array"));
                };
                report_errors.extend(errors.iter().map(|error| StatusError {
                    path: PATH_ERRORS.to_owned(),
                    error: error.clone(),
                }));
            }
            "FullReport" => match value {
                Value::Bool(b) => parsed.full_report = Some(*b),
                _ => return Err(wrong_type(".FullReport", "a boolean")),
            },
            _ => parsed.unhandled_paths.push(format!(".{key}")),
        }
    }
    parsed.errors.extend(report_errors);
    parsed.values = flattener.values;
    Ok(parsed)
}

fn wrong_type(path: impl Into<String>, expected: &'static str) -> StatusReportError {
    StatusReportError::WrongValueType {
        path: path.into(),
        expected,
    }
}

fn read_status_items(
    value: &Value,
    parsed: &mut ParsedStatusReport,
    flattener: &mut Flattener,
) -> Result<(), StatusReportError> {
    let Value::Object(items) = value else {
        return Err(wrong_type(".StatusItems", "an object"));
    };
    for (key, value) in items {
        let path = format!(".StatusItems.{key}");
        match (key.as_str(), value) {
            ("management", Value::Object(management)) => {
                for (key, value) in management {
                    if key == "declarations" {
                        read_declarations(value, parsed)?;
                    } else {
                        flattener.flatten(format!("{path}.{key}"), value)?;
                    }
                }
            }
            ("management" | "device", _) => flattener.flatten(path, value)?,
            _ => parsed.unhandled_paths.push(path),
        }
    }
    Ok(())
}

fn read_declarations(
    value: &Value,
    parsed: &mut ParsedStatusReport,
) -> Result<(), StatusReportError> {
    let Value::Object(lists) = value else {
        return Err(wrong_type(PATH_DECLARATIONS, "an object"));
    };
    for (key, list) in lists {
        let path = format!("{PATH_DECLARATIONS}.{key}");
        let Some(category) = DeclarationCategory::from_status_key(key) else {
            parsed.unhandled_paths.push(path);
            continue;
        };
        let Value::Array(entries) = list else {
            return Err(wrong_type(path, "an array"));
        };
        for (index, entry) in entries.iter().enumerate() {
            let status = read_declaration_status(entry, category, || format!("{path}[{index}]"))?;
            if status.is_error() {
                parsed.errors.push(StatusError {
                    path: path.clone(),
                    error: entry.clone(),
                });
            }
            parsed.declarations.push(status);
        }
    }
    Ok(())
}

fn read_declaration_status(
    entry: &Value,
    category: DeclarationCategory,
    path: impl Fn() -> String,
) -> Result<DeclarationStatus, StatusReportError> {
    let Value::Object(entry) = entry else {
        return Err(wrong_type(path(), "an object"));
    };
    let identifier = match entry.get("identifier") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) | None => {
            return Err(StatusReportError::DeclarationWithoutIdentifier { path: path() });
        }
        Some(_) => return Err(wrong_type(format!("{}.identifier", path()), "a string")),
    };
    let active = match entry.get("active") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(wrong_type(format!("{}.active", path()), "a boolean")),
    };
    let valid = optional_string(entry, "valid", &path)?;
    let server_token = optional_string(entry, "server-token", &path)?;
    Ok(DeclarationStatus {
        identifier,
        active,
        valid,
        server_token,
        category,
        reasons: entry.get("reasons").cloned(),
    })
}

fn optional_string(
    entry: &Map<String, Value>,
    key: &str,
    path: &impl Fn() -> String,
) -> Result<String, StatusReportError> {
    match entry.get(key) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(wrong_type(format!("{}.{key}", path()), "a string")),
    }
}

/// Flattens values without recursion, within a byte budget.
struct Flattener {
    values: Vec<StatusValue>,
    budget: usize,
    limit: usize,
}

impl Flattener {
    fn flatten(&mut self, path: String, value: &Value) -> Result<(), StatusReportError> {
        // (path, value, container); children pushed in reverse so values come out in order.
        let mut stack: Vec<(std::rc::Rc<str>, &Value, ValueContainer)> =
            vec![(path.into(), value, ValueContainer::Object)];
        while let Some((path, value, container)) = stack.pop() {
            let scalar = match value {
                Value::Object(map) => {
                    for (key, child) in map.iter().rev() {
                        let child_path: std::rc::Rc<str> = format!("{path}.{key}").into();
                        self.spend(child_path.len())?;
                        stack.push((child_path, child, ValueContainer::Object));
                    }
                    continue;
                }
                Value::Array(items) => {
                    for item in items.iter().rev() {
                        stack.push((path.clone(), item, ValueContainer::Array));
                    }
                    continue;
                }
                Value::Null => continue,
                Value::String(s) => StatusScalar::String(s.clone()),
                Value::Number(n) => StatusScalar::Number(n.to_string()),
                Value::Bool(b) => StatusScalar::Boolean(*b),
            };
            self.spend(path.len().saturating_add(scalar.as_text().len()))?;
            self.values.push(StatusValue {
                path: path.to_string(),
                container,
                value: scalar,
            });
        }
        Ok(())
    }

    fn spend(&mut self, bytes: usize) -> Result<(), StatusReportError> {
        self.budget = self
            .budget
            .checked_sub(bytes)
            .ok_or(StatusReportError::FlattenedTooLarge { limit: self.limit })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
