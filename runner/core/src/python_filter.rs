//! inference-perf's trace `filter`: a Python `lambda x: ...` that keeps a trace when it returns
//! something true. inference-perf `eval`s it with no builtins, so a filter can only read the
//! trace (subscripts, `in`, comparisons, `and`/`or`/`not`, arithmetic, list comprehensions and
//! the methods of strings and dicts), never call `len` or `any`. The text is parsed by a Python
//! parser and evaluated here over the trace's JSON with Python's semantics; what Python could
//! evaluate but this evaluator does not is refused when the filter is compiled, naming the
//! construct, rather than guessed at.

use std::borrow::Cow;
use std::cmp::Ordering;

use rustpython_parser::ast::{self, CmpOp, Constant, Expr, Operator, UnaryOp};
use rustpython_parser::{Mode, parse};
use serde_json::{Map, Number, Value};

use crate::python_json::{str_repr, truthy, type_name};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FilterError {
    #[error("not Python: {0}")]
    Syntax(String),
    #[error("must be a lambda of one argument, as `lambda x: x['benchmark'] == 'gsm8k'`")]
    NotALambda,
    #[error("{0} is not supported in filters here")]
    Unsupported(String),
    /// What Python would raise evaluating it.
    #[error("{0}")]
    Python(String),
}

/// A compiled filter.
#[derive(Debug, Clone)]
pub struct Filter {
    argument: String,
    body: Expr,
}

type Result<T> = std::result::Result<T, FilterError>;

impl Filter {
    pub fn compile(text: &str) -> Result<Self> {
        let parsed = parse(text, Mode::Expression, "<filter>")
            .map_err(|e| FilterError::Syntax(e.error.to_string()))?;
        let ast::Mod::Expression(expression) = parsed else {
            return Err(FilterError::NotALambda);
        };
        let Expr::Lambda(lambda) = *expression.body else {
            return Err(FilterError::NotALambda);
        };
        let args = &lambda.args;
        let [only] = &args.args[..] else {
            return Err(FilterError::NotALambda);
        };
        if !args.posonlyargs.is_empty()
            || !args.kwonlyargs.is_empty()
            || args.vararg.is_some()
            || args.kwarg.is_some()
            || only.default.is_some()
        {
            return Err(FilterError::NotALambda);
        }
        check(&lambda.body)?;
        Ok(Filter {
            argument: only.def.arg.as_str().to_string(),
            body: *lambda.body,
        })
    }

    /// Whether the filter keeps `record`: Python's truth of what it returns.
    pub fn keeps(&self, record: &Value) -> Result<bool> {
        let scope = vec![(self.argument.as_str(), Cow::Borrowed(record))];
        Ok(truthy(&*eval(&self.body, &scope)?))
    }
}

