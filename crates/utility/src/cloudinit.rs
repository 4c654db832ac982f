//! hashicorp/cloudinit: the data source `cloudinit_config`, a MIME
//! multipart document of `part` blocks laid out as upstream writes it (Go's
//! multipart writer: CRLF line ends, part headers sorted), optionally gzipped
//! and base64-encoded.

use crate::Kind;
use crate::util::{b64, bool_arg, invalid, list_arg, set, str_arg};
use async_trait::async_trait;
use std::io::Write as _;
use std::sync::OnceLock;
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, ProviderError, ProviderSchema, Schema};

fn schema() -> &'static ProviderSchema {
    static S: OnceLock<ProviderSchema> = OnceLock::new();
    S.get_or_init(|| {
        let mut s = ProviderSchema::default();
        s.data_sources.insert(
            "cloudinit_config".into(),
            Schema::new()
                .attr("id", Attribute::computed(AttrType::String))
                .attr("gzip", Attribute::optional(AttrType::Bool).default(true))
                .attr(
                    "base64_encode",
                    Attribute::optional(AttrType::Bool).default(true),
                )
                .attr(
                    "boundary",
                    Attribute::optional(AttrType::String).default("MIMEBOUNDARY"),
                )
                .attr("rendered", Attribute::computed(AttrType::String))
                .list_block(
                    "part",
                    1,
                    0,
                    Schema::new()
                        .attr("content", Attribute::required(AttrType::String))
                        .attr(
                            "content_type",
                            Attribute::optional(AttrType::String).default("text/plain"),
                        )
                        .attr("filename", Attribute::optional(AttrType::String))
                        .attr("merge_type", Attribute::optional(AttrType::String)),
                ),
        );
        s
    })
}

/// The multipart document of `parts` (content, content_type, filename, merge_type).
pub fn render_multipart(boundary: &str, parts: &[Value]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\n"
    ));
    out.push_str("MIME-Version: 1.0\r\n\r\n");
    for (i, p) in parts.iter().enumerate() {
        out.push_str(if i == 0 { "" } else { "\r\n" });
        out.push_str(&format!("--{boundary}\r\n"));
        // Header names in sorted order, as Go's textproto writes them.
        let mut headers: Vec<(&str, String)> = Vec::new();
        if let Some(f) = str_arg(p, "filename") {
            headers.push((
                "Content-Disposition",
                format!("attachment; filename=\"{f}\""),
            ));
        }
        headers.push(("Content-Transfer-Encoding", "7bit".into()));
        headers.push((
            "Content-Type",
            str_arg(p, "content_type")
                .unwrap_or("text/plain")
                .to_string(),
        ));
        headers.push(("Mime-Version", "1.0".into()));
        if let Some(m) = str_arg(p, "merge_type") {
            headers.push(("X-Merge-Type", m.to_string()));
        }
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(str_arg(p, "content").unwrap_or_default());
    }
    out.push_str(&format!("\r\n--{boundary}--\r\n"));
    out
}

pub struct CloudInit;

#[async_trait]
impl Kind for CloudInit {
    fn name(&self) -> &'static str {
        "cloudinit"
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
        Err(crate::unsupported_resource("cloudinit", type_name))
    }

    async fn read_data(&self, _type_name: &str, config: &Value) -> Result<Value, ProviderError> {
        let gzip = bool_arg(config, "gzip", true);
        let base64 = bool_arg(config, "base64_encode", true);
        if gzip && !base64 {
            return Err(invalid(
                "base64_encode",
                "gzip = true needs base64_encode = true (a gzipped document is binary); set base64_encode = true or gzip = false",
            ));
        }
        let parts = list_arg(config, "part");
        if parts.is_empty() {
            return Err(invalid(
                "part",
                "cloudinit_config needs at least one part block",
            ));
        }
        let boundary = str_arg(config, "boundary").unwrap_or("MIMEBOUNDARY");
        let doc = render_multipart(boundary, parts);
        let bytes = if gzip {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(doc.as_bytes())
                .and_then(|_| e.finish())
                .map_err(|e| crate::util::failed("Gzip", e.to_string()))?
        } else {
            doc.into_bytes()
        };
        let rendered = if base64 {
            b64(&bytes)
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let mut v = config.clone();
        set(
            &mut v,
            "id",
            crc32fast::hash(rendered.as_bytes()).to_string(),
        );
        set(&mut v, "rendered", rendered);
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_layout_matches_upstream() {
        let parts = vec![Value::map([
            ("content", Value::from("#!/bin/sh\necho hi")),
            ("content_type", Value::from("text/x-shellscript")),
            ("filename", Value::from("hello.sh")),
        ])];
        let doc = render_multipart("MIMEBOUNDARY", &parts);
        assert_eq!(
            doc,
            "Content-Type: multipart/mixed; boundary=\"MIMEBOUNDARY\"\nMIME-Version: 1.0\r\n\r\n--MIMEBOUNDARY\r\nContent-Disposition: attachment; filename=\"hello.sh\"\r\nContent-Transfer-Encoding: 7bit\r\nContent-Type: text/x-shellscript\r\nMime-Version: 1.0\r\n\r\n#!/bin/sh\necho hi\r\n--MIMEBOUNDARY--\r\n"
        );
    }
}
