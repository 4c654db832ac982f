//! hashicorp/http: the data source `http` (GET by default, any method;
//! request headers and body; response body, base64 body, status code and
//! headers). Non-2xx statuses are not errors, as upstream: check
//! `status_code` in a postcondition.

use crate::Kind;
use crate::util::{b64, bool_arg, failed, int_arg, invalid, set, str_arg, string_map};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, ProviderError, ProviderSchema, Schema};

fn schema() -> &'static ProviderSchema {
    static S: OnceLock<ProviderSchema> = OnceLock::new();
    S.get_or_init(|| {
        let mut s = ProviderSchema::default();
        s.data_sources.insert(
            "http".into(),
            Schema::new()
                .attr("id", Attribute::computed(AttrType::String))
                .attr("url", Attribute::required(AttrType::String))
                .attr(
                    "method",
                    Attribute::optional(AttrType::String).default("GET"),
                )
                .attr(
                    "request_headers",
                    Attribute::optional(AttrType::map_of(AttrType::String)),
                )
                .attr("request_body", Attribute::optional(AttrType::String))
                .attr("request_timeout_ms", Attribute::optional(AttrType::Number))
                .attr(
                    "insecure",
                    Attribute::optional(AttrType::Bool).default(false),
                )
                .attr("response_body", Attribute::computed(AttrType::String))
                .attr("body", Attribute::computed(AttrType::String))
                .attr(
                    "response_body_base64",
                    Attribute::computed(AttrType::String),
                )
                .attr("status_code", Attribute::computed(AttrType::Number))
                .attr(
                    "response_headers",
                    Attribute::computed(AttrType::map_of(AttrType::String)),
                ),
        );
        s
    })
}

/// `content-type` → `Content-Type`, as Go's net/http canonicalises header names.
fn canonical_header(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

pub struct Http;

#[async_trait]
impl Kind for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn schema(&self) -> &ProviderSchema {
        schema()
    }

    async fn create(
        &self,
        type_name: &str,
        _planned: &Value,
        _ctx: &terrace_provider::CreateContext,
    ) -> Result<Value, ProviderError> {
        Err(crate::unsupported_resource("http", type_name))
    }

    async fn read_data(&self, _type_name: &str, config: &Value) -> Result<Value, ProviderError> {
        let url = str_arg(config, "url").unwrap_or_default();
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| invalid("url", format!("url {url:?} is not a valid URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid(
                "url",
                format!("url must use http or https, got {:?}", parsed.scheme()),
            ));
        }
        let method_s = str_arg(config, "method").unwrap_or("GET");
        let method = match method_s {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => {
                reqwest::Method::from_bytes(method_s.as_bytes()).expect("a standard method")
            }
            other => {
                return Err(invalid(
                    "method",
                    format!(
                        "method must be GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS, got {other:?}"
                    ),
                ));
            }
        };
        let mut builder = reqwest::Client::builder()
            .danger_accept_invalid_certs(bool_arg(config, "insecure", false));
        if let Some(ms) = int_arg(config, "request_timeout_ms") {
            builder = builder.timeout(Duration::from_millis(ms.max(0) as u64));
        }
        let client = builder
            .build()
            .map_err(|e| failed("HttpClient", e.to_string()))?;
        let mut req = client.request(method, parsed);
        for (k, v) in string_map(config, "request_headers") {
            req = req.header(k, v);
        }
        if let Some(body) = str_arg(config, "request_body") {
            req = req.body(body.to_string());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| failed("HttpRequest", format!("{method_s} {url}: {e}")))?;
        let status = resp.status().as_u16();
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in resp.headers() {
            headers
                .entry(canonical_header(k.as_str()))
                .or_default()
                .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| failed("HttpRequest", format!("reading the body of {url}: {e}")))?;
        let body = String::from_utf8_lossy(&bytes).into_owned();
        let mut v = config.clone();
        set(&mut v, "id", url);
        set(&mut v, "status_code", status as i64);
        set(&mut v, "response_body", body.clone());
        set(&mut v, "body", body);
        set(&mut v, "response_body_base64", b64(&bytes));
        set(
            &mut v,
            "response_headers",
            Value::map(
                headers
                    .into_iter()
                    .map(|(k, vs)| (k, Value::from(vs.join(", ")))),
            ),
        );
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_names_are_canonical() {
        assert_eq!(super::canonical_header("content-type"), "Content-Type");
        assert_eq!(super::canonical_header("x-request-id"), "X-Request-Id");
    }
}
