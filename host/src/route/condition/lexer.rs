//! Tokens of the route condition language. Keywords are matched
//! case-insensitively, as edgeHub does.

use super::ConditionError;

/// One step of a `$body` path.
#[derive(Debug, Clone, PartialEq)]
pub enum PathSeg {
    /// `.name` or `['name']`.
    Key(String),
    /// `[3]`.
    Index(usize),
}

/// A token, with the character column (0-based) where it starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Number(f64),
    Str(String),
    /// An application property or a function name.
    Ident(String),
    /// `$name` or `{$name}`.
    SysProp(String),
    /// `{name}`: an application property whose name has other characters.
    QuotedProp(String),
    /// `$body` with its path.
    Body(Vec<PathSeg>),
    LParen,
    RParen,
    Comma,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Concat,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    Coalesce,
    And,
    Or,
    Not,
    True,
    False,
    Null,
    Undefined,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Number(n) => format!("the number {n}"),
            Tok::Str(s) => format!("the string '{s}'"),
            Tok::Ident(s) => format!("`{s}`"),
            Tok::SysProp(s) => format!("`${s}`"),
            Tok::QuotedProp(s) => format!("`{{{s}}}`"),
            Tok::Body(_) => "`$body`".to_string(),
            other => format!("`{}`", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::Comma => ",",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Percent => "%",
            Tok::Concat => "||",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Eq => "=",
            Tok::Ne => "!=",
            Tok::Coalesce => "??",
            Tok::And => "AND",
            Tok::Or => "OR",
            Tok::Not => "NOT",
            Tok::True => "true",
            Tok::False => "false",
            Tok::Null => "null",
            Tok::Undefined => "undefined",
            _ => "?",
        }
    }
}

