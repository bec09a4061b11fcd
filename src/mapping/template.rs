//! Mapping templates: `"{givenName} {familyName}"`, `"{lower(mail)}"`, `"{corp.mail}"`,
//! `"{default(title, \"Staff\")}"`, `"{join(\" \", givenName, familyName)}"`,
//! `"{split_first(mail, \"@\")}"`. Compiled once at config load (errors carry the column), then
//! evaluated purely against a person's attributes.
//!
//! Grammar (docs/config.md): text with `{expr}` holes, `{{` and `}}` for literal braces;
//! `expr := name | source.name | "string" | func(expr, ...)`. A missing attribute is an empty
//! value; the result is trimmed and an empty result means "no value".

use std::collections::BTreeMap;
use std::fmt;

/// A template error, with the 1-based column in the template text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// 1-based character column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at column {}: {}", self.column, self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Attr(String),
    SourceAttr(String, String),
    Str(String),
    Call(Func, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Lower,
    Upper,
    Trim,
    Default,
    Join,
    SplitFirst,
}

impl Func {
    fn parse(name: &str) -> Option<(Func, usize, Option<usize>)> {
        // (function, minimum arguments, maximum arguments)
        Some(match name {
            "lower" => (Func::Lower, 1, Some(1)),
            "upper" => (Func::Upper, 1, Some(1)),
            "trim" => (Func::Trim, 1, Some(1)),
            "default" => (Func::Default, 2, Some(2)),
            "join" => (Func::Join, 2, None),
            "split_first" => (Func::SplitFirst, 2, Some(2)),
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Hole(Expr),
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// One attribute a template reads, as written (config load checks that some source provides it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference<'a> {
    /// `{name}`: the merged attribute.
    Attr(&'a str),
    /// `{source.name}`: one source's attribute.
    SourceAttr(&'a str, &'a str),
}

/// What a template reads: merged attributes (by precedence) and each source's own.
pub trait Lookup {
    /// `{name}`.
    fn attr(&self, name: &str) -> Option<&str>;
    /// `{source.name}`.
    fn source_attr(&self, source: &str, name: &str) -> Option<&str>;
}

impl Lookup for BTreeMap<String, String> {
    fn attr(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }

    fn source_attr(&self, _source: &str, _name: &str) -> Option<&str> {
        None
    }
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn error<T>(&self, message: impl Into<String>) -> Result<T, TemplateError> {
        Err(TemplateError {
            column: self.pos + 1,
            message: message.into(),
        })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn ident(&mut self) -> Option<String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == ';')
        {
            self.pos += 1;
        }
        (self.pos > start).then(|| self.chars[start..self.pos].iter().collect())
    }

    fn expr(&mut self) -> Result<Expr, TemplateError> {
        self.skip_spaces();
        match self.peek() {
            Some('"') => self.string(),
            Some(c) if c.is_alphanumeric() || c == '_' => self.named(),
            _ => self.error("expected an attribute name, a \"string\" or a function call"),
        }
    }

    /// A `"string"` literal, `\` escaping the next character.
    fn string(&mut self) -> Result<Expr, TemplateError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return self.error("unterminated string"),
                Some('"') => {
                    self.pos += 1;
                    return Ok(Expr::Str(out));
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) => out.push(c),
                        None => return self.error("unterminated string"),
                    }
                    self.pos += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// What starts with a name: a function call, a `source.attr` or an attribute.
    fn named(&mut self) -> Result<Expr, TemplateError> {
        let start = self.pos;
        let Some(name) = self.ident() else {
            return self.error("expected a name");
        };
        self.skip_spaces();
        match self.peek() {
            Some('(') => self.call(start, &name),
            Some('.') => {
                self.pos += 1;
                match self.ident() {
                    Some(attr) => Ok(Expr::SourceAttr(name, attr)),
                    None => self.error("expected an attribute name after `.`"),
                }
            }
            _ => Ok(Expr::Attr(name)),
        }
    }

    /// A call of function `name` (which starts at `start`), at its `(`. Errors about the function
    /// itself point at its name.
    fn call(&mut self, start: usize, name: &str) -> Result<Expr, TemplateError> {
        let Some((func, min, max)) = Func::parse(name) else {
            self.pos = start;
            return self.error(format!(
                "unknown function `{name}`; use lower, upper, trim, default, join or split_first"
            ));
        };
        self.pos += 1;
        let mut args = Vec::new();
        loop {
            self.skip_spaces();
            if self.peek() == Some(')') && args.is_empty() {
                break;
            }
            args.push(self.expr()?);
            self.skip_spaces();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => break,
                _ => return self.error("expected `,` or `)`"),
            }
        }
        self.pos += 1;
        if args.len() < min || max.is_some_and(|m| args.len() > m) {
            self.pos = start;
            let want = match max {
                Some(m) if m == min => format!("{min}"),
                Some(m) => format!("{min} to {m}"),
                None => format!("at least {min}"),
            };
            return self.error(format!(
                "`{name}` takes {want} arguments, got {}",
                args.len()
            ));
        }
        Ok(Expr::Call(func, args))
    }
}

impl Template {
    /// Compile `text`.
    pub fn compile(text: &str) -> Result<Template, TemplateError> {
        let mut p = Parser {
            chars: text.chars().collect(),
            pos: 0,
            text,
        };
        let mut parts = Vec::new();
        let mut literal = String::new();
        while let Some(c) = p.peek() {
            match c {
                '{' if p.chars.get(p.pos + 1) == Some(&'{') => {
                    literal.push('{');
                    p.pos += 2;
                }
                '}' if p.chars.get(p.pos + 1) == Some(&'}') => {
                    literal.push('}');
                    p.pos += 2;
                }
                '{' => {
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    p.pos += 1;
                    let expr = p.expr()?;
                    p.skip_spaces();
                    if p.peek() != Some('}') {
                        return p.error("expected `}` to close the placeholder");
                    }
                    p.pos += 1;
                    parts.push(Part::Hole(expr));
                }
                '}' => return p.error("unmatched `}`; write `}}` for a literal brace"),
                c => {
                    literal.push(c);
                    p.pos += 1;
                }
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template {
            source: p.text.to_owned(),
            parts,
        })
    }

    /// The template `{name}`: one attribute, no parsing involved.
    pub fn attr(name: &str) -> Template {
        Template {
            source: format!("{{{name}}}"),
            parts: vec![Part::Hole(Expr::Attr(name.to_owned()))],
        }
    }

    /// The template text.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Attribute names the template reads without a source prefix.
    pub fn attrs(&self) -> Vec<String> {
        fn walk(e: &Expr, out: &mut Vec<String>) {
            match e {
                Expr::Attr(a) => out.push(a.clone()),
                Expr::Call(_, args) => args.iter().for_each(|a| walk(a, out)),
                Expr::SourceAttr(_, a) => out.push(a.clone()),
                Expr::Str(_) => {}
            }
        }
        let mut out = Vec::new();
        for part in &self.parts {
            if let Part::Hole(e) = part {
                walk(e, &mut out);
            }
        }
        out
    }

    /// Every attribute the template reads, in order, with its source when it names one.
    pub fn references(&self) -> Vec<Reference<'_>> {
        fn walk<'a>(e: &'a Expr, out: &mut Vec<Reference<'a>>) {
            match e {
                Expr::Attr(a) => out.push(Reference::Attr(a)),
                Expr::SourceAttr(s, a) => out.push(Reference::SourceAttr(s, a)),
                Expr::Call(_, args) => args.iter().for_each(|a| walk(a, out)),
                Expr::Str(_) => {}
            }
        }
        let mut out = Vec::new();
        for part in &self.parts {
            if let Part::Hole(e) = part {
                walk(e, &mut out);
            }
        }
        out
    }

