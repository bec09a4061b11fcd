//! CSV reader tests: BOM, quoting, bad rows with line numbers, duplicates.

use super::*;
use crate::config::HrCsvSettings;
use crate::model::{attr, SourceKey, StatusKind};
use chrono::NaiveDate;
use std::collections::BTreeSet;

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
    assert_eq!(&ada.attrs[attr::TITLE], "Engineer, Senior");
    let emp = ada.employment.as_ref().unwrap();
    assert_eq!(emp.start, NaiveDate::from_ymd_opt(2020, 1, 1));
    let bob = &read.records[1];
    assert_eq!(&bob.attrs[attr::FAMILY_NAME], "O\"Brien");
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
fn many_duplicates_each_report_their_own_row() {
    // Every fifth row repeats an earlier id, every seventh an earlier email in capitals; a row
    // can be both. Each skipped row's issue names it among the copies and carries its values.
    let mut text = HEADER.to_owned();
    for i in 0..300 {
        let id = if i % 5 == 4 { i - 3 } else { i };
        let email = if i % 7 == 6 {
            format!("P{}@EXAMPLE.COM", i - 5)
        } else {
            format!("p{i}@example.com")
        };
        text.push_str(&format!("E{id},{email},A,B,,,,active,,\n"));
    }
    let read = read_csv(&settings(), text.as_bytes(), "hr.csv").unwrap();
    assert_eq!(read.records.len() + read.issues.len(), 300);
    assert!(read.issues.len() > 100, "{}", read.issues.len());
    let mut last = 0;
    for issue in &read.issues {
        let line: usize = issue.location.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(line > last, "issues in line order: {}", issue.location);
        last = line;
        assert!(
            issue.message.contains(&format!("{},", issue.location))
                || issue.message.contains(&format!("{})", issue.location)),
            "{} is not among its own copies: {}",
            issue.location,
            issue.message
        );
        let id = &issue.hints[0];
        assert!(
            issue.message.contains(&format!("`{id}`"))
                || issue
                    .message
                    .contains(&format!("`{}`", issue.hints[1].to_lowercase())),
            "{}: {:?} / {}",
            issue.location,
            issue.hints,
            issue.message
        );
    }
    let kept: BTreeSet<&str> = read.records.iter().map(|r| r.key.id.as_str()).collect();
    assert_eq!(kept.len(), read.records.len());
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

fn thousand_rows_with_a_stray_quote_in(row: usize) -> String {
    let mut text = HEADER.to_owned();
    for i in 1..=1000 {
        let first = if i == row {
            format!("\"P{i}")
        } else {
            format!("P{i}")
        };
        text.push_str(&format!(
            "E{i},p{i}@example.com,{first},Test,Eng,R&D,,active,2020-01-01,\n"
        ));
    }
    text
}

#[test]
fn a_stray_quote_makes_one_unidentified_row_naming_every_line_it_swallowed() {
    let text = thousand_rows_with_a_stray_quote_in(951);
    let read = read_csv(&settings(), text.as_bytes(), "hr.csv").unwrap();
    assert_eq!(read.records.len(), 950);
    assert_eq!(read.issues.len(), 1, "{:?}", read.issues);
    let issue = &read.issues[0];
    // Data row 951 is physical line 952 (after the header); the file ends on line 1001.
    assert_eq!(issue.location, "hr.csv lines 952-1001");
    assert!(
        issue.hints.is_empty(),
        "it may hold anyone: {:?}",
        issue.hints
    );
    assert!(issue.skipped_person);
    assert!(
        issue.message.contains("lines 952-1001 (50 lines)"),
        "{}",
        issue.message
    );
}

#[test]
fn a_stray_quote_closed_further_down_is_caught_by_the_field_rules() {
    // The quote opens in `first_name` of one row and a later row's quote closes it in the same
    // column: the field count matches, but the field holds line breaks and whole rows.
    let text = format!(
        "{HEADER}E1,a@example.com,\"Ann,Lee,,,,active,,\n\
         E2,b@example.com,Bob,Lee,,,,active,,\n\
         E3,c@example.com,Cy\",Lee,,,,active,,\n\
         E4,d@example.com,Dee,Lee,,,,active,,\n"
    );
    let read = read_csv(&settings(), text.as_bytes(), "hr.csv").unwrap();
    let ids: Vec<&str> = read.records.iter().map(|r| r.key.id.as_str()).collect();
    assert_eq!(ids, ["E4"]);
    assert_eq!(read.issues.len(), 1, "{:?}", read.issues);
    assert_eq!(read.issues[0].location, "hr.csv lines 2-4");
    assert!(read.issues[0].hints.is_empty());
}

fn with_notes(rows: &str) -> String {
    format!("employee_id,email,first_name,notes,status\n{rows}")
}

#[test]
fn a_legal_multi_line_field_is_read_and_located_by_its_lines() {
    let text = with_notes(
        "E1,a@example.com,Ann,\"12 Main St\nFlat 3\nSpringfield\",active\n\
         E2,b@example.com,Bob,,active\n",
    );
    let read = read_csv(&settings(), text.as_bytes(), "hr.csv").unwrap();
    assert!(read.issues.is_empty(), "{:?}", read.issues);
    let locations: Vec<&str> = read.records.iter().map(|r| r.location.as_str()).collect();
    assert_eq!(locations, ["hr.csv lines 2-4", "hr.csv line 5"]);
}

#[test]
fn fields_over_the_limits_make_their_row_unidentified() {
    let mut s = settings();
    s.max_field_lines = 2;
    s.max_field_bytes = 40;
    let text = with_notes(
        "E1,a@example.com,Ann,\"one\ntwo\nthree\",active\n\
         E2,b@example.com,Bob,\"one\ntwo\",active\n\
         E3,c@example.com,Cy,\"a note longer than forty bytes, by some way\",active\n\
         E4,d@example.com,\"Dee\nDee\",,active\n",
    );
    let read = read_csv(&s, text.as_bytes(), "hr.csv").unwrap();
    let ids: Vec<&str> = read.records.iter().map(|r| r.key.id.as_str()).collect();
    assert_eq!(ids, ["E2"]);
    let found: Vec<(&str, bool)> = read
        .issues
        .iter()
        .map(|i| (i.location.as_str(), i.hints.is_empty()))
        .collect();
    assert_eq!(
        found,
        [
            ("hr.csv lines 2-4", true),
            ("hr.csv line 7", true),
            ("hr.csv lines 8-9", true)
        ]
    );
    assert!(read.issues[0].message.contains("max_field_lines = 2"));
    assert!(read.issues[1].message.contains("max_field_bytes = 40"));
    assert!(read.issues[2].message.contains("line break"));
}

#[test]
fn a_row_with_the_wrong_field_count_names_nobody() {
    let text = format!("{HEADER}E1,ada@example.com,Ada,L,,,,active,,,extra\n");
    let read = read_csv(&settings(), text.as_bytes(), "hr.csv").unwrap();
    assert_eq!(read.issues.len(), 1);
    assert!(read.issues[0].hints.is_empty());
    assert!(read.issues[0]
        .message
        .contains("11 fields but the header has 10"));
}

#[test]
fn two_columns_for_one_role_are_refused() {
    for header in [
        "employee_id,email,first_name,email",
        "employee_id,Email,first_name,  email ",
        "employee_id,email,EMPLOYEE_ID",
    ] {
        let text = format!("{header}\n1,a@example.com,A,b@example.com\n");
        let err = read_csv(&settings(), text.as_bytes(), "hr.csv")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("hr.csv")
                && err.contains("several columns")
                && (err.contains("column 4") || err.contains("column 3")),
            "{header}: {err}"
        );
    }
    // One column whose name differs only in case and spacing is the column.
    let read = read_csv(
        &settings(),
        b"Employee_ID , EMAIL\n1,a@example.com\n",
        "hr.csv",
    )
    .unwrap();
    assert_eq!(read.records.len(), 1);
}

