// Included (`include!`) by the main.rs of each test binary under tests/: a test file that is
// not declared as a module is never compiled, so its tests would silently not run.

/// Checks that the `.rs` files of `tests/<dir>/` are exactly `modules` (plus `main`, listed
/// too) and that main.rs declares each of them, in that order.
fn check_modules(dir: &str, modules: &[&str]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(dir);
    let mut files: Vec<String> = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_owned())
        .collect();
    files.sort();
    assert_eq!(
        files, modules,
        "every .rs file in tests/{dir}/ must be declared as a module in main.rs and listed in MODULES"
    );
    let main = std::fs::read_to_string(path.join("main.rs")).unwrap();
    let declared: Vec<&str> = main
        .lines()
        .filter_map(|l| l.strip_prefix("mod ")?.strip_suffix(';'))
        .collect();
    let expected: Vec<&str> = modules.iter().copied().filter(|m| *m != "main").collect();
    assert_eq!(
        declared, expected,
        "MODULES must list the `mod` lines of main.rs"
    );
}
