//! Tokens of the route condition language, split as edgeHub's ANTLR lexer
//! (`GrammarLexer.g4`) splits them: at each point the longest match of any rule
//! wins, and between matches of the same length the rule listed first wins.
//!
//! This has consequences a hand-written lexer would not have, and conditions
//! written for edgeHub rely on them: an identifier may hold `-`, `+`, `*`, `.`,
//! `|`, `!`, `'` and `$`, so `a-b` is one property name and `3+4` is a property
//! called `3+4`; `-1` is one number; `true`, `false`, `null` and `undefined`
//! are keywords only in lower case, while `AND`, `OR` and `NOT` are keywords in
//! any case; `/* ... */` is a comment.

use super::dotnet::unescape;

/// A token.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A terminated string literal, with its escapes resolved.
    Str(String),
    /// A string literal without its closing quote.
    Unterminated,
    /// A decimal integer literal, as written (`-12`).
    Int(String),
    /// A hexadecimal literal, as written (`0x1F`).
    Hex(String),
    /// A real literal, as written (`1.5e3`, `.5`, `e5`).
    Real(String),
    /// `true`
    True,
    /// `false`
    False,
    /// `null`
    Null,
    /// `undefined`
    Undefined,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `,`
    Comma,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `%`
    Percent,
    /// `AND`, any case.
    And,
    /// `OR`, any case.
    Or,
    /// `NOT`, any case.
    Not,
    /// `=`
    Eq,
    /// `!=` or `<>`
    Ne,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `||`
    Concat,
    /// `??`
    Coalesce,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `$` and a path: a system property, or `$body.<path>`. Holds the whole text.
    SysProp(String),
    /// An application property or a function name.
    Ident(String),
    /// A run of path characters with `[` or `]` that is no other token
    /// (`tags[0]`); the grammar has no place for it.
    QueryPath(String),
    /// A route keyword (`SELECT`, `FROM`, `WHERE`, `INTO`): no place in a condition.
    Keyword(&'static str),
    /// A character no rule accepts.
    Unknown(char),
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Str(s) => format!("the string '{s}'"),
            Tok::Unterminated => "an unterminated string".to_string(),
            Tok::Int(s) | Tok::Hex(s) | Tok::Real(s) => format!("the number {s}"),
            Tok::SysProp(s) | Tok::Ident(s) | Tok::QueryPath(s) => format!("`{s}`"),
            Tok::Keyword(k) => format!("the keyword {k}"),
            Tok::Unknown(c) => format!("the symbol {c:?}"),
            other => format!("`{}`", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::True => "true",
            Tok::False => "false",
            Tok::Null => "null",
            Tok::Undefined => "undefined",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::Comma => ",",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Percent => "%",
            Tok::And => "AND",
            Tok::Or => "OR",
            Tok::Not => "NOT",
            Tok::Eq => "=",
            Tok::Ne => "!=",
            Tok::Le => "<=",
            Tok::Ge => ">=",
            Tok::Gt => ">",
            Tok::Lt => "<",
            Tok::Concat => "||",
            Tok::Coalesce => "??",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            _ => "?",
        }
    }
}

/// The lexer rules, in the order edgeHub's grammar lists them (the first wins
/// a tie).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    LBrace,
    RBrace,
    Select,
    From,
    Where,
    Into,
    Str,
    Unterminated,
    Int,
    Hex,
    Real,
    True,
    False,
    Null,
    Undefined,
    Punct,
    And,
    Or,
    Not,
    Operator,
    SysProp,
    Ident,
    QueryPath,
    Space,
    Comment,
    Unknown,
}

/// Characters that end an identifier (`ID_CHARS` excludes them).
fn is_id_char(c: char) -> bool {
    !matches!(
        c,
        '(' | ')'
            | '<'
            | '>'
            | '@'
            | ','
            | ';'
            | ':'
            | '\\'
            | '"'
            | '/'
            | '['
            | ']'
            | '?'
            | '='
            | '{'
            | '}'
            | ' '
            | '\t'
            | '\n'
            | '\r'
    )
}

