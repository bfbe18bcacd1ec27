//! The built-in functions, as edgeHub's `query/builtins/*.cs` define them: the
//! argument types each accepts at compile time (a call that matches none does
//! not compile), and what each returns per message. A function given a `$body`
//! value of the wrong JSON type, or an undefined argument, returns undefined;
//! the `is_*` functions answer for any one argument.

use super::dotnet;
use super::eval::{Value, to_body};
use super::types::Type;

/// A built-in function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// `abs(number)`
    Abs,
    /// `exp(number)`
    Exp,
    /// `power(number, number)`
    Power,
    /// `square(number)`
    Square,
    /// `ceiling(number)`
    Ceiling,
    /// `floor(number)`
    Floor,
    /// `sign(number)`
    Sign,
    /// `sqrt(number)`
    Sqrt,
    /// `as_number(string)`, `as_number(number)`
    AsNumber,
    /// `is_bool(x)`
    IsBool,
    /// `is_defined(x)`
    IsDefined,
    /// `is_null(x)`
    IsNull,
    /// `is_number(x)`
    IsNumber,
    /// `is_string(x)`
    IsString,
    /// `concat(string, string, ...)`
    Concat,
    /// `length(string)`
    Length,
    /// `lower(string)`
    Lower,
    /// `upper(string)`
    Upper,
    /// `substring(string, number[, number])`
    Substring,
    /// `index_of(string, string)`
    IndexOf,
    /// `starts_with(string, string)`
    StartsWith,
    /// `ends_with(string, string)`
    EndsWith,
    /// `contains(string, string)`
    Contains,
}

const ALL: [(&str, Func); 23] = [
    ("abs", Func::Abs),
    ("exp", Func::Exp),
    ("power", Func::Power),
    ("square", Func::Square),
    ("ceiling", Func::Ceiling),
    ("floor", Func::Floor),
    ("sign", Func::Sign),
    ("sqrt", Func::Sqrt),
    ("as_number", Func::AsNumber),
    ("is_bool", Func::IsBool),
    ("is_defined", Func::IsDefined),
    ("is_null", Func::IsNull),
    ("is_number", Func::IsNumber),
    ("is_string", Func::IsString),
    ("concat", Func::Concat),
    ("length", Func::Length),
    ("lower", Func::Lower),
    ("upper", Func::Upper),
    ("substring", Func::Substring),
    ("index_of", Func::IndexOf),
    ("starts_with", Func::StartsWith),
    ("ends_with", Func::EndsWith),
    ("contains", Func::Contains),
];

use Type::{Number as N, Str as S};

