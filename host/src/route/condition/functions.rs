//! The built-in functions of the condition language, as edgeHub has them.

use super::eval::Value;

/// A built-in function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// `abs(x)`
    Abs,
    /// `exp(x)`
    Exp,
    /// `power(x, y)`
    Power,
    /// `square(x)`
    Square,
    /// `ceiling(x)`
    Ceiling,
    /// `floor(x)`
    Floor,
    /// `sign(x)`
    Sign,
    /// `sqrt(x)`
    Sqrt,
    /// `as_number(s)`
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
    /// `concat(a, b, ...)`
    Concat,
    /// `length(s)`
    Length,
    /// `lower(s)`
    Lower,
    /// `upper(s)`
    Upper,
    /// `substring(s, start[, length])`
    Substring,
    /// `index_of(s, t)`
    IndexOf,
    /// `starts_with(s, t)`
    StartsWith,
    /// `ends_with(s, t)`
    EndsWith,
    /// `contains(s, t)`
    Contains,
}

impl Func {
    /// The function called `name` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Func> {
        Some(match name.to_ascii_lowercase().as_str() {
            "abs" => Func::Abs,
            "exp" => Func::Exp,
            "power" => Func::Power,
            "square" => Func::Square,
            "ceiling" => Func::Ceiling,
            "floor" => Func::Floor,
            "sign" => Func::Sign,
            "sqrt" => Func::Sqrt,
            "as_number" => Func::AsNumber,
            "is_bool" => Func::IsBool,
            "is_defined" => Func::IsDefined,
            "is_null" => Func::IsNull,
            "is_number" => Func::IsNumber,
            "is_string" => Func::IsString,
            "concat" => Func::Concat,
            "length" => Func::Length,
            "lower" => Func::Lower,
            "upper" => Func::Upper,
            "substring" => Func::Substring,
            "index_of" => Func::IndexOf,
            "starts_with" => Func::StartsWith,
            "ends_with" => Func::EndsWith,
            "contains" => Func::Contains,
            _ => return None,
        })
    }

    /// Checks the number of arguments; the error says what was expected.
    pub fn check_arity(self, n: usize) -> Result<(), String> {
        let (min, max) = match self {
            Func::Power | Func::IndexOf | Func::StartsWith | Func::EndsWith | Func::Contains => {
                (2, 2)
            }
            Func::Concat => (2, usize::MAX),
            Func::Substring => (2, 3),
            _ => (1, 1),
        };
        if n >= min && n <= max {
            return Ok(());
        }
        Err(match (min, max) {
            (a, b) if a == b => format!("{a} argument{}", if a == 1 { "" } else { "s" }),
            (a, usize::MAX) => format!("at least {a} arguments"),
            (a, b) => format!("{a} to {b} arguments"),
        })
    }

    /// Applies the function. A wrong type or an undefined argument gives
    /// undefined, as in edgeHub; only the `is_*` functions look at undefined.
    pub fn apply<'a>(self, args: Vec<Value<'a>>) -> Value<'a> {
        use Value::{Bool, Null, Number, Str, Undefined};
        let num = |i: usize| match args.get(i) {
            Some(Number(n)) => Some(*n),
            _ => None,
        };
        let text = |i: usize| match args.get(i) {
            Some(Str(s)) => Some(s.as_ref()),
            _ => None,
        };
        let math = |f: fn(f64) -> f64| num(0).map_or(Undefined, |x| Number(f(x)));
        match self {
            Func::Abs => math(f64::abs),
            Func::Exp => math(f64::exp),
            Func::Square => math(|x| x * x),
            Func::Ceiling => math(f64::ceil),
            Func::Floor => math(f64::floor),
            Func::Sqrt => math(f64::sqrt),
            Func::Sign => math(|x| {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    x
                }
            }),
            Func::Power => match (num(0), num(1)) {
                (Some(x), Some(y)) => Number(x.powf(y)),
                _ => Undefined,
            },
            Func::AsNumber => text(0)
                .and_then(|s| s.trim().parse::<f64>().ok())
                .map_or(Undefined, Number),
            Func::IsBool => Bool(matches!(args.first(), Some(Bool(_)))),
            Func::IsDefined => Bool(!matches!(args.first(), Some(Undefined) | None)),
            Func::IsNull => Bool(matches!(args.first(), Some(Null))),
            Func::IsNumber => Bool(matches!(args.first(), Some(Number(_)))),
            Func::IsString => Bool(matches!(args.first(), Some(Str(_)))),
            Func::Concat => {
                let mut out = String::new();
                for arg in &args {
                    match arg {
                        Str(s) => out.push_str(s),
                        _ => return Undefined,
                    }
                }
                Str(out.into())
            }
            Func::Length => text(0).map_or(Undefined, |s| Number(s.chars().count() as f64)),
            Func::Lower => text(0).map_or(Undefined, |s| Str(s.to_lowercase().into())),
            Func::Upper => text(0).map_or(Undefined, |s| Str(s.to_uppercase().into())),
            Func::Substring => substring(text(0), num(1), args.get(2).map(|_| num(2))),
            Func::IndexOf => match (text(0), text(1)) {
                (Some(s), Some(t)) => Number(
                    s.find(t)
                        .map_or(-1.0, |byte| s[..byte].chars().count() as f64),
                ),
                _ => Undefined,
            },
            Func::StartsWith => two_strings(text(0), text(1), |s, t| s.starts_with(t)),
            Func::EndsWith => two_strings(text(0), text(1), |s, t| s.ends_with(t)),
            Func::Contains => two_strings(text(0), text(1), |s, t| s.contains(t)),
        }
    }
}

fn two_strings<'a>(s: Option<&str>, t: Option<&str>, f: fn(&str, &str) -> bool) -> Value<'a> {
    match (s, t) {
        (Some(s), Some(t)) => Value::Bool(f(s, t)),
        _ => Value::Undefined,
    }
}

/// `substring(s, start[, length])` on characters. A start or length that is not
/// a whole number in range gives undefined.
fn substring<'a>(s: Option<&str>, start: Option<f64>, length: Option<Option<f64>>) -> Value<'a> {
    let (Some(s), Some(start)) = (s, start) else {
        return Value::Undefined;
    };
    let count = s.chars().count();
    let whole = |x: f64| x.fract() == 0.0 && x >= 0.0 && x <= count as f64;
    if !whole(start) {
        return Value::Undefined;
    }
    let start = start as usize;
    let take = match length {
        None => count - start,
        Some(Some(len)) if len.fract() == 0.0 && len >= 0.0 => (len as usize).min(count - start),
        Some(_) => return Value::Undefined,
    };
    Value::Str(s.chars().skip(start).take(take).collect::<String>().into())
}
