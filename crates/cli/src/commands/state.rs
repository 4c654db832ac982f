//! `state`: list, show, rm, mv, pull, push, history and rollback of stored state.

use super::*;
use terrace_state::{State, WriteMeta};

async fn read_state(engine: &Engine, env: &str) -> Result<State> {
    engine
        .store
        .read(env)
        .await?
        .ok_or_else(|| anyhow!("environment '{env}' has no state yet"))
}

async fn write_locked(
    engine: &Engine,
    env: &str,
    operation: &str,
    edit: impl FnOnce(&mut State) -> Result<()>,
) -> Result<()> {
    let held =
        terrace_state::lock_environment(engine.store.clone(), env, operation, engine.lock_timeout)
            .await?;
    let result = async {
        let mut state = read_state(engine, env).await?;
        let expected = state.serial;
        edit(&mut state)?;
        state.serial = expected + 1;
        engine
            .store
            .write(
                env,
                &state,
                Some(expected),
                Some(held.lease()),
                &WriteMeta {
                    operation: operation.into(),
                    who: settings::who(),
                },
            )
            .await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    held.release().await?;
    result
}

pub(crate) async fn state_command(project: &Project, c: StateCommand) -> Result<u8> {
    let engine = settings::engine(project, std::time::Duration::from_secs(0)).await?;
    match c {
        StateCommand::List { env } => {
            let env = settings::require_env(&env)?;
            for r in read_state(&engine, &env).await?.resources {
                println!("{}", r.address);
            }
        }
        StateCommand::Show { env, address } => {
            let env = settings::require_env(&env)?;
            let state = read_state(&engine, &env).await?;
            let r = state
                .resource(&address)
                .ok_or_else(|| anyhow!("no resource {address} in the state of '{env}'"))?;
            let v = terrace_engine::values::state_value(r);
            println!("# {}", r.address);
            println!(
                "{}",
                serde_json::to_string_pretty(&v.redacted().to_json_lossy())?
            );
        }
        StateCommand::Rm { env, address } => {
            let env = settings::require_env(&env)?;
            write_locked(&engine, &env, "state rm", |s| {
                for a in &address {
                    let before = s.resources.len();
                    s.resources
                        .retain(|r| &r.address != a && !r.address.starts_with(&format!("{a}[")));
                    if s.resources.len() == before {
                        bail!("no resource {a} in the state of '{env}'");
                    }
                }
                Ok(())
            })
            .await?;
            println!(
                "Removed {} from state (the objects still exist in the cloud).",
                address.join(", ")
            );
        }
        StateCommand::Mv { env, from, to } => {
            let env = settings::require_env(&env)?;
            to.parse::<terrace_core::ResourceAddr>()
                .map_err(|e| anyhow!("{e}"))?;
            write_locked(&engine, &env, "state mv", |s| {
                if s.resources.iter().any(|r| r.address == to) {
                    bail!("{to} already exists in the state of '{env}'");
                }
                let r = s
                    .resources
                    .iter_mut()
                    .find(|r| r.address == from)
                    .ok_or_else(|| anyhow!("no resource {from} in the state of '{env}'"))?;
                r.address = to.clone();
                s.resources.sort_by(|a, b| a.address.cmp(&b.address));
                Ok(())
            })
            .await?;
            println!("Moved {from} to {to}.");
        }
        StateCommand::Pull { env, format } => {
            let env = settings::require_env(&env)?;
            let state = read_state(&engine, &env).await?;
            let doc = match format {
                PullFormat::Json => serde_json::to_value(&state)?,
                PullFormat::Tfstate => terrace_engine::tfstate::to_tfstate(
                    &state,
                    terrace_lang::TERRAFORM_LANGUAGE_VERSION,
                ),
            };
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        StateCommand::Push { env, file, force } => {
            let env = settings::require_env(&env)?;
            let mut pushed = read_push_file(&engine, &file)?;
            let held = terrace_state::lock_environment(
                engine.store.clone(),
                &env,
                "state push",
                engine.lock_timeout,
            )
            .await?;
            let result = async {
                let current = engine.store.read(&env).await?;
                if let Some(cur) = &current
                    && !force
                {
                    if cur.lineage != pushed.lineage {
                        bail!("{} belongs to another state lineage ({}, not {}); it may be another environment's state. Pass --force to push it anyway", file.display(), pushed.lineage, cur.lineage);
                    }
                    if pushed.serial < cur.serial {
                        bail!("{} has serial {}, older than the stored serial {}; pass --force to push it anyway", file.display(), pushed.serial, cur.serial);
                    }
                }
                let meta = WriteMeta { operation: "state push".into(), who: settings::who() };
                match &current {
                    Some(cur) if cur.lineage != pushed.lineage => {
                        // --force with another lineage: the pushed state starts
                        // anew and replaces the current one in one atomic step
                        // (the current one stays in history). Never a delete
                        // followed by a write: a refused write changes nothing.
                        pushed.serial = 1;
                        engine.store.replace(&env, &pushed, held.lease(), &meta).await?;
                    }
                    _ => {
                        let expected = current.as_ref().map(|c| c.serial);
                        pushed.serial = expected.map_or(1, |s| s + 1);
                        engine.store.write(&env, &pushed, expected, Some(held.lease()), &meta).await?;
                    }
                }
                Ok(pushed.serial)
            }
            .await;
            held.release().await?;
            println!("Pushed {} as serial {}.", file.display(), result?);
        }
        StateCommand::Encrypt { env } => {
            let env = settings::require_env(&env)?;
            let (passphrase, raw) = settings::state_key()?;
            if passphrase.is_none() && raw.is_none() {
                bail!(
                    "no state key is set; set {} (a passphrase) or {} (a key file) and run `terrace state encrypt -e {env}` again",
                    settings::vars::TERRACE_STATE_KEY,
                    settings::vars::TERRACE_STATE_KEY_FILE
                );
            }
            let store = settings::open_store_with(project, true).await?;
            let held = terrace_state::lock_environment(
                store.clone(),
                &env,
                "state encrypt",
                engine.lock_timeout,
            )
            .await?;
            let result = async {
                let mut state = store
                    .read(&env)
                    .await?
                    .ok_or_else(|| anyhow!("environment '{env}' has no state yet"))?;
                let expected = state.serial;
                state.serial = expected + 1;
                store
                    .write(
                        &env,
                        &state,
                        Some(expected),
                        Some(held.lease()),
                        &WriteMeta {
                            operation: "state encrypt".into(),
                            who: settings::who(),
                        },
                    )
                    .await?;
                Ok::<_, anyhow::Error>(state.serial)
            }
            .await;
            held.release().await?;
            let serial = result?;
            println!(
                "Encrypted the current state of '{env}' (written as serial {serial}). Earlier versions in `state history` stay as they were written."
            );
        }
        StateCommand::History { env, json } => {
            let env = settings::require_env(&env)?;
            let h = engine.store.history(&env).await?;
            // Resource count of each version (None: that version is unreadable).
            let mut counts = Vec::with_capacity(h.len());
            for e in &h {
                counts.push(
                    engine
                        .store
                        .read_version(&env, e.serial)
                        .await
                        .ok()
                        .flatten()
                        .map(|s| managed_count(&s)),
                );
            }
            if json {
                let doc: Vec<serde_json::Value> = h
                    .iter()
                    .zip(&counts)
                    .map(|(e, n)| serde_json::json!({ "serial": e.serial, "written_at": crate::progress::rfc3339(e.written_at), "operation": e.operation, "who": e.who, "resources": n }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                println!(
                    "{:>6}  {:<20}  {:>9}  {:<14} who",
                    "serial", "time", "resources", "operation"
                );
                for (e, n) in h.iter().zip(&counts) {
                    println!(
                        "{:>6}  {:<20}  {:>9}  {:<14} {}",
                        e.serial,
                        crate::progress::rfc3339(e.written_at),
                        n.map_or("?".to_string(), |n| n.to_string()),
                        e.operation,
                        e.who
                    );
                }
            }
        }
        StateCommand::Rollback {
            env,
            to,
            auto_approve,
        } => {
            let env = settings::require_env(&env)?;
            let Some(old) = engine.store.read_version(&env, to).await? else {
                bail!("'{env}' has no state version {to}; see `terrace state history -e {env}`");
            };
            // The preview: what the rollback changes in state. A damaged
            // current state is exactly when a rollback is needed, so an
            // unreadable one is shown as such and not an error.
            let current = engine.store.read(&env).await;
            let current_serial = match &current {
                Ok(Some(cur)) => {
                    println!(
                        "Rolling back '{env}' from serial {} to the contents of serial {to}:",
                        cur.serial
                    );
                    let st = Style { on: stdout_color() };
                    let preview = rollback_preview(cur, &old);
                    for line in &preview.lines {
                        let text = format!("  {line}");
                        println!(
                            "{}",
                            match line.chars().next() {
                                Some('+') => st.green(&text),
                                Some('-') => st.red(&text),
                                _ => st.yellow(&text),
                            }
                        );
                    }
                    println!(
                        "\nState: {} to add, {} to change, {} to remove ({} resources after the rollback). Nothing in the cloud changes.",
                        preview.added,
                        preview.changed,
                        preview.removed,
                        managed_count(&old)
                    );
                    Some(cur.serial)
                }
                Ok(None) => {
                    println!(
                        "'{env}' has no current state; serial {to} ({} resources) becomes it.",
                        managed_count(&old)
                    );
                    None
                }
                Err(e) => {
                    println!(
                        "The current state of '{env}' cannot be read ({e}); serial {to} ({} resources) replaces it.",
                        managed_count(&old)
                    );
                    None
                }
            };
            if !confirm(
                &format!("Do you want to roll back the state of '{env}' to serial {to}?"),
                auto_approve,
                "--auto-approve",
            )? {
                bail!("rollback cancelled; the state was not changed");
            }
            // restore_version also recovers when the current state is damaged
            // (unreadable): that is exactly when a rollback is needed.
            let held = terrace_state::lock_environment(
                engine.store.clone(),
                &env,
                "rollback",
                engine.lock_timeout,
            )
            .await?;
            // What was previewed must still be what is stored.
            if let Some(seen) = current_serial {
                let now = engine
                    .store
                    .read(&env)
                    .await
                    .ok()
                    .flatten()
                    .map(|s| s.serial);
                if now != Some(seen) {
                    held.release().await?;
                    bail!(
                        "the state of '{env}' changed since the preview (serial {seen}, now {}); nothing was rolled back — run the rollback again",
                        now.map_or("unreadable".to_string(), |n| n.to_string())
                    );
                }
            }
            let meta = WriteMeta {
                operation: "rollback".into(),
                who: settings::who(),
            };
            let result = terrace_state::restore_version(
                engine.store.as_ref(),
                &env,
                to,
                held.lease(),
                &meta,
            )
            .await;
            held.release().await?;
            match result? {
                Some(serial) => println!(
                    "Rolled '{env}' back to the contents of serial {to} (written as serial {serial})."
                ),
                None => {
                    bail!("'{env}' has no state version {to}; see `terrace state history -e {env}`")
                }
            }
        }
    }
    Ok(0)
}

/// The state in a file given to `state push`: terrace's own, or a
/// Terraform/OpenTofu state (format version 4) converted to terrace's.
fn read_push_file(engine: &Engine, file: &std::path::Path) -> Result<State> {
    let text = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let doc: serde_json::Value = serde_json::from_slice(&text).with_context(|| {
        format!(
            "{} is not a state file: it is not valid JSON",
            file.display()
        )
    })?;
    if terrace_engine::tfstate::is_tfstate(&doc) {
        let schema = |provider: &str, type_name: &str| {
            engine.type_schema(terrace_core::ResourceMode::Managed, provider, type_name)
        };
        return terrace_engine::tfstate::from_tfstate(&doc, &schema).map_err(|e| {
            anyhow!(
                "{} is a Terraform state that cannot be pushed: {e}",
                file.display()
            )
        });
    }
    serde_json::from_value(doc).with_context(|| {
        format!(
            "{} is neither a terrace state (as written by `terrace state pull`) nor a Terraform state (with \"version\": 4)",
            file.display()
        )
    })
}

/// Managed resource instances in a state.
fn managed_count(s: &State) -> usize {
    s.resources.iter().filter(|r| r.mode == "managed").count()
}

/// What a rollback from `current` to `old` changes in state, per address.
pub(crate) struct RollbackPreview {
    pub(crate) lines: Vec<String>,
    pub(crate) added: usize,
    pub(crate) changed: usize,
    pub(crate) removed: usize,
}

pub(crate) fn rollback_preview(current: &State, old: &State) -> RollbackPreview {
    let cur: BTreeMap<&str, &terrace_state::ResourceState> = current
        .resources
        .iter()
        .map(|r| (r.address.as_str(), r))
        .collect();
    let was: BTreeMap<&str, &terrace_state::ResourceState> = old
        .resources
        .iter()
        .map(|r| (r.address.as_str(), r))
        .collect();
    let mut p = RollbackPreview {
        lines: vec![],
        added: 0,
        changed: 0,
        removed: 0,
    };
    let mut addrs: Vec<&str> = cur.keys().chain(was.keys()).copied().collect();
    addrs.sort_unstable();
    addrs.dedup();
    for a in addrs {
        match (cur.get(a), was.get(a)) {
            (None, Some(_)) => {
                p.added += 1;
                p.lines.push(format!("+ {a} (back into state)"));
            }
            (Some(_), None) => {
                p.removed += 1;
                p.lines.push(format!(
                    "- {a} (removed from state; the object stays in the cloud)"
                ));
            }
            (Some(c), Some(o)) if c.attributes != o.attributes || c.type_name != o.type_name => {
                p.changed += 1;
                p.lines.push(format!("~ {a} (recorded attributes differ)"));
            }
            _ => {}
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(resources: &[(&str, &str)]) -> State {
        let mut s = State::new();
        s.resources = resources
            .iter()
            .map(|(a, id)| terrace_state::ResourceState {
                address: a.to_string(),
                mode: "managed".into(),
                type_name: "aws_vpc".into(),
                provider: "aws".into(),
                attributes: std::sync::Arc::new(serde_json::json!({ "id": id })),
                sensitive_paths: vec![],
                dependencies: vec![],
                schema_version: 0,
                created_at: chrono::Utc::now(),
                updated_at: chrono::Utc::now(),
            })
            .collect();
        s
    }

    #[test]
    fn rollback_preview_lists_added_removed_and_changed() {
        let current = state(&[
            ("aws_vpc.a", "v1"),
            ("aws_vpc.b", "v2"),
            ("aws_vpc.c", "v3"),
        ]);
        let old = state(&[
            ("aws_vpc.a", "v1"),
            ("aws_vpc.b", "old"),
            ("aws_vpc.d", "v4"),
        ]);
        let p = rollback_preview(&current, &old);
        assert_eq!((p.added, p.changed, p.removed), (1, 1, 1));
        assert_eq!(
            p.lines,
            vec![
                "~ aws_vpc.b (recorded attributes differ)",
                "- aws_vpc.c (removed from state; the object stays in the cloud)",
                "+ aws_vpc.d (back into state)",
            ]
        );
        assert_eq!(managed_count(&old), 3);
    }
}
