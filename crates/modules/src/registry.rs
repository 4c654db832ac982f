//! The Terraform module registry protocol: service discovery
//! (`/.well-known/terraform.json`, `modules.v1`), the versions listing, and
//! the download endpoint (204 or 200 with `X-Terraform-Get`). Requests carry
//! `Authorization: Bearer` when `TF_TOKEN_<host>` holds a token.

use crate::ModuleError;
use crate::fetch::{Fetcher, terraform_get, unreachable_source};

/// A registry module: host and `namespace/name/provider`.
#[derive(Debug, Clone, Copy)]
pub struct RegistryModule<'a> {
    pub host: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub provider: &'a str,
}

impl RegistryModule<'_> {
    fn display(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.host, self.namespace, self.name, self.provider
        )
    }
}

/// The name of the environment variable holding a token for `host`:
/// Terraform's encoding — dots become `_`, dashes `__` (`TF_TOKEN_app_terraform_io`).
pub fn token_var(host: &str) -> String {
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    format!("TF_TOKEN_{}", host.replace('-', "__").replace('.', "_"))
}

/// Registries on loopback are spoken to over plain HTTP (a test or a local
/// mirror); every other host over HTTPS, as Terraform requires.
fn scheme(host: &str) -> &'static str {
    let name = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    if name == "localhost" || name == "127.0.0.1" || name == "[::1]" {
        "http"
    } else {
        "https"
    }
}

impl Fetcher {
    fn get(&self, host: &str, url: &str) -> reqwest::RequestBuilder {
        let req = self.http.get(url);
        match (self.tokens)(&token_var(host)) {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    async fn json(&self, host: &str, url: &str) -> Result<serde_json::Value, ModuleError> {
        let resp = self
            .get(host, url)
            .send()
            .await
            .map_err(|e| unreachable_source(url, &e))?;
        let status = resp.status();
        if !status.is_success() {
            let hint = if status.as_u16() == 401 || status.as_u16() == 403 {
                format!("; set {} to a token for this registry", token_var(host))
            } else {
                String::new()
            };
            return Err(ModuleError::Fetch(format!(
                "GET {url} answered {status}{hint}"
            )));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| unreachable_source(url, &e))?;
        serde_json::from_slice(&body)
            .map_err(|e| ModuleError::Fetch(format!("GET {url}: the answer is not JSON: {e}")))
    }

    /// The base URL of the host's module registry API.
    async fn modules_base(&self, host: &str) -> Result<reqwest::Url, ModuleError> {
        let well_known = format!("{}://{host}/.well-known/terraform.json", scheme(host));
        let doc = self.json(host, &well_known).await?;
        let Some(path) = doc.get("modules.v1").and_then(|v| v.as_str()) else {
            return Err(ModuleError::Fetch(format!(
                "{host} does not host a module registry ({well_known} has no \"modules.v1\")"
            )));
        };
        let base = reqwest::Url::parse(&well_known).and_then(|u| u.join(path));
        let mut base = base
            .map_err(|e| ModuleError::Fetch(format!("{well_known}: modules.v1 {path:?}: {e}")))?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(base)
    }

    /// Every version the registry lists for the module.
    pub async fn registry_versions(
        &self,
        m: RegistryModule<'_>,
    ) -> Result<Vec<String>, ModuleError> {
        let base = self.modules_base(m.host).await?;
        let url = format!("{base}{}/{}/{}/versions", m.namespace, m.name, m.provider);
        let doc = self.json(m.host, &url).await.map_err(|e| match e {
            ModuleError::Fetch(msg) if msg.contains("404") => ModuleError::Fetch(format!(
                "module {} does not exist in its registry ({msg})",
                m.display()
            )),
            other => other,
        })?;
        let versions = doc
            .get("modules")
            .and_then(|m| m.as_array())
            .and_then(|m| m.first())
            .and_then(|m| m.get("versions"))
            .and_then(|v| v.as_array())
            .ok_or_else(|| {
                ModuleError::Fetch(format!("{url}: the answer has no modules[0].versions"))
            })?;
        Ok(versions
            .iter()
            .filter_map(|v| v.get("version").and_then(|v| v.as_str()))
            .map(String::from)
            .collect())
    }

    /// Where to download a version from: the `X-Terraform-Get` source.
    pub async fn registry_download(
        &self,
        m: RegistryModule<'_>,
        version: &str,
    ) -> Result<String, ModuleError> {
        let base = self.modules_base(m.host).await?;
        let url = format!(
            "{base}{}/{}/{}/{version}/download",
            m.namespace, m.name, m.provider
        );
        let resp = self
            .get(m.host, &url)
            .send()
            .await
            .map_err(|e| unreachable_source(&url, &e))?;
        if !resp.status().is_success() {
            return Err(ModuleError::Fetch(format!(
                "GET {url} answered {}",
                resp.status()
            )));
        }
        terraform_get(&resp, &url)?.ok_or_else(|| {
            ModuleError::Fetch(format!(
                "GET {url} sent no X-Terraform-Get header saying where {} {version} is",
                m.display()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_variables_use_terraforms_host_encoding() {
        assert_eq!(token_var("app.terraform.io"), "TF_TOKEN_app_terraform_io");
        assert_eq!(
            token_var("my-registry.Example.com"),
            "TF_TOKEN_my__registry_example_com"
        );
        assert_eq!(token_var("127.0.0.1:8080"), "TF_TOKEN_127_0_0_1");
        assert_eq!(scheme("127.0.0.1:8080"), "http");
        assert_eq!(scheme("registry.terraform.io"), "https");
    }
}
