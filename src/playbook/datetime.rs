//! Ansible's `to_datetime(format='%Y-%m-%d %H:%M:%S')` filter: Python's
//! `datetime.strptime`, the text parsed with Python's directives and
//! refusals ("time data ... does not match format ...", "unconverted data
//! remains: ..."), giving a datetime with Python's attributes (`year`,
//! `month`, `day`, `hour`, `minute`, `second`, `microsecond`, `tzinfo`)
//! and methods (`strftime()`, `timestamp()`, `isoformat()`, `weekday()`,
//! `isoweekday()`); it prints as `str(datetime)` does.
//!
//! One limit: minijinja has no arithmetic or ordering on objects, so the
//! difference of two datetimes (`(a - b).days`, `.total_seconds()`) and
//! `a < b` are not available; subtract their timestamps instead:
//! `(a.timestamp() - b.timestamp())` is the `total_seconds()` of `a - b`.
//! The week directives `%U`, `%W`, `%G`, `%V` and `%u` are refused by name.

use std::sync::Arc;

use minijinja::value::{Kwargs, Object, ObjectRepr, Rest};
use minijinja::{Environment, Error, ErrorKind, State, Value};

use crate::playbook::clock::DateTime as Clock;
use crate::playbook::filters::{defined, fail, py_str_repr};
use crate::playbook::pyargs::{bind, str_arg};
use crate::playbook::templar::py_type;

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("to_datetime", to_datetime);
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A Python `datetime`: naive, or aware with a fixed UTC offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PyDateTime {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    pub(crate) microsecond: u32,
    /// Seconds east of UTC, for a `%z` that was parsed.
    pub(crate) offset: Option<i64>,
}

/// Days from 1970-01-01 to a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `+02:00`, `-05:30`, `+01:02:03` as Python writes a UTC offset.
fn offset_text(secs: i64, colon: bool) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.abs();
    let (h, m, s) = (a / 3600, a % 3600 / 60, a % 60);
    let sep = if colon { ":" } else { "" };
    if s != 0 {
        format!("{sign}{h:02}{sep}{m:02}{sep}{s:02}")
    } else {
        format!("{sign}{h:02}{sep}{m:02}")
    }
}

impl PyDateTime {
    /// Monday is 0, as Python's `weekday()`.
    pub(crate) fn weekday(&self) -> u32 {
        (days_from_civil(self.year, self.month, self.day) + 3).rem_euclid(7) as u32
    }

    /// The wall-clock fields as seconds since the epoch, read as UTC.
    fn naive_epoch(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + self.hour as i64 * 3600
            + self.minute as i64 * 60
            + self.second as i64
    }

    /// Python's `timestamp()`: an aware datetime from its offset, a naive
    /// one read as the controller's local time.
    pub(crate) fn timestamp(&self) -> f64 {
        let frac = self.microsecond as f64 / 1e6;
        if let Some(off) = self.offset {
            return (self.naive_epoch() - off) as f64 + frac;
        }
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        tm.tm_year = (self.year - 1900) as libc::c_int;
        tm.tm_mon = self.month as libc::c_int - 1;
        tm.tm_mday = self.day as libc::c_int;
        tm.tm_hour = self.hour as libc::c_int;
        tm.tm_min = self.minute as libc::c_int;
        tm.tm_sec = self.second as libc::c_int;
        tm.tm_isdst = -1;
        // SAFETY: mktime reads and normalizes the tm we own.
        let t = unsafe { libc::mktime(&mut tm) };
        t as f64 + frac
    }

    /// `str(datetime)`, or `isoformat(sep)`.
    pub(crate) fn iso(&self, sep: &str) -> String {
        let mut s = format!(
            "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if self.microsecond != 0 {
            s.push_str(&format!(".{:06}", self.microsecond));
        }
        if let Some(off) = self.offset {
            s.push_str(&offset_text(off, true));
        }
        s
    }

    /// The offset's `str(timezone)`: `UTC`, `UTC+02:00`.
    fn tzname(&self) -> Option<String> {
        self.offset.map(|o| {
            if o == 0 {
                "UTC".to_string()
            } else {
                format!("UTC{}", offset_text(o, true))
            }
        })
    }

