//! The route condition language (the `WHERE` clause), after edgeHub's: literals,
//! application properties by bare name, system properties (`$name` or
//! `{$name}`), `$body.<path>` on JSON bodies, the operators with edgeHub's
//! precedence, and the built-in functions.
//!
//! A condition compiles once ([`Condition::compile`]) into an expression tree and
//! is evaluated per message with three-valued logic: `true`, `false` or
//! `undefined`. A route matches only on `true`.

mod eval;
mod functions;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;

pub use eval::{MessageView, Tri};
pub use functions::Func;
pub use lexer::PathSeg;
pub use parser::{BinOp, Expr, Literal, SysProp, UnOp};

use std::fmt;

/// A condition that does not compile: where, what was found, what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionError {
    /// The 0-based character column in the condition text.
    pub column: usize,
    /// What was found there.
    pub found: String,
    /// What was expected there.
    pub expected: String,
}

impl ConditionError {
    pub(crate) fn new(column: usize, found: impl Into<String>, expected: &str) -> Self {
        ConditionError {
            column,
            found: found.into(),
            expected: expected.to_string(),
        }
    }

    /// The same error with its column moved by `offset` (when the condition is
    /// part of a longer route).
    pub fn shifted(mut self, offset: usize) -> Self {
        self.column += offset;
        self
    }
}

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "column {}: expected {}, found {}",
            self.column + 1,
            self.expected,
            self.found
        )
    }
}

impl std::error::Error for ConditionError {}

/// A compiled condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    expr: Expr,
    uses_body: bool,
}

impl Condition {
    /// Compiles `text`. Never panics; a bad condition is a [`ConditionError`].
    pub fn compile(text: &str) -> Result<Condition, ConditionError> {
        let tokens = lexer::lex(text)?;
        let expr = parser::parse(&tokens, text.chars().count())?;
        let uses_body = expr.uses_body();
        Ok(Condition { expr, uses_body })
    }

    /// The expression tree.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Whether evaluating needs the JSON body.
    pub fn uses_body(&self) -> bool {
        self.uses_body
    }

    /// Evaluates the condition on a message.
    pub fn evaluate(&self, view: &MessageView<'_>) -> Tri {
        eval::truth(&self.expr, view)
    }
}
