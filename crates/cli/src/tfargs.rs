//! Terraform's command-line habits: single-dash long flags (`-var-file=x`,
//! `-auto-approve`) and the `TF_CLI_ARGS` / `TF_CLI_ARGS_<command>`
//! variables. clap has no single-dash long flags, so the argument list is
//! normalised before clap sees it — driven by clap's own `Command`
//! definition (every long name clap knows at that point of the command
//! line), so no list of flags is kept by hand and new flags work at once.

use clap::{ArgAction, Command};

/// Terraform-style arguments from the environment, for one command path
/// (`["plan"]`, `["state", "list"]`).
/// Looks up `TF_CLI_ARGS_<command>` by command name.
pub type PerCommand = Box<dyn Fn(&str) -> Option<String>>;

pub struct EnvArgs {
    /// `TF_CLI_ARGS`: inserted after the command name, for every command.
    pub all: Option<String>,
    /// `TF_CLI_ARGS_<command>` (`TF_CLI_ARGS_plan`, `TF_CLI_ARGS_force_unlock`),
    /// looked up by the top-level command's name.
    pub per_command: PerCommand,
}

impl EnvArgs {
    /// Read from the process environment.
    pub fn from_process() -> Self {
        EnvArgs {
            all: crate::settings::env_var(crate::settings::vars::TF_CLI_ARGS),
            per_command: Box::new(|cmd| {
                crate::settings::env_var(&format!(
                    "{}{}",
                    crate::settings::vars::TF_CLI_ARGS_PREFIX,
                    cmd.replace('-', "_")
                ))
            }),
        }
    }
}

impl Default for EnvArgs {
    /// No arguments from the environment.
    fn default() -> Self {
        EnvArgs {
            all: None,
            per_command: Box::new(|_| None),
        }
    }
}

/// The argument list clap should parse: `TF_CLI_ARGS*` inserted after the
/// command (so the command line, coming later, wins), then every
/// `-long[=value]` that names a long flag of the command at that point
/// rewritten to `--long[=value]`.
pub fn prepare(cmd: &Command, argv: Vec<String>, env: &EnvArgs) -> Result<Vec<String>, String> {
    let mut cmd = cmd.clone();
    // Propagates global flags (`--chdir`, `--no-color`, …) into subcommands.
    cmd.build();
    let argv = insert_env_args(&cmd, argv, env)?;
    Ok(normalise(&cmd, argv))
}

fn insert_env_args(cmd: &Command, argv: Vec<String>, env: &EnvArgs) -> Result<Vec<String>, String> {
    let walk = walk(cmd, &argv);
    let Some(&top) = walk.subcommands.first() else {
        return Ok(argv);
    };
    let last = *walk.subcommands.last().unwrap_or(&top);
    let top_name = walk.top_name.clone().unwrap_or_default();
    let mut extra = Vec::new();
    if let Some(s) = &env.all {
        extra.extend(split(s, "TF_CLI_ARGS")?);
    }
    if let Some(s) = (env.per_command)(&top_name) {
        extra.extend(split(
            &s,
            &format!("TF_CLI_ARGS_{}", top_name.replace('-', "_")),
        )?);
    }
    if extra.is_empty() {
        return Ok(argv);
    }
    let mut out = argv;
    let at = last + 1;
    out.splice(at..at, extra);
    Ok(out)
}

fn split(s: &str, var: &str) -> Result<Vec<String>, String> {
    shlex::split(s).ok_or_else(|| {
        format!("{var} has unbalanced quotes: {s:?}; quote values as a shell would, e.g. -var 'name=a b'")
    })
}

struct Walk {
    /// Positions of the subcommand names in argv.
    subcommands: Vec<usize>,
    top_name: Option<String>,
}

/// Find the subcommand names, skipping flag values.
fn walk(root: &Command, argv: &[String]) -> Walk {
    let mut cur = root;
    let mut subcommands = Vec::new();
    let mut top_name = None;
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].as_str();
        if a == "--" {
            break;
        }
        if a.starts_with('-') && a.len() > 1 {
            if flag_needs_next(cur, a) {
                i += 1;
            }
        } else if let Some(sub) = cur.find_subcommand(a) {
            if top_name.is_none() {
                top_name = Some(sub.get_name().to_string());
            }
            subcommands.push(i);
            cur = sub;
        }
        i += 1;
    }
    Walk {
        subcommands,
        top_name,
    }
}

