//! The condition parser: tokens to a syntax tree, with the precedence edgeHub's
//! ANTLR grammar (`Condition.g4`) gives, from the loosest: `??`; `OR`; `AND`;
//! `= != <>`; `< <= > >=`; `+ - ||`; `* / %`; then the prefix `-` and `NOT`,
//! which bind tighter than every binary operator (`NOT a = b` is
//! `(NOT a) = b`). Binary operators associate to the left.
//!
//! Where edgeHub's parser would stop at a complete expression and silently
//! ignore what follows (`a = 1 b`, `3 $ 4`: its own tests list these as cases
//! that ought to fail), this parser refuses the trailing text.

use super::ConditionError;
use super::dotnet::{parse_hex, parse_number};
use super::lexer::Tok;
use super::types::{BinOp, Literal};

/// The deepest a condition may nest (parentheses, operators, calls); deeper
/// input is refused rather than risking the stack.
pub const MAX_DEPTH: usize = 128;

/// A parsed, not yet type-checked, expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A literal.
    Lit(Literal),
    /// An application property, by bare name.
    Prop(String),
    /// `$name` or `$body.path`, with its column; the text includes the `$`.
    Dollar(usize, String),
    /// `{$name}` or `{$body.path}`, with the column of the `$` token.
    Braced(usize, String),
    /// `-x`, with the operator's column.
    Neg(usize, Box<Node>),
    /// `NOT x`, with the operator's column.
    Not(usize, Box<Node>),
    /// A binary operation, with the operator's column.
    Binary(usize, BinOp, Box<Node>, Box<Node>),
    /// A function call, with the column of its name.
    Call(usize, String, Vec<Node>),
}

/// Parses a whole token list; `None` when there are no tokens (edgeHub compiles
/// an empty condition to one that is always undefined). `len` is the condition's
/// length in characters, for errors at the end.
pub fn parse(tokens: &[(usize, Tok)], len: usize) -> Result<Option<Node>, ConditionError> {
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut p = Parser {
        tokens,
        pos: 0,
        len,
        depth: 0,
    };
    let (node, _) = p.expr(0)?;
    match p.peek() {
        None => Ok(Some(node)),
        Some((col, Tok::RParen)) => Err(ConditionError::new(
            *col,
            "an unmatched `)`",
            "an operator or the end of the condition",
        )),
        Some((col, tok)) => Err(ConditionError::new(
            *col,
            tok.describe(),
            "an operator or the end of the condition",
        )),
    }
}

struct Parser<'t> {
    tokens: &'t [(usize, Tok)],
    pos: usize,
    len: usize,
    depth: usize,
}

/// The binding power of a binary operator token (higher binds tighter).
fn binary(tok: &Tok) -> Option<(u8, BinOp)> {
    Some(match tok {
        Tok::Coalesce => (1, BinOp::Coalesce),
        Tok::Or => (2, BinOp::Or),
        Tok::And => (3, BinOp::And),
        Tok::Eq => (4, BinOp::Eq),
        Tok::Ne => (4, BinOp::Ne),
        Tok::Lt => (5, BinOp::Lt),
        Tok::Le => (5, BinOp::Le),
        Tok::Gt => (5, BinOp::Gt),
        Tok::Ge => (5, BinOp::Ge),
        Tok::Plus => (6, BinOp::Add),
        Tok::Minus => (6, BinOp::Sub),
        Tok::Concat => (6, BinOp::Concat),
        Tok::Star => (7, BinOp::Mul),
        Tok::Slash => (7, BinOp::Div),
        Tok::Percent => (7, BinOp::Mod),
        _ => return None,
    })
}

fn too_deep(column: usize) -> ConditionError {
    ConditionError::new(
        column,
        format!("nesting deeper than {MAX_DEPTH}"),
        "a simpler condition",
    )
}

fn invalid_symbol(column: usize, c: char) -> ConditionError {
    ConditionError::new(
        column,
        format!("the symbol {c:?}"),
        "an operand or an operator",
    )
}

/// A node and the depth of the tree under it.
type Parsed = (Node, usize);

