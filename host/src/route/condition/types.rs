//! The static types of the condition language and the compile-time check,
//! after edgeHub's `ConditionVisitor`, which builds a typed .NET expression
//! tree and refuses what does not type.
//!
//! Every expression has one of six types: `number`, `string`, `bool`, `null`,
//! `undefined`, or a `$body` value (edgeHub's `QueryValue`, whose JSON type is
//! only known per message). Application and system properties are strings, so
//! `3 + key1` and `abs(key1)` do not compile. Operands must have the operator's
//! type, or be a `$body` value beside a number, string, bool or null; the two
//! sides of a comparison or `??` must have the same type, or one side be a
//! `$body` value.

use super::ConditionError;
use super::body::BodyPath;
use super::dotnet::starts_with_ignore_case;
use super::functions::Func;
use super::parser::Node;

/// A static type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// A number (a double).
    Number,
    /// A string.
    Str,
    /// A three-valued boolean.
    Bool,
    /// `null`.
    Null,
    /// `undefined`.
    Undefined,
    /// A `$body` query result: a number, string, bool or null, found per message.
    Body,
}

impl Type {
    /// The type's name in error messages, as edgeHub names it.
    pub fn name(self) -> &'static str {
        match self {
            Type::Number => "number",
            Type::Str => "string",
            Type::Bool => "bool",
            Type::Null => "null",
            Type::Undefined => "undefined",
            Type::Body => "$body value",
        }
    }

    /// Whether a `$body` value may stand where this type is expected.
    fn joins_body(self) -> bool {
        matches!(self, Type::Null | Type::Number | Type::Str | Type::Bool)
    }

    /// Whether an argument or operand of type `given` is accepted where `self`
    /// is expected (edgeHub's `Args.Match`); `body` allows a `$body` value on
    /// either side.
    pub fn accepts(self, given: Type, body: bool) -> bool {
        self == given
            || (body
                && ((given == Type::Body && self.joins_body())
                    || (self == Type::Body && given.joins_body())))
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A number (integers, reals and hex are numbers).
    Number(f64),
    /// A string.
    Str(String),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// `undefined`, or a number literal .NET cannot read (`e5`, a hex literal
    /// over 16 digits).
    Undefined,
}

/// A system property a condition can read. Names match in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysProp {
    /// `messageId`
    MessageId,
    /// `correlationId`
    CorrelationId,
    /// `contentType`
    ContentType,
    /// `contentEncoding`
    ContentEncoding,
    /// `connectionDeviceId`
    ConnectionDeviceId,
    /// `connectionModuleId`
    ConnectionModuleId,
    /// `outputName`: the output a module message left by.
    OutputName,
    /// `creationTime` (or `creationTimeUtc`), as RFC 3339 text.
    CreationTime,
    /// `enqueuedTime`: the gateway stamps it with the creation time.
    EnqueuedTime,
    /// Any other name (`userId`, `to`, ...): ganglion never sets one, so it is
    /// undefined, as a property absent from a message is in edgeHub.
    Other,
}

impl SysProp {
    /// The system property called `name`, in any case.
    pub fn from_name(name: &str) -> SysProp {
        match name.to_ascii_lowercase().as_str() {
            "messageid" => SysProp::MessageId,
            "correlationid" => SysProp::CorrelationId,
            "contenttype" => SysProp::ContentType,
            "contentencoding" => SysProp::ContentEncoding,
            "connectiondeviceid" => SysProp::ConnectionDeviceId,
            "connectionmoduleid" => SysProp::ConnectionModuleId,
            "outputname" => SysProp::OutputName,
            "creationtime" | "creationtimeutc" => SysProp::CreationTime,
            "enqueuedtime" => SysProp::EnqueuedTime,
            _ => SysProp::Other,
        }
    }
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

impl BinOp {
    /// How the operator is written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Concat => "||",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "=",
            BinOp::Ne => "!=",
            BinOp::And => "AND",
            BinOp::Or => "OR",
            BinOp::Coalesce => "??",
        }
    }
}

