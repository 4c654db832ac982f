//! The table of functions: names, parameters, and how unknown and sensitive
//! arguments are handled before the implementation runs.

use crate::args::Args;
use crate::{FuncContext, FuncError, Signature};
use crate::{
    collection, crypto, datetime, encoding, filesystem, format, network, numeric, strings,
    terraform1x, yaml,
};
use terrace_core::Value;

pub(crate) type Impl = fn(&Args<'_>, &FuncContext) -> Result<Value, FuncError>;

/// How much of the arguments must be known before the function runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unknowns {
    /// Any unknown anywhere inside any argument makes the result unknown.
    Deep,
    /// Only a wholly unknown argument makes the result unknown; the function
    /// copes with unknown elements itself (`length`, `keys`, `concat`, …).
    Shallow,
    /// The function copes with unknown arguments itself (`coalesce` can
    /// answer before it reaches an unknown argument).
    Own,
}

/// How the sensitive mark flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marks {
    /// Unmark the arguments, compute, mark the result if anything was marked.
    Propagate,
    /// The function sees the marked, possibly unknown, arguments and decides
    /// itself (`sensitive`, `nonsensitive`, `issensitive`).
    Custom,
    /// Only an argument's own (top-level) mark carries to the result; marks
    /// of its elements do not (`length` of a list holding a secret is not
    /// secret, as in Terraform).
    Own,
}

pub(crate) struct Spec {
    pub(crate) name: &'static str,
    params: &'static [&'static str],
    optional: usize,
    variadic: Option<&'static str>,
    unknowns: Unknowns,
    marks: Marks,
    pub(crate) pure: bool,
    imp: Impl,
}

