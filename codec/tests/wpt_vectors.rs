//! web-platform-tests `eventsource/format-*`, run against the decoder from the upstream files themselves, plus a few
//! cases of our own.
//!
//! Provenance: `tests/wpt/eventsource/` holds the upstream `format-*` files byte for byte, from wpt commit
//! [`WPT_COMMIT`] (as vendored by nodejs/node at 698a391107b970c13380ceb3666c01453f3fa861,
//! `test/fixtures/wpt/eventsource/`), and the three wpt server scripts they fetch (`resources/message.py`,
//! `last-event-id.py`, `last-event-id2.py`; their sources are listed in `tests/wpt/MANIFEST`).
//!
//! `tests/wpt/SHA256SUMS` pins every vendored file's SHA-256: a file deleted, altered or added fails
//! [`vendored_files_match_their_pinned_sha256`], and the upstream file list is read from it, not from the folder.
//!
//! `tests/wpt/MANIFEST` lists every upstream `format-*` file: either the decoder cases it holds or, for the
//! transport-level ones (`format-mime-*`: the Content-Type), the test that covers it. For a decoder case, the test
//! takes from the upstream file:
//! - the stream: the `new EventSource(...)` URL, evaluated (string literals, `+`, `encodeURI`/`encodeURIComponent`,
//!   the file's own variables), then served the way the vendored server script does (`message.py` sends the
//!   `message` parameter, then `\n\n` unless `newline=none`, then `\n`; `last-event-id.py` answers a reconnection
//!   with `Last-Event-ID` by echoing it; `last-event-id2.py`'s bodies are read from the script);
//! - the expected events: each value is the first literal of an excerpt the manifest quotes, and the excerpt must be
//!   in the upstream file verbatim (`assert_equals("test\n\ntest", e.data)` gives `test\n\ntest`); fields a test
//!   does not assert are not compared; the number of events is exact;
//! - reconnection: a case reads as many responses as the upstream test does (`connections=`), the same decoder
//!   with [`Decoder::finish`] in between and `Last-Event-ID` sent when set, as a browser does; `retry` is the
//!   reconnection time the upstream test measures.
//!
//! Every case is decoded fed whole, split in two at every byte, split in three at every pair of positions (bodies
//! up to 400 bytes) and byte by byte; every split must give exactly what the whole feed gives (all fields, last
//! event id, retry), and the whole feed must satisfy the upstream expectations.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sse_codec::{DecodeError, Decoder, Event};

/// The web-platform-tests commit the vendored `eventsource/format-*` files were taken from (the `wpt` line of
/// `tests/wpt/MANIFEST` must say the same).
const WPT_COMMIT: &str = "9dafa892146c4b5b1f604a39b3cf8677f8f70d44";

fn wpt_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wpt")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---- A small JavaScript reader: just what the upstream files use to build their URLs. ----

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Str(String),
    Num(i64),
    Ident(String),
    P(char),
}

fn tokenize(src: &str) -> Vec<Tok> {
    let cs: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && cs.get(i + 1) == Some(&'/') {
            while i < cs.len() && cs[i] != '\n' {
                i += 1;
            }
        } else if c == '"' || c == '\'' {
            let (s, len) = js_string(&cs[i..]);
            out.push(Tok::Str(s));
            i += len;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < cs.len() && cs[i].is_ascii_digit() {
                i += 1;
            }
            let digits: String = cs[start..i].iter().collect();
            out.push(Tok::Num(digits.parse().expect("number")));
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_' || cs[i] == '$') {
                i += 1;
            }
            out.push(Tok::Ident(cs[start..i].iter().collect()));
        } else {
            out.push(Tok::P(c));
            i += 1;
        }
    }
    out
}