/// Refuses, at compile time, the expressions [`eval`] does not evaluate.
fn check(expr: &Expr) -> Result<()> {
    let unsupported = |what: &str| Err(FilterError::Unsupported(what.to_string()));
    match expr {
        Expr::BoolOp(e) => e.values.iter().try_for_each(check),
        Expr::BinOp(e) => match e.op {
            Operator::Add
            | Operator::Sub
            | Operator::Mult
            | Operator::Div
            | Operator::FloorDiv
            | Operator::Mod => check(&e.left).and(check(&e.right)),
            op => unsupported(&format!("the operator {op:?}")),
        },
        Expr::UnaryOp(e) => match e.op {
            UnaryOp::Invert => unsupported("the operator ~"),
            _ => check(&e.operand),
        },
        Expr::IfExp(e) => check(&e.test).and(check(&e.body)).and(check(&e.orelse)),
        Expr::Compare(e) => {
            check(&e.left)?;
            e.comparators.iter().try_for_each(check)
        }
        Expr::Call(e) => {
            if !e.keywords.is_empty() {
                return unsupported("a keyword argument");
            }
            match &*e.func {
                Expr::Attribute(a) if METHODS.contains(&a.attr.as_str()) => check(&a.value)?,
                Expr::Attribute(a) => return unsupported(&format!("the method .{}()", a.attr)),
                // No builtins: Python raises NameError when the filter runs.
                Expr::Name(_) => {}
                _ => return unsupported("calling an expression"),
            }
            e.args.iter().try_for_each(check)
        }
        Expr::Attribute(a) => unsupported(&format!("the attribute .{} (not called)", a.attr)),
        Expr::Subscript(e) => check(&e.value).and(check(&e.slice)),
        Expr::Slice(e) => {
            if e.step.is_some() {
                return unsupported("a slice step");
            }
            e.lower.iter().chain(&e.upper).try_for_each(|b| check(b))
        }
        Expr::List(e) => e.elts.iter().try_for_each(check),
        Expr::Tuple(e) => e.elts.iter().try_for_each(check),
        Expr::Dict(e) => {
            if e.keys.iter().any(Option::is_none) {
                return unsupported("** in a dict");
            }
            e.keys.iter().flatten().chain(&e.values).try_for_each(check)
        }
        Expr::ListComp(e) => {
            check(&e.elt)?;
            for generator in &e.generators {
                if generator.is_async {
                    return unsupported("async for");
                }
                let Expr::Name(_) = generator.target else {
                    return unsupported("unpacking in a comprehension");
                };
                check(&generator.iter)?;
                generator.ifs.iter().try_for_each(check)?;
            }
            Ok(())
        }
        Expr::Constant(e) => match e.value {
            Constant::None
            | Constant::Bool(_)
            | Constant::Str(_)
            | Constant::Int(_)
            | Constant::Float(_) => Ok(()),
            _ => unsupported("a bytes, complex or ellipsis constant"),
        },
        Expr::Name(_) => Ok(()),
        Expr::GeneratorExp(_) => unsupported("a generator (no builtin takes one here; use [...])"),
        Expr::Lambda(_) => unsupported("a nested lambda"),
        _ => unsupported("this expression"),
    }
}

const METHODS: &[&str] = &[
    "get",
    "keys",
    "values",
    "items",
    "startswith",
    "endswith",
    "lower",
    "upper",
    "strip",
    "count",
];

/// Names in scope, innermost last.
type Scope<'a> = Vec<(&'a str, Cow<'a, Value>)>;

