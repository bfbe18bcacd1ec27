//! Evaluating a type-checked condition on a message, with edgeHub's
//! three-valued logic.
//!
//! What an operator does depends on its operands' static types, as edgeHub's
//! compiled .NET expressions do:
//!
//! - Between two strings, numbers or bools, a comparison with an undefined side
//!   is undefined; a NaN number is undefined; strings compare by UTF-16 code
//!   units; `false < true`. `null = null` holds.
//! - When either side is a `$body` value, both sides become `$body` values: a
//!   comparison with an undefined side is undefined, values of different JSON
//!   types are unequal and ordered bool < number < string < null, and `AND`/`OR`
//!   give a result only when both sides are bools.
//! - `AND`/`OR` between bools are Kleene's: `false AND undefined` is false,
//!   `true OR undefined` is true. With a `null` operand, `AND` is null and `OR`
//!   gives the other side.
//! - At the top, a bool decides, `null` is false, and anything else is undefined.

use super::body::{self, BodyPath};
use super::dotnet::{eq_ignore_case, ordinal_cmp};
use super::functions::is_defined;
use super::types::{BinOp, Expr, ExprKind, Literal, SysProp, Type};
use crate::message::Message;
use std::borrow::Cow;
use std::cell::OnceCell;
use std::cmp::Ordering;

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Missing: an unset property, a failed query, a type mismatch.
    Undefined,
    /// `null`.
    Null,
    /// The null a `$body` path that matches nothing gives. It is null in every
    /// way but one: `is_null` says false (see [`super::Func::IsNull`]).
    Missing,
    /// A boolean.
    Bool(bool),
    /// A number; NaN is undefined wherever the static type is a number.
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

/// A message as conditions see it. The JSON body is decoded at most once, the
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
        self.body.get_or_init(|| body::decode(self.msg)).as_ref()
    }

    /// The number at `path` in the body, if the body is JSON and holds a
    /// finite number there (what a chart plots).
    pub fn number(&self, path: &BodyPath) -> Option<f64> {
        match path.select(self.body()?) {
            Value::Number(n) if n.is_finite() => Some(n),
            _ => None,
        }
    }

    /// The application property `name`, matched in any case.
    fn property(&self, name: &str) -> Option<&'m str> {
        self.msg
            .properties
            .iter()
            .find(|(k, _)| eq_ignore_case(k, name))
            .map(|(_, v)| v.as_str())
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
            SysProp::CreationTime | SysProp::EnqueuedTime => {
                s.creation_time_ms.map_or(Value::Undefined, |ms| {
                    Value::Str(Cow::Owned(crate::message::rfc3339(ms)))
                })
            }
            SysProp::Other => Value::Undefined,
        }
    }
}

fn str_or_undefined(v: Option<&str>) -> Value<'_> {
    v.map_or(Value::Undefined, |s| Value::Str(Cow::Borrowed(s)))
}

/// A value of static type `ty` as a `$body` value (edgeHub's implicit
/// conversion to `QueryValue`): a NaN number becomes undefined.
pub fn to_body<'a>(v: &Value<'a>, ty: Type) -> Value<'a> {
    match v {
        Value::Number(n) if ty != Type::Body && n.is_nan() => Value::Undefined,
        other => other.clone(),
    }
}

/// Evaluates `expr` to a value.
pub fn value<'a>(expr: &'a Expr, view: &'a MessageView<'a>) -> Value<'a> {
    match &expr.kind {
        ExprKind::Lit(lit) => match lit {
            Literal::Number(n) => Value::Number(*n),
            Literal::Str(s) => Value::Str(Cow::Borrowed(s)),
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Null => Value::Null,
            Literal::Undefined => Value::Undefined,
        },
        ExprKind::Prop(name) => str_or_undefined(view.property(name)),
        ExprKind::Dollar(name, sys) => match view.property(name) {
            Some(v) => Value::Str(Cow::Borrowed(v)),
            None => view.system(*sys),
        },
        ExprKind::Sys(sys) => view.system(*sys),
        ExprKind::Body(path, shadow) => {
            if let Some(v) = shadow.as_deref().and_then(|name| view.property(name)) {
                return Value::Str(Cow::Borrowed(v));
            }
            view.body()
                .map_or(Value::Undefined, |root| path.select(root))
        }
        ExprKind::Neg(e) => match value(e, view) {
            Value::Number(n) => Value::Number(-n),
            _ => Value::Undefined,
        },
        ExprKind::Not(e) => match (e.ty, value(e, view)) {
            (Type::Null, _) => Value::Bool(true),
            (_, Value::Bool(b)) => Value::Bool(!b),
            _ => Value::Undefined,
        },
        ExprKind::Binary(op, a, b) => binary(*op, a, b, view),
        ExprKind::Call(f, args) => f.apply(args.iter().map(|a| (value(a, view), a.ty)).collect()),
    }
}

fn kleene_and(a: &Value<'_>, b: &Value<'_>) -> Value<'static> {
    match (a, b) {
        (Value::Bool(false), _) | (_, Value::Bool(false)) => Value::Bool(false),
        (Value::Bool(true), Value::Bool(true)) => Value::Bool(true),
        _ => Value::Undefined,
    }
}

