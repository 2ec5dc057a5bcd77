//! Test samples for every command, made from the schema: a JSON command with every key and its
//! property list, the same with only the required keys, and an acknowledged report with every
//! response key plus keys the schema does not know (`UnknownKeyFromNewerOS`, in every typed
//! dictionary). The runtime's tests read them all: JSON to typed to plist must give the
//! generator's plist, and reports must decode.

use std::fmt::Write;

use crate::commands::Command;
use crate::plan::{Plan, Ty, TypeDef};

/// The key added to every typed dictionary of a sample report.
pub const UNKNOWN_KEY: &str = "UnknownKeyFromNewerOS";

/// A sample value.
#[derive(Clone, Debug)]
pub enum Sample {
    String(String),
    Integer(i64),
    Real(f64),
    Boolean(bool),
    /// RFC 3339.
    Date(String),
    Data(Vec<u8>),
    Array(Vec<Sample>),
    Dictionary(Vec<(String, Sample)>),
}

/// How much of a type a sample fills in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Every key, every value of a list, every kind of a union.
    Full,
    /// Required keys only, one item per array.
    Minimal,
    /// Every key, and an unknown key in every typed dictionary (a newer OS's report).
    Report,
}

/// The sample files of one command: `(file name, contents)`.
pub fn files(command: &Command<'_>) -> Vec<(String, String)> {
    let plan = &command.plan;
    let request_type = &command.request_type;
    let mut files = Vec::new();
    for (suffix, fill) in [("", Fill::Full), (".minimal", Fill::Minimal)] {
        let Sample::Dictionary(mut keys) = value(plan, &Ty::Named(0), fill, &mut Vec::new()) else {
            continue;
        };
        let payload = Sample::Dictionary(keys.clone());
        keys.insert(
            0,
            ("RequestType".into(), Sample::String(request_type.clone())),
        );
        let json = Sample::Dictionary(vec![
            (
                "CommandUUID".into(),
                Sample::String("9D3E5F1A-6B2C-4D8E-A0F7-1C2B3A4D5E6F".into()),
            ),
            ("Command".into(), Sample::Dictionary(keys)),
        ]);
        files.push((format!("{request_type}{suffix}.json"), to_json(&json)));
        files.push((format!("{request_type}{suffix}.plist"), to_plist(&payload)));
    }
    if let Some(response) = command.response_id {
        let Sample::Dictionary(mut keys) =
            value(plan, &Ty::Named(response), Fill::Report, &mut Vec::new())
        else {
            return files;
        };
        keys.insert(
            0,
            (
                "CommandUUID".into(),
                Sample::String("9D3E5F1A-6B2C-4D8E-A0F7-1C2B3A4D5E6F".into()),
            ),
        );
        keys.push(("Status".into(), Sample::String("Acknowledged".into())));
        keys.push((
            "UDID".into(),
            Sample::String("00008030-001A2B3C4D5E6F70".into()),
        ));
        files.push((
            format!("{request_type}.response.plist"),
            to_plist(&Sample::Dictionary(keys)),
        ));
    }
    files
}