fn eval<'a>(expr: &'a Expr, scope: &Scope<'a>) -> Result<Cow<'a, Value>> {
    match expr {
        Expr::Name(name) => scope
            .iter()
            .rev()
            .find(|(n, _)| *n == name.id.as_str())
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                python(format!(
                    "NameError: name '{}' is not defined (inference-perf evaluates filters without builtins)",
                    name.id
                ))
            }),
        Expr::Constant(c) => constant(&c.value).map(Cow::Owned),
        Expr::BoolOp(e) => {
            let is_and = matches!(e.op, ast::BoolOp::And);
            let mut last = Cow::Owned(Value::Null);
            for value in &e.values {
                last = eval(value, scope)?;
                if truthy(&last) != is_and {
                    break;
                }
            }
            Ok(last)
        }
        Expr::UnaryOp(e) => {
            let operand = eval(&e.operand, scope)?;
            match e.op {
                UnaryOp::Not => Ok(Cow::Owned(Value::Bool(!truthy(&operand)))),
                UnaryOp::USub => arithmetic(Operator::Sub, &Value::from(0), &operand),
                _ => arithmetic(Operator::Add, &Value::from(0), &operand),
            }
        }
        Expr::BinOp(e) => arithmetic(e.op, &*eval(&e.left, scope)?, &*eval(&e.right, scope)?),
        Expr::IfExp(e) => {
            if truthy(&*eval(&e.test, scope)?) {
                eval(&e.body, scope)
            } else {
                eval(&e.orelse, scope)
            }
        }
        Expr::Compare(e) => {
            let mut left = eval(&e.left, scope)?;
            for (op, right) in e.ops.iter().zip(&e.comparators) {
                let right = eval(right, scope)?;
                if !compare(*op, &left, &right)? {
                    return Ok(Cow::Owned(Value::Bool(false)));
                }
                left = right;
            }
            Ok(Cow::Owned(Value::Bool(true)))
        }
        Expr::Subscript(e) => {
            let value = eval(&e.value, scope)?;
            if let Expr::Slice(slice) = &*e.slice {
                let bound = |b: &'a Option<Box<Expr>>| -> Result<Option<i64>> {
                    b.as_deref()
                        .map(|b| eval(b, scope).and_then(|v| index_of(&v)))
                        .transpose()
                };
                let (lower, upper) = (bound(&slice.lower)?, bound(&slice.upper)?);
                return sliced(&value, lower, upper).map(Cow::Owned);
            }
            let key = eval(&e.slice, scope)?;
            subscript(value, &key)
        }
        Expr::Call(e) => {
            let Expr::Attribute(attribute) = &*e.func else {
                // `check` lets through only names here.
                let Expr::Name(name) = &*e.func else {
                    unreachable!("checked at compile time")
                };
                return Err(python(format!(
                    "NameError: name '{}' is not defined (inference-perf evaluates filters without builtins)",
                    name.id
                )));
            };
            let receiver = eval(&attribute.value, scope)?;
            let args = e
                .args
                .iter()
                .map(|a| eval(a, scope))
                .collect::<Result<Vec<_>>>()?;
            method(receiver, attribute.attr.as_str(), &args)
        }
        Expr::List(e) => list(&e.elts, scope),
        Expr::Tuple(e) => list(&e.elts, scope),
        Expr::Dict(e) => {
            let mut map = Map::new();
            for (key, value) in e.keys.iter().flatten().zip(&e.values) {
                let Value::String(key) = eval(key, scope)?.into_owned() else {
                    return Err(FilterError::Unsupported(
                        "a dict key that is not a string".into(),
                    ));
                };
                map.insert(key, eval(value, scope)?.into_owned());
            }
            Ok(Cow::Owned(Value::Object(map)))
        }
        Expr::ListComp(e) => {
            let mut out = Vec::new();
            comprehend(&e.elt, &e.generators, scope.clone(), &mut out)?;
            Ok(Cow::Owned(Value::Array(out)))
        }
        _ => unreachable!("checked at compile time"),
    }
}

fn python(message: String) -> FilterError {
    FilterError::Python(message)
}

fn list<'a>(elts: &'a [Expr], scope: &Scope<'a>) -> Result<Cow<'a, Value>> {
    let items = elts
        .iter()
        .map(|e| eval(e, scope).map(Cow::into_owned))
        .collect::<Result<Vec<_>>>()?;
    Ok(Cow::Owned(Value::Array(items)))
}

fn comprehend<'a>(
    elt: &'a Expr,
    generators: &'a [ast::Comprehension],
    mut scope: Scope<'a>,
    out: &mut Vec<Value>,
) -> Result<()> {
    let Some((generator, rest)) = generators.split_first() else {
        out.push(eval(elt, &scope)?.into_owned());
        return Ok(());
    };
    let Expr::Name(target) = &generator.target else {
        unreachable!("checked at compile time")
    };
    for item in iterate(eval(&generator.iter, &scope)?)? {
        scope.push((target.id.as_str(), item));
        let mut kept = true;
        for condition in &generator.ifs {
            if !truthy(&*eval(condition, &scope)?) {
                kept = false;
                break;
            }
        }
        if kept {
            comprehend(elt, rest, scope.clone(), out)?;
        }
        scope.pop();
    }
    Ok(())
}