/// A JS string literal at the start of `cs`: its value and its length in chars.
fn js_string(cs: &[char]) -> (String, usize) {
    let quote = cs[0];
    let hex = |from: usize, n: usize| -> char {
        let h: String = cs[from..from + n].iter().collect();
        char::from_u32(u32::from_str_radix(&h, 16).expect("hex escape")).expect("escape is a char")
    };
    let mut s = String::new();
    let mut i = 1;
    loop {
        match cs.get(i).copied() {
            None => panic!("unterminated string literal"),
            Some(c) if c == quote => return (s, i + 1),
            Some('\\') => {
                let e = cs[i + 1];
                i += 2;
                match e {
                    'n' => s.push('\n'),
                    'r' => s.push('\r'),
                    't' => s.push('\t'),
                    '0' if !cs.get(i).is_some_and(char::is_ascii_digit) => s.push('\0'),
                    'x' => {
                        s.push(hex(i, 2));
                        i += 2;
                    }
                    'u' => {
                        s.push(hex(i, 4));
                        i += 4;
                    }
                    '\\' | '"' | '\'' => s.push(e),
                    other => panic!("string escape \\{other} not supported"),
                }
            }
            Some(c) => {
                s.push(c);
                i += 1;
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Val {
    Str(String),
    Num(i64),
    Array(usize),
}

impl Val {
    fn str(self) -> String {
        match self {
            Val::Str(s) => s,
            Val::Num(n) => n.to_string(),
            Val::Array(_) => panic!("array used as a string"),
        }
    }

    fn num(self) -> i64 {
        match self {
            Val::Num(n) => n,
            other => panic!("{other:?} used as a number"),
        }
    }
}

/// `encodeURI` (`component == false`) and `encodeURIComponent`.
fn encode_uri(s: &str, component: bool) -> String {
    let keep =
        |c: char| c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c) || (!component && ";,/?:@&=+$#".contains(c));
    let mut out = String::new();
    for c in s.chars() {
        if keep(c) {
            out.push(c);
        } else {
            for b in c.to_string().bytes() {
                write!(out, "%{b:02X}").expect("write to a String");
            }
        }
    }
    out
}

/// Evaluates expressions over the tokens of one upstream file; names resolve to the case's bindings first, then to
/// the file's first `name = ...` assignment.
struct Scope<'a> {
    file: &'a [Tok],
    bindings: &'a [(String, String)],
}

impl Scope<'_> {
    fn eval(&self, toks: &[Tok]) -> Val {
        let mut p = ExprParser { toks, pos: 0, scope: self, depth: 0 };
        let v = p.expr();
        assert_eq!(p.pos, toks.len(), "trailing tokens in {toks:?}");
        v
    }

    fn lookup(&self, name: &str, depth: usize) -> Val {
        assert!(depth < 16, "{name}: definitions too deep");
        if let Some((_, quote)) = self.bindings.iter().find(|(n, _)| n == name) {
            return self.eval(&tokenize(quote));
        }
        let f = self.file;
        let at = (1..f.len().saturating_sub(2))
            .find(|&i| {
                f[i] == Tok::Ident(name.to_owned())
                    && f[i + 1] == Tok::P('=')
                    && !matches!(f[i + 2], Tok::P('=' | '>'))
                    && f[i - 1] != Tok::P('.')
            })
            .unwrap_or_else(|| panic!("no assignment to `{name}` in the upstream file"));
        ExprParser { toks: f, pos: at + 2, scope: self, depth: depth + 1 }.expr()
    }
}

struct ExprParser<'a> {
    toks: &'a [Tok],
    pos: usize,
    scope: &'a Scope<'a>,
    depth: usize,
}

