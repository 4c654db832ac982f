//! `version` (also `-version`, `--version`): terrace's version, the
//! Terraform language version it implements, and the platform.

use super::*;

/// The platform in Terraform's notation (`linux_amd64`, `darwin_arm64`).
pub(crate) fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    format!("{}_{arch}", std::env::consts::OS)
}

/// The `version -json` document: Terraform's fields (`terraform_version`
/// is the language version terrace implements; `provider_selections` is
/// empty, the providers being built in) plus `terrace_version`.
pub(crate) fn version_json() -> serde_json::Value {
    serde_json::json!({
        "terraform_version": terrace_lang::TERRAFORM_LANGUAGE_VERSION,
        "terrace_version": env!("CARGO_PKG_VERSION"),
        "platform": platform(),
        "provider_selections": {},
        "terraform_outdated": false,
    })
}

pub(crate) fn version(a: VersionArgs) -> Result<u8> {
    if a.json {
        println!("{}", serde_json::to_string_pretty(&version_json())?);
    } else {
        println!(
            "terrace v{}\non {}\nimplements the Terraform language v{}",
            env!("CARGO_PKG_VERSION"),
            platform(),
            terrace_lang::TERRAFORM_LANGUAGE_VERSION
        );
    }
    Ok(0)
}
