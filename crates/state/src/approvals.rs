//! Plan approvals for protected environments: who approved which saved plan
//! file (bound to the SHA-256 of the file's bytes), when, and with what
//! comment. Kept in the environment's store beside its ledger (SQL table
//! `approvals`, S3 objects `<env>/approvals/<plan sha256>/<principal
//! sha256>.json`). One approval per person and plan: approving again is a
//! no-op. Approvals are never changed or deleted by terrace.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Identity;

/// One approval of one saved plan file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// A UUID.
    pub id: String,
    pub env: String,
    /// SHA-256 (hex) of the plan file's bytes.
    pub plan_sha256: String,
    /// Who approved: the AWS caller identity, OS user and CI context.
    pub approver: Identity,
    /// The person the approval counts for (see `principal_of` in the
    /// engine's guard): the CI actor, else the AWS caller ARN, else the OS
    /// user. One approval per principal and plan.
    pub principal: String,
    /// The plan author's principal, as recorded in the plan file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A plan hash is 64 lower-case hex digits.
pub(crate) fn check_plan_sha256(hash: &str) -> Result<(), crate::StateError> {
    if hash.len() == 64 && hash.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
        Ok(())
    } else {
        Err(crate::StateError::backend(format!(
            "'{hash}' is not a plan file hash (64 lower-case hex digits)"
        )))
    }
}

/// Checks before storing an approval.
pub(crate) fn check_approval(a: &Approval) -> Result<(), crate::StateError> {
    crate::validate_env_name(&a.env)?;
    check_plan_sha256(&a.plan_sha256)?;
    if a.principal.trim().is_empty() {
        return Err(crate::StateError::backend(
            "an approval needs the approver's identity",
        ));
    }
    Ok(())
}

/// Sort approvals oldest first (ties by id).
pub(crate) fn sort_approvals(list: &mut [Approval]) {
    list.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
}

/// What the guardrails of an `environment` block (terrace.hcl) decided for
/// one run, kept on its ledger record: the approvals that let a protected
/// environment's plan through, and every limit, freeze window or promotion
/// rule overridden with `--allow-destructive` / `--break-glass`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardRecord {
    /// The `environment` block that applied (`terrace.hcl:LINE:COL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<String>,
    /// SHA-256 of the saved plan file applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_sha256: Option<String>,
    /// The principals whose approvals counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<String>,
    /// `--allow-destructive` was given (or recorded in the plan file).
    #[serde(default)]
    pub allow_destructive: bool,
    /// `--break-glass REASON`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<String>,
    /// Each rule the run went past, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overridden: Vec<String>,
    /// Why a promotion rule was met (the ledger record of the earlier apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted: Option<String>,
}
