//! hashicorp/local: `local_file`, `local_sensitive_file` and the data source
//! `local_file`. Files are objects outside state: a refresh that finds the
//! file gone or its content changed reports the resource gone, so the next
//! apply writes it again (upstream does the same).

use crate::Kind;
use crate::util::{b64, content_digests, failed, invalid, set, sha1_hex, str_arg};
use async_trait::async_trait;
use base64::Engine as _;
use std::path::Path;
use std::sync::OnceLock;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ProviderSchema, Schema,
};

const SOURCES: [&str; 4] = ["content", "sensitive_content", "content_base64", "source"];

fn with_digests(mut s: Schema) -> Schema {
    for (name, _) in content_digests(b"") {
        s = s.attr(
            &format!("content_{name}"),
            Attribute::computed(AttrType::String),
        );
    }
    s
}

fn file_schema(sensitive: bool) -> Schema {
    let content = |sens: bool| {
        let a = Attribute::optional(AttrType::String).force_new();
        if sens { a.sensitive() } else { a }
    };
    let perm = || {
        Attribute::optional(AttrType::String)
            .force_new()
            .default("0777")
    };
    let mut s = Schema::new()
        .attr("id", Attribute::computed(AttrType::String))
        .attr(
            "filename",
            Attribute::required(AttrType::String).force_new(),
        )
        .attr("content", content(sensitive))
        .attr("content_base64", content(sensitive))
        .attr("source", Attribute::optional(AttrType::String).force_new())
        .attr("file_permission", perm())
        .attr("directory_permission", perm());
    if !sensitive {
        s = s.attr("sensitive_content", content(true));
    }
    with_digests(s)
}

fn schema() -> &'static ProviderSchema {
    static S: OnceLock<ProviderSchema> = OnceLock::new();
    S.get_or_init(|| {
        let mut s = ProviderSchema::default();
        s.resources.insert("local_file".into(), file_schema(false));
        s.resources
            .insert("local_sensitive_file".into(), file_schema(true));
        let data = |sensitive: bool| {
            let c = Attribute::computed(AttrType::String);
            let c = if sensitive { c.sensitive() } else { c };
            with_digests(
                Schema::new()
                    .attr("id", Attribute::computed(AttrType::String))
                    .attr("filename", Attribute::required(AttrType::String))
                    .attr("content", c.clone())
                    .attr("content_base64", c),
            )
        };
        s.data_sources.insert("local_file".into(), data(false));
        s.data_sources
            .insert("local_sensitive_file".into(), data(true));
        s
    })
}

/// The bytes a resource writes, from whichever content argument is set.
fn content_of(v: &Value) -> Result<Vec<u8>, ProviderError> {
    let set_args: Vec<&str> = SOURCES
        .iter()
        .copied()
        .filter(|k| v.get(k).is_some_and(|x| !x.is_null()))
        .collect();
    if set_args.len() != 1 {
        return Err(invalid(
            "content",
            format!(
                "exactly one of content, sensitive_content, content_base64 or source must be set (got {})",
                if set_args.is_empty() {
                    "none".to_string()
                } else {
                    set_args.join(", ")
                }
            ),
        ));
    }
    let k = set_args[0];
    let s = str_arg(v, k).unwrap_or_default();
    match k {
        "content_base64" => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| invalid(k, format!("content_base64 is not valid base64: {e}"))),
        "source" => {
            std::fs::read(s).map_err(|e| invalid(k, format!("cannot read source file {s}: {e}")))
        }
        _ => Ok(s.as_bytes().to_vec()),
    }
}

fn mode(v: &Value, key: &str) -> Result<u32, ProviderError> {
    let s = str_arg(v, key).unwrap_or("0777");
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| {
            invalid(
                key,
                format!("{key} must be an octal mode such as \"0644\", got {s:?}"),
            )
        })
}

fn fill_digests(v: &mut Value, bytes: &[u8]) {
    for (name, d) in content_digests(bytes) {
        set(v, &format!("content_{name}"), d);
    }
}

pub struct Local;

#[async_trait]
impl Kind for Local {
    fn name(&self) -> &'static str {
        "local"
    }

    fn schema(&self) -> &ProviderSchema {
        schema()
    }

    fn adjust_plan(
        &self,
        _type_name: &str,
        _prior: Option<&Value>,
        planned: &mut PlannedResource,
    ) -> Result<(), ProviderError> {
        let p = &planned.planned;
        mode(p, "file_permission")?;
        mode(p, "directory_permission")?;
        if SOURCES
            .iter()
            .filter_map(|k| p.get(k))
            .all(Value::is_wholly_known)
        {
            content_of(p)?;
        }
        Ok(())
    }

    async fn create(
        &self,
        _type_name: &str,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value, ProviderError> {
        let bytes = content_of(planned)?;
        let filename = str_arg(planned, "filename").unwrap_or_default();
        write_file(
            Path::new(filename),
            &bytes,
            mode(planned, "file_permission")?,
            mode(planned, "directory_permission")?,
        )?;
        let mut v = planned.clone();
        set(&mut v, "id", sha1_hex(&bytes));
        fill_digests(&mut v, &bytes);
        Ok(v)
    }

    async fn read(&self, _type_name: &str, prior: &Value) -> Result<Option<Value>, ProviderError> {
        let filename = str_arg(prior, "filename").unwrap_or_default();
        match std::fs::read(filename) {
            Ok(bytes) if Some(sha1_hex(&bytes).as_str()) == str_arg(prior, "id") => {
                Ok(Some(prior.clone()))
            }
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(failed("ReadFile", format!("cannot read {filename}: {e}"))),
        }
    }

    async fn delete(&self, _type_name: &str, prior: &Value) -> Result<(), ProviderError> {
        let filename = str_arg(prior, "filename").unwrap_or_default();
        match std::fs::remove_file(filename) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(failed(
                "DeleteFile",
                format!("cannot delete {filename}: {e}"),
            )),
        }
    }

    async fn read_data(&self, _type_name: &str, config: &Value) -> Result<Value, ProviderError> {
        let filename = str_arg(config, "filename").unwrap_or_default();
        let bytes = std::fs::read(filename)
            .map_err(|e| invalid("filename", format!("cannot read {filename}: {e}")))?;
        let mut v = config.clone();
        set(
            &mut v,
            "content",
            String::from_utf8_lossy(&bytes).into_owned(),
        );
        set(&mut v, "content_base64", b64(&bytes));
        set(&mut v, "id", sha1_hex(&bytes));
        fill_digests(&mut v, &bytes);
        Ok(v)
    }

    fn has_remote_objects(&self) -> bool {
        true
    }
}

fn write_file(
    path: &Path,
    bytes: &[u8],
    file_mode: u32,
    dir_mode: u32,
) -> Result<(), ProviderError> {
    let err = |what: &str, e: std::io::Error| {
        failed(
            "WriteFile",
            format!("cannot {what} {}: {e}", path.display()),
        )
    };
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, dir_mode);
        b.create(dir).map_err(|e| err("create the folder of", e))?;
    }
    std::fs::write(path, bytes).map_err(|e| err("write", e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(file_mode))
            .map_err(|e| err("set the permissions of", e))?;
    }
    let _ = (file_mode, dir_mode);
    Ok(())
}