/// Splits `text` into tokens with their columns.
pub fn lex(text: &str) -> Result<Vec<(usize, Tok)>, ConditionError> {
    let chars: Vec<char> = text.chars().collect();
    let mut lexer = Lexer { chars, pos: 0 };
    let mut out = Vec::new();
    while let Some(tok) = lexer.next_token()? {
        out.push(tok);
    }
    Ok(out)
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn err(&self, column: usize, found: impl Into<String>, expected: &str) -> ConditionError {
        ConditionError::new(column, found, expected)
    }

    fn ident(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_ident_char) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn next_token(&mut self) -> Result<Option<(usize, Tok)>, ConditionError> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        let two = |l: &mut Lexer, t: Tok| {
            l.pos += 2;
            Ok(Some((start, t)))
        };
        let one = |l: &mut Lexer, t: Tok| {
            l.pos += 1;
            Ok(Some((start, t)))
        };
        match (c, self.peek_at(1)) {
            ('(', _) => one(self, Tok::LParen),
            (')', _) => one(self, Tok::RParen),
            (',', _) => one(self, Tok::Comma),
            ('+', _) => one(self, Tok::Plus),
            ('-', _) => one(self, Tok::Minus),
            ('*', _) => one(self, Tok::Star),
            ('/', _) => one(self, Tok::Slash),
            ('%', _) => one(self, Tok::Percent),
            ('|', Some('|')) => two(self, Tok::Concat),
            ('?', Some('?')) => two(self, Tok::Coalesce),
            ('<', Some('=')) => two(self, Tok::Le),
            ('<', Some('>')) => two(self, Tok::Ne),
            ('<', _) => one(self, Tok::Lt),
            ('>', Some('=')) => two(self, Tok::Ge),
            ('>', _) => one(self, Tok::Gt),
            ('!', Some('=')) => two(self, Tok::Ne),
            ('=', _) => one(self, Tok::Eq),
            ('\'' | '"', _) => self.string(c).map(|s| Some((start, Tok::Str(s)))),
            ('{', _) => self.braced().map(|t| Some((start, t))),
            ('$', _) => self.dollar().map(|t| Some((start, t))),
            (c, _)
                if c.is_ascii_digit()
                    || (c == '.' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.number().map(|n| Some((start, Tok::Number(n))))
            }
            (c, _) if is_ident_start(c) => {
                let word = self.ident();
                let tok = match word.to_ascii_lowercase().as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    "true" => Tok::True,
                    "false" => Tok::False,
                    "null" => Tok::Null,
                    "undefined" => Tok::Undefined,
                    _ => Tok::Ident(word),
                };
                Ok(Some((start, tok)))
            }
            (c, _) => Err(self.err(start, format!("{c:?}"), "an operand or an operator")),
        }
    }

    fn string(&mut self, quote: char) -> Result<String, ConditionError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err(start, "an unterminated string", "a closing quote")),
                Some(c) if c == quote => {
                    // A doubled quote stands for the quote itself.
                    if self.peek_at(1) == Some(quote) {
                        out.push(quote);
                        self.pos += 2;
                    } else {
                        self.pos += 1;
                        return Ok(out);
                    }
                }
                Some('\\') if self.peek_at(1).is_some() => {
                    let escaped = self.peek_at(1).unwrap_or('\\');
                    out.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        other => other,
                    });
                    self.pos += 2;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn braced(&mut self) -> Result<Tok, ConditionError> {
        let start = self.pos;
        self.pos += 1;
        let system = self.peek() == Some('$');
        if system {
            self.pos += 1;
        }
        let name_start = self.pos;
        while self.peek().is_some_and(|c| c != '}') {
            self.pos += 1;
        }
        if self.peek().is_none() {
            return Err(self.err(start, "an unclosed `{`", "a closing `}`"));
        }
        let name: String = self.chars[name_start..self.pos].iter().collect();
        self.pos += 1;
        if name.is_empty() {
            return Err(self.err(start, "`{}`", "a property name inside the braces"));
        }
        Ok(if system {
            Tok::SysProp(name)
        } else {
            Tok::QuotedProp(name)
        })
    }

    fn dollar(&mut self) -> Result<Tok, ConditionError> {
        let start = self.pos;
        self.pos += 1;
        if !self.peek().is_some_and(is_ident_start) {
            return Err(self.err(start, "a lone `$`", "a system property name after `$`"));
        }
        let name = self.ident();
        if name != "body" {
            return Ok(Tok::SysProp(name));
        }
        let mut path = Vec::new();
        loop {
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    if !self.peek().is_some_and(is_ident_start) {
                        let found = self
                            .peek()
                            .map_or("the end".to_string(), |c| format!("{c:?}"));
                        return Err(self.err(self.pos, found, "a field name after `.`"));
                    }
                    path.push(PathSeg::Key(self.ident()));
                }
                Some('[') => {
                    self.pos += 1;
                    path.push(self.bracket_segment()?);
                }
                _ => return Ok(Tok::Body(path)),
            }
        }
    }

    fn bracket_segment(&mut self) -> Result<PathSeg, ConditionError> {
        let seg = match self.peek() {
            Some(q @ ('\'' | '"')) => PathSeg::Key(self.string(q)?),
            Some(d) if d.is_ascii_digit() => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                let digits: String = self.chars[start..self.pos].iter().collect();
                let index = digits
                    .parse()
                    .map_err(|_| self.err(start, digits.clone(), "an array index"))?;
                PathSeg::Index(index)
            }
            other => {
                let found = other.map_or("the end".to_string(), |c| format!("{c:?}"));
                return Err(self.err(self.pos, found, "a quoted field name or an index in `[ ]`"));
            }
        };
        if self.peek() != Some(']') {
            let found = self
                .peek()
                .map_or("the end".to_string(), |c| format!("{c:?}"));
            return Err(self.err(self.pos, found, "`]`"));
        }
        self.pos += 1;
        Ok(seg)
    }

    fn number(&mut self) -> Result<f64, ConditionError> {
        let start = self.pos;
        if self.peek() == Some('0') && matches!(self.peek_at(1), Some('x' | 'X')) {
            self.pos += 2;
            let digits_start = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                self.pos += 1;
            }
            let digits: String = self.chars[digits_start..self.pos].iter().collect();
            return u64::from_str_radix(&digits, 16)
                .map(|n| n as f64)
                .map_err(|_| self.err(start, format!("0x{digits}"), "a hexadecimal number"));
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
            self.pos += 1;
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let sign = usize::from(matches!(self.peek_at(1), Some('+' | '-')));
            if self.peek_at(1 + sign).is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1 + sign;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
            }
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        if self.peek().is_some_and(is_ident_start) {
            let found = format!("{text}{}", self.peek().unwrap_or(' '));
            return Err(self.err(start, found, "a number"));
        }
        text.parse()
            .map_err(|_| self.err(start, text.clone(), "a number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|(_, t)| t).collect()
    }

    #[test]
    fn lexes_operators_keywords_and_literals() {
        assert_eq!(
            toks("a <> 'x''y' aNd NOT $body.m[0]['k'] ?? {$messageId} || 0x1F <= 1.5e2"),
            vec![
                Tok::Ident("a".into()),
                Tok::Ne,
                Tok::Str("x'y".into()),
                Tok::And,
                Tok::Not,
                Tok::Body(vec![
                    PathSeg::Key("m".into()),
                    PathSeg::Index(0),
                    PathSeg::Key("k".into())
                ]),
                Tok::Coalesce,
                Tok::SysProp("messageId".into()),
                Tok::Concat,
                Tok::Number(31.0),
                Tok::Le,
                Tok::Number(150.0),
            ]
        );
    }

    #[test]
    fn reports_columns() {
        let e = lex("a = 'open").unwrap_err();
        assert_eq!(e.column, 4);
        let e = lex("a # b").unwrap_err();
        assert_eq!(e.column, 2);
    }
}
