//! Evaluating a condition on a message, with edgeHub's three-valued logic: a
//! comparison with `undefined`, or between values of different types, is
//! undefined, and `NOT undefined` is undefined too.

use super::lexer::PathSeg;
use super::parser::{BinOp, Expr, Literal, SysProp, UnOp};
use crate::message::{Message, property};
use std::borrow::Cow;
use std::cell::OnceCell;

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Missing: an unset property, a missing body path, a type mismatch.
    Undefined,
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    Str(Cow<'a, str>),
}

/// The outcome of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tri {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// The condition is undefined (so the route does not match).
    Undefined,
}

impl Tri {
    /// The word for it: `true`, `false` or `undefined`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tri::True => "true",
            Tri::False => "false",
            Tri::Undefined => "undefined",
        }
    }
}

/// A message as conditions see it. The JSON body is parsed at most once, the
/// first time a condition asks for it.
pub struct MessageView<'m> {
    msg: &'m Message,
    body: OnceCell<Option<serde_json::Value>>,
}

impl<'m> MessageView<'m> {
    /// A view of `msg`.
    pub fn new(msg: &'m Message) -> Self {
        MessageView {
            msg,
            body: OnceCell::new(),
        }
    }

    fn body(&self) -> Option<&serde_json::Value> {
        self.body
            .get_or_init(|| {
                let s = &self.msg.system;
                let is_json = s
                    .content_type
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case("application/json"));
                let utf8 = s
                    .content_encoding
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case("utf-8"));
                if !(is_json && utf8) {
                    return None;
                }
                serde_json::from_slice(&self.msg.body).ok()
            })
            .as_ref()
    }

    fn system(&self, prop: SysProp) -> Value<'m> {
        let s = &self.msg.system;
        let text = |v: &'m Option<String>| {
            v.as_deref()
                .map_or(Value::Undefined, |t| Value::Str(Cow::Borrowed(t)))
        };
        match prop {
            SysProp::MessageId => text(&s.message_id),
            SysProp::CorrelationId => text(&s.correlation_id),
            SysProp::ContentType => text(&s.content_type),
            SysProp::ContentEncoding => text(&s.content_encoding),
            SysProp::ConnectionDeviceId => text(&s.connection_device_id),
            SysProp::ConnectionModuleId => text(&s.connection_module_id),
            SysProp::OutputName => text(&s.output_name),
            SysProp::CreationTimeUtc | SysProp::EnqueuedTime => {
                s.creation_time_ms.map_or(Value::Undefined, |ms| {
                    Value::Str(Cow::Owned(crate::message::rfc3339(ms)))
                })
            }
            SysProp::UserId | SysProp::To | SysProp::AbsoluteExpiryTime => Value::Undefined,
        }
    }
}

fn json_value<'a>(v: &'a serde_json::Value) -> Value<'a> {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => n.as_f64().map_or(Value::Undefined, Value::Number),
        serde_json::Value::String(s) => Value::Str(Cow::Borrowed(s)),
        serde_json::Value::Array(_) | serde_json::Value::Object(_) => Value::Undefined,
    }
}

fn body_query<'a>(body: Option<&'a serde_json::Value>, path: &[PathSeg]) -> Value<'a> {
    let mut node = match body {
        Some(b) => b,
        None => return Value::Undefined,
    };
    for seg in path {
        let next = match seg {
            PathSeg::Key(k) => node.get(k.as_str()),
            PathSeg::Index(i) => node.get(*i),
        };
        match next {
            Some(n) => node = n,
            None => return Value::Undefined,
        }
    }
    json_value(node)
}

