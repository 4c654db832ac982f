//! Command-line flags (clap). Raw flags only; `settings` turns them into
//! validated settings. Domain crates never see these types.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "terrace",
    version,
    // As in Terraform, a flag given again (say by TF_CLI_ARGS and on the
    // command line) takes its last value.
    args_override_self = true,
    about = "Provision CI runners, registries and Kubernetes clusters from HCL — plan, apply, detect drift."
)]
pub struct Cli {
    /// Run as if started in DIR (the project is found by walking up from there).
    #[arg(short = 'C', long = "chdir", global = true, value_name = "DIR")]
    pub chdir: Option<PathBuf>,
    /// More logging on stderr: -v what terrace does (refresh batches, locks, state writes), -vv each AWS call too, -vvv library internals. RUST_LOG overrides.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Log format on stderr.
    #[arg(long = "log-format", value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,
    /// Never use colour (NO_COLOR is honoured too).
    #[arg(long = "no-color", global = true)]
    pub no_color: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check configuration without credentials or network access.
    Validate(ValidateArgs),
    /// Print the dependency graph (DOT or JSON).
    Graph(GraphArgs),
    /// Approve a saved plan file of a protected environment (bound to the file's SHA-256).
    Approve(ApproveArgs),
    /// Show what apply would change.
    Plan(PlanArgs),
    /// Create, update and delete resources to match the configuration.
    Apply(ApplyArgs),
    /// Delete every resource of an environment.
    Destroy(DestroyArgs),
    /// Show a saved plan file.
    Show(ShowArgs),
    /// Print root outputs for later pipeline stages.
    Output(OutputArgs),
    /// Detect drift: changed, missing and unmanaged resources.
    Drift(DriftArgs),
    /// Inspect and repair state.
    #[command(subcommand)]
    State(StateCommand),
    /// Remove a lock left by a dead process.
    ForceUnlock(ForceUnlockArgs),
    /// Fetch remote modules (git, registry, URL, S3) and write the lock file.
    Init(InitArgs),
    /// Environments: list, and ephemeral ones with a time-to-live.
    #[command(subcommand)]
    Env(EnvCommand),
    /// The apply ledger: who changed what, when, and how it ended.
    Log(crate::commands::LogArgs),
    /// Rewrite .tf, .tofu and .tfvars files in Terraform's canonical layout.
    Fmt(FmtArgs),
    /// Policies: check a plan against the project's policy blocks.
    #[command(subcommand)]
    Policy(crate::commands::PolicyCommand),
    /// Return the infrastructure to an earlier apply's configuration (from the ledger).
    Rollback(crate::commands::RollbackArgs),
    /// Delivery metrics from the ledger: deployment frequency, change failure rate, time to restore, drift.
    Report(crate::commands::ReportArgs),
    /// Bring an existing object under management: ADDR (in the configuration) takes object ID.
    Import(ImportArgs),
    /// Evaluate expressions against the configuration and state (one a line on stdin).
    Console(ConsoleArgs),
    /// Print terrace's version, the Terraform language version it implements, and the platform.
    Version(VersionArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// The resource instance address, as in the configuration: aws_vpc.main, aws_subnet.a[0], module.net.aws_vpc.this["x"].
    pub address: String,
    /// The object's ID at the provider (as Terraform's provider documents it for import).
    pub id: String,
    /// Wait this long for the environment's lock (e.g. 30s, 5m).
    #[arg(long = "lock-timeout", value_name = "DURATION", default_value = "0s")]
    pub lock_timeout: String,
    #[command(flatten)]
    pub vars: VarArgs,
    #[command(flatten)]
    pub tf: TfFlags,
}

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    #[command(flatten)]
    pub env: EnvArg,
    #[command(flatten)]
    pub vars: VarArgs,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// The version as JSON (Terraform's `version -json` fields plus terrace_version).
    #[arg(long = "json")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Files or folders to format (default: the current folder); `-` reads stdin and writes stdout.
    pub paths: Vec<PathBuf>,
    /// Change nothing; exit 3 when a file is not formatted (and list it).
    #[arg(long = "check")]
    pub check: bool,
    /// Print the changes as unified diffs.
    #[arg(long = "diff")]
    pub diff: bool,
    /// Also format files in sub-folders.
    #[arg(long = "recursive")]
    pub recursive: bool,
    /// Write the formatted files (default true; `-write=false` only lists or diffs).
    #[arg(long = "write", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub write: bool,
    /// List the files whose formatting differs (default true).
    #[arg(long = "list", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub list: bool,
}