/// `mdm-commands`' `examples.rs`: for every command, the result keys of an acknowledged report
/// with every key the schema gives them filled in (`Fill::Full`; an empty dictionary for a
/// command without result keys), as an XML property list in a `&'static str`. Simulated devices
/// answer with them, so that every command has an answer of its own type.
pub fn examples_module(commands: &[Command<'_>], header: &str) -> String {
    let mut out = String::from(header);
    out.push_str(
        "//! Example results of every command's acknowledged report, made from the schema.\n\n\
         /// The result keys of an acknowledged report of `request_type`, as an XML property \
         list\n/// of a dictionary; `None` for a request type the schema does not have.\n\
         pub(crate) fn example_xml(request_type: &str) -> Option<&'static str> {\n\
         Some(match request_type {\n",
    );
    for command in commands {
        let keys = match command.response_id {
            Some(response) => value(
                &command.plan,
                &Ty::Named(response),
                Fill::Full,
                &mut Vec::new(),
            ),
            None => Sample::Dictionary(Vec::new()),
        };
        let mut xml = String::from("<plist version=\"1.0\">\n");
        plist(&keys, 0, &mut xml);
        xml.push_str("</plist>\n");
        // A raw string delimiter the contents do not hold.
        let mut hashes = String::from("#");
        while xml.contains(&format!("\"{hashes}")) {
            hashes.push('#');
        }
        let _ = writeln!(
            out,
            "{:?} => r{hashes}\"{xml}\"{hashes},",
            command.request_type
        );
    }
    out.push_str("_ => return None,\n})\n}\n");
    out
}

/// A sample of `ty`; `open` holds the structs being filled (a recursive type stops there).
pub fn value(plan: &Plan, ty: &Ty, fill: Fill, open: &mut Vec<usize>) -> Sample {
    match ty {
        Ty::String => Sample::String("Example".into()),
        Ty::Integer => Sample::Integer(7),
        Ty::Real => Sample::Real(1.5),
        Ty::Boolean => Sample::Boolean(true),
        Ty::Date => Sample::Date("2024-10-21T12:30:00Z".into()),
        Ty::Data => Sample::Data(b"Example data".to_vec()),
        Ty::Any | Ty::Dictionary => {
            Sample::Dictionary(vec![("Example".into(), Sample::String("Any value".into()))])
        }
        Ty::Array(item) => {
            let items = match (&**item, fill) {
                // Every value of a list, every kind of a union.
                (Ty::Named(id), Fill::Full | Fill::Report) => match &plan.types[*id] {
                    TypeDef::Enum(e) => e
                        .variants
                        .iter()
                        .map(|v| Sample::String(v.value.clone()))
                        .collect(),
                    TypeDef::Union(u) => (0..u.variants.len())
                        .map(|i| union_item(plan, *id, i, fill, open))
                        .collect(),
                    TypeDef::Struct(_) => vec![value(plan, item, fill, open)],
                },
                _ => vec![value(plan, item, fill, open)],
            };
            Sample::Array(items)
        }
        Ty::Map(item) => Sample::Dictionary(vec![(
            "com.example.name".into(),
            value(plan, item, fill, open),
        )]),
        Ty::Boxed(inner) => value(plan, inner, fill, open),
        Ty::Named(id) => match &plan.types[*id] {
            TypeDef::Enum(e) => Sample::String(
                e.variants
                    .first()
                    .map_or_else(|| "Example".to_owned(), |v| v.value.clone()),
            ),
            TypeDef::Union(_) => union_item(plan, *id, 0, fill, open),
            TypeDef::Struct(s) => {
                let recursive = open.contains(id);
                open.push(*id);
                let mut keys = Vec::new();
                for field in &s.fields {
                    let wanted = field.required || (fill != Fill::Minimal && !recursive);
                    if !wanted {
                        continue;
                    }
                    let sample = match (&field.ty, &field.allowed) {
                        (Ty::Integer, Some(allowed)) => {
                            Sample::Integer(allowed.first().copied().unwrap_or(0))
                        }
                        _ => value(plan, &field.ty, fill, open),
                    };
                    keys.push((field.key.clone(), sample));
                }
                if fill == Fill::Report {
                    keys.push((
                        UNKNOWN_KEY.into(),
                        Sample::String("a key this schema does not know".into()),
                    ));
                }
                open.pop();
                Sample::Dictionary(keys)
            }
        },
    }
}

fn union_item(
    plan: &Plan,
    union: usize,
    variant: usize,
    fill: Fill,
    open: &mut Vec<usize>,
) -> Sample {
    let TypeDef::Union(u) = &plan.types[union] else {
        return Sample::Dictionary(Vec::new());
    };
    let Some(v) = u.variants.get(variant) else {
        return Sample::Dictionary(Vec::new());
    };
    let mut keys = vec![(u.tag_key.clone(), Sample::String(v.tag.clone()))];
    if let Sample::Dictionary(fields) = value(plan, &Ty::Named(v.ty), fill, open) {
        keys.extend(fields);
    }
    Sample::Dictionary(keys)
}

/// JSON, indented by two spaces; data as base64, dates as RFC 3339 strings.
pub fn to_json(sample: &Sample) -> String {
    let mut out = String::new();
    json(sample, 0, &mut out);
    out.push('\n');
    out
}

fn json(sample: &Sample, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent + 1);
    let end = "  ".repeat(indent);
    match sample {
        Sample::String(s) | Sample::Date(s) => json_string(s, out),
        Sample::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Sample::Real(r) => {
            let _ = write!(out, "{r:?}");
        }
        Sample::Boolean(b) => {
            let _ = write!(out, "{b}");
        }
        Sample::Data(d) => json_string(&base64(d), out),
        Sample::Array(items) if items.is_empty() => out.push_str("[]"),
        Sample::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad);
                json(item, indent + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&end);
            out.push(']');
        }
        Sample::Dictionary(keys) if keys.is_empty() => out.push_str("{}"),
        Sample::Dictionary(keys) => {
            out.push_str("{\n");
            for (i, (key, value)) in keys.iter().enumerate() {
                out.push_str(&pad);
                json_string(key, out);
                out.push_str(": ");
                json(value, indent + 1, out);
                out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
            }
            out.push_str(&end);
            out.push('}');
        }
    }
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// An XML property list, indented with tabs as Apple writes them.
pub fn to_plist(sample: &Sample) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
         \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n",
    );
    plist(sample, 0, &mut out);
    out.push_str("</plist>\n");
    out
}