fn kleene_or(a: &Value<'_>, b: &Value<'_>) -> Value<'static> {
    match (a, b) {
        (Value::Bool(true), _) | (_, Value::Bool(true)) => Value::Bool(true),
        (Value::Bool(false), Value::Bool(false)) => Value::Bool(false),
        _ => Value::Undefined,
    }
}

fn binary<'a>(op: BinOp, a: &'a Expr, b: &'a Expr, view: &'a MessageView<'a>) -> Value<'a> {
    let body = a.ty == Type::Body || b.ty == Type::Body;
    let (x, y) = (value(a, view), value(b, view));
    match op {
        BinOp::And | BinOp::Or if body => match (to_body(&x, a.ty), to_body(&y, b.ty)) {
            (Value::Bool(p), Value::Bool(q)) => {
                Value::Bool(if op == BinOp::And { p && q } else { p || q })
            }
            _ => Value::Undefined,
        },
        BinOp::And if a.ty == Type::Null || b.ty == Type::Null => Value::Null,
        BinOp::And => kleene_and(&x, &y),
        BinOp::Or => match (a.ty, b.ty) {
            (Type::Null, Type::Null) => Value::Null,
            (Type::Null, _) => y,
            (_, Type::Null) => x,
            _ => kleene_or(&x, &y),
        },
        BinOp::Coalesce if body => {
            let x = to_body(&x, a.ty);
            if matches!(x, Value::Undefined) {
                to_body(&y, b.ty)
            } else {
                x
            }
        }
        BinOp::Coalesce => {
            if a.ty != Type::Undefined && is_defined(&x, a.ty) {
                x
            } else {
                y
            }
        }
        BinOp::Concat => super::Func::Concat.apply(vec![(x, a.ty), (y, b.ty)]),
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => {
            match (to_body(&x, a.ty), to_body(&y, b.ty)) {
                (Value::Number(p), Value::Number(q)) => Value::Number(match op {
                    BinOp::Add => p + q,
                    BinOp::Sub => p - q,
                    BinOp::Mul => p * q,
                    BinOp::Div => p / q,
                    _ => p % q,
                }),
                _ => Value::Undefined,
            }
        }
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne => {
            let ord = if body {
                body_cmp(&to_body(&x, a.ty), &to_body(&y, b.ty))
            } else {
                typed_cmp(a.ty, &x, &y)
            };
            ord.map_or(Value::Undefined, |o| Value::Bool(holds(op, o)))
        }
    }
}

fn holds(op: BinOp, ord: Ordering) -> bool {
    match op {
        BinOp::Lt => ord == Ordering::Less,
        BinOp::Le => ord != Ordering::Greater,
        BinOp::Gt => ord == Ordering::Greater,
        BinOp::Ge => ord != Ordering::Less,
        BinOp::Eq => ord == Ordering::Equal,
        _ => ord != Ordering::Equal,
    }
}

/// Compares two values of the same static type `ty`; `None` is undefined.
fn typed_cmp(ty: Type, x: &Value<'_>, y: &Value<'_>) -> Option<Ordering> {
    match (ty, x, y) {
        (Type::Null, _, _) => Some(Ordering::Equal),
        (_, Value::Str(p), Value::Str(q)) => Some(ordinal_cmp(p, q)),
        (_, Value::Number(p), Value::Number(q)) => p.partial_cmp(q),
        (_, Value::Bool(p), Value::Bool(q)) => Some(p.cmp(q)),
        _ => None,
    }
}

/// The rank of a `$body` value's JSON type (edgeHub's `QueryValueType` order).
fn rank(v: &Value<'_>) -> u8 {
    match v {
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::Str(_) => 3,
        _ => 4,
    }
}

/// Compares two `$body` values (edgeHub's `QueryValue.CompareTo`).
fn body_cmp(x: &Value<'_>, y: &Value<'_>) -> Option<Ordering> {
    if matches!(x, Value::Undefined) || matches!(y, Value::Undefined) {
        return None;
    }
    Some(match (x, y) {
        (Value::Bool(p), Value::Bool(q)) => p.cmp(q),
        (Value::Str(p), Value::Str(q)) => ordinal_cmp(p, q),
        // .NET's double.CompareTo: NaN equals NaN and is below every number.
        (Value::Number(p), Value::Number(q)) => p
            .partial_cmp(q)
            .unwrap_or_else(|| p.is_nan().cmp(&q.is_nan()).reverse()),
        _ => rank(x).cmp(&rank(y)),
    })
}

/// Evaluates `expr` as a whole condition.
pub fn truth(expr: &Expr, view: &MessageView<'_>) -> Tri {
    match (expr.ty, value(expr, view)) {
        (Type::Null, _) => Tri::False,
        (Type::Bool | Type::Body, Value::Bool(true)) => Tri::True,
        (Type::Bool | Type::Body, Value::Bool(false)) => Tri::False,
        _ => Tri::Undefined,
    }
}