/// Characters of a `$` path (`QUERY_PATH_CHARS`): identifier characters and `[ ]`.
pub fn is_path_char(c: char) -> bool {
    is_id_char(c) || c == '[' || c == ']'
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Splits `text` into tokens with their 0-based character columns. Comments and
/// white space are dropped. Never fails: a character no rule accepts becomes
/// [`Tok::Unknown`], for the parser to report.
pub fn lex(text: &str) -> Vec<(usize, Tok)> {
    let chars: Vec<char> = text.chars().collect();
    let lexer = Lexer::new(&chars);
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < chars.len() {
        let (len, rule) = lexer.best(pos);
        let len = len.max(1);
        let end = (pos + len).min(chars.len());
        let slice = chars.get(pos..end).unwrap_or_default();
        let word: String = slice.iter().collect();
        if let Some(tok) = token(rule, word, slice) {
            out.push((pos, tok));
        }
        pos = end;
    }
    out
}

fn token(rule: Rule, word: String, slice: &[char]) -> Option<Tok> {
    Some(match rule {
        Rule::Space | Rule::Comment => return None,
        Rule::LBrace => Tok::LBrace,
        Rule::RBrace => Tok::RBrace,
        Rule::Select => Tok::Keyword("SELECT"),
        Rule::From => Tok::Keyword("FROM"),
        Rule::Where => Tok::Keyword("WHERE"),
        Rule::Into => Tok::Keyword("INTO"),
        Rule::Str => {
            let inner = slice
                .get(1..slice.len().saturating_sub(1))
                .unwrap_or_default();
            Tok::Str(unescape(&inner.iter().collect::<String>()))
        }
        Rule::Unterminated => Tok::Unterminated,
        Rule::Int => Tok::Int(word),
        Rule::Hex => Tok::Hex(word),
        Rule::Real => Tok::Real(word),
        Rule::True => Tok::True,
        Rule::False => Tok::False,
        Rule::Null => Tok::Null,
        Rule::Undefined => Tok::Undefined,
        Rule::And => Tok::And,
        Rule::Or => Tok::Or,
        Rule::Not => Tok::Not,
        Rule::Punct | Rule::Operator => {
            operator(&word).unwrap_or(Tok::Unknown(slice.first().copied().unwrap_or(' ')))
        }
        Rule::SysProp => Tok::SysProp(word),
        Rule::Ident => Tok::Ident(word),
        Rule::QueryPath => Tok::QueryPath(word),
        Rule::Unknown => Tok::Unknown(slice.first().copied().unwrap_or(' ')),
    })
}

fn operator(word: &str) -> Option<Tok> {
    Some(match word {
        "(" => Tok::LParen,
        ")" => Tok::RParen,
        "," => Tok::Comma,
        "+" => Tok::Plus,
        "-" => Tok::Minus,
        "*" => Tok::Star,
        "/" => Tok::Slash,
        "%" => Tok::Percent,
        "=" => Tok::Eq,
        "!=" | "<>" => Tok::Ne,
        "<=" => Tok::Le,
        ">=" => Tok::Ge,
        ">" => Tok::Gt,
        "<" => Tok::Lt,
        "||" => Tok::Concat,
        "??" => Tok::Coalesce,
        _ => return None,
    })
}

struct Lexer<'c> {
    chars: &'c [char],
    /// For each index `i`, the first index `j >= i` where `*/` starts, so that a
    /// comment is found without rescanning.
    comment_end: Vec<Option<usize>>,
}

impl<'c> Lexer<'c> {
    fn new(chars: &'c [char]) -> Self {
        let mut comment_end = vec![None; chars.len() + 1];
        let mut next = None;
        for i in (0..chars.len()).rev() {
            if chars.get(i) == Some(&'*') && chars.get(i + 1) == Some(&'/') {
                next = Some(i);
            }
            if let Some(slot) = comment_end.get_mut(i) {
                *slot = next;
            }
        }
        Lexer { chars, comment_end }
    }