const fn f(name: &'static str, params: &'static [&'static str], imp: Impl) -> Spec {
    Spec {
        name,
        params,
        optional: 0,
        variadic: None,
        unknowns: Unknowns::Deep,
        marks: Marks::Propagate,
        pure: true,
        imp,
    }
}

impl Spec {
    /// The last `n` fixed parameters may be left out.
    const fn optional(mut self, n: usize) -> Spec {
        self.optional = n;
        self
    }

    /// Any number of further arguments, named `name` in errors.
    const fn variadic(mut self, name: &'static str) -> Spec {
        self.variadic = Some(name);
        self
    }

    /// Only the arguments' own marks carry (see [`Marks::Own`]).
    const fn own_marks(mut self) -> Spec {
        self.marks = Marks::Own;
        self
    }

    const fn shallow(mut self) -> Spec {
        self.unknowns = Unknowns::Shallow;
        self
    }

    const fn own_unknowns(mut self) -> Spec {
        self.unknowns = Unknowns::Own;
        self
    }

    const fn custom_marks(mut self) -> Spec {
        self.marks = Marks::Custom;
        self
    }

    const fn impure(mut self) -> Spec {
        self.pure = false;
        self
    }

    pub(crate) fn signature(&self) -> Signature {
        Signature {
            min_args: self.params.len().saturating_sub(self.optional),
            max_args: if self.variadic.is_some() {
                None
            } else {
                Some(self.params.len())
            },
        }
    }

    pub(crate) fn check_arity(&self, given: usize) -> Result<(), FuncError> {
        let sig = self.signature();
        if given < sig.min_args {
            let missing = self.params.get(given).copied().unwrap_or("arg");
            return Err(FuncError::new(format!(
                "Not enough function arguments: function \"{}\" expects at least {} argument(s); missing a value for \"{missing}\".",
                self.name, sig.min_args
            )));
        }
        if let Some(max) = sig.max_args
            && given > max
        {
            return Err(FuncError::at(
                max,
                format!(
                    "Too many function arguments: function \"{}\" expects only {max} argument(s).",
                    self.name
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn call(&self, args: Vec<Value>, ctx: &FuncContext) -> Result<Value, FuncError> {
        let marked: Vec<bool> = args.iter().map(Value::contains_sensitive).collect();
        if self.marks == Marks::Custom {
            return (self.imp)(&Args::new(self.params, self.variadic, args, marked), ctx);
        }
        let sensitive = match self.marks {
            Marks::Own => args.iter().any(Value::is_sensitive),
            _ => marked.contains(&true),
        };
        let args: Vec<Value> = args.into_iter().map(|a| a.deep_unmark().0).collect();
        let unknown = match self.unknowns {
            Unknowns::Deep => args.iter().any(|a| !a.is_wholly_known()),
            Unknowns::Shallow => args.iter().any(Value::is_unknown),
            Unknowns::Own => false,
        };
        if unknown {
            return Ok(Value::Unknown.mark_if(sensitive));
        }
        let out = (self.imp)(&Args::new(self.params, self.variadic, args, marked), ctx)?;
        Ok(out.mark_if(sensitive))
    }
}

pub(crate) fn lookup(name: &str) -> Option<&'static Spec> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

const STR: &[&str] = &["str"];

pub(crate) static FUNCTIONS: &[Spec] = &[
    // numeric
    f("abs", &["num"], numeric::abs),
    f("ceil", &["num"], numeric::ceil),
    f("floor", &["num"], numeric::floor),
    f("log", &["num", "base"], numeric::log),
    f("max", &[], numeric::max).variadic("numbers"),
    f("min", &[], numeric::min).variadic("numbers"),
    f("parseint", &["number", "base"], numeric::parseint),
    f("pow", &["num", "power"], numeric::pow),
    f("signum", &["num"], numeric::signum),
    // string
    f("chomp", STR, strings::chomp),
    f("endswith", &["str", "suffix"], strings::endswith),
    f("format", &["format"], format::format).variadic("args"),
    f("formatlist", &["format"], format::formatlist)
        .variadic("args")
        .shallow(),
    f("indent", &["spaces", "str"], strings::indent),
    f("join", &["separator"], strings::join).variadic("lists"),
    f("lower", STR, strings::lower),
    f("regex", &["pattern", "string"], strings::regex),
    f("regexall", &["pattern", "string"], strings::regexall),
    f("replace", &["str", "substr", "replace"], strings::replace),
    f("split", &["separator", "str"], strings::split),
    f("startswith", &["str", "prefix"], strings::startswith),
    f("strcontains", &["str", "substr"], strings::strcontains),
    f("strrev", STR, strings::strrev),
    f("substr", &["str", "offset", "length"], strings::substr),
    f("title", STR, strings::title),
    f("trim", &["str", "cutset"], strings::trim),
    f("trimprefix", &["str", "prefix"], strings::trimprefix),
    f("trimspace", STR, strings::trimspace),
    f("trimsuffix", &["str", "suffix"], strings::trimsuffix),
    f("upper", STR, strings::upper),
    // collection
    f("alltrue", &["list"], collection::alltrue).shallow(),
    f("anytrue", &["list"], collection::anytrue).shallow(),
    f("chunklist", &["list", "size"], collection::chunklist).shallow(),
    f("coalesce", &[], collection::coalesce)
        .variadic("vals")
        .own_unknowns(),
    f("coalescelist", &[], collection::coalescelist)
        .variadic("vals")
        .own_unknowns(),
    f("compact", &["list"], collection::compact),
    f("concat", &[], collection::concat)
        .variadic("seqs")
        .shallow(),
    f("contains", &["list", "value"], collection::contains).shallow(),
    f("distinct", &["list"], collection::distinct),
    f("element", &["list", "index"], collection::element).shallow(),
    f("flatten", &["list"], collection::flatten).shallow(),
    f("index", &["list", "value"], collection::index),
    f("keys", &["inputMap"], collection::keys).shallow(),
    f("length", &["value"], collection::length)
        .shallow()
        .own_marks(),
    f(
        "lookup",
        &["inputMap", "key", "default"],
        collection::lookup,
    )
    .optional(1)
    .shallow(),
    f(
        "matchkeys",
        &["values", "keys", "searchset"],
        collection::matchkeys,
    ),
    f("merge", &[], collection::merge)
        .variadic("maps")
        .shallow(),
    f("one", &["list"], collection::one).shallow(),
    f("range", &["params", "params", "params"], collection::range).optional(2),
    f("reverse", &["list"], collection::reverse).shallow(),
    f(
        "setintersection",
        &["first_set"],
        collection::setintersection,
    )
    .variadic("other_sets"),
    f("setproduct", &[], collection::setproduct).variadic("sets"),
    f("setsubtract", &["a", "b"], collection::setsubtract),
    f("setunion", &["first_set"], collection::setunion).variadic("other_sets"),
    f(
        "slice",
        &["list", "start_index", "end_index"],
        collection::slice,
    )
    .shallow(),
    f("sort", &["list"], collection::sort),
    f("sum", &["list"], collection::sum),
    f("transpose", &["values"], collection::transpose),
    f("values", &["mapping"], collection::values).shallow(),
    f("zipmap", &["keys", "values"], collection::zipmap).shallow(),
    // encoding
    f("base64decode", STR, encoding::base64decode),
    f("base64encode", STR, encoding::base64encode),
    f("base64gzip", STR, terraform1x::base64gzip),
    f(
        "textencodebase64",
        &["string", "encoding_name"],
        terraform1x::textencodebase64,
    ),
    f(
        "textdecodebase64",
        &["source", "encoding_name"],
        terraform1x::textdecodebase64,
    ),
    f("bcrypt", &["str", "cost"], terraform1x::bcrypt)
        .optional(1)
        .impure(),
    f(
        "rsadecrypt",
        &["ciphertext", "privatekey"],
        terraform1x::rsadecrypt,
    ),
    f("plantimestamp", &[], terraform1x::plantimestamp).impure(),
    f("ephemeralasnull", &["value"], terraform1x::ephemeralasnull).shallow(),
    f("csvdecode", STR, encoding::csvdecode),
    f("jsondecode", STR, encoding::jsondecode),
    f("jsonencode", &["val"], encoding::jsonencode),
    f("urldecode", STR, encoding::urldecode),
    f("urlencode", STR, encoding::urlencode),
    f("yamldecode", &["src"], yaml::yamldecode),
    f("yamlencode", &["value"], yaml::yamlencode),
    // filesystem
    f("abspath", &["path"], filesystem::abspath),
    f("basename", &["path"], filesystem::basename),
    f("dirname", &["path"], filesystem::dirname),
    f("file", &["path"], filesystem::file),
    f("filebase64", &["path"], filesystem::filebase64),
    f("filebase64sha256", &["path"], filesystem::filebase64sha256),
    f("filebase64sha512", &["path"], filesystem::filebase64sha512),
    f("fileexists", &["path"], filesystem::fileexists),
    f("filemd5", &["path"], filesystem::filemd5),
    f("fileset", &["path", "pattern"], filesystem::fileset),
    f("filesha1", &["path"], filesystem::filesha1),
    f("filesha256", &["path"], filesystem::filesha256),
    f("filesha512", &["path"], filesystem::filesha512),
    f("pathexpand", &["path"], filesystem::pathexpand),
    // date and time
    f("formatdate", &["format", "time"], datetime::formatdate),
    f("timeadd", &["timestamp", "duration"], datetime::timeadd),
    f(
        "timecmp",
        &["timestamp_a", "timestamp_b"],
        datetime::timecmp,
    ),
    f("timestamp", &[], datetime::timestamp).impure(),
    // hash and crypto
    f("base64sha256", STR, crypto::base64sha256),
    f("base64sha512", STR, crypto::base64sha512),
    f("md5", STR, crypto::md5),
    f("sha1", STR, crypto::sha1),
    f("sha256", STR, crypto::sha256),
    f("sha512", STR, crypto::sha512),
    f("uuid", &[], crypto::uuid).impure(),
    f("uuidv5", &["namespace", "name"], crypto::uuidv5),
    // ip network
    f(
        "cidrcontains",
        &["containing_prefix", "contained_ip_or_prefix"],
        network::cidrcontains,
    ),
    f("cidrhost", &["prefix", "hostnum"], network::cidrhost),
    f("cidrnetmask", &["prefix"], network::cidrnetmask),
    f(
        "cidrsubnet",
        &["prefix", "newbits", "netnum"],
        network::cidrsubnet,
    ),
    f("cidrsubnets", &["prefix"], network::cidrsubnets).variadic("newbits"),
    // type conversion
    f("tobool", &["v"], collection::tobool),
    f("tolist", &["v"], collection::tolist).shallow(),
    f("tomap", &["v"], collection::tomap).shallow(),
    f("tonumber", &["v"], collection::tonumber),
    f("toset", &["v"], collection::toset),
    f("tostring", &["v"], collection::tostring),
    f("sensitive", &["value"], collection::sensitive).custom_marks(),
    f("nonsensitive", &["value"], collection::nonsensitive).custom_marks(),
    f("issensitive", &["value"], collection::issensitive).custom_marks(),
];