/// What `for item in value` walks: a list's items, a dict's keys, a string's characters.
fn iterate(value: Cow<'_, Value>) -> Result<Vec<Cow<'_, Value>>> {
    Ok(match value {
        Cow::Borrowed(Value::Array(items)) => items.iter().map(Cow::Borrowed).collect(),
        Cow::Borrowed(Value::Object(map)) => map
            .keys()
            .map(|k| Cow::Owned(Value::from(k.as_str())))
            .collect(),
        other => match other.into_owned() {
            Value::Array(items) => items.into_iter().map(Cow::Owned).collect(),
            Value::Object(map) => map.into_iter().map(|(k, _)| Cow::Owned(k.into())).collect(),
            Value::String(s) => s
                .chars()
                .map(|c| Cow::Owned(c.to_string().into()))
                .collect(),
            v => {
                return Err(python(format!(
                    "TypeError: '{}' object is not iterable",
                    type_name(&v)
                )));
            }
        },
    })
}

fn constant(value: &Constant) -> Result<Value> {
    Ok(match value {
        Constant::None => Value::Null,
        Constant::Bool(b) => Value::Bool(*b),
        Constant::Str(s) => Value::String(s.clone()),
        Constant::Int(i) => Value::from(
            i64::try_from(i).map_err(|_| FilterError::Unsupported(format!("the integer {i}")))?,
        ),
        Constant::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        _ => unreachable!("checked at compile time"),
    })
}

/// Python's `repr` of a value.
fn repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => str_repr(s),
        Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(repr).collect::<Vec<_>>().join(", ")
            )
        }
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", repr(&Value::from(k.as_str())), repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A number as Python sees it (a bool is an int); `None` for other types.
#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

fn number(value: &Value) -> Option<Num> {
    match value {
        Value::Bool(b) => Some(Num::Int(*b as i64)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => Num::Int(i),
            None => Num::Float(n.as_f64().unwrap_or(f64::NAN)),
        }),
        _ => None,
    }
}

impl Num {
    fn float(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

fn num_value(n: Num) -> Value {
    match n {
        Num::Int(i) => Value::from(i),
        Num::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
    }
}

fn arithmetic<'a>(op: Operator, left: &Value, right: &Value) -> Result<Cow<'a, Value>> {
    let unsupported = || {
        python(format!(
            "TypeError: unsupported operand type(s) for {op:?}: '{}' and '{}'",
            type_name(left),
            type_name(right)
        ))
    };
    if let (Operator::Add, Value::String(a), Value::String(b)) = (op, left, right) {
        return Ok(Cow::Owned(Value::String(format!("{a}{b}"))));
    }
    if let (Operator::Add, Value::Array(a), Value::Array(b)) = (op, left, right) {
        return Ok(Cow::Owned(Value::Array(
            a.iter().chain(b).cloned().collect(),
        )));
    }
    let (Some(a), Some(b)) = (number(left), number(right)) else {
        return Err(unsupported());
    };
    let overflow = || python("OverflowError: integer result out of range".into());
    let zero = || python("ZeroDivisionError: division by zero".into());
    let result = match (op, a, b) {
        (Operator::Div, _, _) if b.float() == 0.0 => return Err(zero()),
        (Operator::Div, _, _) => Num::Float(a.float() / b.float()),
        (Operator::FloorDiv | Operator::Mod, _, _) if b.float() == 0.0 => return Err(zero()),
        (_, Num::Int(x), Num::Int(y)) => Num::Int(
            match op {
                Operator::Add => x.checked_add(y),
                Operator::Sub => x.checked_sub(y),
                Operator::Mult => x.checked_mul(y),
                // Python rounds the quotient down and gives the remainder the divisor's sign.
                Operator::FloorDiv => x.checked_div(y).map(|q| {
                    if x % y != 0 && (x < 0) != (y < 0) {
                        q - 1
                    } else {
                        q
                    }
                }),
                Operator::Mod => x.checked_rem(y).map(|r| {
                    if r != 0 && (r < 0) != (y < 0) {
                        r + y
                    } else {
                        r
                    }
                }),
                _ => return Err(unsupported()),
            }
            .ok_or_else(overflow)?,
        ),
        (_, _, _) => {
            let (x, y) = (a.float(), b.float());
            Num::Float(match op {
                Operator::Add => x + y,
                Operator::Sub => x - y,
                Operator::Mult => x * y,
                Operator::FloorDiv => (x / y).floor(),
                Operator::Mod => x - y * (x / y).floor(),
                _ => return Err(unsupported()),
            })
        }
    };
    Ok(Cow::Owned(num_value(result)))
}

/// Python's `==`.
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => match (number(a), number(b)) {
            (Some(Num::Int(x)), Some(Num::Int(y))) => x == y,
            (Some(x), Some(y)) => x.float() == y.float(),
            _ => a == b,
        },
    }
}