    fn at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    /// How many characters from `i` satisfy `f`.
    fn run(&self, i: usize, f: impl Fn(char) -> bool) -> usize {
        self.chars
            .get(i..)
            .map_or(0, |rest| rest.iter().take_while(|c| f(**c)).count())
    }

    /// Whether `word` (ASCII) is at `i`, in any case when `any_case`.
    fn word(&self, i: usize, word: &str, any_case: bool) -> usize {
        let n = word.len();
        let Some(slice) = self.chars.get(i..i + n) else {
            return 0;
        };
        let same = slice.iter().zip(word.chars()).all(|(a, b)| {
            if any_case {
                a.eq_ignore_ascii_case(&b)
            } else {
                *a == b
            }
        });
        if same { n } else { 0 }
    }

    /// The longest match at `pos` and the rule that made it.
    fn best(&self, pos: usize) -> (usize, Rule) {
        let mut best = (0, Rule::Unknown);
        let mut offer = |len: usize, rule: Rule| {
            if len > best.0 || (len == best.0 && len > 0 && rule < best.1) {
                best = (len, rule);
            }
        };
        let Some(c) = self.at(pos) else {
            return (0, Rule::Unknown);
        };
        offer(usize::from(c == '{'), Rule::LBrace);
        offer(usize::from(c == '}'), Rule::RBrace);
        offer(self.word(pos, "select", true), Rule::Select);
        offer(self.word(pos, "from", true), Rule::From);
        offer(self.word(pos, "where", true), Rule::Where);
        offer(self.word(pos, "into", true), Rule::Into);
        if c == '\'' || c == '"' {
            let (body, closed) = self.string(pos);
            if closed {
                offer(body + 1, Rule::Str);
            }
            offer(body, Rule::Unterminated);
        }
        offer(self.integer(pos), Rule::Int);
        offer(self.hex(pos), Rule::Hex);
        offer(self.real(pos), Rule::Real);
        offer(self.word(pos, "true", false), Rule::True);
        offer(self.word(pos, "false", false), Rule::False);
        offer(self.word(pos, "null", false), Rule::Null);
        offer(self.word(pos, "undefined", false), Rule::Undefined);
        offer(
            usize::from(matches!(c, '(' | ')' | ',' | '+' | '-' | '*' | '/' | '%')),
            Rule::Punct,
        );
        offer(self.word(pos, "and", true), Rule::And);
        offer(self.word(pos, "or", true), Rule::Or);
        offer(self.word(pos, "not", true), Rule::Not);
        offer(self.operator(pos), Rule::Operator);
        if c == '$' {
            let path = self.run(pos + 1, is_path_char);
            if path > 0 {
                offer(1 + path, Rule::SysProp);
            }
        }
        offer(self.run(pos, is_id_char), Rule::Ident);
        offer(self.run(pos, is_path_char), Rule::QueryPath);
        offer(self.run(pos, is_space), Rule::Space);
        offer(self.comment(pos), Rule::Comment);
        offer(1, Rule::Unknown);
        best
    }

    /// The length of a string literal's opening quote and body from `pos`, and
    /// whether its closing quote follows. An escape is `\"`, `\'`, `\\` or
    /// `\uXXXX`; any other backslash ends the literal there.
    fn string(&self, pos: usize) -> (usize, bool) {
        let Some(quote) = self.at(pos) else {
            return (0, false);
        };
        let mut i = pos + 1;
        loop {
            match self.at(i) {
                None => return (i - pos, false),
                Some(c) if c == quote => return (i - pos, true),
                Some('\\') => match self.at(i + 1) {
                    Some('"' | '\'' | '\\') => i += 2,
                    Some('u')
                        if (2..6)
                            .all(|k| self.at(i + k).is_some_and(|h| h.is_ascii_hexdigit())) =>
                    {
                        i += 6;
                    }
                    _ => return (i - pos, false),
                },
                Some(_) => i += 1,
            }
        }
    }

    fn digits(&self, i: usize) -> usize {
        self.run(i, |c| c.is_ascii_digit())
    }

    fn sign(&self, i: usize) -> usize {
        usize::from(self.at(i) == Some('-'))
    }

