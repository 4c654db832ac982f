//! hashicorp/archive: the data source `archive_file` (type `zip`) from
//! `source_file`, `source_content` + `source_content_filename`,
//! `source_dir` (with `excludes`) or `source` blocks. Entries are sorted and
//! carry a fixed timestamp, so the same inputs give the same archive and the
//! same `output_*` digests on every plan.

use crate::Kind;
use crate::util::{content_digests, failed, invalid, list_arg, set, sha1_hex, str_arg};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::OnceLock;
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, ProviderError, ProviderSchema, Schema};

fn schema() -> &'static ProviderSchema {
    static S: OnceLock<ProviderSchema> = OnceLock::new();
    S.get_or_init(|| {
        let mut s = ProviderSchema::default();
        let opt = || Attribute::optional(AttrType::String);
        let mut data = Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attr("type", Attribute::required(AttrType::String))
            .attr("output_path", Attribute::required(AttrType::String))
            .attr("output_file_mode", opt())
            .attr("source_file", opt())
            .attr("source_content", opt())
            .attr("source_content_filename", opt())
            .attr("source_dir", opt())
            .attr(
                "excludes",
                Attribute::optional(AttrType::set_of(AttrType::String)),
            )
            .attr(
                "exclude_symlink_directories",
                Attribute::optional(AttrType::Bool).default(false),
            )
            .attr("output_size", Attribute::computed(AttrType::Number))
            .attr("output_sha", Attribute::computed(AttrType::String))
            .attr("output_md5", Attribute::computed(AttrType::String))
            .list_block(
                "source",
                0,
                0,
                Schema::new()
                    .attr("content", Attribute::required(AttrType::String))
                    .attr("filename", Attribute::required(AttrType::String)),
            );
        for d in ["sha256", "base64sha256", "sha512", "base64sha512"] {
            data = data.attr(
                &format!("output_{d}"),
                Attribute::computed(AttrType::String),
            );
        }
        s.data_sources.insert("archive_file".into(), data);
        s
    })
}

/// name in the archive → content
fn collect_entries(cfg: &Value) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
    let mut entries = BTreeMap::new();
    let mut sources = 0;
    if let Some(f) = str_arg(cfg, "source_file") {
        sources += 1;
        let bytes = std::fs::read(f)
            .map_err(|e| invalid("source_file", format!("cannot read source_file {f}: {e}")))?;
        let name = Path::new(f)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        entries.insert(name, bytes);
    }
    if let Some(c) = str_arg(cfg, "source_content") {
        sources += 1;
        let name = str_arg(cfg, "source_content_filename").ok_or_else(|| {
            invalid("source_content_filename", "source_content needs source_content_filename (the name of the file in the archive)")
        })?;
        entries.insert(name.to_string(), c.as_bytes().to_vec());
    }
    if let Some(dir) = str_arg(cfg, "source_dir") {
        sources += 1;
        let excludes: Vec<String> = list_arg(cfg, "excludes")
            .iter()
            .filter_map(|x| x.unmarked().as_str().map(str::to_string))
            .collect();
        let root = Path::new(dir);
        if !root.is_dir() {
            return Err(invalid(
                "source_dir",
                format!("source_dir {dir} is not a directory"),
            ));
        }
        walk(root, root, &excludes, &mut entries)?;
    }
    let blocks = list_arg(cfg, "source");
    if !blocks.is_empty() {
        sources += 1;
        for b in blocks {
            let name = str_arg(b, "filename").unwrap_or_default();
            let content = str_arg(b, "content").unwrap_or_default();
            entries.insert(name.to_string(), content.as_bytes().to_vec());
        }
    }
    if sources != 1 {
        return Err(invalid(
            "source_file",
            "set exactly one of source_file, source_content (with source_content_filename), source_dir or source blocks",
        ));
    }
    Ok(entries)
}

fn walk(
    root: &Path,
    dir: &Path,
    excludes: &[String],
    out: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), ProviderError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| invalid("source_dir", format!("cannot read {}: {e}", dir.display())))?;
    for e in rd.flatten() {
        let path = e.path();
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        if excludes.iter().any(|x| x.trim_end_matches('/') == rel) {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, excludes, out)?;
        } else {
            let bytes = std::fs::read(&path).map_err(|e| {
                invalid("source_dir", format!("cannot read {}: {e}", path.display()))
            })?;
            out.insert(rel, bytes);
        }
    }
    Ok(())
}

fn zip_bytes(
    entries: &BTreeMap<String, Vec<u8>>,
    mode: Option<u32>,
) -> Result<Vec<u8>, ProviderError> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    if let Some(m) = mode {
        opts = opts.unix_permissions(m);
    }
    let err = |e: &dyn std::fmt::Display| {
        failed("ArchiveWrite", format!("cannot write the zip archive: {e}"))
    };
    for (name, bytes) in entries {
        w.start_file(name.as_str(), opts).map_err(|e| err(&e))?;
        w.write_all(bytes).map_err(|e| err(&e))?;
    }
    Ok(w.finish().map_err(|e| err(&e))?.into_inner())
}

pub struct Archive;

#[async_trait]
impl Kind for Archive {
    fn name(&self) -> &'static str {
        "archive"
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
        Err(crate::unsupported_resource("archive", type_name))
    }

    async fn read_data(&self, _type_name: &str, config: &Value) -> Result<Value, ProviderError> {
        let kind = str_arg(config, "type").unwrap_or_default();
        if kind != "zip" {
            return Err(invalid(
                "type",
                format!("type must be \"zip\", got {kind:?}"),
            ));
        }
        let mode = match str_arg(config, "output_file_mode") {
            None => None,
            Some(s) => Some(u32::from_str_radix(s, 8).map_err(|_| {
                invalid(
                    "output_file_mode",
                    format!("output_file_mode must be an octal mode such as \"0644\", got {s:?}"),
                )
            })?),
        };
        let entries = collect_entries(config)?;
        let bytes = zip_bytes(&entries, mode)?;
        let out = str_arg(config, "output_path").unwrap_or_default();
        let out_path = Path::new(out);
        if let Some(dir) = out_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                invalid(
                    "output_path",
                    format!("cannot create the folder of {out}: {e}"),
                )
            })?;
        }
        std::fs::write(out_path, &bytes)
            .map_err(|e| invalid("output_path", format!("cannot write {out}: {e}")))?;
        let mut v = config.clone();
        let sha = sha1_hex(&bytes);
        set(&mut v, "id", sha.clone());
        set(&mut v, "output_sha", sha);
        set(&mut v, "output_size", bytes.len() as i64);
        for (name, d) in content_digests(&bytes) {
            if name != "sha1" {
                set(&mut v, &format!("output_{name}"), d);
            }
        }
        Ok(v)
    }
}
