//! The condition parser: tokens to an [`Expr`] tree, by precedence climbing with
//! edgeHub's levels, from the loosest: `??`; `OR`; `AND`; `= != <>`;
//! `< <= > >=`; `+ - ||`; `* / %`; unary `-` and `NOT`.

use super::ConditionError;
use super::functions::Func;
use super::lexer::{PathSeg, Tok};

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A number (integers and hex are numbers too).
    Number(f64),
    /// A string.
    Str(String),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// `undefined`.
    Undefined,
}

/// A system property a condition can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysProp {
    /// `$messageId`
    MessageId,
    /// `$correlationId`
    CorrelationId,
    /// `$contentType`
    ContentType,
    /// `$contentEncoding`
    ContentEncoding,
    /// `$connectionDeviceId`
    ConnectionDeviceId,
    /// `$connectionModuleId`
    ConnectionModuleId,
    /// `$outputName`: the output a module message left by.
    OutputName,
    /// `$creationTimeUtc`, as RFC 3339 text.
    CreationTimeUtc,
    /// `$enqueuedTime`: when the gateway accepted the message; the gateway
    /// stamps it with the creation time when the message enters the router.
    EnqueuedTime,
    /// `$userId`: never set by ganglion, so always undefined.
    UserId,
    /// `$to`: never set by ganglion, so always undefined.
    To,
    /// `$absoluteExpiryTime`: never set by ganglion, so always undefined.
    AbsoluteExpiryTime,
}

impl SysProp {
    fn from_name(name: &str) -> Option<SysProp> {
        Some(match name.to_ascii_lowercase().as_str() {
            "messageid" => SysProp::MessageId,
            "correlationid" => SysProp::CorrelationId,
            "contenttype" => SysProp::ContentType,
            "contentencoding" => SysProp::ContentEncoding,
            "connectiondeviceid" => SysProp::ConnectionDeviceId,
            "connectionmoduleid" => SysProp::ConnectionModuleId,
            "outputname" => SysProp::OutputName,
            "creationtimeutc" => SysProp::CreationTimeUtc,
            "enqueuedtime" => SysProp::EnqueuedTime,
            "userid" => SysProp::UserId,
            "to" => SysProp::To,
            "absoluteexpirytime" => SysProp::AbsoluteExpiryTime,
            _ => return None,
        })
    }
}

/// A unary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    /// `-x`
    Neg,
    /// `NOT x`
    Not,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `||`
    Concat,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `=`
    Eq,
    /// `!=` or `<>`
    Ne,
    /// `AND`
    And,
    /// `OR`
    Or,
    /// `??`
    Coalesce,
}

/// A condition expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A literal.
    Lit(Literal),
    /// An application property.
    Prop(String),
    /// A system property.
    Sys(SysProp),
    /// A `$body` query.
    Body(Vec<PathSeg>),
    /// A unary operation.
    Unary(UnOp, Box<Expr>),
    /// A binary operation.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// A built-in function call.
    Call(Func, Vec<Expr>),
}

impl Expr {
    /// Whether the expression reads `$body` anywhere.
    pub fn uses_body(&self) -> bool {
        match self {
            Expr::Body(_) => true,
            Expr::Lit(_) | Expr::Prop(_) | Expr::Sys(_) => false,
            Expr::Unary(_, e) => e.uses_body(),
            Expr::Binary(_, a, b) => a.uses_body() || b.uses_body(),
            Expr::Call(_, args) => args.iter().any(Expr::uses_body),
        }
    }
}

/// The deepest nesting of parentheses and operators a condition may have; deeper
/// input is refused rather than risking the stack.
pub const MAX_DEPTH: usize = 64;