/// Evaluates `expr` to a value.
pub fn value<'a>(expr: &'a Expr, view: &'a MessageView<'a>) -> Value<'a> {
    match expr {
        Expr::Lit(lit) => match lit {
            Literal::Number(n) => Value::Number(*n),
            Literal::Str(s) => Value::Str(Cow::Borrowed(s)),
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Null => Value::Null,
            Literal::Undefined => Value::Undefined,
        },
        Expr::Prop(name) => {
            property(view.msg, name).map_or(Value::Undefined, |v| Value::Str(Cow::Borrowed(v)))
        }
        Expr::Sys(p) => view.system(*p),
        Expr::Body(path) => body_query(view.body(), path),
        Expr::Unary(op, e) => unary(*op, value(e, view)),
        Expr::Binary(op, a, b) => binary(*op, a, b, view),
        Expr::Call(f, args) => f.apply(args.iter().map(|a| value(a, view)).collect()),
    }
}

fn unary(op: UnOp, v: Value<'_>) -> Value<'_> {
    match (op, v) {
        (UnOp::Neg, Value::Number(n)) => Value::Number(-n),
        (UnOp::Not, Value::Bool(b)) => Value::Bool(!b),
        _ => Value::Undefined,
    }
}

fn binary<'a>(op: BinOp, a: &'a Expr, b: &'a Expr, view: &'a MessageView<'a>) -> Value<'a> {
    use Value::{Bool, Number, Str, Undefined};
    match op {
        BinOp::And => match value(a, view) {
            Bool(false) => Bool(false),
            left => match (left, value(b, view)) {
                (_, Bool(false)) => Bool(false),
                (Bool(true), Bool(true)) => Bool(true),
                _ => Undefined,
            },
        },
        BinOp::Or => match value(a, view) {
            Bool(true) => Bool(true),
            left => match (left, value(b, view)) {
                (_, Bool(true)) => Bool(true),
                (Bool(false), Bool(false)) => Bool(false),
                _ => Undefined,
            },
        },
        BinOp::Coalesce => match value(a, view) {
            Undefined => value(b, view),
            left => left,
        },
        _ => {
            let (x, y) = (value(a, view), value(b, view));
            match (op, x, y) {
                (BinOp::Add, Number(x), Number(y)) => Number(x + y),
                (BinOp::Sub, Number(x), Number(y)) => Number(x - y),
                (BinOp::Mul, Number(x), Number(y)) => Number(x * y),
                (BinOp::Div, Number(x), Number(y)) => Number(x / y),
                (BinOp::Mod, Number(x), Number(y)) => Number(x % y),
                (BinOp::Concat, Str(x), Str(y)) => Str(Cow::Owned(format!("{x}{y}"))),
                (BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge, x, y) => {
                    compare(op, &x, &y)
                }
                _ => Undefined,
            }
        }
    }
}

fn compare(op: BinOp, x: &Value<'_>, y: &Value<'_>) -> Value<'static> {
    use std::cmp::Ordering;
    let ordering = match (x, y) {
        (Value::Number(a), Value::Number(b)) => a.partial_cmp(b),
        (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) if matches!(op, BinOp::Eq | BinOp::Ne) => Some(a.cmp(b)),
        (Value::Null, Value::Null) if matches!(op, BinOp::Eq | BinOp::Ne) => Some(Ordering::Equal),
        _ => return Value::Undefined,
    };
    let Some(ord) = ordering else {
        // NaN: equal to nothing, ordered against nothing.
        return match op {
            BinOp::Ne => Value::Bool(true),
            _ => Value::Bool(false),
        };
    };
    Value::Bool(match op {
        BinOp::Eq => ord == Ordering::Equal,
        BinOp::Ne => ord != Ordering::Equal,
        BinOp::Lt => ord == Ordering::Less,
        BinOp::Le => ord != Ordering::Greater,
        BinOp::Gt => ord == Ordering::Greater,
        BinOp::Ge => ord != Ordering::Less,
        _ => return Value::Undefined,
    })
}

/// Evaluates `expr` as a condition.
pub fn truth(expr: &Expr, view: &MessageView<'_>) -> Tri {
    let view: &MessageView<'_> = view;
    match value(expr, view) {
        Value::Bool(true) => Tri::True,
        Value::Bool(false) => Tri::False,
        _ => Tri::Undefined,
    }
}