impl ExprParser<'_> {
    fn next(&mut self) -> Tok {
        let t = self.toks.get(self.pos).cloned().expect("expression ends early");
        self.pos += 1;
        t
    }

    fn eat(&mut self, c: char) -> bool {
        let hit = self.toks.get(self.pos) == Some(&Tok::P(c));
        self.pos += usize::from(hit);
        hit
    }

    fn expect(&mut self, c: char) {
        assert!(self.eat(c), "expected `{c}` at token {} of {:?}", self.pos, self.toks);
    }

    fn expr(&mut self) -> Val {
        let mut v = self.term();
        while self.eat('+') {
            let r = self.term();
            v = match (v, r) {
                (Val::Num(a), Val::Num(b)) => Val::Num(a + b),
                (a, b) => Val::Str(a.str() + &b.str()),
            };
        }
        v
    }

    fn term(&mut self) -> Val {
        let mut v = self.postfix();
        while self.eat('*') {
            v = Val::Num(v.num() * self.postfix().num());
        }
        v
    }

    fn postfix(&mut self) -> Val {
        let mut v = self.primary();
        while self.eat('.') {
            let Tok::Ident(method) = self.next() else { panic!("method name expected") };
            let args = self.args();
            v = match (method.as_str(), v, &args[..]) {
                ("join", Val::Array(n), [sep]) => Val::Str(sep.clone().str().repeat(n.saturating_sub(1))),
                (m, v, a) => panic!("{v:?}.{m}({a:?}) not supported"),
            };
        }
        v
    }

    fn primary(&mut self) -> Val {
        match self.next() {
            Tok::Str(s) => Val::Str(s),
            Tok::Num(n) => Val::Num(n),
            Tok::P('(') => {
                let v = self.expr();
                self.expect(')');
                v
            }
            Tok::Ident(kw) if kw == "new" => match (self.next(), &self.args()[..]) {
                (Tok::Ident(class), [len]) if class == "Array" => {
                    Val::Array(usize::try_from(len.clone().num()).expect("array length"))
                }
                (class, args) => panic!("new {class:?}({args:?}) not supported"),
            },
            Tok::Ident(name) if self.toks.get(self.pos) == Some(&Tok::P('(')) => {
                let args = self.args();
                match (name.as_str(), &args[..]) {
                    ("encodeURI", [s]) => Val::Str(encode_uri(&s.clone().str(), false)),
                    ("encodeURIComponent", [s]) => Val::Str(encode_uri(&s.clone().str(), true)),
                    (f, a) => panic!("{f}({a:?}) not supported"),
                }
            }
            Tok::Ident(name) => self.scope.lookup(&name, self.depth),
            other => panic!("unexpected {other:?} in an expression"),
        }
    }

    fn args(&mut self) -> Vec<Val> {
        self.expect('(');
        let mut args = Vec::new();
        if self.eat(')') {
            return args;
        }
        loop {
            args.push(self.expr());
            if self.eat(')') {
                return args;
            }
            self.expect(',');
        }
    }
}

/// The first string literal of an excerpt.
fn first_string(quote: &str) -> String {
    tokenize(quote)
        .into_iter()
        .find_map(|t| if let Tok::Str(s) = t { Some(s) } else { None })
        .unwrap_or_else(|| panic!("no string literal in `{quote}`"))
}

// ---- The wpt server scripts. ----

/// The vendored `resources/*.py` the format tests fetch, and what they send.
struct WptServer {
    last_event_id2: String,
}

impl WptServer {
    fn load() -> Self {
        let res = wpt_dir().join("eventsource/resources");
        // What `serve` does for message.py and last-event-id.py is these lines of the vendored scripts.
        let message = read(&res.join("message.py"));
        for line in [
            r#"message = request.GET.first(b"message", b"data: data");"#,
            r#"newline = b"" if request.GET.first(b"newline", None) == b"none" else b"\n\n";"#,
            r#"body = message + newline + b"\n""#,
        ] {
            assert!(message.contains(line), "resources/message.py no longer has `{line}`");
        }
        let last_event_id = read(&res.join("last-event-id.py"));
        for line in [
            r#"last_event_id := request.headers.get(b"Last-Event-ID", b"")"#,
            r#"return b"data: " + last_event_id + b"\n\n""#,
            r#"idvalue = request.GET.first(b"idvalue", u"\u2026".encode("utf-8"))"#,
            r#"return b"id: " + idvalue + b"\nretry: 200\ndata: hello\n\n""#,
        ] {
            assert!(last_event_id.contains(line), "resources/last-event-id.py no longer has `{line}`");
        }
        WptServer { last_event_id2: read(&res.join("last-event-id2.py")) }
    }

    /// The body the script at `url` sends to a request carrying `last_event_id` (sent when not empty).
    fn serve(&self, url: &str, last_event_id: &str) -> Vec<u8> {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let params: Vec<(Vec<u8>, Vec<u8>)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        let param = |name: &str| params.iter().find(|(k, _)| k == name.as_bytes()).map(|(_, v)| v.clone());
        match path {
            "resources/message.py" => {
                let message = param("message").unwrap_or_else(|| b"data: data".to_vec());
                let newline: &[u8] = if param("newline").as_deref() == Some(b"none") { b"" } else { b"\n\n" };
                [&message[..], newline, b"\n"].concat()
            }
            "resources/last-event-id.py" if !last_event_id.is_empty() => {
                [b"data: ", last_event_id.as_bytes(), b"\n\n"].concat()
            }
            "resources/last-event-id.py" => {
                let idvalue = param("idvalue").unwrap_or_else(|| "\u{2026}".as_bytes().to_vec());
                [b"id: ", &idvalue[..], b"\nretry: 200\ndata: hello\n\n"].concat()
            }
            "resources/last-event-id2.py" => {
                let ty: i64 = param("type").and_then(|t| String::from_utf8(t).ok()?.parse().ok()).expect("type=");
                self.last_event_id2_body(ty)
            }
            other => panic!("no vendored server script for {other}"),
        }
    }