#[derive(Debug, Args, Clone)]
pub struct EnvArg {
    /// The environment (a folder under environments/, or an ephemeral environment).
    #[arg(short = 'e', long = "env", value_name = "ENV")]
    pub env: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct VarArgs {
    /// Set a root variable (repeatable): --var region=eu-west-1
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Read root variables from a .tfvars file (repeatable).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

/// Terraform's automation flags, accepted by plan, apply and destroy.
#[derive(Debug, Args, Clone)]
pub struct TfFlags {
    /// Ask nothing on the terminal (`-input=false`): a confirmation that
    /// would be needed is an error instead; pass --auto-approve.
    #[arg(long = "input", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub input: bool,
    /// Accepted for Terraform scripts; terrace always takes the environment's
    /// leased lock when it writes state, so `-lock=false` only prints a warning.
    #[arg(long = "lock", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub lock: bool,
    /// Print warnings as one summary line each.
    #[arg(long = "compact-warnings")]
    pub compact_warnings: bool,
}

#[derive(Debug, Args, Clone)]
pub struct PlanFlags {
    /// Read every resource from the cloud first (default true).
    #[arg(long = "refresh", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,
    /// Only this resource (and what it depends on); repeatable.
    #[arg(long = "target", value_name = "ADDR")]
    pub targets: Vec<String>,
    /// Force replacement of this resource; repeatable.
    #[arg(long = "replace", value_name = "ADDR")]
    pub replace: Vec<String>,
    /// Plan to destroy everything.
    #[arg(long = "destroy")]
    pub destroy: bool,
    /// Only accept changes made outside terrace into state.
    #[arg(long = "refresh-only")]
    pub refresh_only: bool,
    /// Print API calls per operation at the end.
    #[arg(long = "stats")]
    pub stats: bool,
    #[command(flatten)]
    pub vars: VarArgs,
    #[command(flatten)]
    pub tf: TfFlags,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// Validate every environment and module.
    #[arg(long = "all")]
    pub all: bool,
    /// Diagnostics as JSON on stdout.
    #[arg(long = "json")]
    pub json: bool,
    #[command(flatten)]
    pub vars: VarArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum GraphFormat {
    Dot,
    Json,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// Output format: DOT (for Graphviz) or JSON.
    #[arg(long = "format", value_enum, default_value = "dot")]
    pub format: GraphFormat,
    #[command(flatten)]
    pub vars: VarArgs,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub env: EnvArg,
    #[command(flatten)]
    pub flags: PlanFlags,
    /// Save the plan for `terrace apply FILE`.
    #[arg(long = "out", short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the plan as Terraform plan JSON on stdout.
    #[arg(long = "json")]
    pub json: bool,
    /// Exit 0 with no changes, 2 with changes, 1 on error.
    #[arg(long = "detailed-exitcode")]
    pub detailed_exitcode: bool,
    /// Wait this long for a lock (accepted for symmetry; plan takes no lock).
    #[arg(long = "lock-timeout", value_name = "DURATION", default_value = "0s")]
    pub lock_timeout: String,
    /// Accepted for Terraform scripts; plan reads are batched per resource type.
    #[arg(long = "parallelism", default_value_t = 10)]
    pub parallelism: usize,
    /// Write resource blocks for `import` blocks that have none to FILE (a new file; relative to the environment's folder), then plan with them.
    #[arg(long = "generate-config-out", value_name = "FILE")]
    pub generate_config_out: Option<PathBuf>,
    /// Plan past max_deletes / max_replacements of the environment (recorded in the plan file and the ledger).
    #[arg(long = "allow-destructive")]
    pub allow_destructive: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// A plan saved with `plan -out FILE`, applied exactly.
    pub plan_file: Option<PathBuf>,
    #[command(flatten)]
    pub flags: PlanFlags,
    #[command(flatten)]
    pub guard: GuardFlags,
    /// Do not ask for confirmation.
    #[arg(long = "auto-approve")]
    pub auto_approve: bool,
    /// How many operations run at once.
    #[arg(long = "parallelism", default_value_t = 10)]
    pub parallelism: usize,
    /// Wait this long for the environment's lock (e.g. 30s, 5m).
    #[arg(long = "lock-timeout", value_name = "DURATION", default_value = "0s")]
    pub lock_timeout: String,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// Do not ask for confirmation.
    #[arg(long = "auto-approve")]
    pub auto_approve: bool,
    /// Only destroy this resource (and what depends on it); repeatable.
    #[arg(long = "target", value_name = "ADDR")]
    pub targets: Vec<String>,
    /// How many operations run at once.
    #[arg(long = "parallelism", default_value_t = 10)]
    pub parallelism: usize,
    /// Wait this long for the environment's lock (e.g. 30s, 5m).
    #[arg(long = "lock-timeout", value_name = "DURATION", default_value = "0s")]
    pub lock_timeout: String,
    /// Read every resource from the cloud first (default true).
    #[arg(long = "refresh", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,
    /// Print API calls per operation at the end.
    #[arg(long = "stats")]
    pub stats: bool,
    #[command(flatten)]
    pub vars: VarArgs,
    #[command(flatten)]
    pub tf: TfFlags,
    #[command(flatten)]
    pub guard: GuardFlags,
}

/// Overrides of the guardrails of terrace.hcl's `environment` blocks.
#[derive(Debug, Args, Clone, Default)]
pub struct GuardFlags {
    /// Go past max_deletes / max_replacements (recorded in the ledger).
    #[arg(long = "allow-destructive")]
    pub allow_destructive: bool,
    /// Apply inside a freeze window, or without the promotion evidence, giving the reason (recorded in the ledger and notified to every notify target).
    #[arg(long = "break-glass", value_name = "REASON")]
    pub break_glass: Option<String>,
}

/// `terrace approve PLANFILE`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The saved plan file (`plan -out FILE`) to approve; the approval covers exactly these bytes.
    pub plan_file: PathBuf,
    /// Why, or what was checked (kept with the approval).
    #[arg(long = "comment", value_name = "TEXT")]
    pub comment: Option<String>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// A plan file to show; without one, the current state of the environment (-e ENV).
    pub plan_file: Option<PathBuf>,
    /// Terraform's JSON: the plan representation for a plan file, the state representation otherwise (also `-json`).
    #[arg(long = "json")]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
    Dotenv,
    Github,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// One output (printed raw; a sensitive one only when named).
    pub name: Option<String>,
    /// Output format: text, JSON, dotenv (NAME=value lines) or GitHub Actions ($GITHUB_OUTPUT).
    #[arg(long = "format", value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// Same as --format json.
    #[arg(long = "json")]
    pub json: bool,
    /// Print the named output's string, number or bool as is: no quotes, no newline (for shell scripts).
    #[arg(long = "raw", conflicts_with_all = ["json", "format"])]
    pub raw: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum DriftFormat {
    Text,
    Json,
    Junit,
    Sarif,
    Markdown,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FailOn {
    Drift,
    Pending,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    #[command(subcommand)]
    pub sub: Option<DriftSub>,
    #[command(flatten)]
    pub env: EnvArg,
    /// Every environment (persistent and ephemeral).
    #[arg(long = "all")]
    pub all: bool,
    /// Report format (repeatable). At most one --format without an --output
    /// goes to stdout.
    #[arg(long = "format", value_enum)]
    pub formats: Vec<DriftFormat>,
    /// Write a report to FILE (repeatable): the report of the --format right
    /// before it (`--format json --output d.json`), or, with the --output
    /// flags grouped after the formats, of the --format in the same position.
    #[arg(long = "output", value_name = "FILE")]
    pub outputs: Vec<PathBuf>,
    /// Also exit 2 on pending (unapplied) configuration changes.
    #[arg(long = "fail-on", value_enum)]
    pub fail_on: Option<FailOn>,
    /// How many environments to check at once with --all.
    #[arg(long = "concurrency", default_value_t = 4)]
    pub concurrency: usize,
    /// With --all, check only shard K of N (e.g. 2/4): environments are split
    /// across N workers by a stable hash of their name (FNV-1a 64 mod N).
    #[arg(long = "shard", value_name = "K/N")]
    pub shard: Option<String>,
    /// Print API calls per operation at the end.
    #[arg(long = "stats")]
    pub stats: bool,
    #[command(flatten)]
    pub vars: VarArgs,
    /// Command-line positions of each --format (filled in after parsing).
    #[arg(skip)]
    pub format_indices: Vec<usize>,
    /// Command-line positions of each --output (filled in after parsing).
    #[arg(skip)]
    pub output_indices: Vec<usize>,
}

#[derive(Debug, Subcommand)]
pub enum DriftSub {
    /// Past drift runs.
    History {
        #[command(flatten)]
        env: EnvArg,
        /// Print the runs as JSON.
        #[arg(long = "json")]
        json: bool,
        /// Show at most this many runs, newest first.
        #[arg(long = "limit", default_value_t = 20)]
        limit: usize,
    },
}

/// What `state pull` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PullFormat {
    Json,
    Tfstate,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List resource addresses in state.
    List {
        #[command(flatten)]
        env: EnvArg,
    },
    /// Show one resource's attributes (sensitive ones redacted).
    Show {
        #[command(flatten)]
        env: EnvArg,
        /// The resource address, e.g. aws_instance.runner[0].
        address: String,
    },
    /// Forget a resource (it keeps existing in the cloud).
    Rm {
        #[command(flatten)]
        env: EnvArg,
        /// Resource addresses to forget (a block address forgets all its instances).
        address: Vec<String>,
    },
    /// Rename a resource address.
    Mv {
        #[command(flatten)]
        env: EnvArg,
        /// The current address.
        from: String,
        /// The new address.
        to: String,
    },
    /// Print the current state as JSON (terrace's own, or `--format tfstate`
    /// for Terraform/OpenTofu).
    Pull {
        #[command(flatten)]
        env: EnvArg,
        /// `json` (terrace's state) or `tfstate` (a Terraform/OpenTofu state,
        /// format version 4).
        #[arg(long = "format", value_enum, default_value = "json")]
        format: PullFormat,
    },
    /// Replace the state with a file (lineage and serial checked).
    Push {
        #[command(flatten)]
        env: EnvArg,
        /// A state file: terrace's (as written by `state pull`) or a
        /// Terraform/OpenTofu `terraform.tfstate` (format version 4).
        file: PathBuf,
        /// Accept a file of another lineage or an older serial.
        #[arg(long = "force")]
        force: bool,
    },
    /// Every stored version, with its resource count.
    History {
        #[command(flatten)]
        env: EnvArg,
        /// Print the versions as JSON.
        #[arg(long = "json")]
        json: bool,
    },
    /// Write an earlier version back as a new serial (shows what changes, then asks).
    Rollback {
        #[command(flatten)]
        env: EnvArg,
        /// The serial to restore (see `terrace state history`).
        #[arg(long = "to", value_name = "SERIAL")]
        to: u64,
        /// Do not ask for confirmation.
        #[arg(long = "auto-approve")]
        auto_approve: bool,
    },
    /// Turn encryption on for an environment: re-write its current state
    /// encrypted with TERRACE_STATE_KEY or TERRACE_STATE_KEY_FILE (the only
    /// command that reads an unencrypted state while a key is set).
    Encrypt {
        #[command(flatten)]
        env: EnvArg,
    },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// Initialize every environment.
    #[arg(long = "all")]
    pub all: bool,
    /// Choose module versions again instead of keeping the locked ones.
    #[arg(long = "upgrade")]
    pub upgrade: bool,
}

#[derive(Debug, Args)]
pub struct ForceUnlockArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// The lock's ID, as printed in the lock error.
    pub lock_id: String,
    /// Do not ask for confirmation.
    #[arg(long = "force")]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Register an ephemeral environment from a template and apply it.
    Create {
        /// The new environment's name.
        name: String,
        /// The template: a folder under environments/.
        #[arg(long = "from", value_name = "TEMPLATE")]
        from: String,
        /// Time-to-live, e.g. 4h; `env gc` destroys it afterwards.
        #[arg(long = "ttl")]
        ttl: Option<String>,
        #[command(flatten)]
        vars: VarArgs,
        /// Do not ask for confirmation.
        #[arg(long = "auto-approve")]
        auto_approve: bool,
        /// How many operations run at once.
        #[arg(long = "parallelism", default_value_t = 10)]
        parallelism: usize,
        #[command(flatten)]
        guard: GuardFlags,
    },
    /// Every environment, persistent and ephemeral.
    List {
        /// Print the environments as JSON.
        #[arg(long = "json")]
        json: bool,
    },
    /// Push an ephemeral environment's expiry out.
    Extend {
        /// The ephemeral environment.
        name: String,
        /// The new time-to-live from now, e.g. 2h.
        #[arg(long = "ttl")]
        ttl: String,
    },
    /// Destroy an environment's resources, then its record.
    Destroy {
        /// The environment.
        name: String,
        /// Do not ask for confirmation.
        #[arg(long = "auto-approve")]
        auto_approve: bool,
        /// How many operations run at once.
        #[arg(long = "parallelism", default_value_t = 10)]
        parallelism: usize,
        #[command(flatten)]
        guard: GuardFlags,
    },
    /// Compare two environments' resolved configurations, resource by resource (the parity report).
    Diff {
        /// The first environment (e.g. stage).
        a: String,
        /// The second environment (e.g. prod).
        b: String,
        /// Print the report as JSON.
        #[arg(long = "json")]
        json: bool,
        /// Exit 2 when the environments differ, 0 when they match.
        #[arg(long = "detailed-exitcode")]
        detailed_exitcode: bool,
    },
    /// Destroy every expired ephemeral environment.
    Gc {
        /// Only list what would be destroyed.
        #[arg(long = "dry-run")]
        dry_run: bool,
        /// Only environments of shard K of N (e.g. 2/4), split across N
        /// workers by a stable hash of their name (FNV-1a 64 mod N).
        #[arg(long = "shard", value_name = "K/N")]
        shard: Option<String>,
        /// How many operations run at once.
        #[arg(long = "parallelism", default_value_t = 10)]
        parallelism: usize,
        #[command(flatten)]
        guard: GuardFlags,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every flag and argument of every command says what it does in --help.
    #[test]
    fn every_flag_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "terrace", &mut missing);
        assert!(missing.is_empty(), "flags without help text: {missing:#?}");
    }
}
