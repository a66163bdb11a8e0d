//! Ansible's time in templates: the `now(utc=False, fmt=None)` global (a
//! datetime with Python's attributes, `strftime()` and `str()`), and the
//! `strftime` filter (`'%Y-%m-%d' | strftime(second=None, utc=False)`).
//! Formats follow Python's `strftime`: the C library's directives plus
//! `%f` (microseconds).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use minijinja::value::{Kwargs, Object, ObjectRepr};
use minijinja::{Environment, Error, ErrorKind, State, Value};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_function("now", |kwargs: Kwargs| -> Result<Value, Error> {
        let utc = kwargs.get::<Option<bool>>("utc")?.unwrap_or(false);
        let fmt = kwargs.get::<Option<String>>("fmt")?;
        kwargs.assert_all_used()?;
        let t = DateTime::at(now_secs(), utc);
        Ok(match fmt {
            Some(f) => Value::from(t.format(&f)?),
            None => Value::from_object(t),
        })
    });
    env.add_filter(
        "strftime",
        |fmt: String, second: Option<Value>, kwargs: Kwargs| -> Result<String, Error> {
            let utc = kwargs.get::<Option<bool>>("utc")?.unwrap_or(false);
            let second = match kwargs.get::<Option<Value>>("second")?.or(second) {
                None => now_secs(),
                Some(v) if v.is_none() => now_secs(),
                Some(v) => v
                    .as_str()
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .or_else(|| f64::try_from(v.clone()).ok())
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::InvalidOperation,
                            format!("Invalid value for epoch value ({v})"),
                        )
                    })?,
            };
            kwargs.assert_all_used()?;
            DateTime::at(second, utc).format(&fmt)
        },
    );
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One instant, broken down in local time or UTC.
#[derive(Debug, Clone)]
pub(crate) struct DateTime {
    secs: i64,
    micros: u32,
    tm: libc::tm,
}

// SAFETY: `tm_zone` points into the C library's static zone names, read only.
unsafe impl Send for DateTime {}
unsafe impl Sync for DateTime {}

impl DateTime {
    pub(crate) fn at(t: f64, utc: bool) -> DateTime {
        let secs = t.floor() as i64;
        let micros = ((t - t.floor()) * 1_000_000.0).round().min(999_999.0) as u32;
        let s = secs as libc::time_t;
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: both functions write into the tm we own and read only `s`.
        unsafe {
            if utc {
                libc::gmtime_r(&s, &mut tm);
            } else {
                libc::localtime_r(&s, &mut tm);
            }
        }
        DateTime { secs, micros, tm }
    }

    /// Python's `strftime`.
    pub(crate) fn format(&self, fmt: &str) -> Result<String, Error> {
        // %f is Python's own; the rest goes to the C library.
        let fmt = fmt
            .replace("%%", "\u{0}")
            .replace("%f", &format!("{:06}", self.micros))
            .replace('\u{0}', "%%");
        let c = std::ffi::CString::new(fmt).map_err(|_| {
            Error::new(
                ErrorKind::InvalidOperation,
                "a time format cannot contain a NUL",
            )
        })?;
        let mut buf = vec![0u8; 256 + c.as_bytes().len() * 16];
        // SAFETY: the buffer and its length are ours; tm is a valid broken-down time.
        let n = unsafe {
            libc::strftime(
                buf.as_mut_ptr() as *mut libc::c_char,
                buf.len(),
                c.as_ptr(),
                &self.tm,
            )
        };
        if n == 0 && !c.as_bytes().is_empty() {
            return Ok(String::new());
        }
        buf.truncate(n);
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// `str(datetime)`: `2026-12-02 03:45:12.123456` (no fraction when zero).
    fn python_str(&self) -> String {
        let base = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.tm.tm_year + 1900,
            self.tm.tm_mon + 1,
            self.tm.tm_mday,
            self.tm.tm_hour,
            self.tm.tm_min,
            self.tm.tm_sec
        );
        if self.micros == 0 {
            base
        } else {
            format!("{base}.{:06}", self.micros)
        }
    }
}

impl Object for DateTime {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let tm = &self.tm;
        Some(Value::from(match key.as_str()? {
            "year" => (tm.tm_year + 1900) as i64,
            "month" => (tm.tm_mon + 1) as i64,
            "day" => tm.tm_mday as i64,
            "hour" => tm.tm_hour as i64,
            "minute" => tm.tm_min as i64,
            "second" => tm.tm_sec as i64,
            "microsecond" => self.micros as i64,
            _ => return None,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "strftime" => {
                let fmt = args.first().and_then(Value::as_str).ok_or_else(|| {
                    Error::new(ErrorKind::MissingArgument, "strftime() takes a format")
                })?;
                Ok(Value::from(self.format(fmt)?))
            }
            "timestamp" => Ok(Value::from(self.secs as f64 + self.micros as f64 / 1e6)),
            "isoformat" => Ok(Value::from(self.python_str().replacen(' ', "T", 1))),
            "weekday" => Ok(Value::from(((self.tm.tm_wday + 6) % 7) as i64)),
            "isoweekday" => Ok(Value::from(if self.tm.tm_wday == 0 {
                7
            } else {
                self.tm.tm_wday as i64
            })),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("datetime has no method {method}"),
            )),
        }
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.python_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::templar::Templar;
    use serde_json::json;

    fn render(t: &str) -> serde_json::Value {
        Templar::new()
            .render_str(t, &Templar::context(&serde_json::Map::new()))
            .unwrap()
    }

    #[test]
    fn formats_like_python() {
        let t = DateTime::at(1_796_184_000.25, true);
        assert_eq!(
            t.format("%Y-%m-%d %H:%M:%S.%f").unwrap(),
            "2026-12-02 04:00:00.250000"
        );
        assert_eq!(t.format("%s.%f %%f").unwrap().split(' ').nth(1), Some("%f"));
        assert_eq!(t.python_str(), "2026-12-02 04:00:00.250000");
        assert_eq!(
            DateTime::at(1_796_184_000.0, true).python_str(),
            "2026-12-02 04:00:00"
        );
    }

    #[test]
    fn now_and_strftime_in_templates() {
        let year = render("{{ now(utc=true).year }}");
        let want = DateTime::at(now_secs(), true).format("%Y").unwrap();
        assert_eq!(year.to_string(), want);
        assert_eq!(render("{{ now(utc=true, fmt='%Y') }}"), json!(want));
        assert_eq!(render("{{ now(utc=true).strftime('%Y') }}"), json!(want));
        let s = render("{{ now(fmt='%s.%f') }}");
        let v: f64 = s.as_str().unwrap().parse().unwrap();
        assert!((v - now_secs()).abs() < 5.0, "{s}");
        assert_eq!(
            render("{{ '%Y-%m-%d' | strftime(0, utc=true) }}"),
            json!("1970-01-01")
        );
        assert_eq!(
            render("{{ '%H:%M' | strftime(second=3600, utc=true) }}"),
            json!("01:00")
        );
        assert_eq!(
            render("{{ '%Y' | strftime('86400', utc=true) }}"),
            json!("1970")
        );
        assert!(render("{{ now() }}").as_str().unwrap().starts_with(&want));
    }
}
