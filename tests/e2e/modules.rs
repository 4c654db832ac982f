//! `terrace init` with a git module (file:// repository made by the test):
//! refused before init, installed and locked by init, a second init quiet,
//! a module changed after init refused by plan-time loading.

use crate::support::Project;
use terrace_testkit::git;

#[test]
fn init_fetches_a_git_module_and_the_lock_file_guards_it() {
    let p = Project::new();
    let repo = p.path().join("repo");
    std::fs::create_dir_all(repo.join("net")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(
        repo.join("net/main.tf"),
        "variable \"n\" {}\noutput \"name\" { value = \"net-${var.n}\" }\n",
    )
    .unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "net"]);
    git(&repo, &["tag", "v1.0.0"]);
    let src = format!("git::file://{}//net?ref=v1.0.0", repo.display());
    p.write_env(
        "dev",
        &[(
            "main.tf",
            &format!("module \"net\" {{\n  source = \"{src}\"\n  n = \"a\"\n}}\noutput \"o\" {{ value = module.net.name }}\n"),
        )],
    );

    let before = p.run(&["validate", "-e", "dev"]);
    assert_eq!(before.code, 1, "{}", before.all());
    assert!(before.stderr.contains("terrace init"), "{}", before.all());

    let init = p.run(&["init", "-e", "dev"]);
    assert_eq!(init.code, 0, "{}", init.all());
    assert!(
        init.stderr.contains("Wrote .terrace.lock.hcl"),
        "{}",
        init.all()
    );
    let lock = std::fs::read_to_string(p.path().join(".terrace.lock.hcl")).unwrap();
    assert!(lock.contains("commit") && lock.contains("h1:"), "{lock}");

    let valid = p.run(&["validate", "-e", "dev"]);
    assert_eq!(valid.code, 0, "{}", valid.all());

    // Nothing to fetch: quiet.
    let again = p.run(&["init", "-e", "dev"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(again.stderr.trim(), "", "{}", again.all());

    // A module file edited in the cache after init is refused.
    let cache = p.path().join(".terrace/modules");
    let pkg = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    std::fs::write(
        pkg.join("net/main.tf"),
        "output \"name\" { value = \"x\" }\n",
    )
    .unwrap();
    let tampered = p.run(&["validate", "-e", "dev"]);
    assert_eq!(tampered.code, 1, "{}", tampered.all());
    assert!(
        tampered.stderr.contains("do not match the hash"),
        "{}",
        tampered.all()
    );
    // init installs the locked files again.
    assert_eq!(p.run(&["init", "-e", "dev"]).code, 0);
    assert_eq!(p.run(&["validate", "-e", "dev"]).code, 0);
}