    /// last-event-id2.py: `NAME = n` constants, then `if test_type == NAME:` / `return b"..."`.
    fn last_event_id2_body(&self, ty: i64) -> Vec<u8> {
        let py = &self.last_event_id2;
        let name = py
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(" = ")?;
                (value.trim().parse::<i64>().ok()? == ty).then_some(name.trim())
            })
            .unwrap_or_else(|| panic!("last-event-id2.py has no type {ty}"));
        let branch = py.find(&format!("test_type == {name}:")).expect("branch for the type");
        let ret = branch + py[branch..].find("return b\"").expect("return b\"...\"") + "return b".len();
        python_bytes(&py[ret..])
    }
}

/// The value of a Python `b"..."` literal at the start of `s`.
fn python_bytes(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    assert_eq!(b[0], b'"');
    let mut out = Vec::new();
    let mut i = 1;
    while b[i] != b'"' {
        if b[i] == b'\\' {
            out.push(match b[i + 1] {
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'0' => 0,
                c @ (b'\\' | b'"' | b'\'') => c,
                c => panic!("python escape \\{} not supported", c as char),
            });
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// A query value as wptserve reads it: `%XX` is a byte, `+` a space.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).expect("ascii");
                out.push(u8::from_str_radix(hex, 16).expect("%XX"));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

// ---- tests/wpt/MANIFEST ----

#[derive(Debug)]
struct FileEntry {
    name: String,
    transport: Option<String>,
    cases: Vec<CaseSpec>,
}

#[derive(Debug, Default)]
struct CaseSpec {
    bindings: Vec<(String, String)>,
    url: Option<String>,
    connections: Option<usize>,
    unobserved: bool,
    /// Per event: (field, excerpt).
    events: Vec<Vec<(String, String)>>,
    retry: Option<String>,
}

struct Manifest {
    wpt: String,
    files: Vec<FileEntry>,
}

/// `key=value` or ``key=`excerpt` `` attributes (a bare word has an empty value).
fn attributes(mut s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return out;
        }
        let key_end = s.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(s.len());
        let key = s[..key_end].to_owned();
        s = &s[key_end..];
        let value = if let Some(rest) = s.strip_prefix("=`") {
            let end = rest.find('`').unwrap_or_else(|| panic!("unclosed ` after {key}="));
            s = &rest[end + 1..];
            rest[..end].to_owned()
        } else if let Some(rest) = s.strip_prefix('=') {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            s = &rest[end..];
            rest[..end].to_owned()
        } else {
            String::new()
        };
        out.push((key, value));
    }
}

fn manifest() -> Manifest {
    let text = read(&wpt_dir().join("MANIFEST"));
    let mut wpt = None;
    let mut files: Vec<FileEntry> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = || format!("MANIFEST line {}: {raw}", n + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let file = files.last_mut();
        match (word, file) {
            ("wpt", _) => wpt = Some(rest.trim().to_owned()),
            ("file", _) => files.push(FileEntry { name: rest.trim().to_owned(), transport: None, cases: Vec::new() }),
            ("transport:", Some(f)) => f.transport = Some(rest.trim().to_owned()),
            ("case", Some(f)) => {
                let mut case = CaseSpec::default();
                for (key, value) in attributes(rest) {
                    match key.as_str() {
                        "url" => case.url = Some(value),
                        "connections" => case.connections = Some(value.parse().unwrap_or_else(|_| panic!("{}", at()))),
                        "events" if value == "unobserved" => case.unobserved = true,
                        _ if !value.is_empty() => case.bindings.push((key, value)),
                        _ => panic!("{}: unknown attribute {key}", at()),
                    }
                }
                f.cases.push(case);
            }
            ("event", Some(f)) => {
                let case = f.cases.last_mut().unwrap_or_else(|| panic!("{}: event before case", at()));
                let fields = attributes(rest);
                for (key, _) in &fields {
                    assert!(["type", "data", "id"].contains(&key.as_str()), "{}: unknown field {key}", at());
                }
                case.events.push(fields);
            }
            ("retry", Some(f)) => {
                let case = f.cases.last_mut().unwrap_or_else(|| panic!("{}: retry before case", at()));
                case.retry = Some(rest.trim().trim_matches('`').to_owned());
            }
            _ => panic!("{}: not understood", at()),
        }
    }
    Manifest { wpt: wpt.expect("a `wpt <commit>` line"), files }
}

/// The vendored upstream `format-*` files: the upstream list, as pinned in `tests/wpt/SHA256SUMS` (not read from the
/// folder, where a deleted file would just drop out of the list).
fn upstream_format_files() -> BTreeSet<String> {
    pinned_files()
        .into_keys()
        .filter_map(|path| path.strip_prefix("eventsource/").map(str::to_owned))
        .filter(|name| name.starts_with("format-") && !name.contains('/'))
        .collect()
}

/// `tests/wpt/SHA256SUMS` (`sha256sum` format, so `sha256sum -c SHA256SUMS` in that folder checks it too): every
/// vendored file, relative to `tests/wpt/`, and its SHA-256 in hex.
fn pinned_files() -> std::collections::BTreeMap<String, String> {
    read(&wpt_dir().join("SHA256SUMS"))
        .lines()
        .map(|line| {
            let (hash, path) = line.split_once("  ").unwrap_or_else(|| panic!("SHA256SUMS: not `HASH  PATH`: {line}"));
            (path.to_owned(), hash.to_owned())
        })
        .collect()
}

/// Every file under `dir`, relative to `tests/wpt/`.
fn files_under(dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            let relative = path.strip_prefix(wpt_dir()).expect("under tests/wpt");
            out.insert(relative.to_str().expect("utf-8 path").to_owned());
        }
    }
}