    /// Render; `None` when the result is empty.
    pub fn render(&self, lookup: &dyn Lookup) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Hole(e) => out.push_str(&eval(e, lookup).unwrap_or_default()),
            }
        }
        let trimmed = out.split_whitespace().collect::<Vec<_>>().join(" ");
        // Collapsing inner runs of spaces keeps "{givenName} {middle} {familyName}" tidy when a
        // part is missing; values with meaningful double spaces are not a thing in identity data.
        (!trimmed.is_empty()).then_some(trimmed)
    }
}

fn eval(expr: &Expr, lookup: &dyn Lookup) -> Option<String> {
    let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    match expr {
        Expr::Attr(name) => nonempty(lookup.attr(name).map(str::to_owned)),
        Expr::SourceAttr(source, name) => {
            nonempty(lookup.source_attr(source, name).map(str::to_owned))
        }
        Expr::Str(s) => Some(s.clone()),
        Expr::Call(func, args) => {
            let arg = |i: usize| args.get(i).and_then(|a| eval(a, lookup));
            match func {
                Func::Lower => arg(0).map(|v| v.to_lowercase()),
                Func::Upper => arg(0).map(|v| v.to_uppercase()),
                Func::Trim => arg(0).map(|v| v.trim().to_owned()),
                Func::Default => nonempty(arg(0)).or_else(|| arg(1)),
                Func::Join => {
                    let sep = arg(0).unwrap_or_default();
                    let values: Vec<String> =
                        (1..args.len()).filter_map(|i| nonempty(arg(i))).collect();
                    nonempty(Some(values.join(&sep)))
                }
                Func::SplitFirst => {
                    let value = arg(0)?;
                    let sep = arg(1).unwrap_or_default();
                    if sep.is_empty() {
                        return Some(value);
                    }
                    value.split(sep.as_str()).next().map(str::to_owned)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn renders_every_function() {
        let a = attrs(&[
            ("givenName", "Ada"),
            ("familyName", "Lovelace"),
            ("mail", "Ada@Example.COM"),
            ("blank", "  "),
        ]);
        let cases = [
            ("{givenName} {familyName}", Some("Ada Lovelace")),
            ("{lower(mail)}", Some("ada@example.com")),
            ("{upper(givenName)}", Some("ADA")),
            ("{trim(\"  x  \")}", Some("x")),
            ("{default(title, \"Staff\")}", Some("Staff")),
            ("{default(blank, \"-\")}", Some("-")),
            (
                "{join(\", \", familyName, missing, givenName)}",
                Some("Lovelace, Ada"),
            ),
            ("{split_first(lower(mail), \"@\")}", Some("ada")),
            ("{givenName} {middle} {familyName}", Some("Ada Lovelace")),
            ("{missing}", None),
            ("{{literal}} {givenName}", Some("{literal} Ada")),
        ];
        for (text, want) in cases {
            let t = Template::compile(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(t.render(&a).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn references_name_what_is_read() {
        let t = Template::compile("{default(corp.mail, lower(email))} {\"x\"} {upper(titel)}")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            t.references(),
            [
                Reference::SourceAttr("corp", "mail"),
                Reference::Attr("email"),
                Reference::Attr("titel"),
            ]
        );
    }

    #[test]
    fn errors_carry_the_column() {
        let cases = [
            ("{lower(mail}", 12, "expected `,` or `)`"),
            ("{shout(mail)}", 2, "unknown function `shout`"),
            ("{default(mail)}", 2, "`default` takes 2 arguments"),
            ("hello }", 7, "unmatched `}`"),
            ("{mail", 6, "expected `}`"),
            ("{\"open}", 8, "unterminated string"),
        ];
        for (text, column, message) in cases {
            let err = Template::compile(text).unwrap_err();
            assert_eq!(err.column, column, "{text}: {err}");
            assert!(err.message.contains(message), "{text}: {err}");
        }
    }
}
