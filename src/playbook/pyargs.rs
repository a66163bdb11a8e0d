//! Python's binding of a call's arguments, for the filters, tests and
//! lookups whose parameters may be given by position or by name
//! (`truncate(9, True)` or `truncate(9, killwords=True)`), with Python's
//! refusals of a surplus, a duplicate or an unknown argument.

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Error, Value};

use crate::playbook::filters::{fail, py_repr};
use crate::playbook::templar::{is_float, py_type};

/// The arguments after the filtered value, bound to `names` in order: each
/// is the positional one at its place or the keyword of its name. Every
/// keyword must name a parameter.
pub(crate) fn bind(
    func: &str,
    names: &[&str],
    args: &[Value],
    kwargs: &Kwargs,
) -> Result<Vec<Option<Value>>, Error> {
    if args.len() > names.len() {
        return Err(fail(format!(
            "{func}() takes at most {} argument{} after its input ({} given)",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            args.len()
        )));
    }
    let mut out: Vec<Option<Value>> = names.iter().map(|_| None).collect();
    for (slot, a) in out.iter_mut().zip(args) {
        *slot = Some(a.clone());
    }
    for key in kwargs.args() {
        let Some(i) = names.iter().position(|n| *n == key) else {
            return Err(fail(format!(
                "{func}() got an unexpected keyword argument '{key}'"
            )));
        };
        if out[i].is_some() {
            return Err(fail(format!(
                "{func}() got multiple values for argument '{key}'"
            )));
        }
        out[i] = Some(kwargs.get::<Value>(key)?);
    }
    kwargs.assert_all_used()?;
    Ok(out)
}

/// An integer argument, as Python accepts one where an `int` is wanted
/// (a bool counts; a float or text does not).
pub(crate) fn int_arg(func: &str, name: &str, v: &Value) -> Result<i64, Error> {
    match v.kind() {
        ValueKind::Bool => Ok(i64::from(v.is_true())),
        ValueKind::Number if !is_float(v) => v
            .as_i64()
            .ok_or_else(|| fail(format!("{func}(): {name} is too large"))),
        _ => Err(fail(format!(
            "{func}(): '{}' object cannot be interpreted as an integer ({name}={})",
            py_type(v),
            py_repr(v)
        ))),
    }
}

/// A text argument (`None` stays absent).
pub(crate) fn str_arg(func: &str, name: &str, v: &Value) -> Result<Option<String>, Error> {
    match v.kind() {
        ValueKind::None | ValueKind::Undefined => Ok(None),
        ValueKind::String => Ok(Some(v.as_str().unwrap_or_default().to_string())),
        _ => Err(fail(format!(
            "{func}(): {name} must be a string, not '{}'",
            py_type(v)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use crate::playbook::templar::Templar;

    #[test]
    fn arguments_bind_as_python_binds_them() {
        let t = Templar::new();
        let c = Templar::context(&serde_json::Map::new());
        let err = |s: &str| t.render_str(s, &c).unwrap_err().message;
        assert_eq!(
            err("{{ 'x' | truncate(5, length=3) }}"),
            "truncate() got multiple values for argument 'length'"
        );
        assert_eq!(
            err("{{ 'x' | truncate(width=3) }}"),
            "truncate() got an unexpected keyword argument 'width'"
        );
        assert_eq!(
            err("{{ 'x' | center(1, 2) }}"),
            "center() takes at most 1 argument after its input (2 given)"
        );
        assert_eq!(
            err("{{ 'x' | center('9') }}"),
            "center(): 'str' object cannot be interpreted as an integer (width='9')"
        );
    }
}