#[test]
fn vendored_files_match_their_pinned_sha256() {
    use sha2::{Digest, Sha256};
    let pinned = pinned_files();
    assert!(pinned.len() >= 26, "SHA256SUMS pins {} files", pinned.len());
    for (path, hash) in &pinned {
        let bytes = std::fs::read(wpt_dir().join(path)).unwrap_or_else(|e| panic!("{path} (pinned): {e}"));
        let actual: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(&actual, hash, "{path}: not the vendored upstream bytes (SHA-256 differs from SHA256SUMS)");
    }
    let mut present = BTreeSet::new();
    files_under(&wpt_dir().join("eventsource"), &mut present);
    let unpinned: Vec<_> = present.iter().filter(|p| !pinned.contains_key(*p)).collect();
    assert!(unpinned.is_empty(), "vendored files without a pinned SHA-256: {unpinned:?}");
}

// ---- Scenarios: the upstream cases and our own. ----

enum Source {
    /// One body per connection.
    Bodies(Vec<Vec<u8>>),
    /// Bodies from the wpt server script at `url` (relative to `eventsource/`), one per connection.
    Server { url: String, connections: usize },
}

#[derive(Debug)]
struct ExpectEvent {
    event: String,
    data: Option<String>,
    id: Option<String>,
}

struct Scenario {
    name: String,
    source: Source,
    /// `None`: not observed.
    events: Option<Vec<ExpectEvent>>,
    /// `None`: not asserted.
    last_event_id: Option<String>,
    retry: Option<Option<u64>>,
}

