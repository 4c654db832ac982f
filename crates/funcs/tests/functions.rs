//! Data-driven tests of the function library: one table of
//! `(function, arguments, expected result or error)`.

use terrace_core::Value;
use terrace_funcs::{FuncContext, FuncError, call, is_pure, names, signature};

/// What a call should produce.
enum Want {
    /// This exact value.
    Is(Value),
    /// An error whose message contains the text, blamed on this argument.
    Fails(Option<usize>, &'static str),
}

fn s(x: &str) -> Value {
    Value::string(x)
}
fn n(x: f64) -> Value {
    Value::from(x)
}
fn b(x: bool) -> Value {
    Value::Bool(x)
}
/// A value from JSON text (lists, maps, numbers, strings, null).
fn j(text: &str) -> Value {
    Value::from_json(&serde_json::from_str(text).expect("test JSON"))
}
fn set(v: Value) -> Value {
    Value::set(v.as_list().expect("set from list").to_vec())
}
fn unk() -> Value {
    Value::Unknown
}
fn sens(v: Value) -> Value {
    v.mark_sensitive()
}
fn list(items: Vec<Value>) -> Value {
    Value::List(items)
}
fn map(items: Vec<(&str, Value)>) -> Value {
    Value::map(items)
}
fn ok(v: Value) -> Want {
    Want::Is(v)
}
fn err(arg: usize, text: &'static str) -> Want {
    Want::Fails(Some(arg), text)
}
fn err_call(text: &'static str) -> Want {
    Want::Fails(None, text)
}

fn run(ctx: &FuncContext, cases: Vec<(&str, Vec<Value>, Want)>) {
    let mut failures = Vec::new();
    for (name, args, want) in cases {
        let shown = format!(
            "{name}({})",
            args.iter()
                .map(|a| format!("{a:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let got = call(name, args, ctx);
        match (&want, &got) {
            (Want::Is(v), Ok(g)) if v == g => {}
            (
                Want::Fails(arg, text),
                Err(FuncError {
                    arg: got_arg,
                    message,
                }),
            ) if message.contains(text) && arg == got_arg => {}
            (Want::Is(v), _) => failures.push(format!("{shown}\n   want {v:?}\n   got  {got:?}")),
            (Want::Fails(arg, text), _) => failures.push(format!(
                "{shown}\n   want error at {arg:?} containing {text:?}\n   got  {got:?}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn check(cases: Vec<(&str, Vec<Value>, Want)>) {
    run(&FuncContext::new("."), cases);
}

#[test]
fn numeric() {
    check(vec![
        ("abs", vec![n(-3.5)], ok(n(3.5))),
        ("abs", vec![s("-8")], ok(n(8.0))),
        (
            "abs",
            vec![s("x")],
            err(
                0,
                "Invalid value for \"num\" parameter: number required, got string \"x\".",
            ),
        ),
        (
            "abs",
            vec![Value::Null],
            err(0, "argument must not be null"),
        ),
        ("abs", vec![b(true)], err(0, "number required, got bool")),
        ("ceil", vec![n(1.2)], ok(n(2.0))),
        ("floor", vec![n(-1.2)], ok(n(-2.0))),
        ("floor", vec![s("8")], ok(n(8.0))),
        ("log", vec![n(8.0), n(2.0)], ok(n(3.0))),
        ("log", vec![n(16.0), n(4.0)], ok(n(2.0))),
        ("max", vec![n(12.0), n(54.0), n(3.0)], ok(n(54.0))),
        ("max", vec![], err_call("at least one number")),
        ("min", vec![n(12.0), s("54"), n(3.0)], ok(n(3.0))),
        (
            "min",
            vec![n(1.0), j("[1]")],
            err(
                1,
                "Invalid value for \"numbers\" parameter: number required, got list.",
            ),
        ),
        ("parseint", vec![s("100"), n(10.0)], ok(n(100.0))),
        ("parseint", vec![s("FF"), n(16.0)], ok(n(255.0))),
        ("parseint", vec![s("-12"), n(10.0)], ok(n(-12.0))),
        ("parseint", vec![s("1101"), n(2.0)], ok(n(13.0))),
        ("parseint", vec![s("zz"), n(36.0)], ok(n(1295.0))),
        ("parseint", vec![s("aA"), n(62.0)], ok(n(656.0))),
        (
            "parseint",
            vec![s("12"), n(1.0)],
            err(1, "base must be a whole number between 2 and 62"),
        ),
        (
            "parseint",
            vec![s("12"), n(2.0)],
            err(0, "cannot parse \"12\" as a base 2 integer"),
        ),
        ("parseint", vec![s(""), n(10.0)], err(0, "cannot parse")),
        ("pow", vec![n(3.0), n(2.0)], ok(n(9.0))),
        ("pow", vec![n(4.0), n(0.0)], ok(n(1.0))),
        ("signum", vec![n(-13.0)], ok(n(-1.0))),
        ("signum", vec![n(0.0)], ok(n(0.0))),
        ("signum", vec![s("344")], ok(n(1.0))),
        ("log", vec![n(-1.0), n(10.0)], err_call("not a number")),
    ]);
}

#[test]
fn strings() {
    check(vec![
        ("chomp", vec![s("hello\n")], ok(s("hello"))),
        ("chomp", vec![s("hello\r\n\n")], ok(s("hello"))),
        ("chomp", vec![s("hel\nlo")], ok(s("hel\nlo"))),
        ("endswith", vec![s("hello world"), s("world")], ok(b(true))),
        (
            "startswith",
            vec![s("hello world"), s("world")],
            ok(b(false)),
        ),
        (
            "startswith",
            vec![s("a"), j(r#"["x"]"#)],
            err(
                1,
                "Invalid value for \"prefix\" parameter: string required, got list.",
            ),
        ),
        ("indent", vec![n(2.0), s("a\nb\n")], ok(s("a\n  b\n  "))),
        (
            "indent",
            vec![n(-1.0), s("x")],
            err(0, "must not be negative"),
        ),
        ("indent", vec![n(1e12), s("a\nb")], err(0, "too large")),
        (
            "join",
            vec![s(", "), j(r#"["a","b","c"]"#)],
            ok(s("a, b, c")),
        ),
        (
            "join",
            vec![s("-"), j(r#"["a"]"#), j(r#"["b",1]"#)],
            ok(s("a-b-1")),
        ),
        (
            "join",
            vec![s(","), j(r#"["a",null]"#)],
            err(1, "element 1 is null"),
        ),
        (
            "join",
            vec![s(",")],
            err_call("at least one list is required"),
        ),
        ("lower", vec![s("HELLO Ü")], ok(s("hello ü"))),
        ("upper", vec![s("hello ü")], ok(s("HELLO Ü"))),
        (
            "upper",
            vec![j("[]")],
            err(
                0,
                "Invalid value for \"str\" parameter: string required, got list.",
            ),
        ),
        ("upper", vec![n(5.0)], ok(s("5"))),
        (
            "regex",
            vec![s("[a-z]+"), s("53453453.345345aaabbbccc23454")],
            ok(s("aaabbbccc")),
        ),
        (
            "regex",
            vec![s(r"(\d\d\d\d)-(\d\d)-(\d\d)"), s("2019-02-01")],
            ok(j(r#"["2019","02","01"]"#)),
        ),
        (
            "regex",
            vec![
                s("^(?:(?P<scheme>[^:/?#]+):)?(?://(?P<authority>[^/?#]*))?"),
                s("https://terraform.io/docs/"),
            ],
            ok(j(r#"{"authority":"terraform.io","scheme":"https"}"#)),
        ),
        (
            "regex",
            vec![s("(a)|(b)"), s("b")],
            ok(list(vec![Value::Null, s("b")])),
        ),
        (
            "regex",
            vec![s("[a-z]+"), s("123")],
            err(1, "pattern did not match any part of the given string"),
        ),
        (
            "regex",
            vec![s("("), s("x")],
            err(0, "invalid regular expression pattern"),
        ),
        (
            "regex",
            vec![s("(?P<a>x)(y)"), s("xy")],
            err(0, "cannot mix both named and unnamed"),
        ),
        (
            "regexall",
            vec![s("[a-z]+"), s("1234abcd5678efgh9")],
            ok(j(r#"["abcd","efgh"]"#)),
        ),
        ("regexall", vec![s("[a-z]+"), s("123")], ok(j("[]"))),
        (
            "regexall",
            vec![s(r"(\d)(\w)"), s("1a2b")],
            ok(j(r#"[["1","a"],["2","b"]]"#)),
        ),
        (
            "replace",
            vec![s("1 + 2 + 3"), s("+"), s("-")],
            ok(s("1 - 2 - 3")),
        ),
        (
            "replace",
            vec![s("hello world"), s("/w.*d/"), s("everybody")],
            ok(s("hello everybody")),
        ),
        (
            "replace",
            vec![s("abc"), s("/(b)/"), s("[$1]")],
            ok(s("a[b]c")),
        ),
        (
            "replace",
            vec![s("abc"), s("/(/"), s("x")],
            err(1, "invalid regular expression"),
        ),
        ("replace", vec![s("abc"), s(""), s("-")], ok(s("-a-b-c-"))),
        (
            "split",
            vec![s(","), s("foo,bar,baz")],
            ok(j(r#"["foo","bar","baz"]"#)),
        ),
        ("split", vec![s(","), s("foo")], ok(j(r#"["foo"]"#))),
        ("split", vec![s(","), s("")], ok(j(r#"[""]"#))),
        ("split", vec![s(""), s("ab")], ok(j(r#"["a","b"]"#))),
        ("strcontains", vec![s("hello world"), s("wor")], ok(b(true))),
        (
            "strcontains",
            vec![s("hello world"), s("cat")],
            ok(b(false)),
        ),
        ("strrev", vec![s("hello")], ok(s("olleh"))),
        ("strrev", vec![s("a\u{301}b")], ok(s("ba\u{301}"))),
        (
            "substr",
            vec![s("hello world"), n(1.0), n(4.0)],
            ok(s("ello")),
        ),
        ("substr", vec![s("🤔🤷"), n(0.0), n(1.0)], ok(s("🤔"))),
        (
            "substr",
            vec![s("hello world"), n(-5.0), n(-1.0)],
            ok(s("world")),
        ),
        ("substr", vec![s("hello"), n(10.0), n(1.0)], ok(s(""))),
        ("substr", vec![s("hello"), n(1.0), n(-1.0)], ok(s("ello"))),
        ("substr", vec![s("hello"), n(-10.0), n(2.0)], ok(s("he"))),
        (
            "substr",
            vec![s("hello"), n(1.5), n(2.0)],
            err(1, "whole number"),
        ),
        ("title", vec![s("hello world")], ok(s("Hello World"))),
        ("title", vec![s("hello-world_x")], ok(s("Hello-World_x"))),
        ("trim", vec![s("?!hello?!"), s("!?")], ok(s("hello"))),
        (
            "trimprefix",
            vec![s("helloworld"), s("hello")],
            ok(s("world")),
        ),
        (
            "trimprefix",
            vec![s("helloworld"), s("cat")],
            ok(s("helloworld")),
        ),
        (
            "trimsuffix",
            vec![s("helloworld"), s("world")],
            ok(s("hello")),
        ),
        ("trimspace", vec![s("  hello\n\n")], ok(s("hello"))),
        ("length", vec![s("🤔🤷")], ok(n(2.0))),
        ("length", vec![s("e\u{301}")], ok(n(1.0))),
    ]);
}

#[test]
fn format_verbs() {
    check(vec![
        (
            "format",
            vec![s("Hello, %s!"), s("Ander")],
            ok(s("Hello, Ander!")),
        ),
        (
            "format",
            vec![s("There are %d lights"), n(4.0)],
            ok(s("There are 4 lights")),
        ),
        ("format", vec![s("%.2f"), n(4.56789)], ok(s("4.57"))),
        ("format", vec![s("%f"), n(1.5)], ok(s("1.500000"))),
        (
            "format",
            vec![s("%5d|%-5d|%05d"), n(42.0), n(42.0), n(42.0)],
            ok(s("   42|42   |00042")),
        ),
        (
            "format",
            vec![s("%+d %+d % d"), n(5.0), n(-5.0), n(5.0)],
            ok(s("+5 -5  5")),
        ),
        (
            "format",
            vec![s("%8.3f|%-8.2f|%08.3f"), n(4.56789), n(2.5), n(-4.56789)],
            ok(s("   4.568|2.50    |-004.568")),
        ),
        ("format", vec![s("%q"), s("a\"b")], ok(s("\"a\\\"b\""))),
        (
            "format",
            vec![s("%v %v %v"), s("s"), n(1.5), b(true)],
            ok(s("s 1.5 true")),
        ),
        (
            "format",
            vec![s("%v"), j(r#"[1,"a"]"#)],
            ok(s(r#"[1,"a"]"#)),
        ),
        (
            "format",
            vec![s("%v"), j(r#"{"b":1,"a":null}"#)],
            ok(s(r#"{"a":null,"b":1}"#)),
        ),
        ("format", vec![s("%v"), Value::Null], ok(s("null"))),
        ("format", vec![s("%#v"), s("x")], ok(s("\"x\""))),
        ("format", vec![s("%t"), b(true)], ok(s("true"))),
        ("format", vec![s("%t"), s("false")], ok(s("false"))),
        ("format", vec![s("100%%")], ok(s("100%"))),
        (
            "format",
            vec![s("%x %X %o %b"), n(255.0), n(255.0), n(8.0), n(5.0)],
            ok(s("ff FF 10 101")),
        ),
        (
            "format",
            vec![s("%#x %#o"), n(255.0), n(8.0)],
            ok(s("0xff 010")),
        ),
        ("format", vec![s("%e"), n(1234.5678)], ok(s("1.234568e+03"))),
        ("format", vec![s("%.2E"), n(0.000123)], ok(s("1.23E-04"))),
        ("format", vec![s("%g"), n(1234567.0)], ok(s("1.234567e+06"))),
        ("format", vec![s("%g"), n(123456.0)], ok(s("123456"))),
        ("format", vec![s("%g"), n(0.00001)], ok(s("1e-05"))),
        ("format", vec![s("%.3g"), n(4.56789)], ok(s("4.57"))),
        ("format", vec![s("%v"), n(1000000.0)], ok(s("1e+06"))),
        ("format", vec![s("%v"), n(100000.0)], ok(s("100000"))),
        (
            "format",
            vec![s("%[2]s %[1]s %s"), s("a"), s("b")],
            ok(s("b a b")),
        ),
        (
            "format",
            vec![s("%-8s|%8s|"), s("ab"), s("cd")],
            ok(s("ab      |      cd|")),
        ),
        ("format", vec![s("%.1s"), s("abc")], ok(s("a"))),
        ("format", vec![s("%d"), s("12")], ok(s("12"))),
        ("format", vec![s("%s"), n(1.5)], ok(s("1.5"))),
        (
            "format",
            vec![s("%s"), Value::Null],
            err(
                1,
                "unsupported value for \"%s\" at 0: null value cannot be formatted",
            ),
        ),
        (
            "format",
            vec![s("%d"), n(1.5)],
            err(1, "an integer is required"),
        ),
        (
            "format",
            vec![s("%d")],
            err(
                0,
                "not enough arguments for \"%d\" at 0: need index 1 but have 0 total",
            ),
        ),
        (
            "format",
            vec![s("%s"), s("a"), s("b")],
            err(2, "too many arguments; only 1 used by format string"),
        ),
        (
            "format",
            vec![s("plain"), s("a")],
            err(1, "too many arguments; no verbs in format string"),
        ),
        (
            "format",
            vec![s("%z"), n(1.0)],
            err(0, "unsupported format verb 'z'"),
        ),
        (
            "format",
            vec![s("%s"), j("[1]")],
            err(1, "string required, got list"),
        ),
        (
            "format",
            vec![s("%"), n(1.0)],
            err(0, "unterminated format verb"),
        ),
        ("format", vec![s("%s"), unk()], ok(unk())),
        (
            "formatlist",
            vec![s("Hello, %s!"), j(r#"["Valentina","Ander"]"#)],
            ok(j(r#"["Hello, Valentina!","Hello, Ander!"]"#)),
        ),
        (
            "formatlist",
            vec![s("%s=%s"), j(r#"["a","b"]"#), s("x")],
            ok(j(r#"["a=x","b=x"]"#)),
        ),
        ("formatlist", vec![s("%s"), j("[]")], ok(j("[]"))),
        ("formatlist", vec![s("x")], ok(j(r#"["x"]"#))),
        (
            "formatlist",
            vec![s("%s %s"), j(r#"["a"]"#), j(r#"["b","c"]"#)],
            err(
                2,
                "argument 2 has length 2, which is inconsistent with argument 1 of length 1",
            ),
        ),
        (
            "formatlist",
            vec![s("%s"), list(vec![unk(), s("b")])],
            ok(list(vec![unk(), s("b")])),
        ),
        (
            "formatlist",
            vec![s("%d"), j(r#"["x"]"#)],
            err_call("error on format iteration 0"),
        ),
    ]);
}

#[test]
fn collections() {
    check(vec![
        ("alltrue", vec![j(r#"["true", true]"#)], ok(b(true))),
        ("alltrue", vec![j("[true, false]")], ok(b(false))),
        ("alltrue", vec![j("[]")], ok(b(true))),
        ("alltrue", vec![list(vec![b(true), unk()])], ok(unk())),
        ("alltrue", vec![list(vec![b(false), unk()])], ok(b(false))),
        (
            "alltrue",
            vec![j(r#"["yes"]"#)],
            err(0, "element 0 must be a bool"),
        ),
        ("anytrue", vec![j(r#"[false, "true"]"#)], ok(b(true))),
        ("anytrue", vec![j("[]")], ok(b(false))),
        ("anytrue", vec![list(vec![unk(), b(true)])], ok(b(true))),
        (
            "chunklist",
            vec![j(r#"["a","b","c","d","e"]"#), n(2.0)],
            ok(j(r#"[["a","b"],["c","d"],["e"]]"#)),
        ),
        (
            "chunklist",
            vec![j(r#"["a"]"#), n(0.0)],
            ok(j(r#"[["a"]]"#)),
        ),
        (
            "chunklist",
            vec![j(r#"["a"]"#), n(-1.0)],
            err(1, "the size argument must be positive"),
        ),
        ("coalesce", vec![s("a"), s("b")], ok(s("a"))),
        ("coalesce", vec![s(""), s("b")], ok(s("b"))),
        ("coalesce", vec![Value::Null, n(1.0), n(2.0)], ok(n(1.0))),
        ("coalesce", vec![n(1.0), s("x")], ok(s("1"))),
        (
            "coalesce",
            vec![Value::Null, s("")],
            err_call("no non-null, non-empty-string arguments"),
        ),
        ("coalesce", vec![s("a"), unk()], ok(s("a"))),
        ("coalesce", vec![unk(), s("a")], ok(unk())),
        (
            "coalescelist",
            vec![j(r#"["a","b"]"#), j(r#"["c"]"#)],
            ok(j(r#"["a","b"]"#)),
        ),
        (
            "coalescelist",
            vec![j("[]"), j(r#"["c"]"#)],
            ok(j(r#"["c"]"#)),
        ),
        (
            "coalescelist",
            vec![j("[]"), j("[]")],
            err_call("no non-null arguments"),
        ),
        (
            "coalescelist",
            vec![s("x")],
            err(0, "list required, got string"),
        ),
        (
            "compact",
            vec![j(r#"["a", "", "b", null]"#)],
            ok(j(r#"["a","b"]"#)),
        ),
        (
            "concat",
            vec![j(r#"["a",""]"#), j(r#"["b","c"]"#)],
            ok(j(r#"["a","","b","c"]"#)),
        ),
        (
            "concat",
            vec![j(r#"["a"]"#), s("b")],
            err(1, "all arguments must be lists or tuples; got string"),
        ),
        (
            "concat",
            vec![list(vec![unk()]), j(r#"["b"]"#)],
            ok(list(vec![unk(), s("b")])),
        ),
        (
            "concat",
            vec![set(j(r#"["b","a"]"#))],
            ok(j(r#"["a","b"]"#)),
        ),
        ("contains", vec![j(r#"["a","b","c"]"#), s("a")], ok(b(true))),
        (
            "contains",
            vec![j(r#"["a","b","c"]"#), s("d")],
            ok(b(false)),
        ),
        ("contains", vec![j("[1,2]"), s("1")], ok(b(true))),
        (
            "contains",
            vec![list(vec![unk(), s("a")]), s("a")],
            ok(b(true)),
        ),
        ("contains", vec![list(vec![unk()]), s("a")], ok(unk())),
        (
            "contains",
            vec![s("abc"), s("a")],
            err(0, "list required, got string"),
        ),
        (
            "distinct",
            vec![j(r#"["a","b","a","c","d","b"]"#)],
            ok(j(r#"["a","b","c","d"]"#)),
        ),
        ("element", vec![j(r#"["a","b","c"]"#), n(1.0)], ok(s("b"))),
        ("element", vec![j(r#"["a","b","c"]"#), n(3.0)], ok(s("a"))),
        (
            "element",
            vec![j("[]"), n(0.0)],
            err(0, "cannot use element function with an empty list"),
        ),
        (
            "element",
            vec![j(r#"["a"]"#), n(-1.0)],
            err(1, "cannot use element function with a negative index"),
        ),
        (
            "element",
            vec![list(vec![unk(), s("b")]), n(1.0)],
            ok(s("b")),
        ),
        (
            "flatten",
            vec![j(r#"[["a","b"],[],["c"]]"#)],
            ok(j(r#"["a","b","c"]"#)),
        ),
        (
            "flatten",
            vec![j(r#"[[["a","b"],[]],["c"],"d"]"#)],
            ok(j(r#"["a","b","c","d"]"#)),
        ),
        (
            "flatten",
            vec![j(r#"[{"a":1},[{"b":2}]]"#)],
            ok(j(r#"[{"a":1},{"b":2}]"#)),
        ),
        ("flatten", vec![list(vec![list(vec![unk()])])], ok(unk())),
        ("index", vec![j(r#"["a","b","c"]"#), s("b")], ok(n(1.0))),
        (
            "index",
            vec![j(r#"["a"]"#), s("z")],
            err(1, "item not found"),
        ),
        (
            "keys",
            vec![j(r#"{"a":1,"c":2,"d":3}"#)],
            ok(j(r#"["a","c","d"]"#)),
        ),
        ("keys", vec![map(vec![("a", unk())])], ok(j(r#"["a"]"#))),
        (
            "keys",
            vec![s("x")],
            err(
                0,
                "Invalid value for \"inputMap\" parameter: map required, got string.",
            ),
        ),
        ("length", vec![j("[]")], ok(n(0.0))),
        ("length", vec![j(r#"["a","b"]"#)], ok(n(2.0))),
        ("length", vec![j(r#"{"a":"b"}"#)], ok(n(1.0))),
        ("length", vec![s("hello")], ok(n(5.0))),
        ("length", vec![list(vec![unk(), unk()])], ok(n(2.0))),
        ("length", vec![unk()], ok(unk())),
        (
            "length",
            vec![n(5.0)],
            err(
                0,
                "argument must be a string, a collection type, or a structural type",
            ),
        ),
        (
            "length",
            vec![Value::Null],
            err(0, "argument must not be null"),
        ),
        (
            "lookup",
            vec![j(r#"{"a":"ay","b":"bee"}"#), s("a"), s("what?")],
            ok(s("ay")),
        ),
        (
            "lookup",
            vec![j(r#"{"a":"ay"}"#), s("c"), s("what?")],
            ok(s("what?")),
        ),
        (
            "lookup",
            vec![j(r#"{"a":"ay"}"#), s("c")],
            err(1, "lookup failed to find key \"c\""),
        ),
        (
            "lookup",
            vec![j(r#"{"a":"x"}"#), s("b"), n(1.0)],
            ok(s("1")),
        ),
        ("lookup", vec![map(vec![("a", unk())]), s("a")], ok(unk())),
        (
            "matchkeys",
            vec![
                j(r#"["i-123","i-abc","i-def"]"#),
                j(r#"["us-west","us-east","us-east"]"#),
                j(r#"["us-east"]"#),
            ],
            ok(j(r#"["i-abc","i-def"]"#)),
        ),
        (
            "matchkeys",
            vec![j(r#"["a"]"#), j("[]"), j("[]")],
            err(1, "length of keys and values should be equal"),
        ),
        (
            "merge",
            vec![j(r#"{"a":"b","c":"d"}"#), j(r#"{"e":"f","c":"z"}"#)],
            ok(j(r#"{"a":"b","c":"z","e":"f"}"#)),
        ),
        (
            "merge",
            vec![j(r#"{"a":1}"#), Value::Null],
            ok(j(r#"{"a":1}"#)),
        ),
        ("merge", vec![], ok(j("{}"))),
        (
            "merge",
            vec![j(r#"{"a":1}"#), j(r#"["x"]"#)],
            err(1, "arguments must be maps or objects, got \"list\""),
        ),
        (
            "merge",
            vec![map(vec![("a", unk())]), j(r#"{"b":1}"#)],
            ok(map(vec![("a", unk()), ("b", n(1.0))])),
        ),
        ("one", vec![j("[]")], ok(Value::Null)),
        ("one", vec![j(r#"["hello"]"#)], ok(s("hello"))),
        (
            "one",
            vec![j(r#"["a","b"]"#)],
            err(
                0,
                "must be a list, set, or tuple value with either zero or one elements",
            ),
        ),
        ("range", vec![n(3.0)], ok(j("[0,1,2]"))),
        ("range", vec![n(1.0), n(4.0)], ok(j("[1,2,3]"))),
        ("range", vec![n(1.0), n(8.0), n(2.0)], ok(j("[1,3,5,7]"))),
        ("range", vec![n(4.0), n(1.0)], ok(j("[4,3,2]"))),
        ("range", vec![n(-3.0)], ok(j("[0,-1,-2]"))),
        (
            "range",
            vec![n(0.0), n(1.0), n(0.25)],
            ok(j("[0,0.25,0.5,0.75]")),
        ),
        ("range", vec![n(0.0)], ok(j("[]"))),
        (
            "range",
            vec![n(1.0), n(4.0), n(-1.0)],
            err(1, "end must be less than start when step is negative"),
        ),
        (
            "range",
            vec![n(4.0), n(1.0), n(1.0)],
            err(1, "end must be greater than start when step is positive"),
        ),
        (
            "range",
            vec![n(0.0), n(1.0), n(0.0)],
            err(2, "step must not be zero"),
        ),
        (
            "range",
            vec![n(1_048_576.0)],
            err_call("more than 1024 values were generated"),
        ),
        (
            "range",
            vec![n(1e300), n(1e301), n(1.0)],
            err_call("more than 1024 values were generated"),
        ),
        ("reverse", vec![j("[1,2,3]")], ok(j("[3,2,1]"))),
        (
            "setintersection",
            vec![j(r#"["a","b"]"#), j(r#"["b","c"]"#), j(r#"["b","d"]"#)],
            ok(set(j(r#"["b"]"#))),
        ),
        (
            "setproduct",
            vec![j(r#"["development","staging"]"#), j(r#"["app1","app2"]"#)],
            ok(j(
                r#"[["development","app1"],["development","app2"],["staging","app1"],["staging","app2"]]"#,
            )),
        ),
        ("setproduct", vec![j(r#"["a"]"#), j("[]")], ok(j("[]"))),
        (
            "setproduct",
            vec![j(r#"["a"]"#)],
            err_call("at least two arguments are required"),
        ),
        (
            "setsubtract",
            vec![j(r#"["a","b","c"]"#), j(r#"["a","c"]"#)],
            ok(set(j(r#"["b"]"#))),
        ),
        (
            "setunion",
            vec![j(r#"["a","b"]"#), j(r#"["b","c"]"#), j(r#"["d"]"#)],
            ok(set(j(r#"["a","b","c","d"]"#))),
        ),
        (
            "setunion",
            vec![j(r#"["1"]"#), j("[1, 2]")],
            ok(set(j(r#"["1","2"]"#))),
        ),
        (
            "slice",
            vec![j(r#"["a","b","c","d"]"#), n(1.0), n(3.0)],
            ok(j(r#"["b","c"]"#)),
        ),
        (
            "slice",
            vec![j(r#"["a"]"#), n(0.0), n(2.0)],
            err(
                2,
                "to index must be smaller than or equal to the length of the list",
            ),
        ),
        (
            "slice",
            vec![j(r#"["a","b"]"#), n(2.0), n(1.0)],
            err(1, "from index must be less than or equal to index"),
        ),
        (
            "slice",
            vec![j("[]"), n(-1.0), n(0.0)],
            err(1, "from index must be greater than or equal to 0"),
        ),
        (
            "sort",
            vec![j(r#"["e","d","a","x"]"#)],
            ok(j(r#"["a","d","e","x"]"#)),
        ),
        ("sort", vec![j("[10, 2]")], ok(j(r#"["10","2"]"#))),
        (
            "sort",
            vec![j(r#"["a", null]"#)],
            err(
                0,
                "given list element 1 is null; a null string cannot be sorted",
            ),
        ),
        ("sum", vec![j("[10, 13, 6, 4.5]")], ok(n(33.5))),
        ("sum", vec![j(r#"["1", 2]"#)], ok(n(3.0))),
        ("sum", vec![j("[]")], err(0, "cannot sum an empty list")),
        (
            "sum",
            vec![j(r#"["a"]"#)],
            err(0, "argument must be list, set, or tuple of number values"),
        ),
        (
            "transpose",
            vec![j(r#"{"a":["1","2"],"b":["2","3"]}"#)],
            ok(j(r#"{"1":["a"],"2":["a","b"],"3":["b"]}"#)),
        ),
        (
            "transpose",
            vec![j(r#"{"a":"x"}"#)],
            err(0, "map of lists of strings required"),
        ),
        (
            "values",
            vec![j(r#"{"a":3,"c":2,"d":1}"#)],
            ok(j("[3,2,1]")),
        ),
        (
            "values",
            vec![map(vec![("a", unk())])],
            ok(list(vec![unk()])),
        ),
        (
            "zipmap",
            vec![j(r#"["a","b"]"#), j("[1,2]")],
            ok(j(r#"{"a":1,"b":2}"#)),
        ),
        (
            "zipmap",
            vec![j(r#"["a"]"#), j("[1,2]")],
            err(1, "number of keys (1) does not match number of values (2)"),
        ),
        (
            "zipmap",
            vec![j(r#"["a"]"#), list(vec![unk()])],
            ok(map(vec![("a", unk())])),
        ),
        ("zipmap", vec![list(vec![unk()]), j("[1]")], ok(unk())),
    ]);
}

#[test]
fn encodings() {
    check(vec![
        (
            "base64encode",
            vec![s("Hello World")],
            ok(s("SGVsbG8gV29ybGQ=")),
        ),
        (
            "base64decode",
            vec![s("SGVsbG8gV29ybGQ=")],
            ok(s("Hello World")),
        ),
        (
            "base64decode",
            vec![s("SGVsbG8g\nV29ybGQ=")],
            ok(s("Hello World")),
        ),
        (
            "base64decode",
            vec![s("%%%")],
            err(0, "failed to decode base64 data \"%%%\""),
        ),
        ("base64decode", vec![s("/w==")], err(0, "not valid UTF-8")),
        (
            "csvdecode",
            vec![s("a,b,c\n1,2,3\n4,5,6")],
            ok(j(
                r#"[{"a":"1","b":"2","c":"3"},{"a":"4","b":"5","c":"6"}]"#,
            )),
        ),
        (
            "csvdecode",
            vec![s("a,\"b\"\"c\"\r\n\"x,\ny\",z\n")],
            ok(j(r#"[{"a":"x,\ny","b\"c":"z"}]"#)),
        ),
        ("csvdecode", vec![s("a,b\n")], ok(j("[]"))),
        (
            "csvdecode",
            vec![s("a,b\n1")],
            err(0, "CSV parse error on line 2: wrong number of fields"),
        ),
        (
            "csvdecode",
            vec![s("a,b\n1,x\"y")],
            err(0, "bare \" in non-quoted-field"),
        ),
        ("csvdecode", vec![s("")], err(0, "missing header line")),
        (
            "jsondecode",
            vec![s(r#"{"hello": "world"}"#)],
            ok(j(r#"{"hello":"world"}"#)),
        ),
        ("jsondecode", vec![s("true")], ok(b(true))),
        (
            "jsondecode",
            vec![s(r#"[1, "a", null, 2.5]"#)],
            ok(j(r#"[1,"a",null,2.5]"#)),
        ),
        ("jsondecode", vec![s("{")], err(0, "invalid JSON")),
        ("jsondecode", vec![s("")], err(0, "invalid JSON")),
        (
            "jsonencode",
            vec![j(r#"{"hello":"world"}"#)],
            ok(s(r#"{"hello":"world"}"#)),
        ),
        (
            "jsonencode",
            vec![j(r#"{"b":[1,2.5,true,null],"a":"<x&y>"}"#)],
            ok(s(r#"{"a":"\u003cx\u0026y\u003e","b":[1,2.5,true,null]}"#)),
        ),
        (
            "jsonencode",
            vec![s("\n\t\u{2028}\u{1}é")],
            ok(s("\"\\n\\t\\u2028\\u0001é\"")),
        ),
        ("jsonencode", vec![n(1e21)], ok(s("1000000000000000000000"))),
        ("jsonencode", vec![n(0.1)], ok(s("0.1"))),
        ("jsonencode", vec![Value::Null], ok(s("null"))),
        (
            "jsonencode",
            vec![set(j(r#"["b","a"]"#))],
            ok(s(r#"["a","b"]"#)),
        ),
        ("jsonencode", vec![list(vec![unk()])], ok(unk())),
        (
            "urlencode",
            vec![s("Hello World!")],
            ok(s("Hello+World%21")),
        ),
        ("urlencode", vec![s("☃")], ok(s("%E2%98%83"))),
        (
            "urlencode",
            vec![s("a/b?c=d&e~f")],
            ok(s("a%2Fb%3Fc%3Dd%26e~f")),
        ),
        (
            "urldecode",
            vec![s("Hello+World%21%E2%98%83")],
            ok(s("Hello World!☃")),
        ),
        (
            "urldecode",
            vec![s("%zz")],
            err(0, "invalid URL escape \"%zz\""),
        ),
        (
            "yamldecode",
            vec![s("hello: world")],
            ok(j(r#"{"hello":"world"}"#)),
        ),
        ("yamldecode", vec![s("true")], ok(b(true))),
        (
            "yamldecode",
            vec![s("{a: &foo [1, 2, 3], b: *foo}")],
            ok(j(r#"{"a":[1,2,3],"b":[1,2,3]}"#)),
        ),
        (
            "yamldecode",
            vec![s("- a\n- 1\n- null\n- 2.5\n")],
            ok(j(r#"["a",1,null,2.5]"#)),
        ),
        (
            "yamldecode",
            vec![s("a: aa\n<<:\n  b: bb\n")],
            ok(j(r#"{"a":"aa","b":"bb"}"#)),
        ),
        ("yamldecode", vec![s("1: one")], ok(j(r#"{"1":"one"}"#))),
        ("yamldecode", vec![s("")], ok(Value::Null)),
        ("yamldecode", vec![s("a: [")], err(0, "invalid YAML")),
        (
            "yamldecode",
            vec![s("a: 1\n---\nb: 2")],
            err(0, "invalid YAML"),
        ),
        (
            "yamlencode",
            vec![j(r#"{"a":"b","c":"d"}"#)],
            ok(s("\"a\": \"b\"\n\"c\": \"d\"\n")),
        ),
        (
            "yamlencode",
            vec![j(r#"{"foo":[1,2,3],"bar":"baz"}"#)],
            ok(s("\"bar\": \"baz\"\n\"foo\":\n- 1\n- 2\n- 3\n")),
        ),
        (
            "yamlencode",
            vec![j(r#"{"foo":[1,{"a":"b","c":"d"},3],"bar":"baz"}"#)],
            ok(s(
                "\"bar\": \"baz\"\n\"foo\":\n- 1\n- \"a\": \"b\"\n  \"c\": \"d\"\n- 3\n",
            )),
        ),
        (
            "yamlencode",
            vec![j(r#"{"a":{"b":{"c":[]}}}"#)],
            ok(s("\"a\":\n  \"b\":\n    \"c\": []\n")),
        ),
        (
            "yamlencode",
            vec![j("[[1,2],[]]")],
            ok(s("- - 1\n  - 2\n- []\n")),
        ),
        ("yamlencode", vec![b(true)], ok(s("true\n...\n"))),
        ("yamlencode", vec![s("hello")], ok(s("\"hello\"\n"))),
        ("yamlencode", vec![j("{}")], ok(s("{}\n"))),
        (
            "yamlencode",
            vec![j(r#"{"a":"x\ny"}"#)],
            ok(s("\"a\": |-\n  x\n  y\n")),
        ),
        (
            "yamlencode",
            vec![j(r#"["x\ny\n"]"#)],
            ok(s("- |\n  x\n  y\n")),
        ),
        (
            "yamlencode",
            vec![j(r#"{"a":"tab\there 🤔"}"#)],
            ok(s("\"a\": \"tab\\there \\U0001F914\"\n")),
        ),
    ]);
}

#[test]
fn yaml_round_trips() {
    let ctx = FuncContext::new(".");
    let samples = [
        j(
            r##"{"name":"web","ports":[80,443],"tags":{"env":"prod","empty":{}},"script":"#!/bin/sh\necho hi\n","flag":true,"none":null}"##,
        ),
        j(r#"[{"a":"  leading spaces\nsecond"},"trailing \n","x\n\n",[],["y\n"],"\n"]"#),
        j(r#"{"weird":"\"quoted\" \\ back: colon # hash","multi":"a\n b\n  c"}"#),
    ];
    for v in samples {
        let yaml = call("yamlencode", vec![v.clone()], &ctx).expect("encode");
        let back = call("yamldecode", vec![yaml.clone()], &ctx).expect("decode");
        assert_eq!(back, v, "round trip through {yaml:?}");
    }
}

#[test]
fn filesystem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::write(root.join("hello.txt"), "Hello World").expect("write");
    std::fs::write(root.join("bin.dat"), [0xff, 0x00, 0x61]).expect("write");
    std::fs::create_dir_all(root.join("sub/deep")).expect("mkdir");
    std::fs::write(root.join("sub/x.txt"), "x").expect("write");
    std::fs::write(root.join("sub/deep/y.txt"), "y").expect("write");
    std::fs::write(root.join("sub/deep/z.md"), "z").expect("write");
    let ctx = FuncContext::new(root);
    let home = std::env::var("HOME").unwrap_or_default();
    let abs = root.join("hello.txt").to_string_lossy().into_owned();
    run(
        &ctx,
        vec![
            ("file", vec![s("hello.txt")], ok(s("Hello World"))),
            ("file", vec![s(&abs)], ok(s("Hello World"))),
            ("file", vec![s("./sub/../hello.txt")], ok(s("Hello World"))),
            (
                "file",
                vec![s("missing.txt")],
                err(0, "no file exists at \"missing.txt\""),
            ),
            (
                "file",
                vec![sens(s("missing.txt"))],
                err(0, "no file exists at (sensitive value)"),
            ),
            (
                "file",
                vec![s("bin.dat")],
                err(
                    0,
                    "contents of \"bin.dat\" are not valid UTF-8; use the filebase64 function",
                ),
            ),
            (
                "file",
                vec![s("sub")],
                err(0, "failed to read file \"sub\""),
            ),
            ("filebase64", vec![s("bin.dat")], ok(s("/wBh"))),
            ("fileexists", vec![s("hello.txt")], ok(b(true))),
            ("fileexists", vec![s("nope.txt")], ok(b(false))),
            (
                "fileexists",
                vec![s("sub")],
                err(0, "\"sub\" is a directory, not a file"),
            ),
            (
                "filemd5",
                vec![s("hello.txt")],
                ok(s("b10a8db164e0754105b7a99be72e3fe5")),
            ),
            (
                "filesha256",
                vec![s("hello.txt")],
                ok(s(
                    "a591a6d40bf420404a011733cfb7b190d62c65bf0bcda32b57b277d9ad9f146e",
                )),
            ),
            (
                "filebase64sha256",
                vec![s("hello.txt")],
                ok(s("pZGm1Av0IEBKARczz7exkNYsZb8LzaMrV7J32a2fFG4=")),
            ),
            (
                "fileset",
                vec![s("."), s("*.txt")],
                ok(set(j(r#"["hello.txt"]"#))),
            ),
            (
                "fileset",
                vec![s("."), s("**/*.txt")],
                ok(set(j(r#"["hello.txt","sub/deep/y.txt","sub/x.txt"]"#))),
            ),
            (
                "fileset",
                vec![s("sub"), s("**/*.{md,txt}")],
                ok(set(j(r#"["deep/y.txt","deep/z.md","x.txt"]"#))),
            ),
            ("fileset", vec![s("missing"), s("*")], ok(set(j("[]")))),
            (
                "fileset",
                vec![s("."), s("[")],
                err(1, "failed to glob pattern"),
            ),
            ("basename", vec![s("foo/bar/baz.txt")], ok(s("baz.txt"))),
            ("basename", vec![s("foo/bar/")], ok(s("bar"))),
            ("basename", vec![s("/")], ok(s("/"))),
            ("basename", vec![s("")], ok(s("."))),
            ("dirname", vec![s("foo/bar/baz.txt")], ok(s("foo/bar"))),
            ("dirname", vec![s("baz.txt")], ok(s("."))),
            ("dirname", vec![s("/foo")], ok(s("/"))),
            ("abspath", vec![s("/a/../b/./c")], ok(s("/b/c"))),
            (
                "pathexpand",
                vec![s("~/.ssh/id_rsa")],
                ok(s(&format!("{home}/.ssh/id_rsa"))),
            ),
            (
                "pathexpand",
                vec![s("/etc/resolv.conf")],
                ok(s("/etc/resolv.conf")),
            ),
            (
                "pathexpand",
                vec![s("~other/x")],
                err(0, "cannot expand user-specific home dir"),
            ),
        ],
    );
    let cwd = std::env::current_dir().expect("cwd");
    let got = call("abspath", vec![s("x/y")], &ctx).expect("abspath");
    assert_eq!(got, s(&format!("{}/x/y", cwd.to_string_lossy())));
}

#[test]
fn date_and_time() {
    check(vec![
        (
            "formatdate",
            vec![s("DD MMM YYYY hh:mm ZZZ"), s("2018-01-02T23:12:01Z")],
            ok(s("02 Jan 2018 23:12 UTC")),
        ),
        (
            "formatdate",
            vec![s("EEEE, DD-MMM-YY hh:mm:ss ZZZ"), s("2018-01-02T23:12:01Z")],
            ok(s("Tuesday, 02-Jan-18 23:12:01 UTC")),
        ),
        (
            "formatdate",
            vec![
                s("EEE, DD MMM YYYY hh:mm:ss ZZZ"),
                s("2018-01-02T23:12:01-08:00"),
            ],
            ok(s("Tue, 02 Jan 2018 23:12:01 -0800")),
        ),
        (
            "formatdate",
            vec![s("MMM DD, YYYY"), s("2018-01-02T23:12:01Z")],
            ok(s("Jan 02, 2018")),
        ),
        (
            "formatdate",
            vec![s("HH:mmaa"), s("2018-01-02T23:12:01Z")],
            ok(s("11:12pm")),
        ),
        (
            "formatdate",
            vec![s("h 'o''clock' AA"), s("2018-01-02T09:05:00Z")],
            ok(s("9 o'clock AM")),
        ),
        (
            "formatdate",
            vec![s("Z ZZZZ ZZZZZ"), s("2018-01-02T23:12:01+05:30")],
            ok(s("+05:30 +0530 +05:30")),
        ),
        (
            "formatdate",
            vec![s("Z"), s("2018-01-02T23:12:01.123Z")],
            ok(s("Z")),
        ),
        (
            "formatdate",
            vec![s("M/D/YYYY s"), s("2018-03-04T00:00:07Z")],
            ok(s("3/4/2018 7")),
        ),
        (
            "formatdate",
            vec![s("YYY"), s("2018-01-02T23:12:01Z")],
            err(0, "year must either be \"YY\" or \"YYYY\""),
        ),
        (
            "formatdate",
            vec![s("q"), s("2018-01-02T23:12:01Z")],
            err(0, "invalid date format verb \"q\""),
        ),
        (
            "formatdate",
            vec![s("'open"), s("2018-01-02T23:12:01Z")],
            err(0, "unterminated literal"),
        ),
        (
            "formatdate",
            vec![s("YYYY"), s("2018-01-02")],
            err(1, "not a valid RFC3339 timestamp"),
        ),
        (
            "formatdate",
            vec![s("YYYY"), s("2018-01-02 23:12:01Z")],
            err(1, "missing required time introducer 'T'"),
        ),
        (
            "timeadd",
            vec![s("2017-11-22T00:00:00Z"), s("10m")],
            ok(s("2017-11-22T00:10:00Z")),
        ),
        (
            "timeadd",
            vec![s("2017-11-22T00:00:00Z"), s("-1h30m")],
            ok(s("2017-11-21T22:30:00Z")),
        ),
        (
            "timeadd",
            vec![s("2017-11-22T00:00:00+01:00"), s("1.5h")],
            ok(s("2017-11-22T01:30:00+01:00")),
        ),
        (
            "timeadd",
            vec![s("2017-11-22T00:00:00Z"), s("1s500ms")],
            ok(s("2017-11-22T00:00:01Z")),
        ),
        (
            "timeadd",
            vec![s("2017-11-22T00:00:00Z"), s("0")],
            ok(s("2017-11-22T00:00:00Z")),
        ),
        (
            "timeadd",
            vec![s("2017-11-22T00:00:00Z"), s("10")],
            err(1, "time: missing unit in duration \"10\""),
        ),
        (
            "timeadd",
            vec![s("2017-11-22T00:00:00Z"), s("1x")],
            err(1, "time: unknown unit \"x\" in duration \"1x\""),
        ),
        (
            "timeadd",
            vec![s("2017-11-22T00:00:00Z"), s("h")],
            err(1, "time: invalid duration \"h\""),
        ),
        (
            "timeadd",
            vec![s("2017-11-22T00:00:00Z"), s("99999999999h")],
            err(1, "time: invalid duration"),
        ),
        (
            "timeadd",
            vec![s("nope"), s("1h")],
            err(0, "not a valid RFC3339 timestamp"),
        ),
        (
            "timecmp",
            vec![s("2017-11-22T00:00:00Z"), s("2017-11-22T01:00:00+01:00")],
            ok(n(0.0)),
        ),
        (
            "timecmp",
            vec![s("2017-11-22T00:00:00Z"), s("2017-11-22T00:00:01Z")],
            ok(n(-1.0)),
        ),
    ]);
    let ctx = FuncContext::new(".");
    let now = call("timestamp", vec![], &ctx).expect("timestamp");
    let now = now.as_str().expect("string").to_string();
    assert!(now.ends_with('Z') && now.len() == 20, "{now}");
    let back = call(
        "formatdate",
        vec![s("YYYY-MM-DD'T'hh:mm:ssZ"), s(&now)],
        &ctx,
    )
    .expect("formatdate");
    assert_eq!(back, s(&now));
}

#[test]
fn hashes_and_uuids() {
    check(vec![
        (
            "md5",
            vec![s("hello world")],
            ok(s("5eb63bbbe01eeed093cb22bb8f5acdc3")),
        ),
        (
            "sha1",
            vec![s("hello world")],
            ok(s("2aae6c35c94fcfb415dbe95f408b9ce91ee846ed")),
        ),
        (
            "sha256",
            vec![s("hello world")],
            ok(s(
                "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
            )),
        ),
        (
            "sha512",
            vec![s("hello world")],
            ok(s(
                "309ecc489c12d6eb4cc40f50c902f2b4d0ed77ee511a7c7a9bcd3ca86d4cd86f989dd35bc5ff499670da34255b45b0cfd830e81f605dcf7dc5542e93ae9cd76f",
            )),
        ),
        (
            "base64sha256",
            vec![s("hello world")],
            ok(s("uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=")),
        ),
        (
            "base64sha512",
            vec![s("hello world")],
            ok(s(
                "MJ7MSJwS1utMxA9QyQLytNDtd+5RGnx6m808qG1M2G+YndNbxf9JlnDaNCVbRbDP2DDoH2Bdz33FVC6TrpzXbw==",
            )),
        ),
        (
            "uuidv5",
            vec![s("dns"), s("www.terraform.io")],
            ok(s("a5008fae-b28c-5ba5-96cd-82b4c53552d6")),
        ),
        (
            "uuidv5",
            vec![s("url"), s("https://www.terraform.io/")],
            ok(s("9db6f67c-dd95-5ea0-aa5b-e70e5c5f7cf5")),
        ),
        (
            "uuidv5",
            vec![
                s("6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
                s("www.terraform.io"),
            ],
            ok(s("a5008fae-b28c-5ba5-96cd-82b4c53552d6")),
        ),
        (
            "uuidv5",
            vec![s("nope"), s("x")],
            err(0, "uuidv5() doesn't support namespace \"nope\""),
        ),
    ]);
    let ctx = FuncContext::new(".");
    let a = call("uuid", vec![], &ctx).expect("uuid");
    let b2 = call("uuid", vec![], &ctx).expect("uuid");
    assert_ne!(a, b2);
    let a = a.as_str().expect("string");
    assert_eq!(a.len(), 36);
    assert_eq!(&a[14..15], "4", "version 4: {a}");
    assert!(!is_pure("uuid") && !is_pure("timestamp") && is_pure("upper"));
}

#[test]
fn ip_networks() {
    check(vec![
        (
            "cidrhost",
            vec![s("10.12.112.0/20"), n(16.0)],
            ok(s("10.12.112.16")),
        ),
        (
            "cidrhost",
            vec![s("10.12.112.0/20"), n(268.0)],
            ok(s("10.12.113.12")),
        ),
        (
            "cidrhost",
            vec![s("10.1.1.0/20"), n(300.0)],
            ok(s("10.1.1.44")),
        ),
        (
            "cidrhost",
            vec![s("fd00:fd12:3456:7890:00a2::/72"), n(34.0)],
            ok(s("fd00:fd12:3456:7890::22")),
        ),
        (
            "cidrhost",
            vec![s("10.0.0.0/30"), n(-1.0)],
            ok(s("10.0.0.3")),
        ),
        (
            "cidrhost",
            vec![s("10.0.0.0/30"), n(-4.0)],
            ok(s("10.0.0.0")),
        ),
        (
            "cidrhost",
            vec![s("10.0.0.0/30"), n(4.0)],
            err(1, "prefix of 30 does not accommodate a host numbered 4"),
        ),
        (
            "cidrhost",
            vec![s("10.0.0.0/30"), n(-5.0)],
            err(1, "prefix of 30 does not accommodate a host numbered -5"),
        ),
        (
            "cidrhost",
            vec![s("not-a-cidr"), n(1.0)],
            err(
                0,
                "invalid CIDR expression: invalid CIDR address: not-a-cidr",
            ),
        ),
        (
            "cidrhost",
            vec![s("10.0.0.0/33"), n(1.0)],
            err(0, "invalid CIDR expression"),
        ),
        (
            "cidrnetmask",
            vec![s("172.16.0.0/12")],
            ok(s("255.240.0.0")),
        ),
        (
            "cidrnetmask",
            vec![s("192.168.0.1/20")],
            ok(s("255.255.240.0")),
        ),
        ("cidrnetmask", vec![s("10.0.0.0/0")], ok(s("0.0.0.0"))),
        (
            "cidrnetmask",
            vec![s("fd00::/8")],
            err(0, "IPv6 addresses cannot have a netmask: fd00::/8"),
        ),
        (
            "cidrsubnet",
            vec![s("172.16.0.0/12"), n(4.0), n(2.0)],
            ok(s("172.18.0.0/16")),
        ),
        (
            "cidrsubnet",
            vec![s("10.1.2.0/24"), n(4.0), n(15.0)],
            ok(s("10.1.2.240/28")),
        ),
        (
            "cidrsubnet",
            vec![s("fd00:fd12:3456:7890::/56"), n(16.0), n(162.0)],
            ok(s("fd00:fd12:3456:7800:a200::/72")),
        ),
        (
            "cidrsubnet",
            vec![s("10.1.2.3/16"), n(8.0), n(1.0)],
            ok(s("10.1.1.0/24")),
        ),
        (
            "cidrsubnet",
            vec![s("10.0.0.0/8"), s("8"), s("3")],
            ok(s("10.3.0.0/16")),
        ),
        (
            "cidrsubnet",
            vec![s("10.0.0.0/8"), n(0.0), n(0.0)],
            ok(s("10.0.0.0/8")),
        ),
        (
            "cidrsubnet",
            vec![s("::/0"), n(128.0), n(5.0)],
            ok(s("::5/128")),
        ),
        (
            "cidrsubnet",
            vec![s("10.0.0.0/24"), n(10.0), n(0.0)],
            err(1, "insufficient address space to extend prefix of 24 by 10"),
        ),
        (
            "cidrsubnet",
            vec![s("10.0.0.0/24"), n(4.0), n(16.0)],
            err(
                2,
                "prefix extension of 4 does not accommodate a subnet numbered 16",
            ),
        ),
        (
            "cidrsubnet",
            vec![s("10.0.0.0/8"), n(8.0), n(-1.0)],
            err(2, "does not accommodate a subnet numbered -1"),
        ),
        (
            "cidrsubnet",
            vec![s("10.0.0.0/8"), n(1.5), n(0.0)],
            err(1, "whole number"),
        ),
        (
            "cidrsubnets",
            vec![s("10.1.0.0/16"), n(4.0), n(4.0), n(8.0), n(4.0)],
            ok(j(
                r#"["10.1.0.0/20","10.1.16.0/20","10.1.32.0/24","10.1.48.0/20"]"#,
            )),
        ),
        (
            "cidrsubnets",
            vec![
                s("fd00:fd12:3456:7890::/56"),
                n(16.0),
                n(16.0),
                n(16.0),
                n(32.0),
            ],
            ok(j(
                r#"["fd00:fd12:3456:7800::/72","fd00:fd12:3456:7800:100::/72","fd00:fd12:3456:7800:200::/72","fd00:fd12:3456:7800:300::/88"]"#,
            )),
        ),
        ("cidrsubnets", vec![s("10.0.0.0/8")], ok(j("[]"))),
        (
            "cidrsubnets",
            vec![s("0.0.0.0/0"), n(1.0), n(1.0)],
            ok(j(r#"["0.0.0.0/1","128.0.0.0/1"]"#)),
        ),
        (
            "cidrsubnets",
            vec![s("0.0.0.0/0"), n(1.0), n(1.0), n(1.0)],
            err(3, "not enough remaining address space"),
        ),
        (
            "cidrsubnets",
            vec![s("10.0.0.0/24"), n(2.0), n(1.0)],
            ok(j(r#"["10.0.0.0/26","10.0.0.128/25"]"#)),
        ),
        (
            "cidrsubnets",
            vec![s("::/0"), n(32.0), n(32.0)],
            ok(j(r#"["::/32","0:1::/32"]"#)),
        ),
        (
            "cidrsubnets",
            vec![s("10.0.0.0/30"), n(1.0), n(1.0), n(1.0)],
            err(
                3,
                "not enough remaining address space for a subnet with a prefix of 31 bits after 10.0.0.2/31",
            ),
        ),
        (
            "cidrsubnets",
            vec![s("10.0.0.0/8"), n(0.0)],
            err(1, "must extend prefix by at least one bit"),
        ),
        (
            "cidrsubnets",
            vec![s("10.0.0.0/8"), n(4.0), n(33.0)],
            err(2, "may not extend prefix by more than 32 bits"),
        ),
        (
            "cidrsubnets",
            vec![s("10.0.0.0/24"), n(9.0)],
            err(
                1,
                "would extend prefix to 33 bits, which is too long for an IPv4 address",
            ),
        ),
        (
            "cidrcontains",
            vec![s("10.0.0.0/8"), s("10.1.2.3")],
            ok(b(true)),
        ),
        (
            "cidrcontains",
            vec![s("10.0.0.0/8"), s("11.0.0.0/16")],
            ok(b(false)),
        ),
        (
            "cidrcontains",
            vec![s("10.0.0.0/8"), s("10.0.0.0/4")],
            ok(b(false)),
        ),
        (
            "cidrcontains",
            vec![s("10.0.0.0/8"), s("::1")],
            err(1, "address family mismatch"),
        ),
    ]);
}

#[test]
fn type_conversions() {
    check(vec![
        ("tobool", vec![s("true")], ok(b(true))),
        ("tobool", vec![b(false)], ok(b(false))),
        ("tobool", vec![Value::Null], ok(Value::Null)),
        (
            "tobool",
            vec![s("yes")],
            err(
                0,
                "cannot convert \"yes\" to bool; only the strings \"true\" or \"false\" are allowed",
            ),
        ),
        (
            "tobool",
            vec![n(1.0)],
            err(0, "cannot convert number to bool"),
        ),
        ("tonumber", vec![s("1.5")], ok(n(1.5))),
        ("tonumber", vec![s("-2e3")], ok(n(-2000.0))),
        ("tonumber", vec![Value::Null], ok(Value::Null)),
        (
            "tonumber",
            vec![s("no")],
            err(
                0,
                "cannot convert \"no\" to number; given string must be a decimal representation of a number",
            ),
        ),
        ("tonumber", vec![s(" 1")], err(0, "cannot convert")),
        ("tonumber", vec![s("inf")], err(0, "cannot convert")),
        ("tostring", vec![n(5.0)], ok(s("5"))),
        ("tostring", vec![n(-0.5)], ok(s("-0.5"))),
        ("tostring", vec![b(true)], ok(s("true"))),
        ("tostring", vec![Value::Null], ok(Value::Null)),
        (
            "tostring",
            vec![j("[]")],
            err(0, "cannot convert list to string"),
        ),
        (
            "tolist",
            vec![set(j(r#"["b","a"]"#))],
            ok(j(r#"["a","b"]"#)),
        ),
        (
            "tolist",
            vec![j(r#"["a", 1, true]"#)],
            ok(j(r#"["a","1","true"]"#)),
        ),
        (
            "tolist",
            vec![j(r#"["a", [1]]"#)],
            err(0, "all elements must have the same type"),
        ),
        (
            "tolist",
            vec![j("{}")],
            err(0, "cannot convert object to list"),
        ),
        (
            "tolist",
            vec![list(vec![unk(), s("a")])],
            ok(list(vec![unk(), s("a")])),
        ),
        (
            "toset",
            vec![j(r#"["c","b","b"]"#)],
            ok(set(j(r#"["b","c"]"#))),
        ),
        ("toset", vec![j(r#"["a", 1]"#)], ok(set(j(r#"["1","a"]"#)))),
        ("toset", vec![list(vec![unk(), s("a")])], ok(unk())),
        (
            "tomap",
            vec![j(r#"{"a":1,"b":"x"}"#)],
            ok(j(r#"{"a":"1","b":"x"}"#)),
        ),
        (
            "tomap",
            vec![j(r#"["a"]"#)],
            err(0, "cannot convert list to map"),
        ),
        ("sensitive", vec![s("x")], ok(sens(s("x")))),
        ("sensitive", vec![unk()], ok(sens(unk()))),
        ("nonsensitive", vec![sens(s("x"))], ok(s("x"))),
        ("issensitive", vec![sens(s("x"))], ok(b(true))),
        ("issensitive", vec![s("x")], ok(b(false))),
        ("issensitive", vec![unk()], ok(unk())),
    ]);
}

#[test]
fn unknowns_propagate() {
    check(vec![
        ("upper", vec![unk()], ok(unk())),
        ("jsonencode", vec![map(vec![("a", unk())])], ok(unk())),
        ("cidrsubnet", vec![unk(), n(4.0), n(1.0)], ok(unk())),
        (
            "cidrsubnet",
            vec![s("10.0.0.0/8"), unk(), n(1.0)],
            ok(unk()),
        ),
        ("join", vec![s(","), list(vec![s("a"), unk()])], ok(unk())),
        ("lookup", vec![j(r#"{"a":1}"#), unk()], ok(unk())),
        ("merge", vec![unk(), j(r#"{"b":1}"#)], ok(unk())),
        ("distinct", vec![list(vec![unk(), s("a")])], ok(unk())),
        ("sort", vec![list(vec![unk(), s("a")])], ok(unk())),
        ("format", vec![s("%v"), list(vec![unk()])], ok(unk())),
        ("tostring", vec![unk()], ok(unk())),
        ("file", vec![unk()], ok(unk())),
        ("coalescelist", vec![unk(), j("[1]")], ok(unk())),
        ("keys", vec![unk()], ok(unk())),
    ]);
}

#[test]
fn sensitive_propagates() {
    check(vec![
        ("upper", vec![sens(s("a"))], ok(sens(s("A")))),
        ("length", vec![sens(j("[1,2]"))], ok(sens(n(2.0)))),
        // Only the collection's own mark carries to its length (Terraform:
        // https://developer.hashicorp.com/terraform/language/functions/length).
        ("length", vec![list(vec![sens(n(1.0)), n(2.0)])], ok(n(2.0))),
        (
            "merge",
            vec![map(vec![("a", sens(s("x")))]), j(r#"{"b":"y"}"#)],
            ok(sens(j(r#"{"a":"x","b":"y"}"#))),
        ),
        (
            "join",
            vec![s(","), list(vec![sens(s("a")), s("b")])],
            ok(sens(s("a,b"))),
        ),
        ("upper", vec![sens(unk())], ok(sens(unk()))),
        (
            "jsonencode",
            vec![map(vec![("password", sens(s("hunter2")))])],
            ok(sens(s(r#"{"password":"hunter2"}"#))),
        ),
        (
            "cidrsubnet",
            vec![sens(s("10.0.0.0/8")), n(8.0), n(1.0)],
            ok(sens(s("10.1.0.0/16"))),
        ),
        (
            "keys",
            vec![map(vec![("a", sens(s("x")))])],
            ok(sens(j(r#"["a"]"#))),
        ),
        (
            "base64decode",
            vec![sens(s("!!"))],
            err(0, "failed to decode base64 data (sensitive value)"),
        ),
        (
            "tonumber",
            vec![sens(s("abc"))],
            err(0, "cannot convert (sensitive value) to number"),
        ),
        (
            "abs",
            vec![sens(s("abc"))],
            err(0, "number required, got string (sensitive value)"),
        ),
        (
            "lookup",
            vec![j(r#"{"a":1}"#), sens(s("secret"))],
            err(1, "lookup failed to find key (sensitive value)"),
        ),
        ("sensitive", vec![sens(s("x"))], ok(sens(s("x")))),
    ]);
}

#[test]
fn registry_and_arity() {
    let ctx = FuncContext::new(".");
    let lookup = signature("lookup").expect("lookup exists");
    assert_eq!((lookup.min_args, lookup.max_args), (2, Some(3)));
    let concat = signature("concat").expect("concat exists");
    assert_eq!((concat.min_args, concat.max_args), (0, None));
    let cidrsubnets = signature("cidrsubnets").expect("cidrsubnets exists");
    assert_eq!((cidrsubnets.min_args, cidrsubnets.max_args), (1, None));
    assert_eq!(
        signature("timestamp").map(|s| (s.min_args, s.max_args)),
        Some((0, Some(0)))
    );
    assert!(
        signature("try").is_none()
            && signature("can").is_none()
            && signature("templatefile").is_none()
    );
    assert!(signature("nope").is_none());

    let all = names();
    let mut sorted = all.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(all, sorted, "names are sorted and unique");
    for required in [
        "abs",
        "ceil",
        "floor",
        "log",
        "max",
        "min",
        "parseint",
        "pow",
        "signum",
        "chomp",
        "endswith",
        "format",
        "formatlist",
        "indent",
        "join",
        "lower",
        "regex",
        "regexall",
        "replace",
        "split",
        "startswith",
        "strcontains",
        "strrev",
        "substr",
        "title",
        "trim",
        "trimprefix",
        "trimsuffix",
        "trimspace",
        "upper",
        "alltrue",
        "anytrue",
        "chunklist",
        "coalesce",
        "coalescelist",
        "compact",
        "concat",
        "contains",
        "distinct",
        "element",
        "flatten",
        "index",
        "keys",
        "length",
        "lookup",
        "matchkeys",
        "merge",
        "one",
        "range",
        "reverse",
        "setintersection",
        "setproduct",
        "setsubtract",
        "setunion",
        "slice",
        "sort",
        "sum",
        "transpose",
        "values",
        "zipmap",
        "base64decode",
        "base64encode",
        "csvdecode",
        "jsondecode",
        "jsonencode",
        "urlencode",
        "yamldecode",
        "yamlencode",
        "abspath",
        "basename",
        "dirname",
        "file",
        "filebase64",
        "fileexists",
        "pathexpand",
        "formatdate",
        "timeadd",
        "timestamp",
        "base64sha256",
        "md5",
        "sha1",
        "sha256",
        "sha512",
        "uuid",
        "cidrhost",
        "cidrnetmask",
        "cidrsubnet",
        "cidrsubnets",
        "tobool",
        "tolist",
        "tomap",
        "tonumber",
        "toset",
        "tostring",
    ] {
        assert!(all.contains(&required), "missing function {required}");
    }

    let e = call("nope", vec![], &ctx).expect_err("unknown function");
    assert!(
        e.message.contains("There is no function named \"nope\""),
        "{e}"
    );
    let e = call("upper", vec![], &ctx).expect_err("too few");
    assert!(e.message.contains("Not enough function arguments"), "{e}");
    let e = call("upper", vec![s("a"), s("b")], &ctx).expect_err("too many");
    assert_eq!(e.arg, Some(1));
    assert!(e.message.contains("Too many function arguments"), "{e}");
}

/// A tiny deterministic generator for the no-panic sweep.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n
    }
}

/// Every function, called with odd arguments, returns a value or an error:
/// it never panics.
#[test]
fn never_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("f.txt"), "x").expect("write");
    let ctx = FuncContext::new(dir.path());
    let pool = vec![
        Value::Null,
        unk(),
        b(true),
        n(0.0),
        n(-1.0),
        n(1.5),
        n(-0.0),
        n(9_007_199_254_740_993.0),
        n(1e300),
        n(-1e300),
        n(f64::INFINITY),
        n(f64::NAN),
        n(4_294_967_296.0),
        n(129.0),
        s(""),
        s("a"),
        s("%"),
        s("%[0]d %[99]s %.999999999f %*d %-+# 0v"),
        s("/(/"),
        s("//"),
        s("10.0.0.0/8"),
        s("::/0"),
        s("fd00::/127"),
        s("{a,{b,c}}/**/[!x-"),
        s("2018-01-02T23:12:01Z"),
        s("ü🤔e\u{301}\r\n"),
        s("-9223372036854775808"),
        s("f.txt"),
        j("[]"),
        j(r#"[[1,["a"]],{"k":null}]"#),
        j(r#"["a","b","a"]"#),
        list(vec![unk(), n(1.0)]),
        set(j("[3,1,2]")),
        j("{}"),
        j(r#"{"a":["1","2"],"b":{"c":1}}"#),
        map(vec![("a", unk())]),
        sens(s("secret")),
        sens(j("[1,2]")),
    ];
    let mut rng = Lcg(42);
    let mut calls = 0usize;
    for name in names() {
        if name == "fileset" {
            // Walks the filesystem: covered by its own tests.
            continue;
        }
        let sig = signature(name).expect("listed names have signatures");
        let max = sig.max_args.unwrap_or(sig.min_args + 3).min(4);
        for arity in sig.min_args..=max {
            let combos = match arity {
                0 => 1,
                1 => pool.len(),
                2 => pool.len() * pool.len(),
                _ => 3000,
            };
            for c in 0..combos {
                let args: Vec<Value> = match arity {
                    0 => vec![],
                    1 => vec![pool[c].clone()],
                    2 => vec![pool[c / pool.len()].clone(), pool[c % pool.len()].clone()],
                    _ => (0..arity)
                        .map(|_| pool[rng.next(pool.len())].clone())
                        .collect(),
                };
                let _ = call(name, args, &ctx);
                calls += 1;
            }
        }
    }
    assert!(calls > 100_000, "only {calls} calls were made");
}

/// Inputs built to exhaust memory, stack or time come back as errors.
#[test]
fn hostile_inputs() {
    let ctx = FuncContext::new(".");
    let deep_json = "[".repeat(100_000);
    let laughs = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n\
        b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n\
        d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n\
        f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n\
        h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    let cases: Vec<(&str, Vec<Value>)> = vec![
        ("jsondecode", vec![s(&deep_json)]),
        ("yamldecode", vec![s(&deep_json)]),
        ("yamldecode", vec![s(laughs)]),
        ("regex", vec![s("(a{1000}){1000}"), s("a")]),
        ("format", vec![s(&"%1000000d".repeat(100)), n(1.0)]),
        ("indent", vec![n(100_000_000.0), s(&"\n".repeat(1000))]),
        (
            "replace",
            vec![s(&"x".repeat(100_000)), s(""), s(&"y".repeat(1000))],
        ),
        (
            "replace",
            vec![s(&"x".repeat(100_000)), s("//"), s(&"y".repeat(1000))],
        ),
        ("range", vec![n(0.0), n(1e9), n(1e-9)]),
        (
            "setproduct",
            vec![j(&format!("[{}]", vec!["1"; 2000].join(","))); 3],
        ),
    ];
    for (name, args) in cases {
        let got = call(name, args, &ctx);
        assert!(
            got.is_err(),
            "{name} should refuse hostile input, got {got:?}"
        );
    }
}

/// A large file read by `file()` again while unchanged is the same shared
/// string (no copy per call); once changed on disk, the new text is read.
#[test]
fn large_file_text_is_shared_until_the_file_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.txt");
    let text = "a".repeat(100 * 1024);
    std::fs::write(&path, &text).expect("write");
    let ctx = FuncContext::new(dir.path());
    let read = || match call("file", vec![s("big.txt")], &ctx).expect("file") {
        Value::String(t) => t,
        other => panic!("file() gave {other:?}"),
    };
    let (first, second) = (read(), read());
    assert_eq!(&*first, text.as_str());
    assert!(std::sync::Arc::ptr_eq(first.as_arc(), second.as_arc()));
    // Same length, other content: the modification time tells them apart.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let changed = "b".repeat(100 * 1024);
    std::fs::write(&path, &changed).expect("rewrite");
    let filetime = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(filetime))
        .expect("set mtime");
    assert_eq!(&*read(), changed.as_str());
    // Shorter: the length alone tells.
    std::fs::write(&path, "small").expect("rewrite");
    assert_eq!(&*read(), "small");
    // Small files are read each time, never shared.
    let (a, b) = (read(), read());
    assert!(!std::sync::Arc::ptr_eq(a.as_arc(), b.as_arc()));
}
