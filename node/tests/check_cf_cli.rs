//! `siso-node check-cf` through the built binary: output format, exit codes.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_siso-node"))
}

#[test]
fn file_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("codes.txt");
    std::fs::write(&f, "RSSMRA80A01H501U\nRSSMRA80A01H501X\n").unwrap();
    let out = bin().arg("check-cf").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text,
        "RSSMRA80A01H501U\tOK\tRSSMRA80A01H501U\nRSSMRA80A01H501X\tERROR\twrong check character 'X', expected 'U'\n"
    );
    // The summary goes to stderr, never stdout.
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 valid, 1 invalid"));

    // Standard input (`-`).
    let input = dir.path().join("stdin.txt");
    std::fs::write(&input, "rssmra80a41a475h\n").unwrap();
    let out = bin()
        .args(["check-cf", "-"])
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "rssmra80a41a475h\tOK\tRSSMRA80A41A475H\n"
    );
}

#[test]
fn io_error_exits_2() {
    let out = bin()
        .args(["check-cf", "/nonexistent/codes.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A directory cannot be read as lines.
    let dir = tempfile::tempdir().unwrap();
    let out = bin().arg("check-cf").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("check-cf"));
    let out = bin().args(["check-cf", "--help"]).output().unwrap();
    assert!(out.status.success());
}