/// A type-checked expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Its static type.
    pub ty: Type,
}

/// The kinds of expression.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A literal.
    Lit(Literal),
    /// An application property, by bare name (matched in any case).
    Prop(String),
    /// `$name`: the application property called `$name` if the message has
    /// one, else the system property `name`.
    Dollar(String, SysProp),
    /// `{$name}`: the system property only.
    Sys(SysProp),
    /// `$body.<path>`. For `$body.a.b` without brackets, an application property
    /// called `$body.a.b` takes precedence (its text is kept here).
    Body(BodyPath, Option<String>),
    /// `-x`
    Neg(Box<Expr>),
    /// `NOT x`
    Not(Box<Expr>),
    /// A binary operation.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// A built-in function call.
    Call(Func, Vec<Expr>),
}

impl Expr {
    fn new(kind: ExprKind, ty: Type) -> Expr {
        Expr { kind, ty }
    }

    /// Whether the expression reads `$body` anywhere.
    pub fn uses_body(&self) -> bool {
        match &self.kind {
            ExprKind::Body(..) => true,
            ExprKind::Lit(_) | ExprKind::Prop(_) | ExprKind::Dollar(..) | ExprKind::Sys(_) => false,
            ExprKind::Neg(e) | ExprKind::Not(e) => e.uses_body(),
            ExprKind::Binary(_, a, b) => a.uses_body() || b.uses_body(),
            ExprKind::Call(_, args) => args.iter().any(Expr::uses_body),
        }
    }
}

fn literal_type(lit: &Literal) -> Type {
    match lit {
        Literal::Number(_) => Type::Number,
        Literal::Str(_) => Type::Str,
        Literal::Bool(_) => Type::Bool,
        Literal::Null => Type::Null,
        Literal::Undefined => Type::Undefined,
    }
}

fn operands(col: usize, op: &str, have: &[Type], expected: &str) -> ConditionError {
    let have: Vec<&str> = have.iter().map(|t| t.name()).collect();
    ConditionError::new(
        col,
        format!("`{op}` applied to {}", have.join(" and ")),
        expected,
    )
}

/// A `$...` token: a body query, or a property.
fn dollar(col: usize, text: &str, braced: bool) -> Result<Expr, ConditionError> {
    let brackets = text.contains('[') || text.contains(']');
    if starts_with_ignore_case(text, "$body.") {
        let query = text.get("$body.".len()..).unwrap_or_default();
        let path = BodyPath::compile(query).ok_or_else(|| {
            ConditionError::new(
                col,
                format!("`{text}`"),
                "a $body path of names separated by `.`, each with at most one `[index]`",
            )
        })?;
        let shadow = (!braced && !brackets).then(|| text.to_string());
        return Ok(Expr::new(ExprKind::Body(path, shadow), Type::Body));
    }
    if brackets {
        return Ok(Expr::new(
            ExprKind::Lit(Literal::Undefined),
            Type::Undefined,
        ));
    }
    let sys = SysProp::from_name(text.get(1..).unwrap_or_default());
    Ok(if braced {
        Expr::new(ExprKind::Sys(sys), Type::Str)
    } else {
        Expr::new(ExprKind::Dollar(text.to_string(), sys), Type::Str)
    })
}

