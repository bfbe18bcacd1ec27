//! The route condition language (the `WHERE` clause), a faithful copy of
//! edgeHub's (`Microsoft.Azure.Devices.Routing.Core/query`): its lexer, its
//! operator precedence, its static types, its three-valued logic, `$body`
//! queries on JSON bodies, and its built-in functions.
//!
//! A condition compiles once ([`Condition::compile`]) into a type-checked
//! expression tree, and is evaluated per message with three-valued logic:
//! `true`, `false` or `undefined`. A route matches only on `true`.
//!
//! # Layout
//!
//! - `lexer`: tokens, split by longest match as edgeHub's ANTLR lexer does.
//! - `parser`: the syntax tree, with edgeHub's precedence.
//! - `types`: the static types and the compile-time check.
//! - `eval`: evaluation on a [`MessageView`].
//! - `functions`: the built-in functions.
//! - `body`: `$body` decoding and paths.
//! - `dotnet`: the .NET string and number behaviours edgeHub inherits.

mod body;
mod dotnet;
mod eval;
mod functions;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;
mod types;

pub use body::{BodyPath, Step};
pub use eval::{MessageView, Tri, Value};
pub use functions::Func;
pub use parser::MAX_DEPTH;
pub use types::{BinOp, Expr, ExprKind, Literal, SysProp, Type};

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
    expr: Option<Expr>,
    uses_body: bool,
}

impl Condition {
    /// Compiles `text`. Never panics; a condition edgeHub would refuse is a
    /// [`ConditionError`]. An empty condition compiles, and is always undefined,
    /// as in edgeHub.
    pub fn compile(text: &str) -> Result<Condition, ConditionError> {
        let tokens = lexer::lex(text);
        let node = parser::parse(&tokens, text.chars().count())?;
        let expr = node.map(types::check).transpose()?;
        let uses_body = expr.as_ref().is_some_and(Expr::uses_body);
        Ok(Condition { expr, uses_body })
    }

    /// The type-checked expression; `None` for an empty condition.
    pub fn expr(&self) -> Option<&Expr> {
        self.expr.as_ref()
    }

    /// Whether evaluating needs the JSON body.
    pub fn uses_body(&self) -> bool {
        self.uses_body
    }

    /// Evaluates the condition on a message.
    pub fn evaluate(&self, view: &MessageView<'_>) -> Tri {
        self.expr
            .as_ref()
            .map_or(Tri::Undefined, |e| eval::truth(e, view))
    }
}