#[test]
fn bad_addresses_are_skipped_with_their_id_as_a_hint() {
    let rows = [
        "E1,ada\0@example.com,A,L,,,,active,,",
        "E2,b\u{200B}ob@example.com,B,L,,,,active,,",
        "E3,ｃy@example.com,C,L,,,,active,,",
        "E4,Dee <dee@example.com>,D,L,,,,active,,",
        "E5,<eve@example.com>,E,L,,,,active,,",
        "E6,fay@exa\u{00AD}mple.com,F,L,,,,active,,",
    ];
    let long = format!("E7,{}@example.com,G,L,,,,active,,", "g".repeat(65));
    let text = format!(
        "{HEADER}{}\n{long}\nE8,hal@example.com,H,L,,,,active,,\n",
        rows.join("\n")
    );
    let read = read_csv(&settings(), text.as_bytes(), "hr.csv").unwrap();
    let ids: Vec<&str> = read.records.iter().map(|r| r.key.id.as_str()).collect();
    assert_eq!(ids, ["E8"]);
    assert_eq!(read.issues.len(), 7, "{:?}", read.issues);
    for (n, issue) in read.issues.iter().enumerate() {
        assert_eq!(issue.hints[0], format!("E{}", n + 1), "{issue:?}");
        assert!(
            issue.message.contains("not a usable address"),
            "{}",
            issue.message
        );
        assert!(!issue.message.contains('\0') && !issue.message.contains('\u{200B}'));
    }
}