/// The decoder cases of the manifest, every value taken from the upstream file.
fn upstream_scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    for file in manifest().files {
        if file.transport.is_some() {
            continue;
        }
        let text = read(&wpt_dir().join("eventsource").join(&file.name));
        let toks = tokenize(&text);
        let excerpt = |q: &str| {
            assert!(text.contains(q), "{}: `{q}` is not in the upstream file", file.name);
            q.to_owned()
        };
        for (k, case) in file.cases.iter().enumerate() {
            let name = format!("{} case {}", file.name, k + 1);
            for (_, q) in &case.bindings {
                excerpt(q);
            }
            let scope = Scope { file: &toks, bindings: &case.bindings };
            let url = match &case.url {
                Some(q) => scope.eval(&tokenize(&excerpt(q))),
                None => {
                    let starts: Vec<usize> = (0..toks.len().saturating_sub(2))
                        .filter(|&i| {
                            toks[i] == Tok::Ident("new".into())
                                && toks[i + 1] == Tok::Ident("EventSource".into())
                                && toks[i + 2] == Tok::P('(')
                        })
                        .collect();
                    assert_eq!(starts.len(), 1, "{name}: several `new EventSource(`: say which with url=");
                    let mut p = ExprParser { toks: &toks, pos: starts[0] + 3, scope: &scope, depth: 0 };
                    p.expr()
                }
            }
            .str();
            let events = (!case.unobserved).then(|| {
                case.events
                    .iter()
                    .map(|fields| {
                        let mut e = ExpectEvent { event: "message".into(), data: None, id: None };
                        for (field, q) in fields {
                            let (must_mention, slot) = match field.as_str() {
                                "type" => ("addEventListener(", &mut e.event),
                                "data" => ("e.data", e.data.insert(String::new())),
                                _ => ("e.lastEventId", e.id.insert(String::new())),
                            };
                            assert!(q.contains(must_mention), "{name}: {field}=`{q}` does not mention {must_mention}");
                            *slot = first_string(&excerpt(q));
                        }
                        e
                    })
                    .collect()
            });
            assert!(case.unobserved || !case.events.is_empty(), "{name}: no events");
            let retry = case.retry.as_ref().map(|q| {
                let n =
                    tokenize(&excerpt(q)).into_iter().find_map(|t| if let Tok::Num(n) = t { Some(n) } else { None });
                Some(u64::try_from(n.unwrap_or_else(|| panic!("{name}: no number in `{q}`"))).expect("retry"))
            });
            assert!(events.is_some() || retry.is_some(), "{name}: nothing checked");
            let connections = case.connections.unwrap_or(1);
            out.push(Scenario {
                name,
                source: Source::Server { url, connections },
                events,
                last_event_id: None,
                retry,
            });
        }
    }
    out
}

fn msg(data: &str, id: &str) -> ExpectEvent {
    ExpectEvent { event: "message".into(), data: Some(data.into()), id: Some(id.into()) }
}

fn own(name: &str, bodies: &[&[u8]], events: Vec<ExpectEvent>, last_event_id: &str, retry: Option<u64>) -> Scenario {
    Scenario {
        name: name.into(),
        source: Source::Bodies(bodies.iter().map(|b| b.to_vec()).collect()),
        events: Some(events),
        last_event_id: Some(last_event_id.into()),
        retry: Some(retry),
    }
}

/// Our own cases, for what the wpt ones do not pin down (all fields compared).
fn own_scenarios() -> Vec<Scenario> {
    let typed =
        |event: &str, data: &str| ExpectEvent { event: event.into(), data: Some(data.into()), id: Some("".into()) };
    vec![
        own(
            "invalid UTF-8 becomes U+FFFD per maximal subpart",
            &[b"data: a\xFFb\xF0\x9F\x98\n\nevent: \xC3\ndata: \xF0\x9F\x98\x80\xE2\x82\n\n"],
            vec![msg("a\u{FFFD}b\u{FFFD}", ""), typed("\u{FFFD}", "\u{1F600}\u{FFFD}")],
            "",
            None,
        ),
        own(
            "a BOM alone is stripped; a partial BOM is not",
            &[b"\xEF\xBB\xBF", b"\xEF\xBBdata: x\n\ndata: y\n\n"],
            vec![msg("y", "")],
            "",
            None,
        ),
        own(
            "id with NUL ignored, empty data fires nothing but commits the id",
            &[b"id: 5\n\nid: 6\0\ndata: a\n\nid\ndata: b\n\nid: 9\ndata\n\n"],
            vec![msg("a", "5"), msg("b", ""), msg("", "9")],
            "9",
            None,
        ),
        own(
            "an id read but never dispatched does not outlive the connection",
            &[b"id: 1\ndata: a\n\nid: 2\n", b"data: b\n\n"],
            vec![msg("a", "1"), msg("b", "1")],
            "1",
            None,
        ),
        own(
            "retry: digits only, huge values saturate, last valid wins",
            &[b"retry: 7\nretry: +5\nretry: 5 \nretry:  5\nretry: -1\nretry: 99999999999999999999999\n"],
            vec![],
            "",
            Some(u64::MAX),
        ),
        own(
            "field names are case-sensitive; only the first colon splits",
            &[b"DATA: no\nEvent: no\ndata: a: b:c\nevent:x:y\n\n"],
            vec![typed("x:y", "a: b:c")],
            "",
            None,
        ),
        own(
            "a CR at the end of a body then a LF at the start of the next is two line ends",
            &[b"data: a\r", b"\ndata: b\n\n"],
            vec![msg("b", "")],
            "",
            None,
        ),
    ]
}

