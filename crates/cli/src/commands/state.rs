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
        StateCommand::Pull { env } => {
            let env = settings::require_env(&env)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&read_state(&engine, &env).await?)?
            );
        }
        StateCommand::Push { env, file, force } => {
            let env = settings::require_env(&env)?;
            let text =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let mut pushed: State = serde_json::from_slice(&text)
                .with_context(|| format!("{} is not a terrace state file", file.display()))?;
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
            if json {
                let doc: Vec<serde_json::Value> = h
                    .iter()
                    .map(|e| serde_json::json!({ "serial": e.serial, "written_at": e.written_at, "operation": e.operation, "who": e.who }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                println!("{:>6}  {:<25} {:<14} who", "serial", "time", "operation");
                for e in h {
                    println!(
                        "{:>6}  {:<25} {:<14} {}",
                        e.serial,
                        e.written_at.format("%Y-%m-%d %H:%M:%S UTC"),
                        e.operation,
                        e.who
                    );
                }
            }
        }
        StateCommand::Rollback { env, to } => {
            let env = settings::require_env(&env)?;
            // restore_version also recovers when the current state is damaged
            // (unreadable): that is exactly when a rollback is needed.
            let held = terrace_state::lock_environment(
                engine.store.clone(),
                &env,
                "rollback",
                engine.lock_timeout,
            )
            .await?;
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
