//! DDM status reports (the `Data` of a `status` check-in) from arbitrary bytes: never a panic,
//! bounded output, and what is read round-trips.
//!
//! Properties: every declaration status has a non-empty identifier; the declarations neither
//! active nor valid are exactly the declaration errors; errors sit at `.Errors` or under
//! `.StatusItems.management.declarations.`; values sit under `.StatusItems.device` or
//! `.StatusItems.management` but never under the declarations, and stay within the flattening
//! budget; the declaration statuses written back as a report read back the same.
//!
//! The entry point is the server's: `parse_status_report` with its default limits. Seeds:
//! `seeds/ddm_status_report` (a full macOS report, partial ones, one at the nesting limit, one
//! near the flattening budget).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdm_ddm::{
    DeclarationCategory, StatusReportLimits, parse_status_report, parse_status_report_with,
};
use serde_json::{Map, Value, json};

const DECLARATIONS: &str = ".StatusItems.management.declarations";

fuzz_target!(|data: &[u8]| {
    let Ok(report) = parse_status_report(data) else {
        return;
    };

    let mut errors_from_declarations = 0usize;
    for error in &report.errors {
        if error.path == ".Errors" {
            continue;
        }
        assert!(error.path.starts_with(DECLARATIONS), "{}", error.path);
        errors_from_declarations += 1;
    }
    assert_eq!(
        errors_from_declarations,
        report.declarations.iter().filter(|d| d.is_error()).count()
    );

    let mut flattened = 0usize;
    for value in &report.values {
        let p = value.path.as_str();
        assert!(
            p.starts_with(".StatusItems.device") || p.starts_with(".StatusItems.management"),
            "{p}"
        );
        assert!(p != DECLARATIONS && !p.starts_with(".StatusItems.management.declarations."));
        flattened += p.len() + value.value.as_text().len();
    }
    assert!(flattened <= StatusReportLimits::default().max_flattened_bytes);

    // The declaration statuses, written back as a report, read back the same.
    let mut lists: Map<String, Value> = Map::new();
    for status in &report.declarations {
        assert!(!status.identifier.is_empty());
        let mut entry = json!({
            "identifier": status.identifier,
            "active": status.active,
            "valid": status.valid,
            "server-token": status.server_token,
        });
        if let Some(reasons) = &status.reasons {
            entry["reasons"] = reasons.clone();
        }
        let list = lists
            .entry(status.category.status_key())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = list {
            items.push(entry);
        }
    }
    let written = serde_json::to_vec(&json!({
        "StatusItems": {"management": {"declarations": lists}}
    }))
    .expect("a JSON value serializes");
    let roomy = StatusReportLimits {
        max_bytes: usize::MAX,
        ..StatusReportLimits::default()
    };
    let back = parse_status_report_with(&written, &roomy).expect("a written report reads back");
    // Lists come back in category order; compare per category.
    for category in DeclarationCategory::ALL {
        let ours: Vec<_> = report
            .declarations
            .iter()
            .filter(|d| d.category == category)
            .collect();
        let theirs: Vec<_> = back
            .declarations
            .iter()
            .filter(|d| d.category == category)
            .collect();
        assert_eq!(ours, theirs);
    }
});