/// Whether the flag `a` (as written) takes its value from the next argument.
fn flag_needs_next(cmd: &Command, a: &str) -> bool {
    let (name, has_value) = match a.split_once('=') {
        Some((n, _)) => (n, true),
        None => (a, false),
    };
    if has_value {
        return false;
    }
    let arg = if let Some(long) = name.strip_prefix("--") {
        cmd.get_arguments().find(|x| x.get_long() == Some(long))
    } else {
        let body = &name[1..];
        match cmd.get_arguments().find(|x| x.get_long() == Some(body)) {
            Some(x) => Some(x),
            // A cluster of short flags: only a lone `-x` takes the next argument.
            None if body.chars().count() == 1 => {
                let c = body.chars().next().unwrap_or(' ');
                cmd.get_arguments().find(|x| x.get_short() == Some(c))
            }
            None => None,
        }
    };
    arg.is_some_and(|x| takes_value(x.get_action()))
}

fn takes_value(action: &ArgAction) -> bool {
    action.takes_values()
}

/// Rewrite `-long[=v]` to `--long[=v]` where `long` is a long flag of the
/// command at that point; everything else passes through untouched (short
/// flags and their clusters, values, positionals, everything after `--`).
fn normalise(root: &Command, argv: Vec<String>) -> Vec<String> {
    let mut cur = root;
    let mut out = Vec::with_capacity(argv.len());
    let mut it = argv.into_iter();
    if let Some(bin) = it.next() {
        out.push(bin);
    }
    let mut skip_value = false;
    let mut rest = false;
    for a in it {
        if rest || skip_value {
            skip_value = false;
            out.push(a);
            continue;
        }
        if a == "--" {
            rest = true;
            out.push(a);
            continue;
        }
        if let Some(body) = a.strip_prefix('-')
            && !body.starts_with('-')
            && body.chars().count() > 1
        {
            let name = body.split_once('=').map_or(body, |(n, _)| n);
            if cur.get_arguments().any(|x| x.get_long() == Some(name)) {
                let long = format!("--{body}");
                skip_value = flag_needs_next(cur, &long);
                out.push(long);
                continue;
            }
        }
        if a.starts_with('-') && a.len() > 1 {
            skip_value = flag_needs_next(cur, &a);
        } else if let Some(sub) = cur.find_subcommand(&a) {
            cur = sub;
        }
        out.push(a);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn prep(args: &[&str]) -> Vec<String> {
        prep_env(args, EnvArgs::default())
    }

    fn prep_env(args: &[&str], env: EnvArgs) -> Vec<String> {
        let argv = std::iter::once("terrace")
            .chain(args.iter().copied())
            .map(String::from)
            .collect();
        prepare(&crate::args::Cli::command(), argv, &env).unwrap()
    }

    fn parse(args: &[&str]) -> crate::args::Cli {
        use clap::Parser;
        crate::args::Cli::try_parse_from(prep(args)).unwrap()
    }

    #[test]
    fn every_terraform_plan_flag_in_single_dash_form() {
        let cli = parse(&[
            "-chdir=/tmp",
            "plan",
            "-e",
            "dev",
            "-var",
            "a=b",
            "-var=c=d",
            "-var-file=prod.tfvars",
            "-input=false",
            "-no-color",
            "-target=aws_vpc.main",
            "-replace=aws_instance.x[0]",
            "-refresh=false",
            "-lock=false",
            "-lock-timeout=30s",
            "-parallelism=3",
            "-out=tfplan",
            "-json",
            "-detailed-exitcode",
            "-compact-warnings",
        ]);
        assert_eq!(cli.chdir.as_deref(), Some(std::path::Path::new("/tmp")));
        assert!(cli.no_color);
        let crate::args::Command::Plan(p) = cli.command else {
            panic!("not plan: {:?}", cli.command)
        };
        assert_eq!(p.flags.vars.vars, vec!["a=b", "c=d"]);
        assert_eq!(
            p.flags.vars.var_files,
            vec![std::path::PathBuf::from("prod.tfvars")]
        );
        assert!(!p.flags.tf.input);
        assert!(!p.flags.tf.lock);
        assert!(p.flags.tf.compact_warnings);
        assert_eq!(p.flags.targets, vec!["aws_vpc.main"]);
        assert_eq!(p.flags.replace, vec!["aws_instance.x[0]"]);
        assert!(!p.flags.refresh);
        assert_eq!(p.lock_timeout, "30s");
        assert_eq!(p.parallelism, 3);
        assert_eq!(p.out.as_deref(), Some(std::path::Path::new("tfplan")));
        assert!(p.json && p.detailed_exitcode);
    }

    #[test]
    fn apply_and_destroy_single_dash() {
        let cli = parse(&[
            "apply",
            "-auto-approve",
            "-input=false",
            "-parallelism",
            "4",
            "tfplan",
        ]);
        let crate::args::Command::Apply(a) = cli.command else {
            panic!()
        };
        assert!(a.auto_approve && !a.flags.tf.input);
        assert_eq!(a.parallelism, 4);
        assert_eq!(a.plan_file.as_deref(), Some(std::path::Path::new("tfplan")));
        let cli = parse(&["destroy", "-e", "dev", "-auto-approve", "-lock=false"]);
        let crate::args::Command::Destroy(d) = cli.command else {
            panic!()
        };
        assert!(d.auto_approve && !d.tf.lock);
    }

    #[test]
    fn values_short_flags_and_positionals_are_untouched() {
        // A value that looks like a single-dash flag is still a value.
        assert_eq!(
            prep(&["plan", "-var", "-json", "-vv", "-e", "-out"]),
            ["terrace", "plan", "--var", "-json", "-vv", "-e", "-out"]
        );
        // After `--` nothing is rewritten.
        assert_eq!(
            prep(&["state", "rm", "-e", "dev", "--", "-json"]),
            ["terrace", "state", "rm", "-e", "dev", "--", "-json"]
        );
        // A name that is not a flag of this command is left for clap to reject.
        assert_eq!(
            prep(&["env", "list", "-auto-approve"]),
            ["terrace", "env", "list", "-auto-approve"]
        );
        // Flags of a nested command are known there.
        assert_eq!(
            prep(&["state", "push", "-e", "dev", "-force", "f.json"]),
            ["terrace", "state", "push", "-e", "dev", "--force", "f.json"]
        );
    }

    #[test]
    fn unknown_single_dash_flag_is_a_clap_error() {
        use clap::Parser;
        let err =
            crate::args::Cli::try_parse_from(prep(&["plan", "-e", "dev", "-bogus=1"])).unwrap_err();
        assert!(err.to_string().contains("-b"), "{err}");
    }

    #[test]
    fn tf_cli_args_go_after_the_command_and_the_command_line_wins() {
        let env = EnvArgs {
            all: Some("-no-color -parallelism=2".into()),
            per_command: Box::new(|c| (c == "apply").then(|| "-var 'name=a b'".to_string())),
        };
        assert_eq!(
            prep_env(&["-C", "x", "apply", "-e", "dev", "-parallelism=5"], env),
            [
                "terrace",
                "-C",
                "x",
                "apply",
                "--no-color",
                "--parallelism=2",
                "--var",
                "name=a b",
                "-e",
                "dev",
                "--parallelism=5"
            ]
        );
        use clap::Parser;
        let env = EnvArgs {
            all: Some("-parallelism=2".into()),
            per_command: Box::new(|_| None),
        };
        let cli = crate::args::Cli::try_parse_from(prep_env(
            &["apply", "-e", "dev", "-parallelism=5"],
            env,
        ))
        .unwrap();
        let crate::args::Command::Apply(a) = cli.command else {
            panic!()
        };
        assert_eq!(a.parallelism, 5);
    }

    #[test]
    fn tf_cli_args_for_nested_commands_and_bad_quotes() {
        let env = EnvArgs {
            all: None,
            per_command: Box::new(|c| (c == "state").then(|| "-e dev".to_string())),
        };
        assert_eq!(
            prep_env(&["state", "list"], env),
            ["terrace", "state", "list", "-e", "dev"]
        );
        let env = EnvArgs {
            all: Some("-var 'a=b".into()),
            per_command: Box::new(|_| None),
        };
        let argv = ["terrace", "plan"].map(String::from).to_vec();
        let err = prepare(&crate::args::Cli::command(), argv, &env).unwrap_err();
        assert!(err.contains("TF_CLI_ARGS has unbalanced quotes"), "{err}");
    }
}