/// Python's ordering, for `<` and the like.
fn order(a: &Value, b: &Value) -> Result<Ordering> {
    let incomparable = || {
        python(format!(
            "TypeError: '<' not supported between instances of '{}' and '{}'",
            type_name(a),
            type_name(b)
        ))
    };
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (Value::Array(x), Value::Array(y)) => {
            for (x, y) in x.iter().zip(y) {
                if !equal(x, y) {
                    return order(x, y);
                }
            }
            Ok(x.len().cmp(&y.len()))
        }
        _ => match (number(a), number(b)) {
            (Some(Num::Int(x)), Some(Num::Int(y))) => Ok(x.cmp(&y)),
            (Some(x), Some(y)) => x.float().partial_cmp(&y.float()).ok_or_else(incomparable),
            _ => Err(incomparable()),
        },
    }
}

fn compare(op: CmpOp, left: &Value, right: &Value) -> Result<bool> {
    Ok(match op {
        CmpOp::Eq => equal(left, right),
        CmpOp::NotEq => !equal(left, right),
        CmpOp::Lt => order(left, right)?.is_lt(),
        CmpOp::LtE => order(left, right)?.is_le(),
        CmpOp::Gt => order(left, right)?.is_gt(),
        CmpOp::GtE => order(left, right)?.is_ge(),
        CmpOp::In => contains(right, left)?,
        CmpOp::NotIn => !contains(right, left)?,
        CmpOp::Is | CmpOp::IsNot => {
            let same = match (left, right) {
                (Value::Null, _) | (_, Value::Null) | (Value::Bool(_), _) | (_, Value::Bool(_)) => {
                    left == right
                }
                _ => {
                    return Err(FilterError::Unsupported(
                        "`is` between values other than None, True and False (use ==)".into(),
                    ));
                }
            };
            same == matches!(op, CmpOp::Is)
        }
    })
}

/// Python's `item in container`.
fn contains(container: &Value, item: &Value) -> Result<bool> {
    match (container, item) {
        (Value::String(s), Value::String(part)) => Ok(s.contains(part.as_str())),
        (Value::String(_), other) => Err(python(format!(
            "TypeError: 'in <string>' requires string as left operand, not {}",
            type_name(other)
        ))),
        (Value::Array(items), _) => Ok(items.iter().any(|i| equal(i, item))),
        (Value::Object(map), Value::String(key)) => Ok(map.contains_key(key)),
        (Value::Object(_), Value::Array(_) | Value::Object(_)) => Err(python(format!(
            "TypeError: unhashable type: '{}'",
            type_name(item)
        ))),
        (Value::Object(_), _) => Ok(false),
        (other, _) => Err(python(format!(
            "TypeError: argument of type '{}' is not iterable",
            type_name(other)
        ))),
    }
}

fn index_of(value: &Value) -> Result<i64> {
    match number(value) {
        Some(Num::Int(i)) => Ok(i),
        _ => Err(python(format!(
            "TypeError: indices must be integers, not {}",
            type_name(value)
        ))),
    }
}