fn scenarios() -> Vec<Scenario> {
    let mut all = upstream_scenarios();
    all.extend(own_scenarios());
    all
}

// ---- Running a scenario. ----

#[derive(Debug, PartialEq)]
struct Outcome {
    bodies: Vec<Vec<u8>>,
    items: Vec<Result<Event, DecodeError>>,
    last_event_id: String,
    retry: Option<u64>,
}

/// Decodes every connection of a scenario with one decoder, each body cut by `cut`, with `finish` after each body
/// and the decoder's last event id sent to the server (as `Last-Event-ID`) on each connection.
fn run(s: &Scenario, server: &WptServer, cut: &dyn Fn(&[u8]) -> Vec<&[u8]>) -> Outcome {
    let mut decoder = Decoder::new();
    let mut items = Vec::new();
    let mut bodies = Vec::new();
    let connections = match &s.source {
        Source::Bodies(b) => b.len(),
        Source::Server { connections, .. } => *connections,
    };
    for k in 0..connections {
        let body = match &s.source {
            Source::Bodies(b) => b[k].clone(),
            Source::Server { url, .. } => server.serve(url, decoder.last_event_id()),
        };
        for chunk in cut(&body) {
            items.extend(decoder.feed(chunk));
        }
        items.extend(decoder.finish());
        bodies.push(body);
    }
    Outcome { bodies, items, last_event_id: decoder.last_event_id().to_owned(), retry: decoder.retry() }
}

/// Checks an outcome against what the scenario expects (what the upstream test asserts, for a wpt case).
fn check(s: &Scenario, got: &Outcome) {
    let name = &s.name;
    let events: Vec<&Event> =
        got.items.iter().map(|i| i.as_ref().unwrap_or_else(|e| panic!("{name}: decode error {e}"))).collect();
    if let Some(want) = &s.events {
        assert_eq!(events.len(), want.len(), "{name}: events {events:?}, expected {want:?}");
        for (k, (e, w)) in events.iter().zip(want).enumerate() {
            assert_eq!(e.event, w.event, "{name}: event {} type", k + 1);
            if let Some(data) = &w.data {
                assert_eq!(&e.data, data, "{name}: event {} data", k + 1);
            }
            if let Some(id) = &w.id {
                assert_eq!(&e.last_event_id, id, "{name}: event {} lastEventId", k + 1);
            }
        }
    }
    if let Some(id) = &s.last_event_id {
        assert_eq!(&got.last_event_id, id, "{name}: last event id");
    }
    if let Some(retry) = s.retry {
        assert_eq!(got.retry, retry, "{name}: retry");
    }
}

fn cut_at<'a>(body: &'a [u8], positions: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for &p in positions {
        let p = p.min(body.len());
        out.push(&body[start..p]);
        start = p;
    }
    out.push(&body[start..]);
    out
}

/// Runs every scenario whole (checked against its expectations), then with `splits` (each must equal the whole).
fn for_each_scenario(splits: impl Fn(&Scenario, &WptServer, &Outcome)) {
    let server = WptServer::load();
    for s in scenarios() {
        let whole = run(&s, &server, &|b| vec![b]);
        check(&s, &whole);
        splits(&s, &server, &whole);
    }
}

fn longest(o: &Outcome) -> usize {
    o.bodies.iter().map(Vec::len).max().unwrap_or(0)
}