#[test]
fn internationalised_domains_are_kept_as_punycode_and_managers_are_checked() {
    let text = format!(
        "{HEADER}E1,anna@bücher.de,A,L,,,,active,,\n\
         E2,bob@example.com,B,L,,,boss\u{200D}@example.com,active,,\n"
    );
    let read = read_csv(&settings(), text.as_bytes(), "hr.csv").unwrap();
    assert_eq!(read.records.len(), 1);
    assert_eq!(&read.records[0].attrs[attr::EMAIL], "anna@xn--bcher-kva.de");
    assert_eq!(read.issues.len(), 1);
    assert!(read.issues[0].message.contains("manager_email"));
    assert_eq!(read.issues[0].hints[0], "E2");
}

#[test]
fn line_numbers_hold_with_crlf_line_ends() {
    let text = thousand_rows_with_a_stray_quote_in(998).replace('\n', "\r\n");
    let read = read_csv(&settings(), text.as_bytes(), "hr.csv").unwrap();
    assert_eq!(read.records.len(), 997);
    assert_eq!(read.issues.len(), 1, "{:?}", read.issues);
    assert_eq!(read.issues[0].location, "hr.csv lines 999-1001");
    assert_eq!(read.records[996].location, "hr.csv line 998");
}

#[test]
fn line_numbers_count_the_blank_lines_skipped() {
    let text = format!(
        "{HEADER}E1,a@example.com,A,L,,,,active,,\n\n\nE2,b@example.com,B,L,,,,retired,,\r\n\r\nE3,c@example.com,C,L,,,,active,,"
    );
    let read = read_csv(&settings(), text.as_bytes(), "hr.csv").unwrap();
    let at: Vec<&str> = read.records.iter().map(|r| r.location.as_str()).collect();
    assert_eq!(at, ["hr.csv line 2", "hr.csv line 7"]);
    assert_eq!(read.issues[0].location, "hr.csv line 5");
}

/// An Excel export: a UTF-8 BOM and CRLF line ends. Each row's location is its physical line,
/// as in an LF file without a BOM.
#[test]
fn an_excel_export_with_bom_and_crlf_is_numbered_by_physical_lines() {
    let text = format!(
        "\u{feff}{HEADER}E1,a@example.com,A,L,,,,active,,\n\
         \n\
         E2,b@example.com,B,L,,,,retired,,\n\
         E3,c@example.com,C,L,\"Lead\nEngineer\",,,active,,\n\
         E4,d@example.com,D,L,,,,active,,\n\
         E5,e@example.com,E,L,,,,active,2020-13-01,\n"
    )
    .replace('\n', "\r\n");
    let read = read_csv(&settings(), text.as_bytes(), "hr.csv").unwrap();
    let at: Vec<(&str, &str)> = read
        .records
        .iter()
        .map(|r| (r.key.id.as_str(), r.location.as_str()))
        .collect();
    assert_eq!(at, [("E1", "hr.csv line 2"), ("E4", "hr.csv line 7")]);
    let bad: Vec<&str> = read.issues.iter().map(|i| i.location.as_str()).collect();
    assert_eq!(bad, ["hr.csv line 4", "hr.csv lines 5-6", "hr.csv line 8"]);
    assert_eq!(
        &read.records[0].attrs[attr::EMPLOYEE_ID],
        "E1",
        "the BOM is not part of the header"
    );
}

