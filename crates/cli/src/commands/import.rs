//! `import ADDR ID`: bring an existing object under management, as
//! `terraform import` does. The import is planned exactly as an `import`
//! block is (the engine's checks: the address must be in the configuration,
//! the object must exist and must not belong to another address), then only
//! the imported object is written to state, under the environment's lock —
//! nothing in the cloud changes.

use super::*;
use terrace_engine::model::Action;

pub(crate) async fn import(project: &Project, a: ImportArgs) -> Result<u8> {
    tf_flags(&a.tf, "import");
    let addr: ResourceAddr = a.address.parse().map_err(|e| {
        anyhow!(
            "import address {:?}: {e}; use a resource instance address like aws_vpc.main, aws_subnet.a[0] or module.net.aws_vpc.this[\"x\"]",
            a.address
        )
    })?;
    if addr.mode != terrace_core::ResourceMode::Managed {
        bail!(
            "cannot import into {addr}: only managed resources can be imported (data sources are read, not managed)"
        );
    }
    let lock_timeout = settings::parse_duration(&a.lock_timeout, "--lock-timeout")?;
    let engine = settings::engine(project, lock_timeout).await?;
    let t = target(project, &engine, &a.env).await?;
    let addr_s = addr.to_string();
    if let Some(state) = engine.store.read(&t.name).await?
        && state.resource(&addr_s).is_some()
    {
        bail!(
            "resource already managed by terrace: {addr_s} already has an object in the state of '{}'. To import to this address, first remove the existing object from state (`terrace state rm -e {} {addr_s}`)",
            t.name,
            t.name
        );
    }
    let load = load_options(&a.vars)?;
    // Not targeted: an instance key the configuration does not make is
    // reported below with the keys it does make.
    let opts = PlanOptions {
        refresh: false,
        imports: vec![(addr.clone(), a.id.clone())],
        ..Default::default()
    };
    eprintln!("{addr_s}: Importing from ID {:?}...", a.id);
    let (_, plan, _) = ops::plan(&engine, &t, &load, &opts).await?;
    let Some(change) = plan
        .changes
        .iter()
        .find(|c| c.addr == addr && c.import_id.is_some())
    else {
        let keys: Vec<String> = plan
            .changes
            .iter()
            .filter(|c| c.addr.block() == addr.block())
            .map(|c| c.address())
            .collect();
        bail!(
            "configuration for import target does not exist: {addr_s} is not an instance of the configuration ({}). Add it to the configuration (count / for_each), or import into an existing instance",
            if keys.is_empty() {
                format!("{} has no instances", addr.block())
            } else {
                format!("its instances are {}", keys.join(", "))
            }
        );
    };
    // Only the imported object, as read: state records it, nothing changes.
    let mut imported = change.clone();
    imported.action = Action::NoOp;
    imported.after = imported.before.clone();
    imported.replace_paths.clear();
    imported.reason = None;
    let import_plan = Plan {
        changes: vec![imported],
        drift: vec![],
        outputs: BTreeMap::new(),
        refreshed: BTreeMap::new(),
        targets: vec![addr_s.clone()],
        ..plan
    };
    let outcome = ops::apply(
        &engine,
        ApplyRequest {
            target: t,
            load,
            plan_opts: opts,
            // Checked against the state under the lock: a write since the
            // plan above refuses the import ("run it again").
            saved_plan: Some(import_plan),
            apply_opts: ApplyOptions {
                operation: "import".into(),
                who: settings::who(),
                ci: settings::ci_context(),
                ..ApplyOptions::default()
            },
            confirm: &|_, _| true,
            observer: &terrace_engine::apply::QuietObserver,
        },
    )
    .await?;
    if let Some((a, e)) = outcome.report.failures.first() {
        bail!("import of {addr_s} failed: {a}: {e}");
    }
    let env_name = outcome.env.name.clone();
    eprintln!("{addr_s}: Import prepared!");
    println!(
        "\nImport successful!\n\nThe object with ID {:?} is now in the state of '{env_name}' as {addr_s},\nand will henceforth be managed by terrace. Run `terrace plan -e {env_name}` to see\nany difference between it and the configuration.",
        a.id
    );
    Ok(0)
}