/// Type-checks a syntax tree.
pub fn check(node: Node) -> Result<Expr, ConditionError> {
    Ok(match node {
        Node::Lit(lit) => {
            let ty = literal_type(&lit);
            Expr::new(ExprKind::Lit(lit), ty)
        }
        Node::Prop(name) => Expr::new(ExprKind::Prop(name), Type::Str),
        Node::Dollar(col, text) => dollar(col, &text, false)?,
        Node::Braced(col, text) => dollar(col, &text, true)?,
        Node::Neg(col, inner) => {
            let inner = check(*inner)?;
            if inner.ty != Type::Number {
                let expected = if inner.ty == Type::Body {
                    "a number (edgeHub has no unary `-` for $body values: write `0 - x`)"
                } else {
                    "a number"
                };
                return Err(operands(col, "-", &[inner.ty], expected));
            }
            Expr::new(ExprKind::Neg(Box::new(inner)), Type::Number)
        }
        Node::Not(col, inner) => {
            let inner = check(*inner)?;
            if !matches!(inner.ty, Type::Bool | Type::Null | Type::Body) {
                return Err(operands(col, "NOT", &[inner.ty], "a bool"));
            }
            Expr::new(ExprKind::Not(Box::new(inner)), Type::Bool)
        }
        Node::Binary(col, op, lhs, rhs) => {
            let (a, b) = (check(*lhs)?, check(*rhs)?);
            let ty = binary_type(col, op, a.ty, b.ty)?;
            Expr::new(ExprKind::Binary(op, Box::new(a), Box::new(b)), ty)
        }
        Node::Call(col, name, args) => {
            let func = Func::from_name(&name).ok_or_else(|| {
                ConditionError::new(col, format!("`{name}(`"), "a built-in function")
            })?;
            let args = args.into_iter().map(check).collect::<Result<Vec<_>, _>>()?;
            let types: Vec<Type> = args.iter().map(|a| a.ty).collect();
            let ty = func.resolve(&types).map_err(|expected| {
                let names: Vec<&str> = types.iter().map(|t| t.name()).collect();
                ConditionError::new(
                    col,
                    format!("{}({})", func.name(), names.join(", ")),
                    &expected,
                )
            })?;
            Expr::new(ExprKind::Call(func, args), ty)
        }
    })
}

/// The type of `a op b`, or the error edgeHub gives.
fn binary_type(col: usize, op: BinOp, a: Type, b: Type) -> Result<Type, ConditionError> {
    let sym = op.symbol();
    let body = a == Type::Body || b == Type::Body;
    match op {
        BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Add | BinOp::Sub => {
            let ok = |t: Type| Type::Number.accepts(t, true);
            if !ok(a) || !ok(b) {
                return Err(operands(col, sym, &[a, b], "number and number"));
            }
            if body && op == BinOp::Mod {
                return Err(operands(
                    col,
                    sym,
                    &[a, b],
                    "numbers (edgeHub defines no `%` for $body values)",
                ));
            }
            Ok(if body { Type::Body } else { Type::Number })
        }
        BinOp::Concat => {
            let ok = |t: Type| Type::Str.accepts(t, true);
            if !ok(a) || !ok(b) {
                return Err(operands(col, sym, &[a, b], "string and string"));
            }
            Ok(Type::Str)
        }
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne | BinOp::Coalesce => {
            if !a.accepts(b, true) {
                let expected = format!("{} and {}", a.name(), a.name());
                return Err(operands(col, sym, &[a, b], &expected));
            }
            Ok(match op {
                BinOp::Coalesce if body => Type::Body,
                BinOp::Coalesce => a,
                _ => Type::Bool,
            })
        }
        BinOp::And | BinOp::Or => {
            let logical = |t: Type| matches!(t, Type::Null | Type::Bool | Type::Undefined);
            // edgeHub checks the right operand only when the left one is not a
            // $body value.
            if a != Type::Body && !(logical(a) && logical(b)) {
                return Err(operands(col, sym, &[a, b], "bool and bool"));
            }
            let nulls = usize::from(a == Type::Null) + usize::from(b == Type::Null);
            let undefined = a == Type::Undefined || b == Type::Undefined;
            if body && op == BinOp::And && nulls > 0 {
                return Err(operands(
                    col,
                    sym,
                    &[a, b],
                    "bool and bool (edgeHub has no `AND` of a $body value and null)",
                ));
            }
            if !body && nulls > 0 && undefined {
                return Err(operands(
                    col,
                    sym,
                    &[a, b],
                    "bool and bool (edgeHub has no operator for undefined and null)",
                ));
            }
            Ok(match op {
                BinOp::And if nulls > 0 => Type::Null,
                BinOp::Or if nulls == 2 => Type::Null,
                _ => Type::Bool,
            })
        }
    }
}