impl Parser<'_> {
    fn peek(&self) -> Option<&(usize, Tok)> {
        self.tokens.get(self.pos)
    }

    fn column(&self) -> usize {
        self.peek().map_or(self.len, |(c, _)| *c)
    }

    fn end_error(&self, expected: &str) -> ConditionError {
        ConditionError::new(self.len, "the end of the condition", expected)
    }

    fn enter(&mut self, column: usize) -> Result<(), ConditionError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(too_deep(column));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Parses operators binding tighter than `min`.
    fn expr(&mut self, min: u8) -> Result<Parsed, ConditionError> {
        self.enter(self.column())?;
        let (mut lhs, mut depth) = self.unary()?;
        loop {
            let (col, op) = match self.peek() {
                Some((col, Tok::Unknown(c))) => return Err(invalid_symbol(*col, *c)),
                Some((col, tok)) => match binary(tok) {
                    Some((power, op)) if power > min => (*col, (power, op)),
                    _ => break,
                },
                None => break,
            };
            self.pos += 1;
            let (rhs, rdepth) = self.expr(op.0)?;
            depth = 1 + depth.max(rdepth);
            if depth > MAX_DEPTH {
                return Err(too_deep(col));
            }
            lhs = Node::Binary(col, op.1, Box::new(lhs), Box::new(rhs));
        }
        self.leave();
        Ok((lhs, depth))
    }

    fn unary(&mut self) -> Result<Parsed, ConditionError> {
        match self.peek() {
            Some((col, tok @ (Tok::Minus | Tok::Not))) => {
                let (col, neg) = (*col, *tok == Tok::Minus);
                self.pos += 1;
                self.enter(col)?;
                let (inner, depth) = self.unary()?;
                self.leave();
                let inner = Box::new(inner);
                let node = if neg {
                    Node::Neg(col, inner)
                } else {
                    Node::Not(col, inner)
                };
                Ok((node, depth + 1))
            }
            Some((col, Tok::Unknown(c))) => Err(invalid_symbol(*col, *c)),
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Parsed, ConditionError> {
        let Some((col, tok)) = self.peek().cloned() else {
            return Err(self.end_error("an operand"));
        };
        self.pos += 1;
        let lit = |l: Literal| Ok((Node::Lit(l), 1));
        let number = |n: Option<f64>| lit(n.map_or(Literal::Undefined, Literal::Number));
        match tok {
            Tok::Int(s) | Tok::Real(s) => number(parse_number(&s)),
            Tok::Hex(s) => number(parse_hex(&s)),
            Tok::Str(s) => lit(Literal::Str(s)),
            Tok::True => lit(Literal::Bool(true)),
            Tok::False => lit(Literal::Bool(false)),
            Tok::Null => lit(Literal::Null),
            Tok::Undefined => lit(Literal::Undefined),
            Tok::Unterminated => Err(ConditionError::new(
                col,
                "an unterminated string",
                "a closing quote",
            )),
            Tok::SysProp(text) => Ok((Node::Dollar(col, text), 1)),
            Tok::Ident(name) => {
                if matches!(self.peek(), Some((_, Tok::LParen))) {
                    self.pos += 1;
                    self.enter(col)?;
                    let (args, depth) = self.arguments()?;
                    self.leave();
                    Ok((Node::Call(col, name, args), depth + 1))
                } else {
                    Ok((Node::Prop(name), 1))
                }
            }
            Tok::LBrace => self.braced(),
            Tok::LParen => {
                self.enter(col)?;
                let inner = self.expr(0)?;
                self.leave();
                match self.peek() {
                    Some((_, Tok::RParen)) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err(ConditionError::new(
                        col,
                        "an unclosed `(`",
                        "a matching `)`",
                    )),
                }
            }
            other => Err(ConditionError::new(col, other.describe(), "an operand")),
        }
    }

    /// Parses `$name}` after a `{`.
    fn braced(&mut self) -> Result<Parsed, ConditionError> {
        let (col, text) = match self.peek().cloned() {
            Some((col, Tok::SysProp(text))) => (col, text),
            Some((col, tok)) => {
                return Err(ConditionError::new(
                    col,
                    tok.describe(),
                    "a system property (`$name`) inside `{ }`",
                ));
            }
            None => return Err(self.end_error("a system property (`$name`) inside `{ }`")),
        };
        self.pos += 1;
        match self.peek() {
            Some((_, Tok::RBrace)) => {
                self.pos += 1;
                Ok((Node::Braced(col, text), 1))
            }
            Some((c, tok)) => Err(ConditionError::new(*c, tok.describe(), "`}`")),
            None => Err(self.end_error("`}`")),
        }
    }

    /// Parses `a, b, c)` after a function's `(`, with the deepest argument.
    fn arguments(&mut self) -> Result<(Vec<Node>, usize), ConditionError> {
        let mut args = Vec::new();
        let mut depth = 0;
        if matches!(self.peek(), Some((_, Tok::RParen))) {
            self.pos += 1;
            return Ok((args, depth));
        }
        loop {
            let (arg, d) = self.expr(0)?;
            depth = depth.max(d);
            args.push(arg);
            match self.peek() {
                Some((_, Tok::Comma)) => self.pos += 1,
                Some((_, Tok::RParen)) => {
                    self.pos += 1;
                    return Ok((args, depth));
                }
                Some((c, t)) => return Err(ConditionError::new(*c, t.describe(), "`,` or `)`")),
                None => return Err(self.end_error("`,` or `)`")),
            }
        }
    }
}