/// A 10 MB field is over any row a file of this header may hold: the row is unidentified without
/// being kept in memory, and the rows after it are read and numbered as usual.
#[test]
fn a_huge_field_makes_its_row_unidentified_and_the_rest_is_read() {
    let huge = "x".repeat(10 * 1024 * 1024);
    let text = format!(
        "{HEADER}E1,a@example.com,A,L,,,,active,,\n\
         E2,b@example.com,B,L,\"{huge}\",,,active,,\n\
         E3,c@example.com,C,L,,,,active,,\n"
    );
    let read = read_csv(&settings(), text.as_bytes(), "hr.csv").unwrap();
    let ids: Vec<&str> = read.records.iter().map(|r| r.key.id.as_str()).collect();
    assert_eq!(ids, ["E1", "E3"]);
    assert_eq!(read.records[1].location, "hr.csv line 4");
    assert_eq!(read.issues.len(), 1, "{:?}", read.issues);
    let issue = &read.issues[0];
    assert_eq!(issue.location, "hr.csv line 3");
    assert!(issue.hints.is_empty());
    // The field data alone: the huge title and the row's other cells, without quotes or commas.
    let held = huge.len() + "E2b@example.comBLactive".len();
    let limit = 10 * settings().max_field_bytes;
    assert!(
        issue.message.contains(&format!(
            "{held} bytes, over the {limit} a row of 10 fields may hold"
        )),
        "{}",
        &issue.message[..200.min(issue.message.len())]
    );
}

#[test]
fn a_file_over_max_file_bytes_is_refused_whole() {
    let mut s = settings();
    let text = format!("{HEADER}E1,a@example.com,A,L,,,,active,,\n");
    s.max_file_bytes = text.len() as u64;
    assert!(read_csv(&s, text.as_bytes(), "hr.csv").is_ok());
    s.max_file_bytes -= 1;
    let err = read_csv(&s, text.as_bytes(), "hr.csv").unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    let err = err.to_string();
    assert!(
        err.contains("hr.csv") && err.contains(&format!("max_file_bytes = {}", s.max_file_bytes)),
        "{err}"
    );
}

#[test]
fn a_header_over_its_limits_is_refused() {
    let header = vec!["c"; 2000].join(",");
    let err = read_csv(&settings(), format!("{header}\n").as_bytes(), "hr.csv").unwrap_err();
    assert!(
        err.to_string().contains("2000 columns") && err.to_string().contains("hr.csv"),
        "{err}"
    );
}

/// Only a regular file is an export: a device never ends and a pipe blocks until someone writes.
#[cfg(unix)]
#[test]
fn a_path_that_is_not_a_regular_file_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("hr.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // Someone writes the pipe endlessly: a reader that opened it would read on until its limit.
    let writer = fifo.clone();
    std::thread::spawn(move || {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(writer) {
            while f.write_all(&[b'x'; 4096]).is_ok() {}
        }
    });
    for (path, kind) in [
        (fifo.clone(), "a named pipe"),
        ("/dev/zero".into(), "a device"),
        (dir.path().to_path_buf(), "a directory"),
    ] {
        let s = HrCsvSettings::new("hr", path.clone());
        let err = read_csv_file(&s).unwrap_err();
        assert!(matches!(err, Error::NotAFile { .. }), "{path:?}: {err}");
        let text = err.to_string();
        assert!(
            text.contains(&path.display().to_string()) && text.contains(kind),
            "{text}"
        );
    }
}