fn plist(sample: &Sample, indent: usize, out: &mut String) {
    let pad = "\t".repeat(indent);
    match sample {
        Sample::String(s) => {
            let _ = writeln!(out, "{pad}<string>{}</string>", xml_escape(s));
        }
        Sample::Integer(i) => {
            let _ = writeln!(out, "{pad}<integer>{i}</integer>");
        }
        Sample::Real(r) => {
            let _ = writeln!(out, "{pad}<real>{r:?}</real>");
        }
        Sample::Boolean(b) => {
            let _ = writeln!(out, "{pad}<{b}/>");
        }
        Sample::Date(d) => {
            let _ = writeln!(out, "{pad}<date>{d}</date>");
        }
        Sample::Data(d) => {
            let _ = writeln!(out, "{pad}<data>{}</data>", base64(d));
        }
        Sample::Array(items) if items.is_empty() => {
            let _ = writeln!(out, "{pad}<array/>");
        }
        Sample::Array(items) => {
            let _ = writeln!(out, "{pad}<array>");
            for item in items {
                plist(item, indent + 1, out);
            }
            let _ = writeln!(out, "{pad}</array>");
        }
        Sample::Dictionary(keys) if keys.is_empty() => {
            let _ = writeln!(out, "{pad}<dict/>");
        }
        Sample::Dictionary(keys) => {
            let _ = writeln!(out, "{pad}<dict>");
            for (key, value) in keys {
                let _ = writeln!(out, "{pad}\t<key>{}</key>", xml_escape(key));
                plist(value, indent + 1, out);
            }
            let _ = writeln!(out, "{pad}</dict>");
        }
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"Example data"), "RXhhbXBsZSBkYXRh");
    }

    #[test]
    fn json_and_plist_writers_escape() {
        let sample = Sample::Dictionary(vec![
            ("a\"<".into(), Sample::String("x&y".into())),
            (
                "n".into(),
                Sample::Array(vec![Sample::Integer(1), Sample::Real(2.0)]),
            ),
        ]);
        assert_eq!(
            to_json(&sample),
            "{\n  \"a\\\"<\": \"x&y\",\n  \"n\": [\n    1,\n    2.0\n  ]\n}\n"
        );
        let plist = to_plist(&sample);
        assert!(
            plist.contains("\t<key>a\"&lt;</key>\n\t<string>x&amp;y</string>"),
            "{plist}"
        );
        assert!(plist.contains("<real>2.0</real>"));
    }
}