/// A position in a sequence of `len` from a Python index (negative from the end).
fn position(index: i64, len: usize) -> Option<usize> {
    let at = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&at).then_some(at as usize)
}

fn subscript<'a>(value: Cow<'a, Value>, key: &Value) -> Result<Cow<'a, Value>> {
    let missing = || python(format!("KeyError: {}", repr(key)));
    let out_of_range = || python("IndexError: index out of range".into());
    match value {
        Cow::Borrowed(Value::Object(map)) => match key {
            Value::String(k) => map.get(k).map(Cow::Borrowed).ok_or_else(missing),
            _ => Err(missing()),
        },
        Cow::Borrowed(Value::Array(items)) => {
            let at = position(index_of(key)?, items.len()).ok_or_else(out_of_range)?;
            Ok(Cow::Borrowed(&items[at]))
        }
        other => match other.into_owned() {
            Value::Object(mut map) => match key {
                Value::String(k) => map.remove(k).map(Cow::Owned).ok_or_else(missing),
                _ => Err(missing()),
            },
            Value::Array(mut items) => {
                let at = position(index_of(key)?, items.len()).ok_or_else(out_of_range)?;
                Ok(Cow::Owned(items.swap_remove(at)))
            }
            Value::String(s) => {
                let chars: Vec<char> = s.chars().collect();
                let at = position(index_of(key)?, chars.len()).ok_or_else(out_of_range)?;
                Ok(Cow::Owned(chars[at].to_string().into()))
            }
            v => Err(python(format!(
                "TypeError: '{}' object is not subscriptable",
                type_name(&v)
            ))),
        },
    }
}

fn sliced(value: &Value, lower: Option<i64>, upper: Option<i64>) -> Result<Value> {
    let bounds = |len: usize| {
        let clamp = |i: i64| {
            let i = if i < 0 { len as i64 + i } else { i };
            i.clamp(0, len as i64) as usize
        };
        let from = lower.map_or(0, clamp);
        let to = upper.map_or(len, clamp);
        (from, to.max(from))
    };
    match value {
        Value::Array(items) => {
            let (from, to) = bounds(items.len());
            Ok(Value::Array(items[from..to].to_vec()))
        }
        Value::String(s) => {
            let chars: Vec<char> = s.chars().collect();
            let (from, to) = bounds(chars.len());
            Ok(Value::String(chars[from..to].iter().collect()))
        }
        v => Err(python(format!(
            "TypeError: '{}' object is not subscriptable",
            type_name(v)
        ))),
    }
}