#[test]
fn every_upstream_format_file_has_a_vector_and_no_other() {
    let m = manifest();
    assert_eq!(m.wpt, WPT_COMMIT, "tests/wpt/MANIFEST and this test record different wpt commits");
    let upstream = upstream_format_files();
    assert!(!upstream.is_empty(), "no vendored upstream files");
    let mut listed = BTreeSet::new();
    for f in &m.files {
        assert!(listed.insert(f.name.clone()), "{} listed twice", f.name);
        assert!(upstream.contains(&f.name), "{}: in the manifest, not an upstream format-* file", f.name);
        assert!(
            f.transport.is_some() == f.cases.is_empty(),
            "{}: needs either decoder cases or a transport: line (not both)",
            f.name
        );
    }
    let missing: Vec<_> = upstream.difference(&listed).collect();
    assert!(missing.is_empty(), "upstream format-* files with no vector (nor transport: line): {missing:?}");

    // A case that binds a loop or parameter variable: the manifest must have one case per value the file uses.
    for f in &m.files {
        let toks = tokenize(&read(&wpt_dir().join("eventsource").join(&f.name)));
        let names: BTreeSet<&String> = f.cases.iter().flat_map(|c| c.bindings.iter().map(|(n, _)| n)).collect();
        for name in names {
            let scope = Scope { file: &toks, bindings: &[] };
            let mut ours: Vec<String> = f
                .cases
                .iter()
                .filter_map(|c| c.bindings.iter().find(|(n, _)| n == name))
                .map(|(_, q)| format!("{:?}", scope.eval(&tokenize(q))))
                .collect();
            let mut theirs = values_of(&toks, name, &scope);
            ours.sort();
            theirs.sort();
            assert_eq!(ours, theirs, "{}: cases for each value of `{name}`", f.name);
        }
    }
}

/// The values a file gives `name`: the elements of `[...].forEach(name => ...)` or the arguments of the calls of
/// `function f(name)`.
fn values_of(toks: &[Tok], name: &str, scope: &Scope<'_>) -> Vec<String> {
    let id = |s: &str| Tok::Ident(s.to_owned());
    let eval_list = |from: usize, close: char| {
        let mut p = ExprParser { toks, pos: from, scope, depth: 0 };
        let mut vals = Vec::new();
        while !p.eat(close) {
            vals.push(format!("{:?}", p.expr()));
            p.eat(',');
        }
        vals
    };
    let for_each = toks.windows(5).position(|w| {
        w[0] == Tok::P(']') && w[1] == Tok::P('.') && w[2] == id("forEach") && w[3] == Tok::P('(') && w[4] == id(name)
    });
    if let Some(end) = for_each {
        let mut depth = 0;
        let open = (0..end)
            .rev()
            .find(|&i| {
                depth += i32::from(toks[i] == Tok::P(']')) - i32::from(toks[i] == Tok::P('['));
                depth < 0
            })
            .expect("matching [");
        return eval_list(open + 1, ']');
    }
    let function = toks.windows(5).find_map(|w| match w {
        [Tok::Ident(kw), Tok::Ident(f), Tok::P('('), p, Tok::P(')')] if kw == "function" && *p == id(name) => Some(f),
        _ => None,
    });
    let f = function.unwrap_or_else(|| panic!("`{name}` is neither a forEach element nor a function parameter"));
    (1..toks.len() - 1)
        .filter(|&i| toks[i] == id(f) && toks[i + 1] == Tok::P('(') && toks[i - 1] != id("function"))
        .flat_map(|i| eval_list(i + 2, ')'))
        .collect()
}

#[test]
fn vectors_fed_whole() {
    for_each_scenario(|_, _, _| {});
}

#[test]
fn vectors_split_at_every_byte() {
    for_each_scenario(|s, server, whole| {
        for i in 0..=longest(whole) {
            assert_eq!(&run(s, server, &|b| cut_at(b, &[i])), whole, "{} split at {i}", s.name);
        }
    });
}

#[test]
fn vectors_split_in_three_everywhere() {
    for_each_scenario(|s, server, whole| {
        let longest = longest(whole);
        if longest > 400 {
            return; // format-comments (4 KB, ~8 M splits) and one of ours: covered by the two-way and byte runs
        }
        for i in 0..=longest {
            for j in i..=longest {
                assert_eq!(&run(s, server, &|b| cut_at(b, &[i, j])), whole, "{} split at {i},{j}", s.name);
            }
        }
    });
}

#[test]
fn vectors_byte_by_byte() {
    for_each_scenario(|s, server, whole| {
        assert_eq!(&run(s, server, &|b| b.chunks(1).collect()), whole, "{} byte by byte", s.name);
    });
}
