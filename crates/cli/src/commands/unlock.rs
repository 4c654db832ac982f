//! `force-unlock`: releasing a lock left by another run.

use super::*;

pub(crate) async fn force_unlock(project: &Project, a: ForceUnlockArgs) -> Result<u8> {
    let engine = settings::engine(project, std::time::Duration::ZERO).await?;
    let name = settings::require_env(&a.env)?;
    let holder = engine.store.current_lock(&name).await?;
    let Some(holder) = holder else {
        bail!("'{name}' is not locked; nothing to do");
    };
    if holder.id != a.lock_id {
        bail!(
            "the lock of '{name}' has ID {}, not {}; check `terrace force-unlock` arguments",
            holder.id,
            a.lock_id
        );
    }
    if !a.force
        && !confirm(
            &format!(
                "Remove the lock of '{name}' held by {} (pid {}, {}) since {}? Only do this if that process is dead.",
                holder.who,
                holder.pid,
                holder.operation,
                crate::progress::rfc3339(holder.created_at)
            ),
            false,
            "--force",
        )?
    {
        bail!("force-unlock cancelled");
    }
    engine.store.force_unlock(&name, &a.lock_id).await?;
    println!("Lock {} of '{name}' removed.", a.lock_id);
    Ok(0)
}