    /// Python's `datetime.strftime`: `%z`/`%Z` from the offset (empty when
    /// naive), the rest as the C library formats these fields.
    pub(crate) fn strftime(&self, fmt: &str) -> Result<String, Error> {
        let mut prepared = String::with_capacity(fmt.len());
        let mut chars = fmt.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                prepared.push(c);
                continue;
            }
            match chars.next() {
                Some('z') => prepared.push_str(
                    &self
                        .offset
                        .map(|o| offset_text(o, false))
                        .unwrap_or_default(),
                ),
                Some('Z') => {
                    prepared.push_str(&self.tzname().unwrap_or_default().replace('%', "%%"))
                }
                Some(other) => {
                    prepared.push('%');
                    prepared.push(other);
                }
                None => prepared.push('%'),
            }
        }
        let clock = Clock::at(
            self.naive_epoch() as f64 + self.microsecond as f64 / 1e6,
            true,
        );
        clock.format(&prepared)
    }
}

impl Object for PyDateTime {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "year" => Value::from(self.year),
            "month" => Value::from(self.month),
            "day" => Value::from(self.day),
            "hour" => Value::from(self.hour),
            "minute" => Value::from(self.minute),
            "second" => Value::from(self.second),
            "microsecond" => Value::from(self.microsecond),
            "tzinfo" => self.tzname().map_or(Value::from(()), Value::from),
            _ => return None,
        })
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
                    fail("strftime() argument 1 must be str")
                })?;
                Ok(Value::from(self.strftime(fmt)?))
            }
            "timestamp" => Ok(Value::from(self.timestamp())),
            "isoformat" => {
                let sep = args.first().and_then(Value::as_str).unwrap_or("T");
                Ok(Value::from(self.iso(sep)))
            }
            "weekday" => Ok(Value::from(self.weekday())),
            "isoweekday" => Ok(Value::from(self.weekday() + 1)),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("datetime has no method {method} in berth (it has strftime, timestamp, isoformat, weekday, isoweekday)"),
            )),
        }
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.iso(" "))
    }
}

/// The regular expression of one directive, as Python's `_strptime` has it.
fn directive_re(d: char) -> Option<&'static str> {
    Some(match d {
        'd' => r"(?P<d>3[01]|[12]\d|0[1-9]|[1-9]| [1-9])",
        'f' => r"(?P<f>[0-9]{1,6})",
        'H' => r"(?P<H>2[0-3]|[0-1]\d|\d)",
        'I' => r"(?P<I>1[0-2]|0[1-9]|[1-9])",
        'j' => r"(?P<j>36[0-6]|3[0-5]\d|[12]\d\d|0[1-9]\d|00[1-9]|[1-9]\d|0[1-9]|[1-9])",
        'm' => r"(?P<m>1[0-2]|0[1-9]|[1-9])",
        'M' => r"(?P<M>[0-5]\d|\d)",
        'S' => r"(?P<S>6[0-1]|[0-5]\d|\d)",
        'w' => r"(?P<w>[0-6])",
        'y' => r"(?P<y>\d\d)",
        'Y' => r"(?P<Y>\d\d\d\d)",
        'z' => r"(?P<z>[+-]\d\d:?[0-5]\d(?::?[0-5]\d(?:\.\d{1,6})?)?|(?-i:Z))",
        'A' => r"(?P<A>monday|tuesday|wednesday|thursday|friday|saturday|sunday)",
        'a' => r"(?P<a>mon|tue|wed|thu|fri|sat|sun)",
        'B' => {
            r"(?P<B>january|february|march|april|may|june|july|august|september|october|november|december)"
        }
        'b' => r"(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)",
        'p' => r"(?P<p>am|pm)",
        'Z' => r"(?P<Z>utc|gmt)",
        _ => return None,
    })
}

/// A strptime format as Python's `_strptime` compiles it: regex
/// characters escaped, whitespace runs as `\s+`, each directive once (a
/// repeated one must match the same text in Python; berth refuses it).
fn format_regex(format: &str) -> Result<regex::Regex, String> {
    // The C locale's %c, %x and %X.
    let expanded = format
        .replace("%c", "%a %b %d %H:%M:%S %Y")
        .replace("%x", "%m/%d/%y")
        .replace("%X", "%H:%M:%S");
    let mut re = String::from("(?i)^");
    let mut seen = Vec::new();
    let mut chars = expanded.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            let Some(d) = chars.next() else {
                return Err(format!("stray % in format {}", py_str_repr(format)));
            };
            if d == '%' {
                re.push('%');
                continue;
            }
            if matches!(d, 'U' | 'W' | 'G' | 'V' | 'u') {
                return Err(format!(
                    "to_datetime: the week directive %{d} is not supported by berth; give the date with %Y-%m-%d or %j"
                ));
            }
            let Some(part) = directive_re(d) else {
                return Err(format!(
                    "{} is a bad directive in format {}",
                    py_str_repr(&d.to_string()),
                    py_str_repr(format)
                ));
            };
            if seen.contains(&d) {
                return Err(format!(
                    "to_datetime: the directive %{d} appears twice in {}; berth takes each once",
                    py_str_repr(format)
                ));
            }
            seen.push(d);
            re.push_str(part);
        } else if c.is_whitespace() {
            while chars.peek().is_some_and(|n| n.is_whitespace()) {
                chars.next();
            }
            re.push_str(r"\s+");
        } else {
            re.push_str(&regex::escape(&c.to_string()));
        }
    }
    regex::Regex::new(&re).map_err(|e| format!("invalid format {}: {e}", py_str_repr(format)))
}