/// Parses a whole token list. `len` is the condition's length in characters, for
/// errors at the end.
pub fn parse(tokens: &[(usize, Tok)], len: usize) -> Result<Expr, ConditionError> {
    let mut p = Parser {
        tokens,
        pos: 0,
        len,
        depth: 0,
    };
    if tokens.is_empty() {
        return Err(ConditionError::new(0, "nothing", "a condition"));
    }
    let expr = p.expr(0)?;
    match p.peek() {
        None => Ok(expr),
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

impl Parser<'_> {
    fn peek(&self) -> Option<&(usize, Tok)> {
        self.tokens.get(self.pos)
    }

    fn end_error(&self, expected: &str) -> ConditionError {
        ConditionError::new(self.len, "the end of the condition", expected)
    }

    fn enter(&mut self, column: usize) -> Result<(), ConditionError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ConditionError::new(
                column,
                format!("nesting deeper than {MAX_DEPTH}"),
                "a simpler condition",
            ));
        }
        Ok(())
    }

    /// Parses operators binding tighter than `min`.
    fn expr(&mut self, min: u8) -> Result<Expr, ConditionError> {
        let column = self.peek().map_or(self.len, |(c, _)| *c);
        self.enter(column)?;
        let mut lhs = self.unary()?;
        while let Some((power, op)) = self.peek().and_then(|(_, t)| binary(t)) {
            if power <= min {
                break;
            }
            self.pos += 1;
            let rhs = self.expr(power)?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, ConditionError> {
        match self.peek() {
            Some((col, Tok::Minus)) => {
                let col = *col;
                self.pos += 1;
                self.enter(col)?;
                let e = self.unary()?;
                self.depth -= 1;
                Ok(match e {
                    Expr::Lit(Literal::Number(n)) => Expr::Lit(Literal::Number(-n)),
                    e => Expr::Unary(UnOp::Neg, Box::new(e)),
                })
            }
            Some((col, Tok::Not)) => {
                let col = *col;
                self.pos += 1;
                self.enter(col)?;
                let e = self.unary()?;
                self.depth -= 1;
                Ok(Expr::Unary(UnOp::Not, Box::new(e)))
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Expr, ConditionError> {
        let Some((col, tok)) = self.peek().cloned() else {
            return Err(self.end_error("an operand"));
        };
        self.pos += 1;
        Ok(match tok {
            Tok::Number(n) => Expr::Lit(Literal::Number(n)),
            Tok::Str(s) => Expr::Lit(Literal::Str(s)),
            Tok::True => Expr::Lit(Literal::Bool(true)),
            Tok::False => Expr::Lit(Literal::Bool(false)),
            Tok::Null => Expr::Lit(Literal::Null),
            Tok::Undefined => Expr::Lit(Literal::Undefined),
            Tok::QuotedProp(name) => Expr::Prop(name),
            Tok::Body(path) => Expr::Body(path),
            Tok::SysProp(name) => match SysProp::from_name(&name) {
                Some(p) => Expr::Sys(p),
                None => {
                    return Err(ConditionError::new(
                        col,
                        format!("`${name}`"),
                        "a known system property ($messageId, $correlationId, $contentType, \
                         $contentEncoding, $connectionDeviceId, $connectionModuleId, \
                         $creationTimeUtc, $enqueuedTime, ...)",
                    ));
                }
            },
            Tok::Ident(name) => {
                if matches!(self.peek(), Some((_, Tok::LParen))) {
                    self.pos += 1;
                    let func = Func::from_name(&name).ok_or_else(|| {
                        ConditionError::new(col, format!("`{name}(`"), "a built-in function")
                    })?;
                    let args = self.arguments()?;
                    func.check_arity(args.len()).map_err(|expected| {
                        ConditionError::new(
                            col,
                            format!("{} arguments to {name}", args.len()),
                            &expected,
                        )
                    })?;
                    Expr::Call(func, args)
                } else {
                    Expr::Prop(name)
                }
            }
            Tok::LParen => {
                let inner = self.expr(0)?;
                match self.peek() {
                    Some((_, Tok::RParen)) => {
                        self.pos += 1;
                        inner
                    }
                    Some((c, t)) => return Err(ConditionError::new(*c, t.describe(), "`)`")),
                    None => return Err(self.end_error("`)`")),
                }
            }
            other => return Err(ConditionError::new(col, other.describe(), "an operand")),
        })
    }

    /// Parses `a, b, c)` after a function's `(`.
    fn arguments(&mut self) -> Result<Vec<Expr>, ConditionError> {
        let mut args = Vec::new();
        if matches!(self.peek(), Some((_, Tok::RParen))) {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            args.push(self.expr(0)?);
            match self.peek() {
                Some((_, Tok::Comma)) => self.pos += 1,
                Some((_, Tok::RParen)) => {
                    self.pos += 1;
                    return Ok(args);
                }
                Some((c, t)) => return Err(ConditionError::new(*c, t.describe(), "`,` or `)`")),
                None => return Err(self.end_error("`,` or `)`")),
            }
        }
    }
}
