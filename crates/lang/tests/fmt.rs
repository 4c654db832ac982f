//! `terrace fmt`'s layout: a corpus of badly formatted files under
//! `tests/fixtures/fmt/` (`NAME.in.EXT`) formats to the expected files
//! (`NAME.out.EXT`, written by Terraform's documented style rules), expected
//! files are left as they are, and so is every shipped `.tf` file.

use std::path::{Path, PathBuf};
use terrace_lang::SourceFile;
use terrace_lang::fmt::{format_file, format_source};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fmt")
}

#[test]
fn corpus_formats_to_the_expected_files() {
    let mut checked = 0;
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let Some((stem, ext)) = name.split_once(".in.") else {
            continue;
        };
        let input = std::fs::read_to_string(&path).unwrap();
        let expected =
            std::fs::read_to_string(fixtures().join(format!("{stem}.out.{ext}"))).unwrap();
        assert_eq!(format_source(&input), expected, "{name}");
        assert_eq!(
            format_source(&expected),
            expected,
            "{stem}.out.{ext} is stable"
        );
        checked += 1;
    }
    assert!(checked >= 3, "the corpus is there ({checked} files)");
}

fn tf_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            tf_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "tf" || e == "tfvars") {
            out.push(p);
        }
    }
}

#[test]
fn shipped_configuration_is_already_formatted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    tf_files(&root.join("modules"), &mut files);
    tf_files(&root.join("environments"), &mut files);
    assert!(files.len() > 10, "found the shipped files");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert_eq!(
            format_source(&text),
            text,
            "{} is not formatted",
            f.display()
        );
    }
}

#[test]
fn a_file_that_does_not_parse_is_a_located_syntax_error() {
    let file = SourceFile::new(
        "bad.tf".into(),
        "bad.tf".into(),
        "resource \"a\" {\n  x = \n",
    );
    let diags = format_file(&file).unwrap_err();
    let d = &diags.0[0];
    assert_eq!(d.summary, "Syntax error");
    assert_eq!(d.range.as_ref().unwrap().filename, "bad.tf");
    assert!(d.detail.contains("fix the error"), "{}", d.detail);
}