fn name_index(names: &[&str], text: &str, len: Option<usize>) -> u32 {
    let text = text.to_lowercase();
    names
        .iter()
        .position(|n| {
            let n = n.to_lowercase();
            match len {
                Some(l) => n[..l] == text,
                None => n == text,
            }
        })
        .unwrap_or(0) as u32
}

/// Python's `datetime.strptime(text, format)`.
pub(crate) fn strptime(text: &str, format: &str) -> Result<PyDateTime, String> {
    let re = format_regex(format)?;
    let Some(c) = re.captures(text) else {
        return Err(format!(
            "time data {} does not match format {}",
            py_str_repr(text),
            py_str_repr(format)
        ));
    };
    let end = c.get(0).map_or(0, |m| m.end());
    if end != text.len() {
        return Err(format!("unconverted data remains: {}", &text[end..]));
    }
    let num = |k: &str| {
        c.name(k)
            .and_then(|m| m.as_str().trim().parse::<i64>().ok())
    };
    let mut year = num("Y").unwrap_or(1900);
    if let Some(y) = num("y") {
        year = if y <= 68 { y + 2000 } else { y + 1900 };
    }
    let mut month = num("m").map(|m| m as u32);
    if let Some(b) = c.name("B") {
        month = Some(name_index(&MONTHS, b.as_str(), None) + 1);
    }
    if let Some(b) = c.name("b") {
        month = Some(name_index(&MONTHS, b.as_str(), Some(3)) + 1);
    }
    let mut day = num("d").map(|d| d as u32);
    let mut hour = num("H").unwrap_or(0) as u32;
    if let Some(i) = num("I") {
        let pm = c
            .name("p")
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("pm"));
        hour = match (i, pm) {
            (12, false) => 0,
            (12, true) => 12,
            (i, true) => i as u32 + 12,
            (i, false) => i as u32,
        };
    }
    let minute = num("M").unwrap_or(0) as u32;
    let second = num("S").unwrap_or(0) as u32;
    let microsecond = c.name("f").map_or(0, |f| {
        let s = format!("{:0<6}", f.as_str());
        s.parse::<u32>().unwrap_or(0)
    });
    let offset = match c.name("z").map(|z| z.as_str()) {
        None => None,
        Some("Z" | "z") => Some(0),
        Some(z) => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let digits: String = z[1..]
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let (whole, _frac) = digits.split_once('.').unwrap_or((&digits, ""));
            let n = |a: usize| {
                whole
                    .get(a..a + 2)
                    .and_then(|s| s.parse::<i64>().ok())
                    .unwrap_or(0)
            };
            Some(sign * (n(0) * 3600 + n(2) * 60 + n(4)))
        }
    };
    if let Some(j) = num("j") {
        // The day of the year decides the date, as in Python.
        let (mut y, mut m, mut left) = (year, 1, j - 1);
        while left >= days_in_month(y, m) as i64 {
            left -= days_in_month(y, m) as i64;
            m += 1;
            if m > 12 {
                m = 1;
                y += 1;
            }
        }
        year = y;
        month = Some(m);
        day = Some(left as u32 + 1);
    }
    let month = month.unwrap_or(1);
    let day = day.unwrap_or(1);
    if second > 59 {
        return Err("second must be in 0..59".into());
    }
    if day > days_in_month(year, month) {
        return Err("day is out of range for month".into());
    }
    Ok(PyDateTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
        microsecond,
        offset,
    })
}

/// Ansible's `to_datetime(format='%Y-%m-%d %H:%M:%S')`.
fn to_datetime(v: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v)?;
    let [format] =
        <[Option<Value>; 1]>::try_from(bind("to_datetime", &["format"], &args, &kwargs)?)
            .expect("one parameter");
    let format = match format {
        Some(f) => str_arg("to_datetime", "format", &f)?.unwrap_or_default(),
        None => "%Y-%m-%d %H:%M:%S".into(),
    };
    let Some(text) = v.as_str() else {
        return Err(fail(format!(
            "strptime() argument 1 must be str, not {}",
            py_type(&v)
        )));
    };
    Ok(Value::from_object(strptime(text, &format).map_err(fail)?))
}