    /// `'-'? [0-9]+`
    fn integer(&self, pos: usize) -> usize {
        let s = self.sign(pos);
        let d = self.digits(pos + s);
        if d > 0 { s + d } else { 0 }
    }

    /// `'0' [Xx] [0-9a-fA-F]+`
    fn hex(&self, pos: usize) -> usize {
        if self.at(pos) != Some('0') || !matches!(self.at(pos + 1), Some('x' | 'X')) {
            return 0;
        }
        let d = self.run(pos + 2, |c| c.is_ascii_hexdigit());
        if d > 0 { 2 + d } else { 0 }
    }

    /// `[Ee] [+-]? [0-9]+`
    fn exponent(&self, i: usize) -> usize {
        if !matches!(self.at(i), Some('e' | 'E')) {
            return 0;
        }
        let s = usize::from(matches!(self.at(i + 1), Some('+' | '-')));
        let d = self.digits(i + 1 + s);
        if d > 0 { 1 + s + d } else { 0 }
    }

    /// `'-'? [0-9]* '.' [0-9]+ EXP? | '-'? [0-9]* EXP`
    fn real(&self, pos: usize) -> usize {
        let lead = self.sign(pos) + self.digits(pos + self.sign(pos));
        let mut best = 0;
        if self.at(pos + lead) == Some('.') {
            let frac = self.digits(pos + lead + 1);
            if frac > 0 {
                let n = lead + 1 + frac;
                best = n + self.exponent(pos + n);
            }
        }
        let e = self.exponent(pos + lead);
        if e > 0 {
            best = best.max(lead + e);
        }
        best
    }

    fn operator(&self, pos: usize) -> usize {
        let two: String = self
            .chars
            .get(pos..pos + 2)
            .unwrap_or_default()
            .iter()
            .collect();
        if matches!(two.as_str(), "!=" | "<>" | "<=" | ">=" | "||" | "??") {
            return 2;
        }
        usize::from(matches!(self.at(pos), Some('=' | '<' | '>')))
    }

    /// `'/*' .*? '*/'`
    fn comment(&self, pos: usize) -> usize {
        if self.at(pos) != Some('/') || self.at(pos + 1) != Some('*') {
            return 0;
        }
        match self.comment_end.get(pos + 2).copied().flatten() {
            Some(end) => end + 2 - pos,
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).into_iter().map(|(_, t)| t).collect()
    }

    #[test]
    fn longest_match_wins_as_in_antlr() {
        assert_eq!(
            toks("a-b = -1 AND 3+4 <> 'x' aNd NOT $body.m[0] ?? {$messageId} || 0x1F <= 1.5e2"),
            vec![
                Tok::Ident("a-b".into()),
                Tok::Eq,
                Tok::Int("-1".into()),
                Tok::And,
                Tok::Ident("3+4".into()),
                Tok::Ne,
                Tok::Str("x".into()),
                Tok::And,
                Tok::Not,
                Tok::SysProp("$body.m[0]".into()),
                Tok::Coalesce,
                Tok::LBrace,
                Tok::SysProp("$messageId".into()),
                Tok::RBrace,
                Tok::Concat,
                Tok::Hex("0x1F".into()),
                Tok::Le,
                Tok::Real("1.5e2".into()),
            ]
        );
    }

    #[test]
    fn keywords_case_and_comments() {
        assert_eq!(
            toks("TRUE true /* note */ - x tags[0] @"),
            vec![
                Tok::Ident("TRUE".into()),
                Tok::True,
                Tok::Minus,
                Tok::Ident("x".into()),
                Tok::QueryPath("tags[0]".into()),
                Tok::Unknown('@'),
            ]
        );
        assert_eq!(
            toks("'a\\'b' \"c"),
            vec![Tok::Str("a'b".into()), Tok::Unterminated]
        );
    }

    #[test]
    fn reports_columns() {
        let cols: Vec<usize> = lex("a = 'open").into_iter().map(|(c, _)| c).collect();
        assert_eq!(cols, vec![0, 2, 4]);
    }
}
