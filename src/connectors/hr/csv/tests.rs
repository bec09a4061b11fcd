//! CSV reader tests: BOM, quoting, bad rows with line numbers, duplicates.

use super::*;
use crate::config::HrCsvSettings;
use crate::model::{attr, SourceKey, StatusKind};
use chrono::NaiveDate;

fn settings() -> HrCsvSettings {
    HrCsvSettings::new("hr", "hr.csv".into())
}

const HEADER: &str = "employee_id,email,first_name,last_name,title,department,manager_email,status,start_date,termination_date\n";

#[test]
fn reads_quoted_fields_and_bom() {
    let text = format!(
        "\u{feff}{HEADER}E1,ada@example.com,Ada,Lovelace,\"Engineer, Senior\",R&D,,active,2020-01-01,\n\
         E2,Bob@Example.com,Bob,\"O\"\"Brien\",,,ada@example.com,Leave,,\n"
    );
    let read = read_csv(&settings(), text.as_bytes(), "hr.csv").unwrap();
    assert!(read.issues.is_empty(), "{:?}", read.issues);
    assert_eq!(read.records.len(), 2);
    let ada = &read.records[0];
    assert_eq!(ada.key, SourceKey::new("hr", "E1"));
    assert_eq!(ada.location, "hr.csv line 2");
    assert_eq!(ada.attrs[attr::TITLE], "Engineer, Senior");
    let emp = ada.employment.as_ref().unwrap();
    assert_eq!(emp.start, NaiveDate::from_ymd_opt(2020, 1, 1));
    let bob = &read.records[1];
    assert_eq!(bob.attrs[attr::FAMILY_NAME], "O\"Brien");
    assert_eq!(bob.employment.as_ref().unwrap().kind, StatusKind::Active);
    assert!(!bob.attrs.contains_key(attr::TITLE));
}

#[test]
fn bad_rows_are_reported_with_lines_and_hints() {
    let text = format!(
        "{HEADER}E1,ada@example.com,Ada,L,,,,active,,\n\
         ,nobody@example.com,No,Id,,,,active,,\n\
         E3,not-an-email,C,D,,,,active,,\n\
         E4,dee@example.com,D,E,,,,retired,,\n\
         E5,eve@example.com,E,F,,,,active,01/02/2020,\n\
         E6,fay@example.com,F,G,,,,active\n\
         E7,gus@example.com,G,H,,,,,,\n"
    );
    let read = read_csv(&settings(), text.as_bytes(), "hr.csv").unwrap();
    assert_eq!(read.records.len(), 1);
    let lines: Vec<&str> = read.issues.iter().map(|i| i.location.as_str()).collect();
    assert_eq!(
        lines,
        [
            "hr.csv line 3",
            "hr.csv line 4",
            "hr.csv line 5",
            "hr.csv line 6",
            "hr.csv line 7",
            "hr.csv line 8"
        ]
    );
    assert_eq!(read.issues[0].hints, vec!["nobody@example.com".to_owned()]);
    assert!(read.issues[2].message.contains("unknown status `retired`"));
    assert!(read.issues[3].message.contains("not a date"));
    assert!(read.issues[4].message.contains("fields"));
    assert!(read.issues[5].message.contains("status"));
}

#[test]
fn duplicate_ids_and_emails_drop_every_copy() {
    let text = format!(
        "{HEADER}E1,ada@example.com,Ada,L,,,,active,,\n\
         E1,ada2@example.com,Ada,L,,,,active,,\n\
         E2,bob@example.com,Bob,B,,,,active,,\n\
         E3,BOB@example.com,Bob,C,,,,active,,\n\
         E4,cy@example.com,Cy,C,,,,active,,\n"
    );
    let read = read_csv(&settings(), text.as_bytes(), "hr.csv").unwrap();
    assert_eq!(read.records.len(), 1);
    assert_eq!(read.records[0].key.id, "E4");
    assert_eq!(read.issues.len(), 4);
    assert!(
        read.issues[0]
            .message
            .contains("hr.csv line 2, hr.csv line 3"),
        "{}",
        read.issues[0].message
    );
}

#[test]
fn missing_required_column_is_an_error() {
    let err = read_csv(&settings(), b"id,email\n1,a@b.c\n", "hr.csv").unwrap_err();
    assert!(err.to_string().contains("employee_id"), "{err}");
}

#[test]
fn custom_columns_and_status_map() {
    let mut s = settings();
    s.columns.employee_id = "Employee #".into();
    s.columns.email = "Work Email".into();
    s.status_map.insert("alumni".into(), StatusKind::Inactive);
    let read = read_csv(
        &s,
        b"Employee #;Work Email;status\n7;g@x.io;Alumni\n",
        "x.csv",
    );
    assert!(
        read.is_err(),
        "semicolons without delimiter setting must not parse as one column"
    );
    s.delimiter = b';';
    let read = read_csv(
        &s,
        b"Employee #;Work Email;status\n7;g@x.io;Alumni\n",
        "x.csv",
    )
    .unwrap();
    assert_eq!(
        read.records[0].employment.as_ref().unwrap().kind,
        StatusKind::Inactive
    );
}