fn method<'a>(
    receiver: Cow<'a, Value>,
    name: &str,
    args: &[Cow<'a, Value>],
) -> Result<Cow<'a, Value>> {
    let no_method = || {
        python(format!(
            "AttributeError: '{}' object has no attribute '{name}'",
            type_name(&receiver)
        ))
    };
    let arity = |range: std::ops::RangeInclusive<usize>| {
        if range.contains(&args.len()) {
            Ok(())
        } else {
            Err(python(format!(
                "TypeError: {name}() takes {} arguments ({} given)",
                if range.start() == range.end() {
                    range.start().to_string()
                } else {
                    format!("{} to {}", range.start(), range.end())
                },
                args.len()
            )))
        }
    };
    let text_arg = |i: usize| match args.get(i).map(|a| a.as_ref()) {
        Some(Value::String(s)) => Ok(s.as_str()),
        Some(other) => Err(python(format!(
            "TypeError: must be str, not {}",
            type_name(other)
        ))),
        None => Err(python(format!("TypeError: {name}() missing an argument"))),
    };
    let owned = |v: Value| Ok(Cow::Owned(v));
    match (receiver.as_ref(), name) {
        (Value::Object(_), "get") => {
            arity(1..=2)?;
            let default = args.get(1).cloned().unwrap_or(Cow::Owned(Value::Null));
            match args[0].as_ref() {
                Value::String(key) if receiver.get(key).is_some() => subscript(receiver, &args[0]),
                _ => Ok(default),
            }
        }
        (Value::Object(map), "keys") => {
            arity(0..=0)?;
            owned(Value::Array(
                map.keys().map(|k| Value::from(k.as_str())).collect(),
            ))
        }
        (Value::Object(map), "values") => {
            arity(0..=0)?;
            owned(Value::Array(map.values().cloned().collect()))
        }
        (Value::Object(map), "items") => {
            arity(0..=0)?;
            owned(Value::Array(
                map.iter()
                    .map(|(k, v)| Value::Array(vec![k.as_str().into(), v.clone()]))
                    .collect(),
            ))
        }
        (Value::String(s), "startswith" | "endswith") => {
            arity(1..=1)?;
            let candidates: Vec<&str> = match args[0].as_ref() {
                Value::Array(items) => items
                    .iter()
                    .map(|i| {
                        i.as_str().ok_or_else(|| {
                            python(format!(
                                "TypeError: {name} first arg must be str or a tuple of str"
                            ))
                        })
                    })
                    .collect::<Result<_>>()?,
                _ => vec![text_arg(0)?],
            };
            let hit = candidates.iter().any(|c| {
                if name == "startswith" {
                    s.starts_with(c)
                } else {
                    s.ends_with(c)
                }
            });
            owned(Value::Bool(hit))
        }
        (Value::String(s), "lower") => arity(0..=0).and(owned(s.to_lowercase().into())),
        (Value::String(s), "upper") => arity(0..=0).and(owned(s.to_uppercase().into())),
        (Value::String(s), "strip") => {
            arity(0..=1)?;
            let stripped = match args.first() {
                None | Some(Cow::Borrowed(Value::Null)) => s.trim().to_string(),
                Some(_) => {
                    let set = text_arg(0)?;
                    s.trim_matches(|c| set.contains(c)).to_string()
                }
            };
            owned(stripped.into())
        }
        (Value::String(s), "count") => {
            arity(1..=1)?;
            let part = text_arg(0)?;
            let n = if part.is_empty() {
                s.chars().count() + 1
            } else {
                s.matches(part).count()
            };
            owned(Value::from(n))
        }
        (Value::Array(items), "count") => {
            arity(1..=1)?;
            owned(Value::from(
                items.iter().filter(|i| equal(i, &args[0])).count(),
            ))
        }
        _ => Err(no_method()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keeps(filter: &str, record: Value) -> Result<bool> {
        Filter::compile(filter)?.keeps(&record)
    }

    #[test]
    fn inference_perfs_examples_keep_what_python_keeps() {
        let trace = json!({"benchmark": "gsm8k", "spans": [1, 2, 3, 4, 5, 6], "models": ["m"]});
        assert_eq!(
            keeps("lambda x: x['benchmark'] == 'gsm8k'", trace.clone()),
            Ok(true)
        );
        assert_eq!(
            keeps("lambda x: x['benchmark'] != 'gsm8k'", trace.clone()),
            Ok(false)
        );
        assert_eq!(
            keeps(
                "lambda x: 'spans' in x and x['spans'][5:] != []",
                trace.clone()
            ),
            Ok(true)
        );
        // The docstring's `len(...)` fails in inference-perf too: it passes no builtins.
        assert!(matches!(
            keeps("lambda x: len(x['spans']) > 5", trace),
            Err(FilterError::Python(m)) if m.contains("NameError: name 'len'")
        ));
    }

    #[test]
    fn python_semantics_of_comparisons_truth_and_arithmetic() {
        let r = json!({"n": 3, "f": 2.5, "s": "Agent-Run", "l": [1, "a", null], "d": {"k": 0}, "t": true});
        let cases = [
            ("lambda x: 1 < x['n'] <= 3", true),
            ("lambda x: 1 < x['n'] < 3", false),
            ("lambda x: x['n'] == 3.0 and x['t'] == 1", true),
            ("lambda x: x['f'] * 2 == 5", true),
            (
                "lambda x: x['n'] // 2 == 1 and -7 // 2 == -4 and -7 % 3 == 2 and 7 // -2 == -4",
                true,
            ),
            ("lambda x: x['n'] / 2 == 1.5", true),
            (
                "lambda x: x['s'].lower().startswith(('agent', 'other'))",
                true,
            ),
            ("lambda x: 'Run' in x['s'] and x['s'][-3:] == 'Run'", true),
            (
                "lambda x: x['l'][-1] is None and x['l'][2] is not False",
                true,
            ),
            ("lambda x: 'a' in x['l'] and 2 not in x['l']", true),
            ("lambda x: 'k' in x['d'] and x['d']['k']", false),
            (
                "lambda x: x.get('missing', 7) == 7 and x.get('missing') is None",
                true,
            ),
            ("lambda x: x['d'].get('k') == 0", true),
            (
                "lambda x: [k for k in x if k.startswith('l')] == ['l']",
                true,
            ),
            ("lambda x: [i for i in x['l'] if i] == [1, 'a']", true),
            ("lambda x: x['l'] and not x['d']['k']", true),
            ("lambda x: 'yes' if x['n'] > 2 else ''", true),
            ("lambda x: {'a': 1} == {'a': 1.0}", true),
            ("lambda x: [1, 2] < [1, 3] and 'abc' < 'abd'", true),
            (
                "lambda x: x['s'].count('n') == 2 and x['l'].count(None) == 1",
                true,
            ),
        ];
        for (filter, expected) in cases {
            assert_eq!(keeps(filter, r.clone()), Ok(expected), "{filter}");
        }
    }

    #[test]
    fn runtime_errors_are_pythons() {
        let r = json!({"n": 3, "s": "x"});
        let error = |f: &str| keeps(f, r.clone()).unwrap_err().to_string();
        assert_eq!(error("lambda x: x['absent']"), "KeyError: 'absent'");
        assert_eq!(error("lambda x: x[\"it's\"]"), "KeyError: \"it's\"");
        assert!(error("lambda x: x['n'] < 'a'").contains("TypeError: '<' not supported"));
        assert!(error("lambda x: x['n'][0]").contains("not subscriptable"));
        assert!(error("lambda x: 1 in x['n']").contains("is not iterable"));
        assert!(error("lambda x: x['n'] / 0").contains("ZeroDivisionError"));
    }

    #[test]
    fn what_is_not_a_one_argument_lambda_or_not_evaluated_here_is_refused_at_compile_time() {
        let compile = |f: &str| Filter::compile(f).map(|_| ()).unwrap_err();
        assert!(matches!(compile("lambda x: x["), FilterError::Syntax(_)));
        assert_eq!(compile("x['a'] == 1"), FilterError::NotALambda);
        assert_eq!(compile("lambda x, y: x"), FilterError::NotALambda);
        assert_eq!(compile("lambda *x: x"), FilterError::NotALambda);
        for (filter, named) in [
            ("lambda x: x['s'].split()", ".split()"),
            ("lambda x: x.keys", ".keys"),
            ("lambda x: x['a'] ** 2", "Pow"),
            ("lambda x: b'a'", "bytes"),
            ("lambda x: [a for a, b in x]", "unpacking"),
            ("lambda x: (i for i in x)", "generator"),
            ("lambda x: x['a'] is 'b'", ""),
        ] {
            match Filter::compile(filter) {
                Err(FilterError::Unsupported(what)) => {
                    assert!(what.contains(named), "{filter}: {what}")
                }
                // `is` between strings is refused when it runs (its operands are unknown before).
                Ok(f) if filter.contains(" is ") => assert!(matches!(
                    f.keeps(&json!({"a": "b"})),
                    Err(FilterError::Unsupported(_))
                )),
                other => panic!("{filter}: {other:?}"),
            }
        }
    }
}