#[cfg(test)]
mod tests {
    use crate::playbook::templar::Templar;
    use pretty_assertions::assert_eq;
    use serde_json::{json, Value};

    fn render(expr: &str) -> Result<Value, String> {
        let t = Templar::new();
        let c = Templar::context(&serde_json::Map::new());
        t.render_str(expr, &c).map_err(|e| e.message)
    }

    /// Each rendered by ansible-core 2.19 (on a controller in UTC for the
    /// naive timestamp, which berth reads in local time as Python does).
    #[test]
    fn parses_as_strptime() {
        for (expr, want) in [
            ("{{ '2016-08-14 20:00:12' | to_datetime }}", json!("2016-08-14 20:00:12")),
            ("{{ ('2016-08-14 20:00:12' | to_datetime).year }}", json!(2016)),
            ("{{ ('2016-08-14' | to_datetime('%Y-%m-%d')).isoformat() }}", json!("2016-08-14T00:00:00")),
            ("{{ '14/Aug/2016:20:00:12 +0200' | to_datetime('%d/%b/%Y:%H:%M:%S %z') }}", json!("2016-08-14 20:00:12+02:00")),
            ("{{ ('14/Aug/2016:20:00:12 +0200' | to_datetime('%d/%b/%Y:%H:%M:%S %z')).timestamp() }}", json!(1471197612.0)),
            ("{{ ('2016-08-14 20:00:12.5' | to_datetime('%Y-%m-%d %H:%M:%S.%f')).microsecond }}", json!(500000)),
            ("{{ ('2016-08-14 20:00:12' | to_datetime).strftime('%A %d %B %Y %I%p %j %z|%Z|') }}", json!("Sunday 14 August 2016 08PM 227 ||")),
            ("{{ ('2016-08-14 20:00:12' | to_datetime).weekday() }}", json!(6)),
            ("{{ ('2016-08-14 20:00:12' | to_datetime).isoweekday() }}", json!(7)),
            ("{{ '  Aug  3 1:2:3 pm 69' | to_datetime(' %b %d %I:%M:%S %p %y') }}", json!("1969-08-03 13:02:03")),
            ("{{ '070' | to_datetime('%j') }}", json!("1900-03-11 00:00:00")),
            ("{{ 'Sun Aug 14 20:00:12 2016' | to_datetime('%c') }}", json!("2016-08-14 20:00:12")),
            ("{{ '08/14/16 20:00:12' | to_datetime('%x %X') }}", json!("2016-08-14 20:00:12")),
            ("{{ '2016-08-14T20:00:12Z' | to_datetime('%Y-%m-%dT%H:%M:%S%z') }}", json!("2016-08-14 20:00:12+00:00")),
            ("{{ '2016-08-14 20:00:12 UTC' | to_datetime('%Y-%m-%d %H:%M:%S %Z') }}", json!("2016-08-14 20:00:12")),
            ("{{ '1 2 3' | to_datetime('%H %M %S') }}", json!("1900-01-01 01:02:03")),
            ("{{ '2016-8-4 2:0:1' | to_datetime }}", json!("2016-08-04 02:00:01")),
            ("{{ ('2016-08-14 20:00:12' | to_datetime).timestamp() - ('2016-08-14 18:00:00' | to_datetime).timestamp() }}", json!(7212.0)),
        ] {
            assert_eq!(render(expr).unwrap(), want, "{expr}");
        }
        for (expr, want) in [
            (
                "{{ '2016-08-14' | to_datetime }}",
                "time data '2016-08-14' does not match format '%Y-%m-%d %H:%M:%S'",
            ),
            (
                "{{ '2016-08-14 20:00:12x' | to_datetime }}",
                "unconverted data remains: x",
            ),
            (
                "{{ '2016-02-30' | to_datetime('%Y-%m-%d') }}",
                "day is out of range for month",
            ),
            (
                "{{ '16' | to_datetime('%Q') }}",
                "'Q' is a bad directive in format '%Q'",
            ),
            ("{{ '16' | to_datetime('%') }}", "stray % in format '%'"),
            (
                "{{ 5 | to_datetime }}",
                "strptime() argument 1 must be str, not int",
            ),
        ] {
            assert_eq!(render(expr).unwrap_err(), want, "{expr}");
        }
        assert!(render("{{ '1' | to_datetime('%U') }}")
            .unwrap_err()
            .contains("not supported by berth"));
    }
}