impl Func {
    /// The function called `name` (in any case).
    pub fn from_name(name: &str) -> Option<Func> {
        ALL.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, f)| *f)
    }

    /// The function's name.
    pub fn name(self) -> &'static str {
        ALL.iter().find(|(_, f)| *f == self).map_or("?", |(n, _)| n)
    }

    /// The signatures that accept `$body` values for any argument, and the
    /// result type.
    fn signatures(self) -> (&'static [&'static [Type]], Type) {
        match self {
            Func::Abs
            | Func::Exp
            | Func::Square
            | Func::Ceiling
            | Func::Floor
            | Func::Sign
            | Func::Sqrt => (&[&[N]], N),
            Func::Power => (&[&[N, N]], N),
            Func::Length => (&[&[S]], N),
            Func::Lower | Func::Upper => (&[&[S]], S),
            Func::Substring => (&[&[S, N], &[S, N, N]], S),
            Func::IndexOf => (&[&[S, S]], N),
            Func::StartsWith | Func::EndsWith | Func::Contains => (&[&[S, S]], Type::Bool),
            Func::AsNumber => (&[&[S], &[N]], N),
            Func::IsBool => (&[&[Type::Bool]], Type::Bool),
            Func::IsNumber => (&[&[N]], Type::Bool),
            Func::IsString => (&[&[S]], Type::Bool),
            Func::IsDefined | Func::IsNull => (&[], Type::Bool),
            Func::Concat => (&[], S),
        }
    }

    /// The result type of a call with arguments of `args` types, or what was
    /// expected instead.
    pub fn resolve(self, args: &[Type]) -> Result<Type, String> {
        let (sigs, result) = self.signatures();
        let matches = |sig: &[Type]| {
            sig.len() == args.len()
                && sig
                    .iter()
                    .zip(args)
                    .all(|(want, got)| want.accepts(*got, true))
        };
        let ok = match self {
            Func::IsBool | Func::IsNumber | Func::IsString | Func::IsDefined | Func::IsNull => {
                args.len() == 1
            }
            Func::Concat => args.len() >= 2 && args.iter().all(|t| matches!(t, S | Type::Body)),
            _ => sigs.iter().any(|s| matches(s)),
        };
        if ok {
            return Ok(result);
        }
        let name = self.name();
        Err(match self {
            Func::IsBool | Func::IsNumber | Func::IsString | Func::IsDefined | Func::IsNull => {
                format!("{name}(x), with one argument")
            }
            Func::Concat => format!("{name}(string, string, ...), with at least two strings"),
            _ => sigs
                .iter()
                .map(|s| {
                    let names: Vec<&str> = s.iter().map(|t| t.name()).collect();
                    format!("{name}({})", names.join(", "))
                })
                .collect::<Vec<_>>()
                .join(" or "),
        })
    }

    /// Applies the function to its arguments and their static types.
    pub fn apply<'a>(self, args: Vec<(Value<'a>, Type)>) -> Value<'a> {
        use Value::{Bool, Number, Str, Undefined};
        let ty = |i: usize| args.get(i).map_or(Type::Undefined, |(_, t)| *t);
        // Each argument as edgeHub's executors see it: wrapped as a QueryValue.
        let body: Vec<Value<'a>> = args.iter().map(|(v, t)| to_body(v, *t)).collect();
        let num = |i: usize| match body.get(i) {
            Some(Number(n)) => Some(*n),
            _ => None,
        };
        let text = |i: usize| match body.get(i) {
            Some(Str(s)) => Some(s.as_ref()),
            _ => None,
        };
        let math = |f: fn(f64) -> f64| num(0).map_or(Undefined, |x| Number(f(x)));
        let defined = |f: fn(f64) -> f64| {
            num(0)
                .filter(|x| !x.is_nan())
                .map_or(Undefined, |x| Number(f(x)))
        };
        let first = body.first().cloned().unwrap_or(Undefined);
        match self {
            Func::Abs => math(f64::abs),
            Func::Exp => math(f64::exp),
            Func::Ceiling => math(f64::ceil),
            Func::Floor => math(f64::floor),
            Func::Square => defined(|x| x.powi(2)),
            Func::Sqrt => defined(f64::sqrt),
            Func::Sign => defined(|x| {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }),
            Func::Power => match (num(0), num(1)) {
                (Some(x), Some(y)) => Number(x.powf(y)),
                _ => Undefined,
            },
            Func::AsNumber => match (ty(0), first) {
                (N, v) => v,
                (_, Str(s)) => dotnet::parse_number(&s).map_or(Undefined, Number),
                (_, Number(n)) => Number(n),
                _ => Undefined,
            },
            Func::IsBool => match (ty(0), first) {
                (Type::Bool | Type::Body, Undefined) => Undefined,
                (Type::Bool | Type::Body, v) => Bool(matches!(v, Bool(_))),
                _ => Bool(false),
            },
            Func::IsDefined => Bool(is_defined(
                args.first().map_or(&Undefined, |(v, _)| v),
                ty(0),
            )),
            Func::IsNull => match (ty(0), first) {
                (Type::Null, _) => Bool(true),
                // A string property is never null in ganglion.
                (Type::Body, Undefined) => Undefined,
                // A deliberate difference from edgeHub: it compares with the one
                // QueryValue.Null instance by reference, so there every present
                // $body value (a string, say) is "null" and a JSON null read
                // through a path is too. ganglion answers true for JSON null
                // only; like edgeHub, false for a path that matches nothing.
                (Type::Body, v) => Bool(matches!(v, Value::Null)),
                _ => Bool(false),
            },
            Func::IsNumber => {
                Bool(matches!(ty(0), N | Type::Body) && matches!(first, Number(n) if n.is_finite()))
            }
            Func::IsString => Bool(matches!(ty(0), S | Type::Body) && matches!(first, Str(_))),
            Func::Concat => {
                let mut out = String::new();
                for v in &body {
                    match v {
                        Str(s) => out.push_str(s),
                        _ => return Undefined,
                    }
                }
                Str(out.into())
            }
            Func::Length => text(0).map_or(Undefined, |s| Number(dotnet::utf16_len(s) as f64)),
            Func::Lower => text(0).map_or(Undefined, |s| Str(dotnet::lower(s).into())),
            Func::Upper => text(0).map_or(Undefined, |s| Str(dotnet::upper(s).into())),
            Func::Substring => match (text(0), num(1)) {
                (Some(s), Some(start)) if args.len() == 2 => substring(s, start, None),
                (Some(s), Some(start)) => {
                    num(2).map_or(Undefined, |len| substring(s, start, Some(len)))
                }
                _ => Undefined,
            },
            Func::IndexOf => match (text(0), text(1)) {
                (Some(s), Some(t)) => Number(dotnet::index_of(s, t)),
                _ => Undefined,
            },
            Func::StartsWith => two_strings(text(0), text(1), |s, t| s.starts_with(t)),
            Func::EndsWith => two_strings(text(0), text(1), |s, t| s.ends_with(t)),
            Func::Contains => two_strings(text(0), text(1), |s, t| s.contains(t)),
        }
    }
}

/// `is_defined` on a value of static type `ty`: a number is undefined when it
/// is NaN, a `$body` value only when the query failed; `null` is defined.
pub fn is_defined(v: &Value<'_>, ty: Type) -> bool {
    match ty {
        Type::Undefined => false,
        Type::Null => true,
        Type::Number => matches!(v, Value::Number(n) if !n.is_nan()),
        _ => !matches!(v, Value::Undefined),
    }
}

fn two_strings<'a>(s: Option<&str>, t: Option<&str>, f: fn(&str, &str) -> bool) -> Value<'a> {
    match (s, t) {
        (Some(s), Some(t)) => Value::Bool(f(s, t)),
        _ => Value::Undefined,
    }
}

/// `substring(s, start[, length])` in UTF-16 code units, with edgeHub's bounds:
/// `0 <= start <= len` alone, or `0 <= start < len` and
/// `0 <= length <= len - start`; fractions are truncated.
fn substring<'a>(s: &str, start: f64, length: Option<f64>) -> Value<'a> {
    let count = dotnet::utf16_len(s) as f64;
    let valid = match length {
        None => start >= 0.0 && start <= count,
        Some(len) => start >= 0.0 && start < count && len >= 0.0 && len <= count - start,
    };
    if !valid {
        return Value::Undefined;
    }
    // In range, so the casts cannot saturate.
    let from = start as usize;
    let take = length.map_or(usize::MAX, |len| len as usize);
    Value::Str(dotnet::substring(s, from, take).into())
}
